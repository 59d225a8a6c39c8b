using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// Kernel templates of the structured ops. Every size is a literal or an ND_ macro, so loops over kernel
/// windows have constant bounds; bounds checks are emitted only where padding makes them necessary.
/// Arguments starting with '$' are runtime values the model binds: $training (1 or 0), $seed, $step.
/// </summary>
public static partial class OpenClKernels
{
    internal static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    internal static NodeLaunch Structured(string name, Node node, Node[] inputs, string comment)
    {
        return node.Op switch
        {
            "bn_stats" => BnStats(name, node, inputs, comment),
            "bn_apply" => BnApply(name, node, inputs, comment),
            "bn_grad_params" => BnGradParams(name, node, inputs, comment),
            "bn_grad_input" => BnGradInput(name, node, inputs, comment),
            "dropout" or "dropout_grad" => Dropout(name, node, inputs, comment),
            "rbf" or "rbf_grad_input" or "rbf_grad_weight" => Rbf(name, node, inputs, comment),
            "instance_norm" or "instance_norm_grad" => InstanceNorm(name, node, inputs, comment),
            "lrn" => Lrn(name, node, inputs, comment),
            "lrn_grad" => LrnGrad(name, node, inputs, comment),
            _ => throw new InvalidOperationException("no kernel for " + node.Op),
        };
    }

    /// <summary>Stores a vector accumulator lane by lane where <paramref name="cond"/> holds (lane v, value lanes[v]).</summary>
    internal static string StoreLanes(int lanes, string acc, string cond, string target) => $@"    float lanes[{lanes}];
    vstore{lanes}({acc}, 0, lanes);
    for (int v = 0; v < {lanes}; v++)
        if ({cond}) {target};
";

    /// <summary>outer × axis × inner decomposition of a shape around one axis.</summary>
    internal static (Dim Outer, long Axis, long Inner) Around(Shape s, int axis) =>
        (s.Dims.Take(axis).Aggregate((Dim)1, (a, b) => a * b), s[axis].Coef, s.Dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b.Coef));

    /// <summary>Batch-norm geometry: C channels, HW positions per channel and image, M = N·HW values per channel.</summary>
    internal static (long C, long HW, string M) BnGeometry(Shape x) =>
        (x[1].Coef, x.Dims.Skip(2).Aggregate(1L, (a, b) => a * b.Coef), (x[0] * x.Dims.Skip(2).Aggregate((Dim)1, (a, b) => a * b)).ToC());

    // Per channel: batch mean and 1/sqrt(var + eps) in training (and the running averages updated, with the
    // unbiased variance as torch does), or the running statistics in evaluation. out = [mean; invstd].
    internal static NodeLaunch BnStats(string name, Node node, Node[] inputs, string comment)
    {
        var (c, hw, m) = BnGeometry(inputs[0].Shape);
        var eps = Lit(node.AttrDouble("eps"));
        var mom = Lit(node.AttrDouble("momentum"));
        var n = inputs[0].Shape[0].ToC();
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict x, __global float* restrict running_mean,
                     __global float* restrict running_var, __global float* restrict out, const int training)
{{
    const int c = get_global_id(0);
    if (!training)
    {{
        out[c] = running_mean[c];
        out[{I(c)} + c] = rsqrt(running_var[c] + {eps});
        return;
    }}
    float sum = 0.0f;
    for (int n = 0; n < {n}; n++)
        for (int p = 0; p < {I(hw)}; p++) sum += x[(n * {I(c)} + c) * {I(hw)} + p];
    const float mean = sum / (float){m};
    float sq = 0.0f;
    for (int n = 0; n < {n}; n++)
        for (int p = 0; p < {I(hw)}; p++) {{ const float d = x[(n * {I(c)} + c) * {I(hw)} + p] - mean; sq += d * d; }}
    const float var = sq / (float){m};
    out[c] = mean;
    out[{I(c)} + c] = rsqrt(var + {eps});
    running_mean[c] = (1.0f - {mom}) * running_mean[c] + {mom} * mean;
    running_var[c] = (1.0f - {mom}) * running_var[c] + {mom} * ({m} > 1 ? sq / (float)({m} - 1) : var);
}}
";
        return new NodeLaunch(name, new List<object> { inputs[0].Id, inputs[1].Id, inputs[2].Id, node.Id, "$training" }, new Dim[] { c }, code);
    }

    internal static NodeLaunch BnApply(string name, Node node, Node[] inputs, string comment)
    {
        var (c, hw, _) = BnGeometry(inputs[0].Shape);
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict stats,
                     __global const float* restrict gamma, __global const float* restrict beta, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int c = (i / {I(hw)}) % {I(c)};
    out[i] = (x[i] - stats[c]) * stats[{I(c)} + c] * gamma[c] + beta[c];
}}
";
        return new NodeLaunch(name, inputs.Select(x => (object)x.Id).Append(node.Id).ToList(), new[] { node.Shape.Numel }, code);
    }

    // Per channel: [Σ dy·x̂; Σ dy] — the gradients of gamma and beta, and the sums dx needs.
    internal static NodeLaunch BnGradParams(string name, Node node, Node[] inputs, string comment)
    {
        var (c, hw, _) = BnGeometry(inputs[0].Shape);
        var n = inputs[0].Shape[0].ToC();
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict stats,
                     __global const float* restrict dy, __global float* restrict out)
{{
    const int c = get_global_id(0);
    const float mean = stats[c];
    const float invstd = stats[{I(c)} + c];
    float sdx = 0.0f, sd = 0.0f;
    for (int n = 0; n < {n}; n++)
        for (int p = 0; p < {I(hw)}; p++)
        {{
            const int j = (n * {I(c)} + c) * {I(hw)} + p;
            sdx += dy[j] * (x[j] - mean) * invstd;
            sd += dy[j];
        }}
    out[c] = sdx;
    out[{I(c)} + c] = sd;
}}
";
        return new NodeLaunch(name, new List<object> { inputs[0].Id, inputs[1].Id, inputs[2].Id, node.Id }, new Dim[] { c }, code);
    }

    internal static NodeLaunch BnGradInput(string name, Node node, Node[] inputs, string comment)
    {
        var (c, hw, m) = BnGeometry(inputs[0].Shape);
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict stats,
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
        return new NodeLaunch(name, inputs.Select(x => (object)x.Id).Append(node.Id).Append("$training").ToList(), new[] { node.Shape.Numel }, code);
    }

    /// <summary>The counter-based hash behind dropout masks (a lowbias32 chain); mirrored by the reference.</summary>
    public const string HashSource = @"static uint nd_mix(uint h)
{
    h ^= h >> 16; h *= 0x7feb352dU; h ^= h >> 15; h *= 0x846ca68bU; h ^= h >> 16;
    return h;
}
";

    // Inverted dropout: keep with probability 1 - p and scale by 1/(1 - p); the mask is a pure function of
    // (seed, step, node, element), so backward recomputes it instead of storing it.
    internal static NodeLaunch Dropout(string name, Node node, Node[] inputs, string comment)
    {
        var p = node.AttrDouble("p");
        var stream = node.AttrInt("stream");
        var threshold = (uint)Math.Min(uint.MaxValue, Math.Round(p * 4294967296.0));
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict in0, __global float* restrict out,
                     const uint seed, const uint step, const int training)
{{
    const int i = get_global_id(0);
    if (!training) {{ out[i] = in0[i]; return; }}
    const uint h = nd_mix(seed ^ nd_mix(step ^ nd_mix({I(stream)}u ^ nd_mix((uint)i))));
    out[i] = h >= {threshold.ToString(CultureInfo.InvariantCulture)}u ? in0[i] * {Lit(1.0 / (1.0 - p))} : 0.0f;
}}
";
        return new NodeLaunch(name, new List<object> { inputs[0].Id, node.Id, "$seed", "$step", "$training" }, new[] { node.Shape.Numel }, code);
    }

    internal static NodeLaunch Rbf(string name, Node node, Node[] inputs, string comment)
    {
        var x = inputs[0];
        var w = inputs[1];
        var units = w.Shape[0].Coef;
        var d = w.Shape[1].Coef;
        var rows = x.Shape[0].ToC();
        var body = node.Op switch
        {
            "rbf" => $@"    const int u = i % {I(units)};
    const int n = i / {I(units)};
    float acc = 0.0f;
    for (int j = 0; j < {I(d)}; j++) {{ const float t = x[n * {I(d)} + j] - w[u * {I(d)} + j]; acc = fma(t, t, acc); }}
    out[i] = acc;",
            "rbf_grad_input" => $@"    const int j = i % {I(d)};
    const int n = i / {I(d)};
    float acc = 0.0f;
    for (int u = 0; u < {I(units)}; u++) acc += dy[n * {I(units)} + u] * 2.0f * (x[i] - w[u * {I(d)} + j]);
    out[i] = acc;",
            _ => $@"    const int j = i % {I(d)};
    const int u = i / {I(d)};
    float acc = 0.0f;
    for (int n = 0; n < {rows}; n++) acc -= dy[n * {I(units)} + u] * 2.0f * (x[n * {I(d)} + j] - w[i]);
    out[i] = acc;",
        };
        var dyParam = node.Op == "rbf" ? "" : ", __global const float* restrict dy";
        var code = Header(comment) + $"__kernel void {name}(__global const float* restrict x, __global const float* restrict w{dyParam}, __global float* restrict out)\n{{\n    const int i = get_global_id(0);\n{body}\n}}\n";
        return new NodeLaunch(name, inputs.Select(t => (object)t.Id).Append(node.Id).ToList(), new[] { node.Shape.Numel }, code);
    }
}
