using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using static NeuroDsl.Compiler.Emit.OpenClKernels;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// Convolutions with few output channels (LeNet's 6, an RGB output, the input gradient of a first layer), where a
/// vector of channels would be mostly empty: the vector runs along a row of output pixels instead.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>When the row kernel serves a convolution: stride and dilation 1, at most 8 output channels per group, rows of 8 or more.</summary>
    internal static bool RowsFit(Geometry g) =>
        g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.OCG <= V && g.OW >= 8;

    /// <summary>
    /// The direct convolution with pixels in the vector: each work-item computes VW neighbouring output pixels of
    /// R rows for every output channel of its group (up to 8), over the packed weight panel of
    /// <see cref="DirectConv"/> read one scalar at a time. Per tap it loads the channels' weights once and one
    /// input vector per row, so R·channels FMAs share R + channels loads. A row's last vector is shifted left to
    /// end at the row's end (it recomputes a few pixels rather than store a partial vector); columns of padding come
    /// from a zero-padded copy of the input made first, rows of padding are skipped.
    /// </summary>
    internal static NodeLaunch RowConv(string name, Geometry g, int input, int output, Dim n, NodeLaunch pack,
        Epilogue? ep)
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
        var sb = new StringBuilder();
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

        var args = new List<ArgSpec> { padded ? ArgSpec.Padded : ArgSpec.Node(input), ArgSpec.Scratch };
        args.AddRange(extraArgs);
        args.Add(ArgSpec.Node(output));
        // The GPU form reads the same input: its zero-padded copy, when there is one, holds the columns of padding.
        var launch = new NodeLaunch(name, args, new[] { n * (t * blocks * segs) },
            Shapes(GpuConv(name, g, tg * V, rw, 0, extraParams, ep, n), sb.ToString()),
            (Dim)(g.Groups * (kkc + 1) * tg * V), pack, Gpu: new[] { n * (g.OC * g.OH * g.OW) });
        if (!padded) return launch;

        // The padded copy: rows of PW zeros, the input row, PW zeros.
        var padName = name + "_pad";
        var pad = $@"// Copies the input with {I(g.PW)} zero columns on each side of every row: [n][c][{I(g.H)}][{I(rw)}].
__kernel void {padName}(__global const float* restrict x, __global float* restrict padded)
{{
    const int j = get_global_id(0);
    const int ix = j % {I(rw)} - {I(g.PW)};
    const int row = j / {I(rw)};
    padded[j] = ix >= 0 && ix < {I(g.W)} ? x[row * {I(g.W)} + ix] : 0.0f;
}}
";
        var padLaunch = new NodeLaunch(padName, new List<ArgSpec> { ArgSpec.Node(input), ArgSpec.Padded },
            new[] { n * (g.C * g.H * rw) }, pad, Before: pack);
        return launch with { Before = padLaunch, Padded = n * (g.C * g.H * rw) };
    }

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
}
