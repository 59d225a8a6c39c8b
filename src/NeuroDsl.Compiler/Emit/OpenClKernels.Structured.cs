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
            "pool2d" => Pool(name, node, inputs, comment),
            "pool2d_grad" => PoolGrad(name, node, inputs, comment),
            "concat" => Concat(name, node, inputs, comment),
            "slice" => Slice(name, node, inputs, comment),
            "bn_stats" => BnStats(name, node, inputs, comment),
            "bn_apply" => BnApply(name, node, inputs, comment),
            "bn_grad_params" => BnGradParams(name, node, inputs, comment),
            "bn_grad_input" => BnGradInput(name, node, inputs, comment),
            "dropout" or "dropout_grad" => Dropout(name, node, inputs, comment),
            "rbf" or "rbf_grad_input" or "rbf_grad_weight" => Rbf(name, node, inputs, comment),
            "pad2d" => Pad2d(name, node, inputs, comment),
            "pad2d_grad" => Pad2dGrad(name, node, inputs, comment),
            "pad_axis" => PadAxis(name, node, inputs, comment),
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

    internal sealed record PoolGeometry(string Mode, long C, long H, long W, long OH, long OW, long KH, long KW, long SH, long SW, long PH, long PW)
    {
        public static PoolGeometry Of(Node node, Shape x, Shape y)
        {
            var k = node.AttrInts("kernel");
            var s = node.AttrInts("stride");
            var p = node.AttrInts("padding");
            return new PoolGeometry(node.AttrString("mode"), x[1].Coef, x[2].Coef, x[3].Coef, y[2].Coef, y[3].Coef, k[0], k[1], s[0], s[1], p[0], p[1]);
        }
    }

    internal static NodeLaunch Pool(string name, Node node, Node[] inputs, string comment)
    {
        var g = PoolGeometry.Of(node, inputs[0].Shape, node.Shape);
        var max = g.Mode == "max";
        var scale = g.Mode == "avg" ? " * " + Lit(1.0 / (g.KH * g.KW)) : "";
        if (g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0 && g.OW >= 8)
            return PairPool(name, node, inputs[0], g, comment);
        var sb = new StringBuilder(Header(comment));
        sb.Append($@"__kernel void {name}(__global const float* restrict x, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ox = i % {I(g.OW)};
    int r = i / {I(g.OW)};
    const int oy = r % {I(g.OH)};
    const int nc = r / {I(g.OH)};
    const __global float* xb = x + nc * {I(g.H * g.W)};
    float acc = {(max ? "-INFINITY" : "0.0f")};
    for (int ky = 0; ky < {I(g.KH)}; ky++)
    {{
        const int iy = oy * {I(g.SH)} - {I(g.PH)} + ky;
{(g.PH > 0 ? $"        if (iy < 0 || iy >= {I(g.H)}) continue;\n" : "")}        for (int kx = 0; kx < {I(g.KW)}; kx++)
        {{
            const int ix = ox * {I(g.SW)} - {I(g.PW)} + kx;
{(g.PW > 0 ? $"            if (ix < 0 || ix >= {I(g.W)}) continue;\n" : "")}            const float v = xb[iy * {I(g.W)} + ix];
            acc = {(max ? "fmax(acc, v)" : "acc + v")};
        }}
    }}
    out[i] = acc{scale};
}}
");
        return new NodeLaunch(name, new List<object> { inputs[0].Id, node.Id }, new[] { node.Shape.Numel }, sb.ToString());
    }

    // 2×2 windows with stride 2: a work-item reads two rows of 16 inputs as vectors and writes 8 outputs; the even
    // and odd lanes are the two columns of each window. A row's last 8 outputs are shifted left to end at the row's end.
    internal static NodeLaunch PairPool(string name, Node node, Node x, PoolGeometry g, string comment)
    {
        var segs = (g.OW + 7) / 8;
        var value = g.Mode == "max"
            ? "fmax(fmax(a.even, a.odd), fmax(b.even, b.odd))"
            : g.Mode == "avg" ? "(a.even + a.odd + b.even + b.odd) * 0.25f" : "a.even + a.odd + b.even + b.odd";
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict x, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ox0 = {BlockStart("i", segs, 8, g.OW)};
    const int r = i / {I(segs)};
    const int oy = r % {I(g.OH)};
    const __global float* xr = x + ((r / {I(g.OH)}) * {I(g.H)} + oy * 2) * {I(g.W)} + ox0 * 2;
    const float16 a = vload16(0, xr);
    const float16 b = vload16(0, xr + {I(g.W)});
    vstore8({value}, 0, out + r * {I(g.OW)} + ox0);
}}
";
        return new NodeLaunch(name, new List<object> { x.Id, node.Id }, new[] { node.Shape[0] * (g.C * g.OH * segs) }, code);
    }

    // dx at (iy, ix) gathers from every window that contains it; for max, only where it is the window's first maximum.
    internal static NodeLaunch PoolGrad(string name, Node node, Node[] inputs, string comment)
    {
        var x = inputs[0];
        var dy = inputs[1];
        var g = PoolGeometry.Of(node, x.Shape, dy.Shape);
        if (g.SH == g.KH && g.SW == g.KW && g.PH == 0 && g.PW == 0 && g.H == g.OH * g.KH && g.W == g.OW * g.KW)
            return TilingPoolGrad(name, node, x, dy, g, comment);
        var sb = new StringBuilder(Header(comment));
        sb.Append($@"__kernel void {name}(__global const float* restrict x, __global const float* restrict dy, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ix = i % {I(g.W)};
    int r = i / {I(g.W)};
    const int iy = r % {I(g.H)};
    const int nc = r / {I(g.H)};
    const __global float* xb = x + nc * {I(g.H * g.W)};
    const __global float* dyb = dy + nc * {I(g.OH * g.OW)};
    const int ty = iy + {I(g.PH)} - {I(g.KH - 1)};
    const int tx = ix + {I(g.PW)} - {I(g.KW - 1)};
    const int oy0 = ty <= 0 ? 0 : (ty + {I(g.SH - 1)}) / {I(g.SH)};
    const int ox0 = tx <= 0 ? 0 : (tx + {I(g.SW - 1)}) / {I(g.SW)};
    const int oy1 = min({I(g.OH - 1)}, (iy + {I(g.PH)}) / {I(g.SH)});
    const int ox1 = min({I(g.OW - 1)}, (ix + {I(g.PW)}) / {I(g.SW)});
    float acc = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++)
        {{
");
        if (g.Mode == "max")
            sb.Append($@"            int best = -1;
            float m = -INFINITY;
            for (int ky = 0; ky < {I(g.KH)}; ky++)
            {{
                const int y = oy * {I(g.SH)} - {I(g.PH)} + ky;
                if (y < 0 || y >= {I(g.H)}) continue;
                for (int kx = 0; kx < {I(g.KW)}; kx++)
                {{
                    const int xx = ox * {I(g.SW)} - {I(g.PW)} + kx;
                    if (xx < 0 || xx >= {I(g.W)}) continue;
                    const float v = xb[y * {I(g.W)} + xx];
                    if (v > m) {{ m = v; best = y * {I(g.W)} + xx; }}
                }}
            }}
            if (best == iy * {I(g.W)} + ix) acc += dyb[oy * {I(g.OW)} + ox];
");
        else
            sb.Append($"            acc += dyb[oy * {I(g.OW)} + ox];\n");
        sb.Append($"        }}\n    out[i] = acc{(g.Mode == "avg" ? " * " + Lit(1.0 / (g.KH * g.KW)) : "")};\n}}\n");
        return new NodeLaunch(name, new List<object> { x.Id, dy.Id, node.Id }, new[] { node.Shape.Numel }, sb.ToString());
    }

    // Windows that tile the image exactly (stride = kernel, no padding, no remainder): each input pixel is in one
    // window, so one work-item per window writes all of its pixels — the gradient where the window's first
    // maximum is (or its share of an average or sum), 0 elsewhere.
    internal static NodeLaunch TilingPoolGrad(string name, Node node, Node x, Node dy, PoolGeometry g, string comment)
    {
        var max = g.Mode == "max";
        if (!max && g.KH == 2 && g.KW == 2 && g.OW >= 8) return PairPoolGrad(name, node, x, dy, g, comment);
        var sb = new StringBuilder(Header(comment));
        sb.Append($@"__kernel void {name}(__global const float* restrict x, __global const float* restrict dy, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ox = i % {I(g.OW)};
    int r = i / {I(g.OW)};
    const int oy = r % {I(g.OH)};
    const int nc = r / {I(g.OH)};
    const int at = (nc * {I(g.H)} + oy * {I(g.KH)}) * {I(g.W)} + ox * {I(g.KW)};
    const float d = dy[i];
");
        if (max)
            sb.Append($@"    int best = 0;
    float m = x[at];
    for (int ky = 0; ky < {I(g.KH)}; ky++)
        for (int kx = 0; kx < {I(g.KW)}; kx++)
        {{
            const float v = x[at + ky * {I(g.W)} + kx];
            if (v > m) {{ m = v; best = ky * {I(g.KW)} + kx; }}
        }}
    for (int ky = 0; ky < {I(g.KH)}; ky++)
        for (int kx = 0; kx < {I(g.KW)}; kx++)
            out[at + ky * {I(g.W)} + kx] = ky * {I(g.KW)} + kx == best ? d : 0.0f;
}}
");
        else
            sb.Append($@"    const float share = d{(g.Mode == "avg" ? " * " + Lit(1.0 / (g.KH * g.KW)) : "")};
    for (int ky = 0; ky < {I(g.KH)}; ky++)
        for (int kx = 0; kx < {I(g.KW)}; kx++)
            out[at + ky * {I(g.W)} + kx] = share;
}}
");
        return new NodeLaunch(name, new List<object> { x.Id, dy.Id, node.Id }, new[] { dy.Shape.Numel }, sb.ToString());
    }

    // The average (or sum) of 2×2 windows backward: a work-item spreads 8 values of dy over two rows of 16, each
    // value twice in a row (a shuffle). A row's last 8 are shifted left to end at the row's end.
    internal static NodeLaunch PairPoolGrad(string name, Node node, Node x, Node dy, PoolGeometry g, string comment)
    {
        var segs = (g.OW + 7) / 8;
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict dy, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ox0 = {BlockStart("i", segs, 8, g.OW)};
    const int r = i / {I(segs)};
    const float8 d = vload8(0, dy + r * {I(g.OW)} + ox0){(g.Mode == "avg" ? " * 0.25f" : "")};
    const float16 v = shuffle(d, (uint16)(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    __global float* o = out + ((r / {I(g.OH)}) * {I(g.H)} + (r % {I(g.OH)}) * 2) * {I(g.W)} + ox0 * 2;
    vstore16(v, 0, o);
    vstore16(v, 0, o + {I(g.W)});
}}
";
        return new NodeLaunch(name, new List<object> { x.Id, dy.Id, node.Id }, new[] { node.Shape[0] * (g.C * g.OH * segs) }, code);
    }

    /// <summary>outer × axis × inner decomposition of a shape around one axis.</summary>
    internal static (Dim Outer, long Axis, long Inner) Around(Shape s, int axis) =>
        (s.Dims.Take(axis).Aggregate((Dim)1, (a, b) => a * b), s[axis].Coef, s.Dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b.Coef));

    internal static NodeLaunch Concat(string name, Node node, Node[] inputs, string comment)
    {
        var axis = (int)node.AttrInt("axis");
        var (_, total, inner) = Around(node.Shape, axis);
        var sb = new StringBuilder(Header(comment));
        sb.Append($"__kernel void {name}(")
            .Append(string.Join(", ", inputs.Select((_, k) => $"__global const float* restrict in{k}")))
            .AppendLine(", __global float* restrict out)\n{");
        sb.Append($"    const int i = get_global_id(0);\n    const int inner = i % {I(inner)};\n    const int a = (i / {I(inner)}) % {I(total)};\n    const int outer = i / {I(inner * total)};\n");
        var offset = 0L;
        for (var k = 0; k < inputs.Length; k++)
        {
            var size = inputs[k].Shape[axis].Coef;
            var cond = k == inputs.Length - 1 ? "" : $"if (a < {I(offset + size)}) ";
            sb.Append(k == 0 ? "    " : "    else ").Append(cond)
                .Append($"out[i] = in{k}[(outer * {I(size)} + a - {I(offset)}) * {I(inner)} + inner];\n");
            offset += size;
        }
        sb.AppendLine("}");
        return new NodeLaunch(name, inputs.Select(x => (object)x.Id).Append(node.Id).ToList(), new[] { node.Shape.Numel }, sb.ToString());
    }

    internal static NodeLaunch Slice(string name, Node node, Node[] inputs, string comment)
    {
        var axis = (int)node.AttrInt("axis");
        var start = node.AttrInt("start");
        var (_, total, inner) = Around(inputs[0].Shape, axis);
        var length = node.Shape[axis].Coef;
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict in0, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int inner = i % {I(inner)};
    const int a = (i / {I(inner)}) % {I(length)};
    const int outer = i / {I(inner * length)};
    out[i] = in0[(outer * {I(total)} + {I(start)} + a) * {I(inner)} + inner];
}}
";
        return new NodeLaunch(name, new List<object> { inputs[0].Id, node.Id }, new[] { node.Shape.Numel }, code);
    }

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
