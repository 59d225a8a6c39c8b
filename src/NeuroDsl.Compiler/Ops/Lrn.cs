using System;
using System.Collections.Generic;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Emit.OpenClKernels;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Local response normalization across channels (Krizhevsky et al. 2012, §3.3):
/// b_c = a_c / (k + α·Σ_{j in window(c)} a_j²)^β, window(c) = [c − size/2, c + (size − 1)/2] clipped to the
/// channels. α is the paper's (PyTorch's LocalResponseNorm divides its alpha by size: pass alpha·size there).
/// </summary>
public sealed class Lrn : OpFamily
{
    /// <summary>(x, dy) → dx, through the scale of every channel whose window holds the element.</summary>
    public static readonly OpDef Grad = new FunctionOp("lrn_grad", 2,
        call => Normalize(call.Node, call.Inputs[0], call.Inputs[1], call.InputShapes[0]), GradKernel);

    /// <summary>x [N, C, H, W] → b.</summary>
    public static readonly OpDef Forward = new FunctionOp("lrn", 1,
        call => Normalize(call.Node, call.Inputs[0], null, call.InputShapes[0]), Kernel,
        (g, n, dy) => new Node?[] { g.Op(Grad, n.Shape, n.Attrs, n, g.In(n, 0), dy) });

    public override void Surface(SurfaceTable table) =>
        table.Def("lrn", LayerCategory.Normalization, Bind, T("x"), P("size", ArgKind.Int, Int(5)),
            P("alpha", ArgKind.Number, Number(1e-4)), P("beta", ArgKind.Number, Number(0.75)),
            P("k", ArgKind.Number, Number(2)));

    private static Value Bind(OpCall c)
    {
        var x = c.Tensor("x");
        Builtins.RequireImage(c, x, "lrn");
        var size = c.Int("size");
        var alpha = c.Number("alpha");
        var beta = c.Number("beta");
        var k = c.Number("k");
        if (size < 1 || alpha < 0 || beta < 0 || k <= 0)
            c.Fail(Codes.BadValue, null, "Give lrn a positive size and k and a non-negative alpha and beta");
        var attrs = new Dictionary<string, object> { ["size"] = size, ["alpha"] = alpha, ["beta"] = beta, ["k"] = k };
        var node = c.Binder.AddOp(Forward, new[] { x.Id }, x.Shape, DType.F32, attrs, c.Span, "lrn");
        return new TensorValue(node);
    }

    /// <summary>b_c = a_c·s_c^−β with s_c = k + α·Σ_{window(c)} a_j²; with dy, the gradient through each s_j.</summary>
    private static double[] Normalize(Node node, double[] x, double[]? dy, long[] xs)
    {
        var size = node.AttrInt("size");
        var alpha = node.AttrDouble("alpha");
        var beta = node.AttrDouble("beta");
        var k = node.AttrDouble("k");
        var (c, hw) = (xs[1], xs[2] * xs[3]);
        var result = new double[x.Length];
        for (long n = 0; n < xs[0]; n++)
            for (long p = 0; p < hw; p++)
            {
                long At(long ch) => (n * c + ch) * hw + p;
                var s = new double[c];
                for (long ch = 0; ch < c; ch++)
                {
                    var sum = 0.0;
                    for (var j = Math.Max(0, ch - size / 2); j <= Math.Min(c - 1, ch + (size - 1) / 2); j++)
                        sum += x[At(j)] * x[At(j)];
                    s[ch] = k + alpha * sum;
                }
                for (long ch = 0; ch < c; ch++)
                {
                    if (dy is null)
                    {
                        result[At(ch)] = x[At(ch)] * Math.Pow(s[ch], -beta);
                        continue;
                    }
                    // ∂b_j/∂a_c = δ_jc·s_j^−β − 2αβ·a_j·a_c·s_j^(−β−1) for every j whose window holds c.
                    var g = dy[At(ch)] * Math.Pow(s[ch], -beta);
                    for (long j = 0; j < c; j++)
                        if (ch >= j - size / 2 && ch <= j + (size - 1) / 2)
                            g -= 2 * alpha * beta * dy[At(j)] * x[At(j)] * x[At(ch)] * Math.Pow(s[j], -beta - 1);
                    result[At(ch)] = g;
                }
            }
        return result;
    }

    private static (long C, long HW, long Size, string Alpha, string Beta, string K) Geometry(Node node, Shape x) =>
        (x[1].Coef, x[2].Coef * x[3].Coef, node.AttrInt("size"),
            Lit(node.AttrDouble("alpha")), Lit(node.AttrDouble("beta")), Lit(node.AttrDouble("k")));

    /// <summary>s_c = k + α·Σ x_j² over window(c) at the same example and position, as C source.</summary>
    private static string Scale(string target, string channel, long c, long hw, long size, string alpha, string k) =>
        $@"float {target} = 0.0f;
        for (int j = max(0, {channel} - {I(size / 2)}); j <= min({I(c - 1)}, {channel} + {I((size - 1) / 2)}); j++)
        {{ const float v = xb[j * {I(hw)}]; {target} = fma(v, v, {target}); }}
        {target} = {k} + {alpha} * {target};";

    // b_c = a_c · s_c^−β
    private static NodeLaunch Kernel(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var (c, hw, size, alpha, beta, k) = Geometry(node, inputs[0].Shape);
        var code = $@"__kernel void {name}(__global const float* restrict x, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int p = i % {I(hw)};
    const int ch = (i / {I(hw)}) % {I(c)};
    const __global float* xb = x + (i / {I(hw * c)}) * {I(hw * c)} + p;
    {{
        {Scale("s", "ch", c, hw, size, alpha, k)}
        out[i] = x[i] * pow(s, -{beta});
    }}
}}
";
        return new NodeLaunch(name, ArgSpec.Nodes(inputs[0], node), new[] { node.Shape.Numel }, code);
    }

    // dx_c = dy_c·s_c^−β − 2αβ·x_c·Σ_{j : c ∈ window(j)} dy_j·x_j·s_j^(−β−1)
    private static NodeLaunch GradKernel(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var (c, hw, size, alpha, beta, k) = Geometry(node, inputs[0].Shape);
        var code = $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict dy, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int p = i % {I(hw)};
    const int ch = (i / {I(hw)}) % {I(c)};
    const int base = (i / {I(hw * c)}) * {I(hw * c)} + p;
    const __global float* xb = x + base;
    const __global float* dyb = dy + base;
    float cross = 0.0f;
    for (int o = max(0, ch - {I((size - 1) / 2)}); o <= min({I(c - 1)}, ch + {I(size / 2)}); o++)
    {{
        {Scale("so", "o", c, hw, size, alpha, k)}
        cross += dyb[o * {I(hw)}] * xb[o * {I(hw)}] * pow(so, -{beta} - 1.0f);
    }}
    {{
        {Scale("s", "ch", c, hw, size, alpha, k)}
        out[i] = dy[i] * pow(s, -{beta}) - 2.0f * {alpha} * {beta} * x[i] * cross;
    }}
}}
";
        var args = ArgSpec.Nodes(inputs[0], inputs[1], node);
        return new NodeLaunch(name, args, new[] { node.Shape.Numel }, code);
    }
}
