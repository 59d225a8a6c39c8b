using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>Kernels of the zoo's ops: instance norm and local response normalization.</summary>
public static partial class OpenClKernels
{
    // One work-item per (example, channel) plane: the mean and variance over H·W in two passes, then either
    // y = x̂ or, for the gradient, dx = (dy − mean(dy) − x̂·mean(dy·x̂)) / σ.
    internal static NodeLaunch InstanceNorm(string name, Node node, Node[] inputs, string comment)
    {
        var shape = inputs[0].Shape;
        var hw = shape[2].Coef * shape[3].Coef;
        var planes = shape[0] * shape[1].Coef;
        var eps = Lit(node.AttrDouble("eps"));
        var grad = node.Op == "instance_norm_grad";
        var tail = grad
            ? $@"    const __global float* dyp = dy + row * {I(hw)};
    float sd = 0.0f, sdx = 0.0f;
    for (int p = 0; p < {I(hw)}; p++) {{ sd += dyp[p]; sdx += dyp[p] * (xp[p] - mean) * inv; }}
    sd /= {I(hw)}.0f;
    sdx /= {I(hw)}.0f;
    for (int p = 0; p < {I(hw)}; p++) yp[p] = (dyp[p] - sd - (xp[p] - mean) * inv * sdx) * inv;"
            : $"    for (int p = 0; p < {I(hw)}; p++) yp[p] = (xp[p] - mean) * inv;";
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict x, {(grad ? "__global const float* restrict dy, " : "")}__global float* restrict out)
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
        return new NodeLaunch(name, inputs.Select(t => (object)t.Id).Append(node.Id).ToList(), new[] { planes }, code);
    }

    internal static (long C, long HW, long Size, string Alpha, string Beta, string K) LrnGeometry(Node node, Shape x) =>
        (x[1].Coef, x[2].Coef * x[3].Coef, node.AttrInt("size"), Lit(node.AttrDouble("alpha")), Lit(node.AttrDouble("beta")), Lit(node.AttrDouble("k")));

    /// <summary>s_c = k + α·Σ x_j² over window(c) at the same example and position, as C source.</summary>
    internal static string LrnScale(string target, string channel, long c, long hw, long size, string alpha, string k) =>
        $@"float {target} = 0.0f;
        for (int j = max(0, {channel} - {I(size / 2)}); j <= min({I(c - 1)}, {channel} + {I((size - 1) / 2)}); j++)
        {{ const float v = xb[j * {I(hw)}]; {target} = fma(v, v, {target}); }}
        {target} = {k} + {alpha} * {target};";

    // b_c = a_c · s_c^−β
    internal static NodeLaunch Lrn(string name, Node node, Node[] inputs, string comment)
    {
        var (c, hw, size, alpha, beta, k) = LrnGeometry(node, inputs[0].Shape);
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict x, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int p = i % {I(hw)};
    const int ch = (i / {I(hw)}) % {I(c)};
    const __global float* xb = x + (i / {I(hw * c)}) * {I(hw * c)} + p;
    {{
        {LrnScale("s", "ch", c, hw, size, alpha, k)}
        out[i] = x[i] * pow(s, -{beta});
    }}
}}
";
        return new NodeLaunch(name, new List<object> { inputs[0].Id, node.Id }, new[] { node.Shape.Numel }, code);
    }

    // dx_c = dy_c·s_c^−β − 2αβ·x_c·Σ_{j : c ∈ window(j)} dy_j·x_j·s_j^(−β−1)
    internal static NodeLaunch LrnGrad(string name, Node node, Node[] inputs, string comment)
    {
        var (c, hw, size, alpha, beta, k) = LrnGeometry(node, inputs[0].Shape);
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict dy, __global float* restrict out)
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
        {LrnScale("so", "o", c, hw, size, alpha, k)}
        cross += dyb[o * {I(hw)}] * xb[o * {I(hw)}] * pow(so, -{beta} - 1.0f);
    }}
    {{
        {LrnScale("s", "ch", c, hw, size, alpha, k)}
        out[i] = dy[i] * pow(s, -{beta}) - 2.0f * {alpha} * {beta} * x[i] * cross;
    }}
}}
";
        return new NodeLaunch(name, new List<object> { inputs[0].Id, inputs[1].Id, node.Id }, new[] { node.Shape.Numel }, code);
    }
}
