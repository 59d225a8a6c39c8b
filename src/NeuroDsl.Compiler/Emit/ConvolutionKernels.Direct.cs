using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Planning;
using static NeuroDsl.Compiler.Emit.OpenClKernels;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The direct convolution with channels in the vector and a block of output pixels per work-item, the block sized by
/// the device (the program's ND_CONV_PIXELS): one CPU form per block a row can take, chosen when the program is built.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>Output pixels per work-item along a row: the largest divisor of the row width up to <paramref name="most"/>.</summary>
    internal static long PixelBlock(long width, int most) => Enumerable.Range(1, most).Reverse().First(p => width % p == 0);

    /// <summary>The values a program's ND_CONV_PIXELS may take (the device's choice), largest first.</summary>
    internal static readonly int[] ConvPixelChoices = { 16, 8, 4, 2, 1 };

    /// <summary>
    /// The distinct pixel blocks of a row <paramref name="width"/> wide over <see cref="ConvPixelChoices"/>, largest first,
    /// each with the least ND_CONV_PIXELS that gives it (the last one's is 1). A row of 12: 12 from 16, 6 from 8, 4, 2, 1;
    /// a row of 7: 7 from 8, else 1.
    /// </summary>
    internal static IReadOnlyList<(int Least, long Block)> PixelForms(long width)
    {
        var forms = new List<(int Least, long Block)>();
        foreach (var most in ConvPixelChoices)
        {
            var block = PixelBlock(width, most);
            // PixelBlock grows with its bound, so each block's bounds are consecutive: the last one seen is the least.
            if (forms.Count > 0 && forms[forms.Count - 1].Block == block) forms[forms.Count - 1] = (most, block);
            else forms.Add((most, block));
        }
        return forms;
    }

    /// <summary>
    /// A kernel's CPU forms, each compiled where the program's ND_CONV_PIXELS is at least its Least (largest first, the
    /// last under <c>#else</c>); a single form as it is.
    /// </summary>
    internal static string ConvPixelsForms(IReadOnlyList<(int Least, string Code)> forms)
    {
        if (forms.Count == 1) return forms[0].Code;
        var sb = new StringBuilder();
        for (var f = 0; f < forms.Count; f++)
        {
            var last = f == forms.Count - 1;
            sb.Append(f == 0 ? "#if" : last ? "#else" : "#elif")
                .Append(last ? "" : " ND_CONV_PIXELS >= " + I(forms[f].Least)).Append('\n').Append(forms[f].Code);
        }
        return sb.Append("#endif\n").ToString();
    }

    /// <summary>
    /// The direct convolution over a packed weight panel ([group][c·ky·kx + 1][lanes], the last row the bias):
    /// each work-item computes 8 or 16 output channels at P neighbouring pixels of a row, so every vector of
    /// weights it loads feeds P FMAs. Serves the forward pass and, for stride 1, the input gradient (a convolution
    /// of dy with the flipped, transposed filters). P is the largest divisor of the row width up to the program's
    /// ND_CONV_PIXELS (what the device's registers hold): one CPU form per distinct P (<see cref="PixelForms"/>), and
    /// the launch's global size per form (<see cref="NodeLaunch.ByConvPixels"/>).
    /// </summary>
    internal static NodeLaunch DirectConv(string name, Geometry g, int lanes, int input, int output, Dim n,
        NodeLaunch pack, Epilogue? ep)
    {
        var tg = Tiles(g.OCG, lanes);
        var kkc = g.CG * g.KH * g.KW;
        var t = g.Groups * tg;
        var (extraParams, extraArgs) = EpilogueParams(ep);
        var forms = PixelForms(g.OW);
        var cpu = forms.Select(f => (f.Least, Code: DirectConvCpu(name, g, lanes, f.Block, extraParams, ep))).ToList();
        Dim[] Global(long p) => new[] { n * (t * g.OH * (g.OW / p)) };
        var args = new List<ArgSpec> { ArgSpec.Node(input), ArgSpec.Scratch };
        args.AddRange(extraArgs);
        args.Add(ArgSpec.Node(output));
        return new NodeLaunch(name, args, Global(forms[forms.Count - 1].Block),
            Shapes(GpuConv(name, g, tg * lanes, g.W, g.PW, extraParams, ep, n),
                DirectConvStore(name, g, lanes, extraParams, ep) + ConvPixelsForms(cpu)),
            (Dim)(g.Groups * (kkc + 1) * tg * lanes), pack, Gpu: new[] { n * (g.OC * g.OH * g.OW) },
            ByConvPixels: forms.Count == 1 ? null
                : forms.Take(forms.Count - 1).Select(f => new ConvPixelsGlobal(f.Least, Global(f.Block))).ToList());
    }

    /// <summary>
    /// The store of one output pixel's channels (through the epilogue, if any), a function the CPU forms call once per
    /// pixel: the forms differ in their block only, and the store, with a fused chain the longest part of a pixel's
    /// code, is written once (it is inlined, so each form computes as if it were written out).
    /// </summary>
    private static string DirectConvStore(string name, Geometry g, int lanes, string extraParams, Epilogue? ep) =>
        $@"// Stores one output pixel's {lanes} channels{(ep is null ? "" : " through the fused chain")}: the CPU forms below call it for each of their pixels.
static inline void {name}_store(const float{lanes} acc, {extraParams}__global float* restrict out, const int n, const int g, const int tl,
    const int oy, const int ox)
{{
    __global float* ob = out + ((n * {I(g.OC)} + g * {I(g.OCG)} + tl * {lanes}) * {I(g.OH)} + oy) * {I(g.OW)} + ox;
{StoreThrough(ep, "acc", lanes, "    ", $"ob[v * {I(g.OH * g.OW)}] = VALUE", $"c0 = n, c1 = g * {I(g.OCG)} + tl * {lanes} + v, c2 = oy, c3 = ox",
    g.OCG % lanes == 0 ? null : $"tl * {lanes} + v < {I(g.OCG)}", null, g)}}}
";

    /// <summary>The direct convolution's CPU form with <paramref name="p"/> output pixels per work-item.</summary>
    private static string DirectConvCpu(string name, Geometry g, int lanes, long p, string extraParams, Epilogue? ep)
    {
        var tg = Tiles(g.OCG, lanes);
        var kkc = g.CG * g.KH * g.KW;
        var t = g.Groups * tg;
        var blocks = g.OW / p;
        var extra = ep is null ? "" : string.Concat(ep.External.Select((_, k) => $"e{k}, "));
        var sb = new StringBuilder();
        sb.Append(ep?.Comment);
        sb.Append($@"// {lanes} output channels × {I(p)} pixel{(p == 1 ? "" : "s")} per work-item.
__kernel void {name}(__global const float* restrict x, __global const float{lanes}* restrict packed, {extraParams}__global float* restrict out)
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
            sb.Append($"    {name}_store(acc{q}, {extra}out, n, g, tl, oy, ox0{(q == 0 ? "" : " + " + I(q))});\n");
        sb.Append("}\n");
        return sb.ToString();
    }
}
