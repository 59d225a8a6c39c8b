using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;
using static NeuroDsl.Compiler.Emit.OpenClKernels;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The convolution's gradients: of the input (as a convolution of dy for stride 1, else a gather over the windows
/// that read each pixel) and of the weight (over dy packed channel-last, or with pixels in the vector).
/// </summary>
internal static partial class ConvolutionKernels
{
    // dx[n, c, iy, ix] = Σ over the outputs whose window reads (iy, ix) of dy · w; 8 input channels per work-item.
    internal static NodeLaunch GradInput(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var dy = inputs[0];
        var w = inputs[1];
        var g = Geometry.Of(node, node.Shape, w.Shape, dy.Shape);
        if (g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.PH < g.KH && g.PW < g.KW)
            return GradInputAsConv(name, node, dy, w, g);
        var tc = Tiles(g.CG);
        var kk = g.KH * g.KW;
        var width = tc * V;
        var packName = name + "_pack";
        var pack = MaskTable(packName, g.Mask) + $@"// Packs w as [group][o·ky·kx][{I(width)}]: input channels last.
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
        var packLaunch = new NodeLaunch(packName, new List<ArgSpec> { ArgSpec.Node(w.Id), ArgSpec.Scratch },
            new Dim[] { g.Groups * g.OCG * kk * width }, pack);
        var t = g.Groups * tc;
        var code = $@"__kernel void {name}(__global const float* restrict dy, __global const float{V}* restrict packed, __global float* restrict out)
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
{GatherTaps(g, $"(float{V})", tc)}    __global float* ob = out + ((n * {I(g.C)} + g * {I(g.CG)} + tl * {V}) * {I(g.H)} + iy) * {I(g.W)} + ix;
{StoreLanes(V, "acc", $"tl * {V} + v < {I(g.CG)}", $"ob[v * {I(g.H * g.W)}] = lanes[v]")}}}
";
        return new NodeLaunch(name, new List<ArgSpec> { ArgSpec.Node(dy.Id), ArgSpec.Scratch, ArgSpec.Node(node.Id) },
            new[] { node.Shape[0] * t * g.H * g.W }, Shapes(GpuGradInput(name, g, width, node.Shape[0]), code),
            (Dim)(g.Groups * g.OCG * kk * width), packLaunch, Gpu: new[] { node.Shape.Numel });
    }

    /// <summary>
    /// The taps of a gather input gradient at (n, iy, ix): for every output channel of the group and every tap whose
    /// output pixel reads this input pixel, acc += dy · w, with w packed <paramref name="stride"/> values a tap
    /// (<c>wp</c> at the work-item's channels); <paramref name="cast"/> widens dy's value to acc's type ("" for a
    /// scalar acc). Shared by the CPU form (channels in a vector) and the GPU form (one dx element).
    /// </summary>
    internal static string GatherTaps(Geometry g, string cast, long stride)
    {
        var read = $"dyb[oy * {I(g.OW)} + ox]";
        if (cast.Length > 0) read = $"{cast}({read})";
        return $@"    for (int ol = 0; ol < {I(g.OCG)}; ol++)
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
                acc = fma({read}, wp[((ol * {I(g.KH)} + ky) * {I(g.KW)} + kx) * {I(stride)}], acc);
            }}
        }}
    }}
";
    }

    // For stride 1: dx = dy convolved with the filters flipped in space and transposed in channels, padded by
    // k − 1 − p, so it runs on the direct convolution (channels or pixels in the vector).
    internal static NodeLaunch GradInputAsConv(string name, Node node, Node dy, Node w, Geometry g)
    {
        var flipped = new Geometry(g.OC, g.OH, g.OW, g.C, g.H, g.W, g.KH, g.KW, 1, 1, g.KH - 1 - g.PH, g.KW - 1 - g.PW, 1, 1, g.Groups, null);
        var rowsFit = RowsFit(flipped);
        var lanes = rowsFit ? V : ChannelLanes(g.CG);
        var tc = Tiles(g.CG, lanes);
        var kk = g.KH * g.KW;
        var rows = g.OCG * kk;
        var width = tc * lanes;
        var packName = name + "_pack";
        var pack = MaskTable(packName, g.Mask) + $@"// Packs w flipped and transposed as [group][o·ky·kx + 1][{I(width)}]: input channels last, then a zero bias row.
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
        var packLaunch = new NodeLaunch(packName, new List<ArgSpec> { ArgSpec.Node(w.Id), ArgSpec.Scratch },
            new Dim[] { g.Groups * (rows + 1) * width }, pack);
        return rowsFit
            ? RowConv(name, flipped, dy.Id, node.Id, node.Shape[0], packLaunch, null)
            : DirectConv(name, flipped, lanes, dy.Id, node.Id, node.Shape[0], packLaunch, null);
    }

    // dw[o, c, ky, kx] = Σ_n Σ_oy Σ_ox dy[n, o, oy, ox] · x[n, c, iy, ix]; 8 output channels per work-item, over dy packed
    // channel-last. Masked-out kernels get 0.
    internal static NodeLaunch GradWeight(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var dy = inputs[0];
        var x = inputs[1];
        var g = Geometry.Of(node, x.Shape, node.Shape, dy.Shape);
        var n = x.Shape[0];
        if (GradWeightRowsFit(g)) return RowGradWeight(name, g, dy, x, node, n);
        var L = ChannelLanes(g.OCG);
        var tg = Tiles(g.OCG, L);
        var lanesAll = g.Groups * tg * L;
        var packName = name + "_pack";
        var pack = $@"// Packs dy as [n·oy·ox][group][{I(tg * L)}]: output channels last.
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
        var packLaunch = new NodeLaunch(packName, new List<ArgSpec> { ArgSpec.Node(dy.Id), ArgSpec.Scratch },
            new[] { n * (g.OH * g.OW * lanesAll) }, pack);
        var t = g.Groups * tg;
        if (g.KW <= 12) return GradWeightRows(name, g, L, x, node, n, t, tg, lanesAll, packLaunch);
        var code = $@"__kernel void {name}(__global const float{L}* restrict packed, __global const float* restrict x, __global float* restrict out)
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
{(g.PH > 0 ? $"            if (iy < 0 || iy >= {I(g.H)}) continue;\n" : "")}            float{L} row = (float{L})(0.0f); // a row's sum, added to the total (fewer roundings)
            for (int ox = 0; ox < {I(g.OW)}; ox++)
            {{
                const int ix = ox * {I(g.SW)} - {I(g.PW)} + kx * {I(g.DW)};
{(g.PW > 0 ? $"                if (ix < 0 || ix >= {I(g.W)}) continue;\n" : "")}                row = fma(db[(oy * {I(g.OW)} + ox) * {I(t)}], (float{L})(xb[iy * {I(g.W)} + ix]), row);
            }}
            acc += row;
        }}
    }}
{StoreLanes(L, "acc", $"tl * {L} + v < {I(g.OCG)}", $"out[(((g * {I(g.OCG)} + tl * {L} + v) * {I(g.CG)} + cl) * {I(g.KH)} + ky) * {I(g.KW)} + kx] = lanes[v]{MaskFactor(name, g, $"g * {I(g.OCG)} + tl * {L} + v", "cl")}")}}}
";
        return new NodeLaunch(name, new List<ArgSpec> { ArgSpec.Scratch, ArgSpec.Node(x.Id), ArgSpec.Node(node.Id) },
            new Dim[] { t * g.CG * g.KH * g.KW }, MaskTable(name, g.Mask) + Shapes(GpuGradWeightPacked(name, g, n, tg * L, lanesAll), code),
            n * (g.OH * g.OW * lanesAll), packLaunch, Gpu: new[] { node.Shape.Numel }, GpuRows: true);
    }

    // The same sum with one work-item per (channel tile, input channel, ky) computing the whole row of kx taps:
    // each vector of dy it loads feeds KW FMAs.
    internal static NodeLaunch GradWeightRows(string name, Geometry g, int L, Node x, Node node, Dim n, long t, long tg, long lanesAll,
        NodeLaunch packLaunch)
    {
        var sb = new StringBuilder();
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
");
        // Each output row is summed on its own and added to its image's sum, which is then added to the total, so a
        // weight's sum of n·OH·OW terms rounds like OW + OH + n additions rather than n·OH·OW (the ResNet stem's
        // 25,088 at batch 2; 802,816 at batch 64, where row sums alone would still add 7,168 of them in a row).
        for (var q = 0; q < g.KW; q++) sb.Append($"        float{L} img{q} = (float{L})(0.0f);\n");
        sb.Append($@"        for (int oy = 0; oy < {I(g.OH)}; oy++)
        {{
            const int iy = oy * {I(g.SH)} - {I(g.PH)} + ky * {I(g.DH)};
{(g.PH > 0 ? $"            if (iy < 0 || iy >= {I(g.H)}) continue;\n" : "")}            const __global float* row = xb + iy * {I(g.W)};
");
        for (var q = 0; q < g.KW; q++) sb.Append($"            float{L} row{q} = (float{L})(0.0f);\n");
        sb.Append($@"            for (int ox = 0; ox < {I(g.OW)}; ox++)
            {{
                const float{L} d = db[(oy * {I(g.OW)} + ox) * {I(t)}];
                const int ix = ox * {I(g.SW)} - {I(g.PW)};
");
        for (var q = 0; q < g.KW; q++)
        {
            var at = q == 0 ? "ix" : $"ix + {I(q * g.DW)}";
            var load = g.PW > 0 ? $"(({at}) >= 0 && ({at}) < {I(g.W)} ? row[{at}] : 0.0f)" : $"row[{at}]";
            sb.Append($"                row{q} = fma(d, (float{L})({load}), row{q});\n");
        }
        sb.Append("            }\n");
        for (var q = 0; q < g.KW; q++) sb.Append($"            img{q} += row{q};\n");
        sb.Append("        }\n");
        for (var q = 0; q < g.KW; q++) sb.Append($"        acc{q} += img{q};\n");
        sb.Append("    }\n");
        for (var q = 0; q < g.KW; q++)
            sb.Append($@"    {{
    const int kx = {I(q)};
    const float{L} acc = acc{q};
{StoreLanes(L, "acc", $"tl * {L} + v < {I(g.OCG)}", $"out[(((g * {I(g.OCG)} + tl * {L} + v) * {I(g.CG)} + cl) * {I(g.KH)} + ky) * {I(g.KW)} + kx] = lanes[v]{MaskFactor(name, g, $"g * {I(g.OCG)} + tl * {L} + v", "cl")}")}    }}
");
        sb.Append("}\n");
        return new NodeLaunch(name, new List<ArgSpec> { ArgSpec.Scratch, ArgSpec.Node(x.Id), ArgSpec.Node(node.Id) },
            new Dim[] { t * g.CG * g.KH, 1 }, MaskTable(name, g.Mask) + Shapes(GpuGradWeightPacked(name, g, n, tg * L, lanesAll), sb.ToString()),
            n * (g.OH * g.OW * lanesAll), packLaunch, Tile: new long[] { 1, 1 }, Gpu: new[] { node.Shape.Numel }, GpuRows: true);
    }

    /// <summary>When the weight gradient's row kernel serves: stride and dilation 1, no padding, few output channels, rows of 8 or more.</summary>
    internal static bool GradWeightRowsFit(Geometry g) =>
        g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.PH == 0 && g.PW == 0 && g.OCG <= V && g.OW >= 8;

    /// <summary>
    /// dw[o, c, ky, kx] = Σ_n Σ_oy Σ_ox dy[n, o, oy, ox] · x[n, c, oy + ky, ox + kx] with pixels in the vector and no
    /// packing: a work-item owns CO output channels, one input channel and one ky, and keeps CO × KW vector sums;
    /// per row it loads CO vectors of dy and KW shifted vectors of x. A row's last vector is shifted left to end at
    /// the row's end, its lanes already counted masked off in dy. The lanes are added up at the end.
    /// </summary>
    internal static NodeLaunch RowGradWeight(string name, Geometry g, Node dy, Node x, Node node, Dim n)
    {
        var vw = g.OW >= 16 ? 16 : 8;
        var segs = (g.OW + vw - 1) / vw;
        var overlap = segs * vw - g.OW;
        var co = (int)Enumerable.Range(1, 4).Reverse().First(c => g.OCG % c == 0 && c * g.KW <= 16 || c == 1);
        var ob = g.OCG / co;
        var sb = new StringBuilder();
        sb.Append($@"// {co} output channel{(co == 1 ? "" : "s")} × {I(g.KW)} taps per work-item, {vw} pixels per vector.
__kernel void {name}(__global const float* restrict dy, __global const float* restrict x, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ky = i % {I(g.KH)};
    int r = i / {I(g.KH)};
    const int cl = r % {I(g.CG)};
    r /= {I(g.CG)};
    const int o0 = (r / {I(ob)}) * {I(g.OCG)} + (r % {I(ob)}) * {co};
    const int c = (r / {I(ob)}) * {I(g.CG)} + cl;
");
        if (overlap > 0)
            sb.Append($"    const float{vw} tail = (float{vw})({string.Join(", ", Enumerable.Range(0, vw).Select(v => v < overlap ? "0.0f" : "1.0f"))});\n");
        for (var o = 0; o < co; o++)
            for (var k = 0; k < g.KW; k++)
                sb.Append($"    float{vw} acc{o}_{k} = (float{vw})(0.0f);\n");
        sb.Append($@"    for (int n = 0; n < {n.ToC()}; n++)
        for (int oy = 0; oy < {I(g.OH)}; oy++)
        {{
            const __global float* dr = dy + ((n * {I(g.OC)} + o0) * {I(g.OH)} + oy) * {I(g.OW)};
            const __global float* xr = x + ((n * {I(g.C)} + c) * {I(g.H)} + oy + ky) * {I(g.W)};
");
        void Segment(string x0, string indent, bool masked)
        {
            for (var o = 0; o < co; o++)
                sb.Append($"{indent}const float{vw} d{o} = vload{vw}(0, dr + {I(o * g.OH * g.OW)} + {x0}){(masked ? " * tail" : "")};\n");
            for (var k = 0; k < g.KW; k++)
            {
                sb.Append($"{indent}{{\n{indent}    const float{vw} xv = vload{vw}(0, xr + {x0} + {k});\n");
                for (var o = 0; o < co; o++) sb.Append($"{indent}    acc{o}_{k} = fma(d{o}, xv, acc{o}_{k});\n");
                sb.Append($"{indent}}}\n");
            }
        }
        var whole = overlap > 0 ? segs - 1 : segs;
        if (whole > 0)
        {
            sb.Append($"            for (int x0 = 0; x0 < {I(whole * vw)}; x0 += {vw})\n            {{\n");
            Segment("x0", "                ", false);
            sb.Append("            }\n");
        }
        if (overlap > 0)
        {
            sb.Append("            {\n");
            Segment(I(g.OW - vw), "                ", true);
            sb.Append("            }\n");
        }
        sb.Append("        }\n");
        var sum = LaneSum("a", vw);
        for (var o = 0; o < co; o++)
            for (var k = 0; k < g.KW; k++)
                sb.Append($"    {{\n    const float{vw} a = acc{o}_{k};\n    out[((o0 + {o}) * {I(g.CG)} + cl) * {I(g.KH * g.KW)} + ky * {I(g.KW)} + {k}] = {sum}"
                    + $"{MaskFactor(name, g, $"o0 + {o}", "cl")};\n    }}\n");
        sb.Append("}\n");
        var gpu = GpuGradWeight(name, g, n, "__global const float* restrict dy",
            $"dy[((n * {I(g.OC)} + o) * {I(g.OH)} + oy) * {I(g.OW)} + ox]");
        return new NodeLaunch(name, ArgSpec.Nodes(dy, x, node), new Dim[] { g.Groups * ob * g.CG * g.KH, 1 },
            MaskTable(name, g.Mask) + Shapes(gpu, sb.ToString()), Tile: new long[] { 1, 1 }, Gpu: new[] { node.Shape.Numel }, GpuRows: true);
    }
}
