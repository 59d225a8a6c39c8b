using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Emit.OpenClKernels;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Batch normalization per channel over N (and H, W): the batch's statistics in training (the running averages
/// updated as torch does), the running ones in evaluation; then γ and β per channel. Statistics are a node of
/// their own ([mean; 1/σ], [2, C]) that the apply and both gradients read.
/// </summary>
public sealed class BatchNorm : OpFamily
{
    /// <summary>
    /// (x, running_mean, running_var) → [mean; 1/sqrt(var + eps)]; in training it updates the running statistics.
    /// </summary>
    public static readonly OpDef Stats = new FunctionOp("bn_stats", 3, StatsReference, StatsKernel);

    /// <summary>(x, stats, dy) → [Σ dy·x̂; Σ dy] per channel: the gradients of γ and β, the sums dx needs.</summary>
    public static readonly OpDef GradParams =
        new FunctionOp("bn_grad_params", 3, GradParamsReference, GradParamsKernel);

    /// <summary>(x, stats, γ, dy, sums) → dx, through the batch statistics in training.</summary>
    public static readonly OpDef GradInput = new FunctionOp("bn_grad_input", 5, GradInputReference, GradInputKernel);

    /// <summary>(x, stats, γ, β) → x̂·γ + β with x̂ = (x − mean)/σ.</summary>
    public static readonly OpDef Apply = new FunctionOp("bn_apply", 4, ApplyReference, ApplyKernel, ApplyRule);

    public override void Surface(SurfaceTable table) =>
        table.Def("batchnorm", LayerCategory.Normalization, Bind, T("x"),
            P("momentum", ArgKind.Number, Number(0.1)), P("eps", ArgKind.Number, Number(1e-5)));

    private static Value Bind(OpCall c)
    {
        var x = c.Tensor("x");
        if ((x.Shape.Rank != 2 && x.Shape.Rank != 4) || !x.Shape[1].IsConstant)
            c.Fail(Codes.RankMismatch, $"batchnorm expects [N, C] or [N, C, H, W]; got {x.Shape}", "batchnorm",
                "2 or 4");
        var ch = x.Shape[1].Coef;
        var momentum = c.Number("momentum");
        var eps = c.Number("eps");
        if (momentum < 0 || momentum > 1 || eps <= 0)
            c.Fail(Codes.BadValue, null, "Give batchnorm a momentum in [0, 1] and a positive eps");
        var gamma = c.Binder.Param("weight", new Shape(ch), new InitSpec("ones"), ch, ch, c.Span);
        var beta = c.Binder.Param("bias", new Shape(ch), new InitSpec("zeros"), ch, ch, c.Span);
        var mean = c.Binder.Param("running_mean", new Shape(ch), new InitSpec("zeros"), ch, ch, c.Span,
            trainable: false);
        var variance = c.Binder.Param("running_var", new Shape(ch), new InitSpec("ones"), ch, ch, c.Span,
            trainable: false);
        var attrs = new Dictionary<string, object> { ["eps"] = eps, ["momentum"] = momentum };
        var stats = c.Binder.AddOp(Stats, new[] { x.Id, mean.Id, variance.Id }, new Shape(2, ch), DType.F32, attrs,
            c.Span);
        var y = c.Binder.AddOp(Apply, new[] { x.Id, stats.Id, gamma.Id, beta.Id }, x.Shape, DType.F32, attrs, c.Span,
            "batchnorm");
        y.Connections = x.Shape.Numel.PerExample * 2;
        c.Binder.OwnParams(y);
        return new TensorValue(y);
    }

    // y = x̂·γ + β with x̂ = (x − μ)·σ⁻¹ over the batch: the full batch-norm backward, through μ and σ.
    private static Node?[] ApplyRule(GradBuilder g, Node n, Node dy)
    {
        var x = g.In(n, 0);
        var stats = g.In(n, 1);
        var gamma = g.In(n, 2);
        var c = gamma.Shape;
        var sums = g.Op(GradParams, stats.Shape, n.Attrs, n, x, stats, dy);
        var row = new Shape(new[] { (Dim)1, c[0] });
        Node Row(long r)
        {
            var at = new Dictionary<string, object> { ["axis"] = 0L, ["start"] = r };
            return g.Reshape(g.Op(Concatenation.Slice, row, at, n, sums), c, n);
        }
        var dgamma = Row(0);
        var dbeta = Row(1);
        var dx = g.Op(GradInput, x.Shape, n.Attrs, n, x, stats, gamma, dy, sums);
        return new Node?[] { dx, null, dgamma, dbeta };
    }

    /// <summary>f(flat index, channel) for every element of an [N, C, …] tensor.</summary>
    private static double[] PerElement(long[] xs, Func<long, long, double> f)
    {
        var hw = xs.Skip(2).Aggregate(1L, (a, b) => a * b);
        var y = new double[ReferenceInterpreter.Numel(xs)];
        for (long i = 0; i < y.Length; i++) y[i] = f(i, i / hw % xs[1]);
        return y;
    }

    private static IEnumerable<long> ChannelIndices(long[] xs, long c)
    {
        var hw = xs.Skip(2).Aggregate(1L, (a, b) => a * b);
        for (long n = 0; n < xs[0]; n++)
            for (long p = 0; p < hw; p++) yield return (n * xs[1] + c) * hw + p;
    }

    private static double[] StatsReference(RefCall call)
    {
        var (x, runningMean, runningVar, xs) = (call.Inputs[0], call.Inputs[1], call.Inputs[2], call.InputShapes[0]);
        var ch = xs[1];
        var eps = call.Node.AttrDouble("eps");
        var stats = new double[2 * ch];
        for (long c = 0; c < ch; c++)
        {
            if (!call.Training)
            {
                stats[c] = runningMean[c];
                stats[ch + c] = 1 / Math.Sqrt(runningVar[c] + eps);
                continue;
            }
            var values = ChannelIndices(xs, c).Select(i => x[i]).ToList();
            var mean = values.Average();
            stats[c] = mean;
            stats[ch + c] = 1 / Math.Sqrt(values.Average(v => (v - mean) * (v - mean)) + eps);
        }
        return stats;
    }

    private static double[] ApplyReference(RefCall call)
    {
        var (ins, xs) = (call.Inputs, call.InputShapes[0]);
        return PerElement(xs, (i, c) => (ins[0][i] - ins[1][c]) * ins[1][xs[1] + c] * ins[2][c] + ins[3][c]);
    }

    private static double[] GradParamsReference(RefCall call)
    {
        var (x, stats, dy, xs) = (call.Inputs[0], call.Inputs[1], call.Inputs[2], call.InputShapes[0]);
        var ch = xs[1];
        var sums = new double[2 * ch];
        for (long c = 0; c < ch; c++)
            foreach (var i in ChannelIndices(xs, c))
            {
                sums[c] += dy[i] * (x[i] - stats[c]) * stats[ch + c];
                sums[ch + c] += dy[i];
            }
        return sums;
    }

    private static double[] GradInputReference(RefCall call)
    {
        var (ins, xs) = (call.Inputs, call.InputShapes[0]);
        var ch = xs[1];
        var m = ReferenceInterpreter.Numel(xs) / ch;
        return PerElement(xs, (i, c) =>
        {
            var g = ins[2][c] * ins[1][ch + c];
            if (!call.Training) return g * ins[3][i];
            var xhat = (ins[0][i] - ins[1][c]) * ins[1][ch + c];
            return g * (ins[3][i] - (ins[4][ch + c] + xhat * ins[4][c]) / m);
        });
    }

    /// <summary>C channels, HW positions per channel and image, M = N·HW values per channel.</summary>
    private static (long C, long HW, string M) Geometry(Shape x) =>
        (x[1].Coef, x.Dims.Skip(2).Aggregate(1L, (a, b) => a * b.Coef),
            (x[0] * x.Dims.Skip(2).Aggregate((Dim)1, (a, b) => a * b)).ToC());

    /// <summary>
    /// The loops of a per-channel sum over n·HW values (element index <c>j</c>) into the floats named by
    /// <paramref name="sums"/>: values are added in blocks of about <see cref="SumBlock"/> into partial sums that are
    /// then added to the totals, kept in <c>ND_SUM</c> (double where the device has it). A block's partial sum stays
    /// float so the inner loop vectorises (double partial sums made PoCL's ResNet-20 step 25% slower: 132 vs 105 ms at
    /// batch 32); with the totals in double the error stays below PyTorch's float32 cascade sums. Where a device has
    /// only float, the blocks make a sum of M values round like M / 256 + 256 additions rather than M (25,088 for the
    /// ResNet stem at batch 2).
    /// </summary>
    private static string ChannelSum(string n, long c, long hw, string[] sums, string body)
    {
        var pb = Math.Min(hw, SumBlock);
        var nb = Math.Max(1, SumBlock / hw);
        var sb = new StringBuilder();
        foreach (var v in sums) sb.Append($"    ND_SUM {v} = 0.0f;\n");
        sb.Append($"    for (int n0 = 0; n0 < {n}; n0 += {I(nb)})\n");
        sb.Append($"        for (int p0 = 0; p0 < {I(hw)}; p0 += {I(pb)})\n        {{\n");
        foreach (var v in sums) sb.Append($"            float {v}_block = 0.0f;\n");
        sb.Append(nb == 1
            ? "            const int n = n0;\n"
            : $"            for (int n = n0; n < min(n0 + {I(nb)}, {n}); n++)\n");
        sb.Append(hw % pb == 0
            ? $"            for (int p = p0; p < p0 + {I(pb)}; p++)\n"
            : $"            for (int p = p0; p < min(p0 + {I(pb)}, {I(hw)}); p++)\n");
        sb.Append($"            {{\n                const int j = (n * {I(c)} + c) * {I(hw)} + p;\n");
        foreach (var v in sums) body = System.Text.RegularExpressions.Regex.Replace(body, $@"\b{v} \+=", $"{v}_block +=");
        sb.Append($"                {body}\n            }}\n");
        foreach (var v in sums) sb.Append($"            {v} += {v}_block;\n");
        sb.Append("        }\n");
        return sb.ToString();
    }

    /// <summary>
    /// Defines <c>ND_SUM</c>, the type per-channel sums are kept in: double where the device has it (the compiler
    /// defines <c>cl_khr_fp64</c>), float elsewhere. Each kernel that sums carries it; the guard keeps one definition.
    /// </summary>
    internal const string SumType = """
        #ifndef ND_SUM
        #ifdef cl_khr_fp64
        #pragma OPENCL EXTENSION cl_khr_fp64 : enable
        #define ND_SUM double
        #else
        #define ND_SUM float
        #endif
        #endif

        """;

    /// <summary>How many values a block of a per-channel sum adds before its partial sum joins the total.</summary>
    private const long SumBlock = 256;

    // Per channel: batch mean and 1/sqrt(var + eps) in training (and the running averages updated, with the
    // unbiased variance as torch does), or the running statistics in evaluation. out = [mean; invstd].
    private static NodeLaunch StatsKernel(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var (c, hw, m) = Geometry(inputs[0].Shape);
        var eps = Lit(node.AttrDouble("eps"));
        var mom = Lit(node.AttrDouble("momentum"));
        var n = inputs[0].Shape[0].ToC();
        var code = SumType + $@"__kernel void {name}(__global const float* restrict x, __global float* restrict running_mean,
                     __global float* restrict running_var, __global float* restrict out, const int training)
{{
    const int c = get_global_id(0);
    if (!training)
    {{
        out[c] = running_mean[c];
        out[{I(c)} + c] = rsqrt(running_var[c] + {eps});
        return;
    }}
{ChannelSum(n, c, hw, new[] { "sum" }, "sum += x[j];")}    const float mean = sum / (float){m};
{ChannelSum(n, c, hw, new[] { "sq" }, "const float d = x[j] - mean; sq += d * d;")}    const float var = sq / (float){m};
    out[c] = mean;
    out[{I(c)} + c] = rsqrt(var + {eps});
    running_mean[c] = (1.0f - {mom}) * running_mean[c] + {mom} * mean;
    running_var[c] = (1.0f - {mom}) * running_var[c] + {mom} * ({m} > 1 ? sq / (float)({m} - 1) : var);
}}
";
        var args = ArgSpec.Nodes(inputs[0], inputs[1], inputs[2], node).Append(ArgSpec.Training).ToList();
        return new NodeLaunch(name, args, new Dim[] { c }, code);
    }

    private static NodeLaunch ApplyKernel(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var (c, hw, _) = Geometry(inputs[0].Shape);
        var code = $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict stats,
                     __global const float* restrict gamma, __global const float* restrict beta, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int c = (i / {I(hw)}) % {I(c)};
    out[i] = (x[i] - stats[c]) * stats[{I(c)} + c] * gamma[c] + beta[c];
}}
";
        var args = ArgSpec.Nodes(inputs.Append(node).ToArray());
        return new NodeLaunch(name, args, new[] { node.Shape.Numel }, code);
    }

    // Per channel: [Σ dy·x̂; Σ dy] — the gradients of gamma and beta, and the sums dx needs.
    private static NodeLaunch GradParamsKernel(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var (c, hw, _) = Geometry(inputs[0].Shape);
        var n = inputs[0].Shape[0].ToC();
        var code = SumType + $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict stats,
                     __global const float* restrict dy, __global float* restrict out)
{{
    const int c = get_global_id(0);
    const float mean = stats[c];
    const float invstd = stats[{I(c)} + c];
{ChannelSum(n, c, hw, new[] { "sdx", "sd" }, "sdx += dy[j] * (x[j] - mean) * invstd; sd += dy[j];")}    out[c] = sdx;
    out[{I(c)} + c] = sd;
}}
";
        var args = ArgSpec.Nodes(inputs[0], inputs[1], inputs[2], node);
        return new NodeLaunch(name, args, new Dim[] { c }, code);
    }

    private static NodeLaunch GradInputKernel(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var (c, hw, m) = Geometry(inputs[0].Shape);
        var code = $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict stats,
                     __global const float* restrict gamma, __global const float* restrict dy,
                     __global const float* restrict sums, __global float* restrict out, const int training)
{{
    const int i = get_global_id(0);
    const int c = (i / {I(hw)}) % {I(c)};
    const float invstd = stats[{I(c)} + c];
    const float g = gamma[c] * invstd;
    if (!training) {{ out[i] = g * dy[i]; return; }}
    const float xhat = (x[i] - stats[c]) * invstd;
    out[i] = g * (dy[i] - (sums[{I(c)} + c] + xhat * sums[c]) / (float){m});
}}
";
        var args = ArgSpec.Nodes(inputs.Append(node).ToArray()).Append(ArgSpec.Training).ToList();
        return new NodeLaunch(name, args, new[] { node.Shape.Numel }, code);
    }
}
