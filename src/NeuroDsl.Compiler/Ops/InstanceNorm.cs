using System;
using System.Collections.Generic;
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
/// Instance normalization (Ulyanov et al. 2016, CycleGAN): per example and channel, (x − mean) / sqrt(var + eps)
/// over H·W, then γ and β per channel if affine. Same in training and evaluation.
/// </summary>
public sealed class InstanceNorm : OpFamily
{
    /// <summary>(x, dy) → dx, through each plane's mean and variance.</summary>
    public static readonly OpDef Grad = new FunctionOp("instance_norm_grad", 2,
        call => Normalize(call.Node, call.Inputs[0], call.Inputs[1], call.InputShapes[0]), Kernel);

    /// <summary>x [N, C, H, W] → x̂, each (example, channel) plane normalized.</summary>
    public static readonly OpDef Forward = new FunctionOp("instance_norm", 1,
        call => Normalize(call.Node, call.Inputs[0], null, call.InputShapes[0]), Kernel,
        (g, n, dy) => new Node?[] { g.Op(Grad, n.Shape, n.Attrs, n, g.In(n, 0), dy) });

    public override void Surface(SurfaceTable table) =>
        table.Def("instance_norm", LayerCategory.Normalization, Bind, T("x"), P("eps", ArgKind.Number, Number(1e-5)),
            P("affine", ArgKind.Bool, False));

    private static Value Bind(OpCall c)
    {
        var x = c.Tensor("x");
        var (ch, _, _) = Builtins.RequireImage(c, x, "instance_norm");
        var eps = c.Number("eps");
        if (eps <= 0) c.Fail(Codes.BadValue, null, "Give instance_norm a positive eps");
        var node = c.Binder.AddOp(Forward, new[] { x.Id }, x.Shape, DType.F32,
            new Dictionary<string, object> { ["eps"] = eps }, c.Span, "instance_norm");
        if (!c.Bool("affine")) return new TensorValue(node);
        var gamma = c.Binder.Param("weight", new Shape(ch), new InitSpec("ones"), ch, ch, c.Span);
        var beta = c.Binder.Param("bias", new Shape(ch), new InitSpec("zeros"), ch, ch, c.Span);
        node.Layer = null;
        var y = Builtins.ScaleShiftPerMap(c, node, gamma, beta, "instance_norm");
        c.Binder.OwnParams(y);
        return new TensorValue(y);
    }

    /// <summary>x̂ per (example, channel) plane; with dy, the gradient through the mean and variance.</summary>
    private static double[] Normalize(Node node, double[] x, double[]? dy, long[] xs)
    {
        var eps = node.AttrDouble("eps");
        var hw = xs[2] * xs[3];
        var y = new double[x.Length];
        for (long plane = 0; plane < xs[0] * xs[1]; plane++)
        {
            var o = plane * hw;
            double mean = 0, variance = 0;
            for (long p = 0; p < hw; p++) mean += x[o + p];
            mean /= hw;
            for (long p = 0; p < hw; p++) variance += (x[o + p] - mean) * (x[o + p] - mean);
            var inv = 1 / Math.Sqrt(variance / hw + eps);
            if (dy is null)
            {
                for (long p = 0; p < hw; p++) y[o + p] = (x[o + p] - mean) * inv;
                continue;
            }
            double sd = 0, sdx = 0;
            for (long p = 0; p < hw; p++)
            {
                sd += dy[o + p];
                sdx += dy[o + p] * (x[o + p] - mean) * inv;
            }
            for (long p = 0; p < hw; p++) y[o + p] = (dy[o + p] - sd / hw - (x[o + p] - mean) * inv * sdx / hw) * inv;
        }
        return y;
    }

    // One work-item per (example, channel) plane: the mean and variance over H·W in two passes, then either
    // y = x̂ or, for the gradient, dx = (dy − mean(dy) − x̂·mean(dy·x̂)) / σ.
    private static NodeLaunch Kernel(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var shape = inputs[0].Shape;
        var hw = shape[2].Coef * shape[3].Coef;
        var planes = shape[0] * shape[1].Coef;
        var eps = Lit(node.AttrDouble("eps"));
        var grad = node.Def == Grad;
        var tail = grad
            ? $@"    const __global float* dyp = dy + row * {I(hw)};
    float sd = 0.0f, sdx = 0.0f;
    for (int p = 0; p < {I(hw)}; p++) {{ sd += dyp[p]; sdx += dyp[p] * (xp[p] - mean) * inv; }}
    sd /= {I(hw)}.0f;
    sdx /= {I(hw)}.0f;
    for (int p = 0; p < {I(hw)}; p++) yp[p] = (dyp[p] - sd - (xp[p] - mean) * inv * sdx) * inv;"
            : $"    for (int p = 0; p < {I(hw)}; p++) yp[p] = (xp[p] - mean) * inv;";
        var code = $@"__kernel void {name}(__global const float* restrict x, {(grad ? "__global const float* restrict dy, " : "")}__global float* restrict out)
{{
    const int row = get_global_id(0);
    const __global float* xp = x + row * {I(hw)};
    __global float* yp = out + row * {I(hw)};
    float mean = 0.0f;
    for (int p = 0; p < {I(hw)}; p++) mean += xp[p];
    mean /= {I(hw)}.0f;
    float var = 0.0f;
    for (int p = 0; p < {I(hw)}; p++) {{ const float d = xp[p] - mean; var += d * d; }}
    const float inv = rsqrt(var / {I(hw)}.0f + {eps});
{tail}
}}
";
        return new NodeLaunch(name, ArgSpec.Nodes(inputs.Append(node).ToArray()), new[] { planes }, code);
    }
}
