using System;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Emit.OpenClKernels;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// The Euclidean RBF units of LeNet-5's output layer (LeCun et al. 1998): y[n, i] = Σ_j (x[n, j] − w[i, j])²,
/// the squared distance of the input to each unit's parameter vector.
/// </summary>
public sealed class Rbf : OpFamily
{
    /// <summary>(x, w, dy) → dx[n, j] = Σ_i 2·(x[n, j] − w[i, j])·dy[n, i].</summary>
    public static readonly OpDef GradInput = new FunctionOp("rbf_grad_input", 3, RbfReference, Kernel);

    /// <summary>(x, w, dy) → dw[i, j] = −Σ_n 2·(x[n, j] − w[i, j])·dy[n, i].</summary>
    public static readonly OpDef GradWeight = new FunctionOp("rbf_grad_weight", 3, RbfReference, Kernel);

    /// <summary>(x [N, D], w [units, D]) → [N, units].</summary>
    public static readonly OpDef Forward = new FunctionOp("rbf", 2, RbfReference, Kernel, (g, n, dy) => new Node?[]
    {
        g.Op(GradInput, g.In(n, 0).Shape, null, n, g.In(n, 0), g.In(n, 1), dy),
        g.Op(GradWeight, g.In(n, 1).Shape, null, n, g.In(n, 0), g.In(n, 1), dy),
    });

    public override void Surface(SurfaceTable table) =>
        table.Def("rbf", LayerCategory.Weighted, Bind, T("x"), P("units", ArgKind.Int),
            P("init", ArgKind.Init, new InitValue(new InitSpec("bipolar"))), P("trainable", ArgKind.Bool, True));

    private static Value Bind(OpCall c)
    {
        var x = c.Tensor("x");
        var units = c.Int("units");
        if (x.Shape.Rank != 2 || !x.Shape[1].IsConstant)
            c.Fail(Codes.RankMismatch, $"rbf expects [N, features]; got {x.Shape}", "rbf", 2);
        if (units <= 0) c.Fail(Codes.BadValue, null, $"Give rbf a positive number of units, not {units}");
        var d = x.Shape[1].Coef;
        var w = c.Binder.Param("weight", new Shape(units, d), c.Init("init"), d, units, c.Span, c.Bool("trainable"));
        var node = c.Binder.AddOp(Forward, new[] { x.Id, w.Id }, new Shape(new[] { x.Shape[0], (Dim)units }), DType.F32,
            null, c.Span, "rbf");
        node.Macs = units * d;
        node.Connections = units * d;
        c.Binder.OwnParams(node);
        return new TensorValue(node);
    }

    private static double[] RbfReference(RefCall call)
    {
        var (x, w) = (call.Inputs[0], call.Inputs[1]);
        var ws = call.InputShapes[1];
        long units = ws[0], d = ws[1], rows = x.Length / d;
        if (call.Node.Def == Forward)
        {
            var y = new double[rows * units];
            for (long n = 0; n < rows; n++)
                for (long u = 0; u < units; u++)
                    for (long j = 0; j < d; j++) y[n * units + u] += Math.Pow(x[n * d + j] - w[u * d + j], 2);
            return y;
        }
        var dy = call.Inputs[2];
        var input = call.Node.Def == GradInput;
        var g = new double[input ? x.Length : w.Length];
        for (long n = 0; n < rows; n++)
            for (long u = 0; u < units; u++)
                for (long j = 0; j < d; j++)
                {
                    var t = 2 * (x[n * d + j] - w[u * d + j]) * dy[n * units + u];
                    if (input) g[n * d + j] += t;
                    else g[u * d + j] -= t;
                }
        return g;
    }

    private static NodeLaunch Kernel(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var x = inputs[0];
        var w = inputs[1];
        var units = w.Shape[0].Coef;
        var d = w.Shape[1].Coef;
        var rows = x.Shape[0].ToC();
        var body = node.Def == Forward
            ? $@"    const int u = i % {I(units)};
    const int n = i / {I(units)};
    float acc = 0.0f;
    for (int j = 0; j < {I(d)}; j++) {{ const float t = x[n * {I(d)} + j] - w[u * {I(d)} + j]; acc = fma(t, t, acc); }}
    out[i] = acc;"
            : node.Def == GradInput
            ? $@"    const int j = i % {I(d)};
    const int n = i / {I(d)};
    float acc = 0.0f;
    for (int u = 0; u < {I(units)}; u++) acc += dy[n * {I(units)} + u] * 2.0f * (x[i] - w[u * {I(d)} + j]);
    out[i] = acc;"
            : $@"    const int j = i % {I(d)};
    const int u = i / {I(d)};
    float acc = 0.0f;
    for (int n = 0; n < {rows}; n++) acc -= dy[n * {I(units)} + u] * 2.0f * (x[n * {I(d)} + j] - w[i]);
    out[i] = acc;";
        var dyParam = node.Def == Forward ? "" : ", __global const float* restrict dy";
        var code = $"__kernel void {name}(__global const float* restrict x, __global const float* restrict w{dyParam}, "
            + $"__global float* restrict out)\n{{\n    const int i = get_global_id(0);\n{body}\n}}\n";
        var args = inputs.Select(t => ArgSpec.Node(t.Id)).Append(ArgSpec.Node(node.Id)).ToList();
        return new NodeLaunch(name, args, new[] { node.Shape.Numel }, code);
    }
}
