using System.Collections.Generic;
using System.Text;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;
using static NeuroDsl.Compiler.Emit.OpenClKernels;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The kernels of 2-D pooling (max, average, sum) and its gradient: a loop over each window, and vector kernels
/// for 2×2 windows and for windows that tile the image. Entered from <see cref="Pooling"/>'s lowering.
/// </summary>
internal static class PoolingKernels
{
    /// <summary>A pooling window's geometry, from the forward node's attributes and the image shapes.</summary>
    private sealed record PoolGeometry(string Mode, long C, long H, long W, long OH, long OW, long KH, long KW,
        long SH, long SW, long PH, long PW)
    {
        public static PoolGeometry Of(Node node, Shape x, Shape y)
        {
            var k = node.AttrInts("kernel");
            var s = node.AttrInts("stride");
            var p = node.AttrInts("padding");
            return new PoolGeometry(node.AttrString("mode"), x[1].Coef, x[2].Coef, x[3].Coef, y[2].Coef, y[3].Coef,
                k[0], k[1], s[0], s[1], p[0], p[1]);
        }
    }

    /// <summary>y = the max, mean or sum of each window: a loop over the window, or a vector kernel for 2×2.</summary>
    internal static NodeLaunch Pool(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var g = PoolGeometry.Of(node, inputs[0].Shape, node.Shape);
        if (g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0 && g.OW >= 8)
            return PairPool(name, node, inputs[0], g);
        return new NodeLaunch(name, ArgSpec.Nodes(inputs[0], node), new[] { node.Shape.Numel }, WindowKernel(name, g, node.Shape.Numel),
            Gpu: new[] { node.Shape.Numel });
    }

    // One output per work-item, a loop over its window: the GPU's shape, and the CPU's where no vector kernel fits.
    private static string WindowKernel(string name, PoolGeometry g, Dim total)
    {
        var max = g.Mode == "max";
        var scale = g.Mode == "avg" ? " * " + Lit(1.0 / (g.KH * g.KW)) : "";
        var sb = new StringBuilder();
        sb.Append($@"__kernel void {name}(__global const float* restrict x, __global float* restrict out)
{{
{ConvolutionKernels.GpuIndex(total)}    const int ox = i % {I(g.OW)};
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
        return sb.ToString();
    }

    // 2×2 windows with stride 2: a work-item reads two rows of 16 inputs as vectors and writes 8 outputs; the even
    // and odd lanes are the two columns of each window. A row's last 8 outputs are shifted left to end at the row's end.
    private static NodeLaunch PairPool(string name, Node node, Node x, PoolGeometry g)
    {
        var segs = (g.OW + 7) / 8;
        var value = g.Mode == "max"
            ? "fmax(fmax(a.even, a.odd), fmax(b.even, b.odd))"
            : g.Mode == "avg" ? "(a.even + a.odd + b.even + b.odd) * 0.25f" : "a.even + a.odd + b.even + b.odd";
        var code = $@"__kernel void {name}(__global const float* restrict x, __global float* restrict out)
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
        return new NodeLaunch(name, ArgSpec.Nodes(x, node), new[] { node.Shape[0] * (g.C * g.OH * segs) },
            ConvolutionKernels.Shapes(WindowKernel(name, g, node.Shape.Numel), code), Gpu: new[] { node.Shape.Numel });
    }

    // dx at (iy, ix) gathers from every window that contains it; for max, only where it is the window's first maximum.
    internal static NodeLaunch PoolGrad(KernelCall call)
    {
        var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
        var x = inputs[0];
        var dy = inputs[1];
        var g = PoolGeometry.Of(node, x.Shape, dy.Shape);
        if (g.SH == g.KH && g.SW == g.KW && g.PH == 0 && g.PW == 0 && g.H == g.OH * g.KH && g.W == g.OW * g.KW)
            return TilingPoolGrad(name, node, x, dy, g);
        return new NodeLaunch(name, ArgSpec.Nodes(x, dy, node), new[] { node.Shape.Numel }, GatherKernel(name, g, node.Shape.Numel),
            Gpu: new[] { node.Shape.Numel });
    }

    // One dx element per work-item, gathering from the windows that contain it: the GPU's shape, and the CPU's where
    // the windows do not tile the image.
    private static string GatherKernel(string name, PoolGeometry g, Dim total)
    {
        var sb = new StringBuilder();
        sb.Append($@"__kernel void {name}(__global const float* restrict x, __global const float* restrict dy, __global float* restrict out)
{{
{ConvolutionKernels.GpuIndex(total)}    const int ix = i % {I(g.W)};
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
            // The window's first valid tap starts the search, as in the tiling kernel and the reference: a window of
            // -inf (or one whose first value is NaN) still routes its gradient to one input.
            sb.Append($@"            int best = -1;
            float m = 0.0f;
            for (int ky = 0; ky < {I(g.KH)}; ky++)
            {{
                const int y = oy * {I(g.SH)} - {I(g.PH)} + ky;
                if (y < 0 || y >= {I(g.H)}) continue;
                for (int kx = 0; kx < {I(g.KW)}; kx++)
                {{
                    const int xx = ox * {I(g.SW)} - {I(g.PW)} + kx;
                    if (xx < 0 || xx >= {I(g.W)}) continue;
                    const float v = xb[y * {I(g.W)} + xx];
                    if (best < 0 || v > m) {{ m = v; best = y * {I(g.W)} + xx; }}
                }}
            }}
            if (best == iy * {I(g.W)} + ix) acc += dyb[oy * {I(g.OW)} + ox];
");
        else
            sb.Append($"            acc += dyb[oy * {I(g.OW)} + ox];\n");
        sb.Append($"        }}\n    out[i] = acc{(g.Mode == "avg" ? " * " + Lit(1.0 / (g.KH * g.KW)) : "")};\n}}\n");
        return sb.ToString();
    }

    // Windows that tile the image exactly (stride = kernel, no padding, no remainder): each input pixel is in one
    // window, so one work-item per window writes all of its pixels — the gradient where the window's first
    // maximum is (or its share of an average or sum), 0 elsewhere.
    private static NodeLaunch TilingPoolGrad(string name, Node node, Node x, Node dy, PoolGeometry g)
    {
        var max = g.Mode == "max";
        if (!max && g.KH == 2 && g.KW == 2 && g.OW >= 8) return PairPoolGrad(name, node, x, dy, g);
        var sb = new StringBuilder();
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
        // On a GPU a work-item per window would store KH·KW scattered values: the gather's one per work-item instead.
        return new NodeLaunch(name, ArgSpec.Nodes(x, dy, node), new[] { dy.Shape.Numel },
            ConvolutionKernels.Shapes(GatherKernel(name, g, node.Shape.Numel), sb.ToString()), Gpu: new[] { node.Shape.Numel });
    }

    // The average (or sum) of 2×2 windows backward: a work-item spreads 8 values of dy over two rows of 16, each
    // value twice in a row (a shuffle). A row's last 8 are shifted left to end at the row's end.
    private static NodeLaunch PairPoolGrad(string name, Node node, Node x, Node dy, PoolGeometry g)
    {
        var segs = (g.OW + 7) / 8;
        var code = $@"__kernel void {name}(__global const float* restrict x, __global const float* restrict dy, __global float* restrict out)
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
        return new NodeLaunch(name, ArgSpec.Nodes(x, dy, node), new[] { node.Shape[0] * (g.C * g.OH * segs) },
            ConvolutionKernels.Shapes(GatherKernel(name, g, node.Shape.Numel), code), Gpu: new[] { node.Shape.Numel });
    }
}
