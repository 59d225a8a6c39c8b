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
}
