using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// Convolutions with few output channels (LeNet's 6, an RGB output, the input gradient of a first layer), where a
/// vector of channels would be mostly empty: the vector runs along a row of output pixels instead.
/// </summary>
public static partial class OpenClKernels
{
    /// <summary>
    /// An elementwise chain applied to a convolution's values before they are stored (a fused epilogue): on whole
    /// vectors when it reads no other tensor, otherwise per value with its coordinates c0..c3 and flat index i.
    /// </summary>
    internal sealed class ConvEpilogue
    {
        private readonly Graph _graph;
        private readonly IReadOnlyList<Node> _chain;

        public ConvEpilogue(Graph graph, Node conv, IReadOnlyList<Node> chain)
        {
            _graph = graph;
            _chain = chain;
            ConvId = conv.Id;
            External = ChainCode(graph, chain, conv.Id, Root.Shape, "", "float").External;
        }

        public int ConvId { get; }
        public Node Root => _chain[_chain.Count - 1];
        public List<Node> External { get; }
        public bool IsVector => External.Count == 0;
        /// <summary>The comment line naming what the kernel computes after the convolution.</summary>
        public string Comment => "// Fused: conv2d -> " + string.Join(" -> ", _chain.Select(n => n.Op)) + "\n";
        public string Body(string type, string indent) => ChainCode(_graph, _chain, ConvId, Root.Shape, indent, type).Code;
    }

    /// <summary>
    /// Code that stores one accumulator through the epilogue. <paramref name="target"/> is the store of lane v with
    /// the value in <c>VALUE</c>; <paramref name="coords"/> declares c0..c3 of lane v; <paramref name="guard"/> (or null)
    /// says which lanes exist. <paramref name="vector"/>, when given, stores a whole vector result at once.
    /// </summary>
    internal static string StoreThrough(ConvEpilogue? ep, string acc, int width, string indent, string target, string coords,
        string? guard, Func<string, string>? vector, ConvGeometry g)
    {
        var sb = new StringBuilder();
        var value = acc;
        if (ep is not null && ep.IsVector)
        {
            sb.Append($"{indent}const float{width} t{ep.ConvId} = {acc};\n").Append(ep.Body($"float{width}", indent));
            value = $"t{ep.Root.Id}";
        }
        if (vector is not null && (ep is null || ep.IsVector))
            return sb.Append(indent).Append(vector(value)).Append('\n').ToString();
        sb.Append($"{indent}float lanes[{width}];\n{indent}vstore{width}({value}, 0, lanes);\n{indent}for (int v = 0; v < {width}; v++)\n");
        var inner = indent + "    ";
        if (ep is null || ep.IsVector)
            return sb.Append(guard is null ? "" : $"{inner}if ({guard})\n{inner}    ").Append(target.Replace("VALUE", "lanes[v]")).Append(";\n").ToString();
        sb.Append(guard is null ? $"{inner}{{\n" : $"{inner}if ({guard})\n{inner}{{\n");
        sb.Append($"{inner}    const int {coords};\n");
        sb.Append($"{inner}    const int i = ((c0 * {I(g.OC)} + c1) * {I(g.OH)} + c2) * {I(g.OW)} + c3;\n");
        sb.Append($"{inner}    const float t{ep.ConvId} = lanes[v];\n").Append(ep.Body("float", inner + "    "));
        sb.Append($"{inner}    {target.Replace("VALUE", $"t{ep.Root.Id}")};\n{inner}}}\n");
        return sb.ToString();
    }

    /// <summary>Kernel parameters and launch arguments for an epilogue's extra tensors.</summary>
    internal static (string Params, IEnumerable<object> Args) EpilogueParams(ConvEpilogue? ep) => ep is null
        ? ("", Enumerable.Empty<object>())
        : (string.Concat(ep.External.Select((e, k) => $"__global const {CType(e)}* restrict e{k}, ")), ep.External.Select(e => (object)e.Id));

    /// <summary>When the row kernel serves a convolution: stride and dilation 1, at most 8 output channels per group, rows of 8 or more.</summary>
    internal static bool RowsFit(ConvGeometry g) =>
        g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.OCG <= V && g.OW >= 8;

    /// <summary>
    /// The direct convolution with pixels in the vector: each work-item computes VW neighbouring output pixels of
    /// R rows for every output channel of its group (up to 8), over the packed weight panel of
    /// <see cref="DirectConv"/> read one scalar at a time. Per tap it loads the channels' weights once and one
    /// input vector per row, so R·channels FMAs share R + channels loads. A row's last vector is shifted left to
    /// end at the row's end (it recomputes a few pixels rather than store a partial vector); columns of padding come
    /// from a zero-padded copy of the input made first, rows of padding are skipped.
    /// </summary>
    internal static NodeLaunch RowConv(string name, string comment, ConvGeometry g, int input, int output, Dim n, NodeLaunch pack,
        ConvEpilogue? ep)
    {
        var tg = Tiles(g.OCG);
        var kkc = g.CG * g.KH * g.KW;
        var t = g.Groups * tg;
        var co = (int)Math.Min(V, g.OCG);
        var padded = g.PW > 0;
        // A padded copy can be made wide enough for one float16 over a row of 9 to 15 pixels, stored in part.
        var partial = padded && g.OW > 8 && g.OW < 16;
        var vw = g.OW >= 16 || partial ? 16 : 8;
        var segs = (g.OW + vw - 1) / vw;
        var rmax = Math.Max(1, Math.Min(4, 18 / co));
        var rows = Enumerable.Range(1, rmax).Reverse().First(r => g.OH % r == 0);
        if (rows * 2 <= rmax) rows = (int)Math.Min(rmax, g.OH);
        var blocks = (g.OH + rows - 1) / rows;
        var rw = Math.Max(g.W + 2 * g.PW, partial ? vw + g.KW - 1 : 0);
        var (extraParams, extraArgs) = EpilogueParams(ep);
        var sb = new StringBuilder(Header(comment));
        sb.Append(ep?.Comment);
        sb.Append($@"// {co} output channel{(co == 1 ? "" : "s")} × {rows} row{(rows == 1 ? "" : "s")} × {vw} pixels per work-item{(padded ? $"; the input is read from its copy padded to rows of {I(rw)}" : "")}.
__kernel void {name}(__global const float* restrict x, __global const float* restrict packed, {extraParams}__global float* restrict out)
{{
    const int i = get_global_id(0);
    const int x0 = {BlockStart("i", segs, vw, partial ? segs * vw : g.OW)};
    int r = i / {I(segs)};
    const int y0 = {BlockStart("r", blocks, rows, g.OH)};
    r /= {I(blocks)};
    const int t = r % {I(t)};
    const int n = r / {I(t)};
    const int g = t / {I(tg)};
    const int tl = t % {I(tg)};
    const __global float* xb = x + (n * {I(g.C)} + g * {I(g.CG)}) * {I(g.H * rw)} + x0;
    const __global float* wp = packed + (g * {I((kkc + 1) * tg)} + tl) * {V};
");
        for (var r = 0; r < rows; r++)
            for (var o = 0; o < co; o++)
                sb.Append($"    float{vw} acc{r}_{o} = (float{vw})(wp[{I(kkc * tg * V + o)}]);\n");
        sb.Append($@"    for (int c = 0; c < {I(g.CG)}; c++)
        for (int ky = 0; ky < {I(g.KH)}; ky++)
        {{
            const int iy = y0 - {I(g.PH)} + ky;
            const __global float* xr = xb + (c * {I(g.H)} + iy) * {I(rw)};
            for (int kx = 0; kx < {I(g.KW)}; kx++)
            {{
                const __global float* wk = wp + ((c * {I(g.KH)} + ky) * {I(g.KW)} + kx) * {I(tg * V)};
");
        for (var o = 0; o < co; o++) sb.Append($"                const float{vw} w{o} = (float{vw})(wk[{o}]);\n");
        for (var r = 0; r < rows; r++)
        {
            const string inner = "                    ";
            if (g.PH > 0) sb.Append($"                if (iy + {r} >= 0 && iy + {r} < {I(g.H)})\n");
            sb.Append($"                {{\n{inner}const float{vw} v = vload{vw}(0, xr + {I(r * rw)} + kx);\n");
            for (var o = 0; o < co; o++) sb.Append($"{inner}acc{r}_{o} = fma(v, w{o}, acc{r}_{o});\n");
            sb.Append("                }\n");
        }
        sb.Append("            }\n        }\n");
        var guard = g.OCG % V != 0 && tg > 1;
        for (var r = 0; r < rows; r++)
            for (var o = 0; o < co; o++)
            {
                sb.Append(guard ? $"    if (tl * {V} + {o} < {I(g.OCG)})\n    {{\n" : "    {\n");
                sb.Append($"    __global float* ob = out + ((n * {I(g.OC)} + g * {I(g.OCG)} + tl * {V} + {o}) * {I(g.OH)} + y0 + {r}) * {I(g.OW)} + x0;\n");
                sb.Append(StoreThrough(ep, $"acc{r}_{o}", vw, "    ", "ob[v] = VALUE",
                    $"c0 = n, c1 = g * {I(g.OCG)} + tl * {V} + {o}, c2 = y0 + {r}, c3 = x0 + v", partial ? $"v < {I(g.OW)}" : null,
                    value => partial ? PartialStore(value, g.OW, "ob") : $"vstore{vw}({value}, 0, ob);", g));
                sb.Append("    }\n");
            }
        sb.Append("}\n");

        var args = new List<object> { padded ? "$padded" : input, "$scratch" };
        args.AddRange(extraArgs);
        args.Add(output);
        var launch = new NodeLaunch(name, args, new[] { n * (t * blocks * segs) }, sb.ToString(),
            (Dim)(g.Groups * (kkc + 1) * tg * V), pack);
        if (!padded) return launch;

        // The padded copy: rows of PW zeros, the input row, PW zeros.
        var padName = name + "_pad";
        var pad = Header(comment) + $@"// Copies the input with {I(g.PW)} zero columns on each side of every row: [n][c][{I(g.H)}][{I(rw)}].
__kernel void {padName}(__global const float* restrict x, __global float* restrict padded)
{{
    const int j = get_global_id(0);
    const int ix = j % {I(rw)} - {I(g.PW)};
    const int row = j / {I(rw)};
    padded[j] = ix >= 0 && ix < {I(g.W)} ? x[row * {I(g.W)} + ix] : 0.0f;
}}
";
        var padLaunch = new NodeLaunch(padName, new List<object> { input, "$padded" }, new[] { n * (g.C * g.H * rw) }, pad, Before: pack);
        return launch with { Before = padLaunch, Padded = n * (g.C * g.H * rw) };
    }

    /// <summary>
    /// The first index of block <c>index % blocks</c> of <paramref name="size"/> along an axis of <paramref name="total"/>:
    /// the last block is shifted back to end at the axis's end (it recomputes a few items rather than run past it).
    /// </summary>
    internal static string BlockStart(string index, long blocks, long size, long total) => total % size == 0
        ? $"({index} % {I(blocks)}) * {I(size)}"
        : $"min(({index} % {I(blocks)}) * {I(size)}, {I(total - size)})";

    /// <summary>The sum of the lanes of a float8 or float16 value.</summary>
    internal static string LaneSum(string v, int width) => width == 16
        ? $"dot({v}.lo.lo + {v}.lo.hi + {v}.hi.lo + {v}.hi.hi, (float4)(1.0f))"
        : $"dot({v}.lo + {v}.hi, (float4)(1.0f))";

    /// <summary>Stores the first <paramref name="count"/> lanes of a float16 as vstore8/4/2 and a scalar.</summary>
    internal static string PartialStore(string value, long count, string target)
    {
        const string digits = "0123456789abcdef";
        var parts = new List<string>();
        var at = 0;
        foreach (var size in new[] { 8, 4, 2, 1 })
        {
            if (count - at < size) continue;
            var lanes = ".s" + digits.Substring(at, size);
            parts.Add(size == 1 ? $"{target}[{at}] = ({value}){lanes};" : $"vstore{size}(({value}){lanes}, 0, {target} + {at});");
            at += size;
        }
        return string.Join(" ", parts);
    }

    /// <summary>When the weight gradient's row kernel serves: stride and dilation 1, no padding, few output channels, rows of 8 or more.</summary>
    internal static bool GradWeightRowsFit(ConvGeometry g) =>
        g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.PH == 0 && g.PW == 0 && g.OCG <= V && g.OW >= 8;

    /// <summary>
    /// dw[o, c, ky, kx] = Σ_n Σ_oy Σ_ox dy[n, o, oy, ox] · x[n, c, oy + ky, ox + kx] with pixels in the vector and no
    /// packing: a work-item owns CO output channels, one input channel and one ky, and keeps CO × KW vector sums;
    /// per row it loads CO vectors of dy and KW shifted vectors of x. A row's last vector is shifted left to end at
    /// the row's end, its lanes already counted masked off in dy. The lanes are added up at the end.
    /// </summary>
    internal static NodeLaunch RowConvGradWeight(string name, string comment, ConvGeometry g, Node dy, Node x, Node node, Dim n)
    {
        var vw = g.OW >= 16 ? 16 : 8;
        var segs = (g.OW + vw - 1) / vw;
        var overlap = segs * vw - g.OW;
        var co = (int)Enumerable.Range(1, 4).Reverse().First(c => g.OCG % c == 0 && c * g.KW <= 16 || c == 1);
        var ob = g.OCG / co;
        var sb = new StringBuilder(Header(comment) + MaskTable(name, g.Mask));
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
        return new NodeLaunch(name, new List<object> { dy.Id, x.Id, node.Id }, new Dim[] { g.Groups * ob * g.CG * g.KH, 1 }, sb.ToString(),
            Tile: new long[] { 1, 1 });
    }
}
