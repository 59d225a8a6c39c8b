using System.Text;
using NeuroDsl.Compiler.Ir;
using static NeuroDsl.Compiler.Emit.OpenClKernels;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The convolution kernels' GPU forms, compiled under <c>#if ND_GPU</c> in place of the CPU forms: one output element
/// per work-item, its index the element's flat index, so consecutive work-items store consecutive x and read
/// neighbouring inputs (coalesced), while every work-item of a row reads the same weight (a broadcast). They read the
/// CPU form's packed panels as plain floats, so the packing launches (bias row, masks, flips) serve both forms. A
/// launch rounds the work-items up to whole work-groups of the device's size (<c>LaunchGpu</c>, rather than leave
/// the size to the driver, which may pick a small divisor of an awkward total), so each kernel returns past its total.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>The kernel text with its GPU form under <c>#if ND_GPU</c> and its CPU form under <c>#else</c>.</summary>
    internal static string Shapes(string gpu, string cpu) => "#if ND_GPU\n" + gpu + "#else\n" + cpu + "#endif\n";

    /// <summary>A GPU form's first lines: its work-item's flat index, and the return of the work-items past <paramref name="total"/>.</summary>
    internal static string GpuIndex(Dim total) =>
        $"    const int i = get_global_id(0);\n    if (i >= {total.ToC()}) return; // past the last element: the launch is whole work-groups\n";

    /// <summary>
    /// The direct convolution over a packed panel ([group][c·ky·kx + 1][<paramref name="width"/>], the last row the
    /// bias), an input whose rows are <paramref name="rowWidth"/> wide with <paramref name="colPad"/> columns of
    /// padding still to skip (0 where the input is the zero-padded copy of <see cref="RowConv"/>).
    /// </summary>
    internal static string GpuConv(string name, Geometry g, long width, long rowWidth, long colPad, string extraParams, Epilogue? ep, Dim n)
    {
        var kkc = g.CG * g.KH * g.KW;
        var sb = new StringBuilder();
        sb.Append(ep?.Comment);
        sb.Append($@"// One output element per work-item.
__kernel void {name}(__global const float* restrict x, __global const float* restrict packed, {extraParams}__global float* restrict out)
{{
{GpuIndex(n * (g.OC * g.OH * g.OW))}    const int ox = i % {I(g.OW)};
    int r = i / {I(g.OW)};
    const int oy = r % {I(g.OH)};
    r /= {I(g.OH)};
    const int o = r % {I(g.OC)};
    const int n = r / {I(g.OC)};
    const int g = o / {I(g.OCG)};
    const __global float* xb = x + (n * {I(g.C)} + g * {I(g.CG)}) * {I(g.H * rowWidth)};
    const __global float* wp = packed + g * {I((kkc + 1) * width)} + o % {I(g.OCG)};
    float acc = wp[{I(kkc * width)}];
    for (int c = 0; c < {I(g.CG)}; c++)
        for (int ky = 0; ky < {I(g.KH)}; ky++)
        {{
            const int iy = oy * {I(g.SH)} - {I(g.PH)} + ky * {I(g.DH)};
{(g.PH > 0 ? $"            if (iy < 0 || iy >= {I(g.H)}) continue;\n" : "")}            const __global float* row = xb + (c * {I(g.H)} + iy) * {I(rowWidth)};
            for (int kx = 0; kx < {I(g.KW)}; kx++)
            {{
                const int ix = ox * {I(g.SW)} - {I(colPad)} + kx * {I(g.DW)};
{(colPad > 0 ? $"                if (ix < 0 || ix >= {I(g.W)}) continue;\n" : "")}                acc = fma(row[ix], wp[((c * {I(g.KH)} + ky) * {I(g.KW)} + kx) * {I(width)}], acc);
            }}
        }}
{GpuStore(ep, "acc", "    ")}}}
");
        return sb.ToString();
    }

    /// <summary>Stores a work-item's value at out[i] through the epilogue, if any (per value, its coordinates c0..c3).</summary>
    internal static string GpuStore(Epilogue? ep, string acc, string indent)
    {
        if (ep is null) return $"{indent}out[i] = {acc};\n";
        var sb = new StringBuilder();
        if (!ep.IsVector) sb.Append($"{indent}const int c0 = n, c1 = o, c2 = oy, c3 = ox;\n");
        sb.Append($"{indent}const float {ep.HeadLocal} = {acc};\n").Append(ep.Body("float", indent));
        return sb.Append($"{indent}out[i] = {ep.RootLocal};\n").ToString();
    }

    /// <summary>
    /// The input gradient as a gather (any stride), one dx element per work-item, over w packed as
    /// [group][o·ky·kx][<paramref name="width"/>] with input channels last.
    /// </summary>
    internal static string GpuGradInput(string name, Geometry g, long width, Dim n)
    {
        var kk = g.KH * g.KW;
        return $@"// One dx element per work-item.
__kernel void {name}(__global const float* restrict dy, __global const float* restrict packed, __global float* restrict out)
{{
{GpuIndex(n * (g.C * g.H * g.W))}    const int ix = i % {I(g.W)};
    int r = i / {I(g.W)};
    const int iy = r % {I(g.H)};
    r /= {I(g.H)};
    const int c = r % {I(g.C)};
    const int n = r / {I(g.C)};
    const int g = c / {I(g.CG)};
    const __global float* wp = packed + g * {I(g.OCG * kk * width)} + c % {I(g.CG)};
    float acc = 0.0f;
{GatherTaps(g, "", width)}    out[i] = acc;
}}
";
    }

    /// <summary>
    /// The weight gradient, one dw element per work-group of ND_ROW_LANES work-items (a row kernel's launch: the element
    /// is the group's index i = ((o·CG + cl)·KH + ky)·KW + kx), which share its sum of dy · x over the batch and the output
    /// pixels: lane l takes terms l, l + ND_ROW_LANES, … of (n, oy, ox), so neighbouring lanes read neighbouring pixels
    /// (coalesced), in blocks of 256 terms a lane; the group then adds its lanes' sums in a tree in local memory. One
    /// work-item per weight would leave a GPU idle (LeNet's C1 has 150 weights) and sum up to N·OH·OW terms in one run.
    /// <paramref name="dyParam"/> declares where dy is read from and <paramref name="dyAt"/> the read of dy[n, o, oy, ox]
    /// (dy itself, or the CPU form's channel-last pack of it).
    /// </summary>
    internal static string GpuGradWeight(string name, Geometry g, Dim n, string dyParam, string dyAt) => $@"#ifndef ND_ROW_LANES
#define ND_ROW_LANES 1
#endif
// One dw element per work-group of ND_ROW_LANES work-items.
__kernel
#if ND_ROW_LANES > 1
__attribute__((reqd_work_group_size(ND_ROW_LANES, 1, 1)))
#endif
void {name}({dyParam}, __global const float* restrict x, __global float* restrict out)
{{
    const int i = get_group_id(0);
    const int lane = get_local_id(0);
    const int kx = i % {I(g.KW)};
    int r = i / {I(g.KW)};
    const int ky = r % {I(g.KH)};
    r /= {I(g.KH)};
    const int cl = r % {I(g.CG)};
    const int o = r / {I(g.CG)};
    const int g = o / {I(g.OCG)};
    const int c = g * {I(g.CG)} + cl;
    const int terms = ({n.ToC()}) * {I(g.OH * g.OW)};
    float acc = 0.0f;
    for (int t0 = lane; t0 < terms; t0 += 256 * ND_ROW_LANES)
    {{
        const int end = min(terms, t0 + 256 * ND_ROW_LANES);
        float block = 0.0f;
        for (int t = t0; t < end; t += ND_ROW_LANES)
        {{
            const int ox = t % {I(g.OW)};
            const int q = t / {I(g.OW)};
            const int oy = q % {I(g.OH)};
            const int n = q / {I(g.OH)};
            const int iy = oy * {I(g.SH)} - {I(g.PH)} + ky * {I(g.DH)};
            const int ix = ox * {I(g.SW)} - {I(g.PW)} + kx * {I(g.DW)};
{(g.PH > 0 || g.PW > 0 ? $"            if (iy < 0 || iy >= {I(g.H)} || ix < 0 || ix >= {I(g.W)}) continue;\n" : "")}            block = fma({dyAt}, x[((n * {I(g.C)} + c) * {I(g.H)} + iy) * {I(g.W)} + ix], block);
        }}
        acc += block;
    }}
#if ND_ROW_LANES > 1
    __local float part[ND_ROW_LANES];
    part[lane] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ND_ROW_LANES / 2; s > 0; s >>= 1)
    {{
        if (lane < s) part[lane] += part[lane + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }}
    acc = part[0];
#endif
    if (lane == 0) out[i] = acc{MaskFactor(name, g, "o", "cl")};
}}
";

    /// <summary>The weight gradient's GPU form over the CPU form's pack of dy ([n·oy·ox][group][tile], channels last).</summary>
    internal static string GpuGradWeightPacked(string name, Geometry g, Dim n, long groupWidth, long lanesAll) =>
        GpuGradWeight(name, g, n, "__global const float* restrict packed",
            $"packed[((n * {I(g.OH)} + oy) * {I(g.OW)} + ox) * {I(lanesAll)} + g * {I(groupWidth)} + o % {I(g.OCG)}]");
}
