using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;
using static NeuroDsl.Compiler.Emit.OpenClKernels;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The convolution kernels, entered from the convolution ops' lowering (Ops/Convolution.cs,
/// Ops/ConvolutionTranspose.cs): a packing launch, then the direct convolution with channels in the vector or,
/// for few output channels, the row kernel with pixels in the vector. Every size is a literal.
/// </summary>
internal static partial class ConvolutionKernels
{
    // Convolutions compute 8 (or 16) channels per work-item with vector FMAs. A packing launch first lays the
    // weights (or, for the weight gradient, dy) out channel-last in a scratch buffer, padded to whole vectors, so
    // the inner loop does one broadcast load, one vector load and one vector FMA per tap.
    private const int V = 8;

    /// <summary>Geometry of a convolution, from the forward node's attributes and shapes.</summary>
    internal sealed record Geometry(long C, long H, long W, long OC, long OH, long OW, long KH, long KW,
        long SH, long SW, long PH, long PW, long DH, long DW, long Groups, long[]? Mask)
    {
        public long CG => C / Groups;
        public long OCG => OC / Groups;

        public static Geometry Of(Node node, Shape x, Shape w, Shape y)
        {
            var s = node.AttrInts("stride");
            var p = node.AttrInts("padding");
            var d = node.AttrInts("dilation");
            return new Geometry(x[1].Coef, x[2].Coef, x[3].Coef, y[1].Coef, y[2].Coef, y[3].Coef, w[2].Coef, w[3].Coef,
                s[0], s[1], p[0], p[1], d[0], d[1], node.AttrInt("groups"), node.Attrs.TryGetValue("mask", out var m) ? (long[])m : null);
        }
    }

    internal static string MaskTable(string name, long[]? mask) => mask is null ? "" :
        $"__constant uchar {name}_mask[{I(mask.Length)}] = {{ {string.Join(", ", mask.Select(I))} }};\n";

    internal static long Tiles(long channels, int lanes = V) => (channels + lanes - 1) / lanes;

    /// <summary>Channels per vector: 16 where they fill whole float16s, else 8.</summary>
    internal static int ChannelLanes(long channels) => channels % 16 == 0 ? 16 : V;

    internal static string MaskFactor(string name, Geometry g, string o, string c) =>
        g.Mask is null ? "" : $" * (float){name}_mask[({o}) * {I(g.CG)} + ({c})]";

    /// <summary>
    /// y[n, o, oy, ox] = b[o] + Σ_c Σ_ky Σ_kx x[n, c, iy, ix] · w[o, c, ky, kx], with the values stored through
    /// <paramref name="ep"/> when an elementwise chain is fused into the kernel.
    /// </summary>
    internal static NodeLaunch Forward(KernelCall call, Epilogue? ep = null)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var g = Geometry.Of(node, inputs[0].Shape, inputs[1].Shape, node.Shape);
        var bias = inputs.Length > 2;
        var lanes = RowsFit(g) ? V : ChannelLanes(g.OCG);
        var tg = Tiles(g.OCG, lanes);
        var kkc = g.CG * g.KH * g.KW;
        var width = tg * lanes;
        var packName = name + "_pack";
        var pack = MaskTable(packName, g.Mask) + $@"// Packs w (and b) as [group][c·ky·kx + 1][{I(width)}]: output channels last, then a bias row.
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
        var packArgs = ArgSpec.Nodes(inputs[1]);
        if (bias) packArgs.Add(ArgSpec.Node(inputs[2].Id));
        packArgs.Add(ArgSpec.Scratch);
        var packLaunch = new NodeLaunch(packName, packArgs, new Dim[] { g.Groups * (kkc + 1) * width }, pack);

        var output = ep?.Root.Id ?? node.Id;
        return RowsFit(g)
            ? RowConv(name, g, inputs[0].Id, output, node.Shape[0], packLaunch, ep)
            : DirectConv(name, g, lanes, inputs[0].Id, output, node.Shape[0], packLaunch, ep);
    }

    /// <summary>Output pixels per work-item along a row: the largest divisor of the row width up to <paramref name="most"/>.</summary>
    internal static long PixelBlock(long width, int most) => Enumerable.Range(1, most).Reverse().First(p => width % p == 0);

    /// <summary>
    /// The direct convolution over a packed weight panel ([group][c·ky·kx + 1][lanes], the last row the bias):
    /// each work-item computes 8 or 16 output channels at P neighbouring pixels of a row, so every vector of
    /// weights it loads feeds P FMAs. Serves the forward pass and, for stride 1, the input gradient (a convolution
    /// of dy with the flipped, transposed filters).
    /// </summary>
    internal static NodeLaunch DirectConv(string name, Geometry g, int lanes, int input, int output, Dim n,
        NodeLaunch pack, Epilogue? ep)
    {
        var tg = Tiles(g.OCG, lanes);
        var kkc = g.CG * g.KH * g.KW;
        var t = g.Groups * tg;
        var p = PixelBlock(g.OW, 8);
        var blocks = g.OW / p;
        var (extraParams, extraArgs) = EpilogueParams(ep);
        var sb = new StringBuilder();
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
        var args = new List<ArgSpec> { ArgSpec.Node(input), ArgSpec.Scratch };
        args.AddRange(extraArgs);
        args.Add(ArgSpec.Node(output));
        return new NodeLaunch(name, args, new[] { n * (t * g.OH * blocks) },
            Shapes(GpuConv(name, g, tg * lanes, g.W, g.PW, extraParams, ep, n), sb.ToString()),
            (Dim)(g.Groups * (kkc + 1) * tg * lanes), pack, Gpu: new[] { n * (g.OC * g.OH * g.OW) });
    }
}
