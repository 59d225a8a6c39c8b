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
            "conv2d" => Conv(name, node, inputs, comment),
            "conv2d_grad_input" or "conv_transpose2d" => ConvGradInput(name, node, inputs, comment),
            "conv2d_grad_weight" => ConvGradWeight(name, node, inputs, comment),
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

    /// <summary>Geometry of a convolution, from the forward node's attributes and shapes.</summary>
    internal sealed record ConvGeometry(long C, long H, long W, long OC, long OH, long OW, long KH, long KW,
        long SH, long SW, long PH, long PW, long DH, long DW, long Groups, long[]? Mask)
    {
        public long CG => C / Groups;
        public long OCG => OC / Groups;

        public static ConvGeometry Of(Node node, Shape x, Shape w, Shape y)
        {
            var s = node.AttrInts("stride");
            var p = node.AttrInts("padding");
            var d = node.AttrInts("dilation");
            return new ConvGeometry(x[1].Coef, x[2].Coef, x[3].Coef, y[1].Coef, y[2].Coef, y[3].Coef, w[2].Coef, w[3].Coef,
                s[0], s[1], p[0], p[1], d[0], d[1], node.AttrInt("groups"), node.Attrs.TryGetValue("mask", out var m) ? (long[])m : null);
        }
    }

    internal static string MaskTable(string name, long[]? mask) => mask is null ? "" :
        $"__constant uchar {name}_mask[{I(mask.Length)}] = {{ {string.Join(", ", mask.Select(I))} }};\n";

    // Convolutions compute 8 (or 16) channels per work-item with vector FMAs. A packing launch first lays the
    // weights (or, for the weight gradient, dy) out channel-last in a scratch buffer, padded to whole vectors, so
    // the inner loop does one broadcast load, one vector load and one vector FMA per tap.
    private const int V = 8;

    internal static long Tiles(long channels, int lanes = V) => (channels + lanes - 1) / lanes;

    /// <summary>Channels per vector: 16 where they fill whole float16s, else 8.</summary>
    internal static int ChannelLanes(long channels) => channels % 16 == 0 ? 16 : V;

    internal static string MaskFactor(string name, ConvGeometry g, string o, string c) =>
        g.Mask is null ? "" : $" * (float){name}_mask[({o}) * {I(g.CG)} + ({c})]";

    internal static string StoreLanes(int lanes, string acc, string cond, string target) => $@"    float lanes[{lanes}];
    vstore{lanes}({acc}, 0, lanes);
    for (int v = 0; v < {lanes}; v++)
        if ({cond}) {target};
";

    // y[n, o, oy, ox] = b[o] + Σ_c Σ_ky Σ_kx x[n, c, iy, ix] · w[o, c, ky, kx]
    internal static NodeLaunch Conv(string name, Node node, Node[] inputs, string comment, ConvEpilogue? ep = null)
    {
        var g = ConvGeometry.Of(node, inputs[0].Shape, inputs[1].Shape, node.Shape);
        var bias = inputs.Length > 2;
        var lanes = RowsFit(g) ? V : ChannelLanes(g.OCG);
        var tg = Tiles(g.OCG, lanes);
        var kkc = g.CG * g.KH * g.KW;
        var width = tg * lanes;
        var packName = name + "_pack";
        var pack = Header(comment) + MaskTable(packName, g.Mask) + $@"// Packs w (and b) as [group][c·ky·kx + 1][{I(width)}]: output channels last, then a bias row.
__kernel void {packName}(__global const float* restrict w, {(bias ? "__global const float* restrict bias, " : "")}__global float* restrict packed)
{{
    const int j = get_global_id(0);
    const int lane = j % {I(width)};
    const int row = j / {I(width)};
    const int g = row / {I(kkc + 1)};
    const int k = row % {I(kkc + 1)};
    const int o = g * {I(g.OCG)} + lane;
    float v = 0.0f;
    if (lane < {I(g.OCG)})
        v = k < {I(kkc)} ? w[o * {I(kkc)} + k]{MaskFactor(packName, g, "o", $"k / {I(g.KH * g.KW)}")} : {(bias ? "bias[o]" : "0.0f")};
    packed[j] = v;
}}
";
        var packArgs = new List<object> { inputs[1].Id };
        if (bias) packArgs.Add(inputs[2].Id);
        packArgs.Add("$scratch");
        var packLaunch = new NodeLaunch(packName, packArgs, new Dim[] { g.Groups * (kkc + 1) * width }, pack);

        var output = ep?.Root.Id ?? node.Id;
        return RowsFit(g)
            ? RowConv(name, comment, g, inputs[0].Id, output, node.Shape[0], packLaunch, ep)
            : DirectConv(name, comment, g, lanes, inputs[0].Id, output, node.Shape[0], packLaunch, ep);
    }

    /// <summary>Output pixels per work-item along a row: the largest divisor of the row width up to <paramref name="most"/>.</summary>
    internal static long PixelBlock(long width, int most) => Enumerable.Range(1, most).Reverse().First(p => width % p == 0);

    /// <summary>
    /// The direct convolution over a packed weight panel ([group][c·ky·kx + 1][lanes], the last row the bias):
    /// each work-item computes 8 or 16 output channels at P neighbouring pixels of a row, so every vector of
    /// weights it loads feeds P FMAs. Serves the forward pass and, for stride 1, the input gradient (a convolution
    /// of dy with the flipped, transposed filters).
    /// </summary>
    internal static NodeLaunch DirectConv(string name, string comment, ConvGeometry g, int lanes, int input, int output, Dim n,
        NodeLaunch pack, ConvEpilogue? ep)
    {
        var tg = Tiles(g.OCG, lanes);
        var kkc = g.CG * g.KH * g.KW;
        var t = g.Groups * tg;
        var p = PixelBlock(g.OW, 8);
        var blocks = g.OW / p;
        var (extraParams, extraArgs) = EpilogueParams(ep);
        var sb = new StringBuilder(Header(comment));
        sb.Append(ep?.Comment);
        sb.Append($@"__kernel void {name}(__global const float* restrict x, __global const float{lanes}* restrict packed, {extraParams}__global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ox0 = (i % {I(blocks)}) * {I(p)};
    int r = i / {I(blocks)};
    const int oy = r % {I(g.OH)};
    r /= {I(g.OH)};
    const int t = r % {I(t)};
    const int n = r / {I(t)};
    const int g = t / {I(tg)};
    const int tl = t % {I(tg)};
    const __global float* xb = x + (n * {I(g.C)} + g * {I(g.CG)}) * {I(g.H * g.W)};
    const __global float{lanes}* wp = packed + g * {I((kkc + 1) * tg)} + tl;
    const float{lanes} bias = wp[{I(kkc * tg)}];
");
        for (var q = 0; q < p; q++) sb.Append($"    float{lanes} acc{q} = bias;\n");
        sb.Append($@"    for (int c = 0; c < {I(g.CG)}; c++)
        for (int ky = 0; ky < {I(g.KH)}; ky++)
        {{
            const int iy = oy * {I(g.SH)} - {I(g.PH)} + ky * {I(g.DH)};
{(g.PH > 0 ? $"            if (iy < 0 || iy >= {I(g.H)}) continue;\n" : "")}            const __global float* row = xb + (c * {I(g.H)} + iy) * {I(g.W)};
            for (int kx = 0; kx < {I(g.KW)}; kx++)
            {{
                const float{lanes} w = wp[((c * {I(g.KH)} + ky) * {I(g.KW)} + kx) * {I(tg)}];
                const int ix = ox0 * {I(g.SW)} - {I(g.PW)} + kx * {I(g.DW)};
");
        for (var q = 0; q < p; q++)
        {
            var at = q == 0 ? "ix" : $"ix + {I(q * g.SW)}";
            var load = g.PW > 0 ? $"(({at}) >= 0 && ({at}) < {I(g.W)} ? row[{at}] : 0.0f)" : $"row[{at}]";
            sb.Append($"                acc{q} = fma((float{lanes})({load}), w, acc{q});\n");
        }
        sb.Append("            }\n        }\n");
        for (var q = 0; q < p; q++)
            sb.Append($@"    {{
    const int ox = ox0 + {I(q)};
    __global float* ob = out + ((n * {I(g.OC)} + g * {I(g.OCG)} + tl * {lanes}) * {I(g.OH)} + oy) * {I(g.OW)} + ox;
{StoreThrough(ep, $"acc{q}", lanes, "    ", $"ob[v * {I(g.OH * g.OW)}] = VALUE", $"c0 = n, c1 = g * {I(g.OCG)} + tl * {lanes} + v, c2 = oy, c3 = ox",
    g.OCG % lanes == 0 ? null : $"tl * {lanes} + v < {I(g.OCG)}", null, g)}    }}
");
        sb.Append("}\n");
        var args = new List<object> { input, "$scratch" };
        args.AddRange(extraArgs);
        args.Add(output);
        return new NodeLaunch(name, args, new[] { n * (t * g.OH * blocks) }, sb.ToString(),
            (Dim)(g.Groups * (kkc + 1) * tg * lanes), pack);
    }

    // dx[n, c, iy, ix] = Σ over the outputs whose window reads (iy, ix) of dy · w; 8 input channels per work-item.
    internal static NodeLaunch ConvGradInput(string name, Node node, Node[] inputs, string comment)
    {
        var dy = inputs[0];
        var w = inputs[1];
        var g = ConvGeometry.Of(node, node.Shape, w.Shape, dy.Shape);
        if (g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.PH < g.KH && g.PW < g.KW)
            return ConvGradInputAsConv(name, node, dy, w, g, comment);
        var tc = Tiles(g.CG);
        var kk = g.KH * g.KW;
        var width = tc * V;
        var packName = name + "_pack";
        var pack = Header(comment) + MaskTable(packName, g.Mask) + $@"// Packs w as [group][o·ky·kx][{I(width)}]: input channels last.
__kernel void {packName}(__global const float* restrict w, __global float* restrict packed)
{{
    const int j = get_global_id(0);
    const int cl = j % {I(width)};
    const int row = j / {I(width)};
    const int g = row / {I(g.OCG * kk)};
    const int k = row % {I(g.OCG * kk)};
    const int o = g * {I(g.OCG)} + k / {I(kk)};
    packed[j] = cl < {I(g.CG)} ? w[(o * {I(g.CG)} + cl) * {I(kk)} + k % {I(kk)}]{MaskFactor(packName, g, "o", "cl")} : 0.0f;
}}
";
        var packLaunch = new NodeLaunch(packName, new List<object> { w.Id, "$scratch" }, new Dim[] { g.Groups * g.OCG * kk * width }, pack);
        var t = g.Groups * tc;
        var code = Header(comment) + $@"__kernel void {name}(__global const float* restrict dy, __global const float{V}* restrict packed, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ix = i % {I(g.W)};
    int r = i / {I(g.W)};
    const int iy = r % {I(g.H)};
    r /= {I(g.H)};
    const int t = r % {I(t)};
    const int n = r / {I(t)};
    const int g = t / {I(tc)};
    const int tl = t % {I(tc)};
    const __global float{V}* wp = packed + g * {I(g.OCG * kk * tc)} + tl;
    float{V} acc = (float{V})(0.0f);
    for (int ol = 0; ol < {I(g.OCG)}; ol++)
    {{
        const __global float* dyb = dy + (n * {I(g.OC)} + g * {I(g.OCG)} + ol) * {I(g.OH * g.OW)};
        for (int ky = 0; ky < {I(g.KH)}; ky++)
        {{
            const int ty = iy + {I(g.PH)} - ky * {I(g.DH)};
            if (ty < 0 || ty % {I(g.SH)} != 0) continue;
            const int oy = ty / {I(g.SH)};
            if (oy >= {I(g.OH)}) continue;
            for (int kx = 0; kx < {I(g.KW)}; kx++)
            {{
                const int tx = ix + {I(g.PW)} - kx * {I(g.DW)};
                if (tx < 0 || tx % {I(g.SW)} != 0) continue;
                const int ox = tx / {I(g.SW)};
                if (ox >= {I(g.OW)}) continue;
                acc = fma((float{V})(dyb[oy * {I(g.OW)} + ox]), wp[((ol * {I(g.KH)} + ky) * {I(g.KW)} + kx) * {I(tc)}], acc);
            }}
        }}
    }}
    __global float* ob = out + ((n * {I(g.C)} + g * {I(g.CG)} + tl * {V}) * {I(g.H)} + iy) * {I(g.W)} + ix;
{StoreLanes(V, "acc", $"tl * {V} + v < {I(g.CG)}", $"ob[v * {I(g.H * g.W)}] = lanes[v]")}}}
";
        return new NodeLaunch(name, new List<object> { dy.Id, "$scratch", node.Id }, new[] { node.Shape[0] * t * g.H * g.W }, code,
            (Dim)(g.Groups * g.OCG * kk * width), packLaunch);
    }

    // For stride 1: dx = dy convolved with the filters flipped in space and transposed in channels, padded by
    // k − 1 − p, so it runs on the direct convolution (channels or pixels in the vector).
    internal static NodeLaunch ConvGradInputAsConv(string name, Node node, Node dy, Node w, ConvGeometry g, string comment)
    {
        var flipped = new ConvGeometry(g.OC, g.OH, g.OW, g.C, g.H, g.W, g.KH, g.KW, 1, 1, g.KH - 1 - g.PH, g.KW - 1 - g.PW, 1, 1, g.Groups, null);
        var rowsFit = RowsFit(flipped);
        var lanes = rowsFit ? V : ChannelLanes(g.CG);
        var tc = Tiles(g.CG, lanes);
        var kk = g.KH * g.KW;
        var rows = g.OCG * kk;
        var width = tc * lanes;
        var packName = name + "_pack";
        var pack = Header(comment) + MaskTable(packName, g.Mask) + $@"// Packs w flipped and transposed as [group][o·ky·kx + 1][{I(width)}]: input channels last, then a zero bias row.
__kernel void {packName}(__global const float* restrict w, __global float* restrict packed)
{{
    const int j = get_global_id(0);
    const int cl = j % {I(width)};
    const int row = j / {I(width)};
    const int g = row / {I(rows + 1)};
    const int k = row % {I(rows + 1)};
    const int o = g * {I(g.OCG)} + k / {I(kk)};
    const int tap = {I(kk - 1)} - k % {I(kk)};
    packed[j] = (cl < {I(g.CG)} && k < {I(rows)}) ? w[(o * {I(g.CG)} + cl) * {I(kk)} + tap]{MaskFactor(packName, g, "o", "cl")} : 0.0f;
}}
";
        var packLaunch = new NodeLaunch(packName, new List<object> { w.Id, "$scratch" }, new Dim[] { g.Groups * (rows + 1) * width }, pack);
        return rowsFit
            ? RowConv(name, comment, flipped, dy.Id, node.Id, node.Shape[0], packLaunch, null)
            : DirectConv(name, comment, flipped, lanes, dy.Id, node.Id, node.Shape[0], packLaunch, null);
    }

    // dw[o, c, ky, kx] = Σ_n Σ_oy Σ_ox dy[n, o, oy, ox] · x[n, c, iy, ix]; 8 output channels per work-item, over dy packed
    // channel-last. Masked-out kernels get 0.
    internal static NodeLaunch ConvGradWeight(string name, Node node, Node[] inputs, string comment)
    {
        var dy = inputs[0];
        var x = inputs[1];
        var g = ConvGeometry.Of(node, x.Shape, node.Shape, dy.Shape);
        var n = x.Shape[0];
        if (GradWeightRowsFit(g)) return RowConvGradWeight(name, comment, g, dy, x, node, n);
        var L = ChannelLanes(g.OCG);
        var tg = Tiles(g.OCG, L);
        var lanesAll = g.Groups * tg * L;
        var packName = name + "_pack";
        var pack = Header(comment) + $@"// Packs dy as [n·oy·ox][group][{I(tg * L)}]: output channels last.
__kernel void {packName}(__global const float* restrict dy, __global float* restrict packed)
{{
    const int j = get_global_id(0);
    const int lane = j % {I(lanesAll)};
    const int p = j / {I(lanesAll)};
    const int g = lane / {I(tg * L)};
    const int ol = lane % {I(tg * L)};
    const int n = p / {I(g.OH * g.OW)};
    packed[j] = ol < {I(g.OCG)} ? dy[(n * {I(g.OC)} + g * {I(g.OCG)} + ol) * {I(g.OH * g.OW)} + p % {I(g.OH * g.OW)}] : 0.0f;
}}
";
        var packLaunch = new NodeLaunch(packName, new List<object> { dy.Id, "$scratch" }, new[] { n * (g.OH * g.OW * lanesAll) }, pack);
        var t = g.Groups * tg;
        if (g.KW <= 12) return ConvGradWeightRows(name, g, L, x, node, n, t, tg, lanesAll, packLaunch, comment);
        var code = Header(comment) + MaskTable(name, g.Mask) + $@"__kernel void {name}(__global const float{L}* restrict packed, __global const float* restrict x, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int kx = i % {I(g.KW)};
    int r = i / {I(g.KW)};
    const int ky = r % {I(g.KH)};
    r /= {I(g.KH)};
    const int cl = r % {I(g.CG)};
    const int t = r / {I(g.CG)};
    const int g = t / {I(tg)};
    const int tl = t % {I(tg)};
    const int c = g * {I(g.CG)} + cl;
    float{L} acc = (float{L})(0.0f);
    for (int n = 0; n < {n.ToC()}; n++)
    {{
        const __global float* xb = x + (n * {I(g.C)} + c) * {I(g.H * g.W)};
        const __global float{L}* db = packed + n * {I(g.OH * g.OW * t)} + t;
        for (int oy = 0; oy < {I(g.OH)}; oy++)
        {{
            const int iy = oy * {I(g.SH)} - {I(g.PH)} + ky * {I(g.DH)};
{(g.PH > 0 ? $"            if (iy < 0 || iy >= {I(g.H)}) continue;\n" : "")}            for (int ox = 0; ox < {I(g.OW)}; ox++)
            {{
                const int ix = ox * {I(g.SW)} - {I(g.PW)} + kx * {I(g.DW)};
{(g.PW > 0 ? $"                if (ix < 0 || ix >= {I(g.W)}) continue;\n" : "")}                acc = fma(db[(oy * {I(g.OW)} + ox) * {I(t)}], (float{L})(xb[iy * {I(g.W)} + ix]), acc);
            }}
        }}
    }}
{StoreLanes(L, "acc", $"tl * {L} + v < {I(g.OCG)}", $"out[(((g * {I(g.OCG)} + tl * {L} + v) * {I(g.CG)} + cl) * {I(g.KH)} + ky) * {I(g.KW)} + kx] = lanes[v]{MaskFactor(name, g, $"g * {I(g.OCG)} + tl * {L} + v", "cl")}")}}}
";
        return new NodeLaunch(name, new List<object> { "$scratch", x.Id, node.Id }, new Dim[] { t * g.CG * g.KH * g.KW }, code,
            n * (g.OH * g.OW * lanesAll), packLaunch);
    }

    // The same sum with one work-item per (channel tile, input channel, ky) computing the whole row of kx taps:
    // each vector of dy it loads feeds KW FMAs.
    internal static NodeLaunch ConvGradWeightRows(string name, ConvGeometry g, int L, Node x, Node node, Dim n, long t, long tg, long lanesAll,
        NodeLaunch packLaunch, string comment)
    {
        var sb = new StringBuilder(Header(comment) + MaskTable(name, g.Mask));
        sb.Append($@"__kernel void {name}(__global const float{L}* restrict packed, __global const float* restrict x, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ky = i % {I(g.KH)};
    int r = i / {I(g.KH)};
    const int cl = r % {I(g.CG)};
    const int t = r / {I(g.CG)};
    const int g = t / {I(tg)};
    const int tl = t % {I(tg)};
    const int c = g * {I(g.CG)} + cl;
");
        for (var q = 0; q < g.KW; q++) sb.Append($"    float{L} acc{q} = (float{L})(0.0f);\n");
        sb.Append($@"    for (int n = 0; n < {n.ToC()}; n++)
    {{
        const __global float* xb = x + (n * {I(g.C)} + c) * {I(g.H * g.W)};
        const __global float{L}* db = packed + n * {I(g.OH * g.OW * t)} + t;
        for (int oy = 0; oy < {I(g.OH)}; oy++)
        {{
            const int iy = oy * {I(g.SH)} - {I(g.PH)} + ky * {I(g.DH)};
{(g.PH > 0 ? $"            if (iy < 0 || iy >= {I(g.H)}) continue;\n" : "")}            const __global float* row = xb + iy * {I(g.W)};
            for (int ox = 0; ox < {I(g.OW)}; ox++)
            {{
                const float{L} d = db[(oy * {I(g.OW)} + ox) * {I(t)}];
                const int ix = ox * {I(g.SW)} - {I(g.PW)};
");
        for (var q = 0; q < g.KW; q++)
        {
            var at = q == 0 ? "ix" : $"ix + {I(q * g.DW)}";
            var load = g.PW > 0 ? $"(({at}) >= 0 && ({at}) < {I(g.W)} ? row[{at}] : 0.0f)" : $"row[{at}]";
            sb.Append($"                acc{q} = fma(d, (float{L})({load}), acc{q});\n");
        }
        sb.Append("            }\n        }\n    }\n");
        for (var q = 0; q < g.KW; q++)
            sb.Append($@"    {{
    const int kx = {I(q)};
    const float{L} acc = acc{q};
{StoreLanes(L, "acc", $"tl * {L} + v < {I(g.OCG)}", $"out[(((g * {I(g.OCG)} + tl * {L} + v) * {I(g.CG)} + cl) * {I(g.KH)} + ky) * {I(g.KW)} + kx] = lanes[v]{MaskFactor(name, g, $"g * {I(g.OCG)} + tl * {L} + v", "cl")}")}    }}
");
        sb.Append("}\n");
        return new NodeLaunch(name, new List<object> { "$scratch", x.Id, node.Id }, new Dim[] { t * g.CG * g.KH, 1 }, sb.ToString(),
            n * (g.OH * g.OW * lanesAll), packLaunch, Tile: new long[] { 1, 1 });
    }

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
