using System.Text;
using NeuroDsl.Compiler.Ir;
using static NeuroDsl.Compiler.Emit.OpenClKernels;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The convolution kernels' GPU forms, compiled under <c>#if ND_GPU</c> in place of the CPU forms: one output element
/// per work-item, its index the element's flat index, so consecutive work-items store consecutive x and read
/// neighbouring inputs (coalesced), while every work-item of a row reads the same weight (a broadcast). They read the
/// CPU form's packed panels as plain floats, so the packing launches (bias row, masks, flips) serve both forms.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>The kernel text with its GPU form under <c>#if ND_GPU</c> and its CPU form under <c>#else</c>.</summary>
    internal static string Shapes(string gpu, string cpu) => "#if ND_GPU\n" + gpu + "#else\n" + cpu + "#endif\n";

    /// <summary>
    /// The direct convolution over a packed panel ([group][c·ky·kx + 1][<paramref name="width"/>], the last row the
    /// bias), an input whose rows are <paramref name="rowWidth"/> wide with <paramref name="colPad"/> columns of
    /// padding still to skip (0 where the input is the zero-padded copy of <see cref="RowConv"/>).
    /// </summary>
    internal static string GpuConv(string name, Geometry g, long width, long rowWidth, long colPad, string extraParams, Epilogue? ep)
    {
        var kkc = g.CG * g.KH * g.KW;
        var sb = new StringBuilder();
        sb.Append(ep?.Comment);
        sb.Append($@"// One output element per work-item.
__kernel void {name}(__global const float* restrict x, __global const float* restrict packed, {extraParams}__global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ox = i % {I(g.OW)};
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
    internal static string GpuGradInput(string name, Geometry g, long width)
    {
        var kk = g.KH * g.KW;
        return $@"// One dx element per work-item.
__kernel void {name}(__global const float* restrict dy, __global const float* restrict packed, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int ix = i % {I(g.W)};
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
    /// The weight gradient, one dw element per work-item (its flat index i = ((o·CG + cl)·KH + ky)·KW + kx), summing
    /// dy · x over the batch and the output pixels. <paramref name="dyParam"/> declares where dy is read from and
    /// <paramref name="dyAt"/> the read of dy[n, o, oy, ox] (dy itself, or the CPU form's channel-last pack of it).
    /// Each row is summed on its own, then each image, as the CPU forms do (fewer roundings in a long sum).
    /// </summary>
    internal static string GpuGradWeight(string name, Geometry g, Dim n, string dyParam, string dyAt) => $@"// One dw element per work-item.
__kernel void {name}({dyParam}, __global const float* restrict x, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int kx = i % {I(g.KW)};
    int r = i / {I(g.KW)};
    const int ky = r % {I(g.KH)};
    r /= {I(g.KH)};
    const int cl = r % {I(g.CG)};
    const int o = r / {I(g.CG)};
    const int g = o / {I(g.OCG)};
    const int c = g * {I(g.CG)} + cl;
    float acc = 0.0f;
    for (int n = 0; n < {n.ToC()}; n++)
    {{
        const __global float* xb = x + (n * {I(g.C)} + c) * {I(g.H * g.W)};
        float img = 0.0f;
        for (int oy = 0; oy < {I(g.OH)}; oy++)
        {{
            const int iy = oy * {I(g.SH)} - {I(g.PH)} + ky * {I(g.DH)};
{(g.PH > 0 ? $"            if (iy < 0 || iy >= {I(g.H)}) continue;\n" : "")}            float row = 0.0f;
            for (int ox = 0; ox < {I(g.OW)}; ox++)
            {{
                const int ix = ox * {I(g.SW)} - {I(g.PW)} + kx * {I(g.DW)};
{(g.PW > 0 ? $"                if (ix < 0 || ix >= {I(g.W)}) continue;\n" : "")}                row = fma({dyAt}, xb[iy * {I(g.W)} + ix], row);
            }}
            img += row;
        }}
        acc += img;
    }}
    out[i] = acc{MaskFactor(name, g, "o", "cl")};
}}
";

    /// <summary>The weight gradient's GPU form over the CPU form's pack of dy ([n·oy·ox][group][tile], channels last).</summary>
    internal static string GpuGradWeightPacked(string name, Geometry g, Dim n, long groupWidth, long lanesAll) =>
        GpuGradWeight(name, g, n, "__global const float* restrict packed",
            $"packed[((n * {I(g.OH)} + oy) * {I(g.OW)} + ox) * {I(lanesAll)} + g * {I(groupWidth)} + o % {I(g.OCG)}]");
}
