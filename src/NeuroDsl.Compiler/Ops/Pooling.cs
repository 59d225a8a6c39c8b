using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// 2-D pooling over windows of an image: <c>maxpool</c>, <c>avgpool</c>, <c>sumpool</c>, <c>global_avgpool</c>,
/// and LeCun et al. 1998's trainable <c>subsample</c> (a sum pool, then one coefficient and one bias per map).
/// Kernels in <see cref="PoolingKernels"/>.
/// </summary>
public sealed class Pooling : OpFamily
{
    /// <summary>(x) → the max, mean or sum ("mode") of each kernel × kernel window, stride apart, padded.</summary>
    public static readonly OpDef Pool2d = new PoolOp();

    /// <summary>(x, dy) → dx: each window's gradient to its first maximum, or shared over it (mean, sum).</summary>
    public static readonly OpDef Pool2dGrad = new PoolGradOp();

    private sealed class PoolOp : OpDef
    {
        public PoolOp() : base("pool2d", PrimKind.Custom, 1)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            new Node?[] { g.Op(Pool2dGrad, g.In(node, 0).Shape, node.Attrs, node, g.In(node, 0), dy) };

        public override double[] Reference(RefCall call)
        {
            var (node, x) = (call.Node, call.Inputs[0]);
            var mode = node.AttrString("mode");
            var k = node.AttrInts("kernel");
            var y = new double[call.Numel];
            ForEachWindow(node, call.InputShapes[0], call.OutShape, (o, taps) => y[o] = mode switch
            {
                "max" => taps.Max(i => x[i]),
                "avg" => taps.Sum(i => x[i]) / (k[0] * k[1]),
                _ => taps.Sum(i => x[i]),
            });
            return y;
        }

        public override NodeLaunch Lower(KernelCall call) => PoolingKernels.Pool(call);

        public override string Detail(Node node)
        {
            var (kernel, stride) = (DotWriter.Pair(node, "kernel"), DotWriter.Pair(node, "stride"));
            return " " + kernel + (stride == kernel ? "" : ", stride " + stride);
        }
    }

    private sealed class PoolGradOp : OpDef
    {
        public PoolGradOp() : base("pool2d_grad", PrimKind.Custom, 2)
        {
        }

        public override double[] Reference(RefCall call)
        {
            var (node, x, dy) = (call.Node, call.Inputs[0], call.Inputs[1]);
            var mode = node.AttrString("mode");
            var k = node.AttrInts("kernel");
            var dx = new double[ReferenceInterpreter.Numel(call.InputShapes[0])];
            ForEachWindow(node, call.InputShapes[0], call.InputShapes[1], (o, taps) =>
            {
                if (mode == "max")
                {
                    var best = taps[0];
                    foreach (var i in taps) if (x[i] > x[best]) best = i;
                    dx[best] += dy[o];
                }
                else foreach (var i in taps) dx[i] += mode == "avg" ? dy[o] / (k[0] * k[1]) : dy[o];
            });
            return dx;
        }

        public override NodeLaunch Lower(KernelCall call) => PoolingKernels.PoolGrad(call);
    }

    /// <summary>Visits each pooling window: (output index, the input indices inside the image).</summary>
    private static void ForEachWindow(Node node, long[] xs, long[] ys, Action<long, List<long>> visit)
    {
        var k = node.AttrInts("kernel");
        var s = node.AttrInts("stride");
        var p = node.AttrInts("padding");
        var taps = new List<long>();
        for (long nc = 0; nc < xs[0] * xs[1]; nc++)
            for (long oy = 0; oy < ys[2]; oy++)
                for (long ox = 0; ox < ys[3]; ox++)
                {
                    taps.Clear();
                    for (long ky = 0; ky < k[0]; ky++)
                        for (long kx = 0; kx < k[1]; kx++)
                        {
                            var iy = oy * s[0] - p[0] + ky;
                            var ix = ox * s[1] - p[1] + kx;
                            if (iy >= 0 && iy < xs[2] && ix >= 0 && ix < xs[3])
                                taps.Add((nc * xs[2] + iy) * xs[3] + ix);
                        }
                    visit((nc * ys[2] + oy) * ys[3] + ox, taps);
                }
    }

    public override void Surface(SurfaceTable table)
    {
        // maxpool(x, kernel, stride: kernel, padding: 0), and avgpool, sumpool alike.
        foreach (var mode in new[] { "avg", "max", "sum" })
            table.Def(mode + "pool", LayerCategory.Pooling, c => Pool(c, mode), T("x"), P("kernel", ArgKind.Ints),
                P("stride", ArgKind.Ints, None), P("padding", ArgKind.Ints, Int(0)));
        table.Def("global_avgpool", LayerCategory.Pooling, GlobalAvgPool, T("x"));
        // LeCun et al. 1998: trainable subsampling, one coefficient and one bias per map.
        table.Def("subsample", LayerCategory.Pooling, Subsample, T("x"), P("kernel", ArgKind.Ints, Int(2)),
            P("init", ArgKind.Init, new InitValue(new InitSpec("lecun98_uniform"))),
            P("bias_init", ArgKind.Init, Zeros));
    }

    private static Value Pool(OpCall c, string mode)
    {
        var op = mode + "pool";
        var x = c.Tensor("x");
        var (ch, h, w) = Builtins.RequireImage(c, x, op);
        var k = c.Ints("kernel", 2);
        var s = c.Has("stride") ? c.Ints("stride", 2) : k;
        var p = c.Ints("padding", 2);
        if (p[0] * 2 > k[0] || p[1] * 2 > k[1])
            c.Fail(Codes.BadValue, null, "Pad a pooling window by at most half its size");
        var oh = Builtins.OutSize(c, op, h, k[0], s[0], p[0], 1, "height");
        var ow = Builtins.OutSize(c, op, w, k[1], s[1], p[1], 1, "width");
        var shape = new Shape(new[] { x.Shape[0], (Dim)ch, (Dim)oh, (Dim)ow });
        var attrs = new Dictionary<string, object> { ["mode"] = mode, ["kernel"] = k, ["stride"] = s, ["padding"] = p };
        return new TensorValue(c.Binder.AddOp(Pool2d, new[] { x.Id }, shape, DType.F32, attrs, c.Span, op));
    }

    /// <summary>The mean of each map: one window as large as the image, then [N, C].</summary>
    private static Value GlobalAvgPool(OpCall c)
    {
        var x = c.Tensor("x");
        var (ch, h, w) = Builtins.RequireImage(c, x, "global_avgpool");
        var attrs = new Dictionary<string, object>
        {
            ["mode"] = "avg", ["kernel"] = new[] { h, w }, ["stride"] = new[] { h, w }, ["padding"] = new[] { 0L, 0L },
        };
        var pooled = c.Binder.AddOp(Pool2d, new[] { x.Id }, new Shape(new[] { x.Shape[0], (Dim)ch, (Dim)1, (Dim)1 }),
            DType.F32, attrs, c.Span, "global_avgpool");
        var flat = new Shape(new[] { x.Shape[0], (Dim)ch });
        return new TensorValue(c.Binder.AddOp(Reshaping.Reshape, new[] { pooled.Id }, flat, DType.F32, null, c.Span));
    }

    /// <summary>y = sumpool(x)·coefficient[c] + bias[c]: the scaled sum is the layer, the sum pool a helper.</summary>
    private static Value Subsample(OpCall c)
    {
        var x = c.Tensor("x");
        var (ch, _, _) = Builtins.RequireImage(c, x, "subsample");
        var k = c.Ints("kernel", 2);
        var pooled = Pool(new OpCall(c.Binder, c.Op, c.Span, new Dictionary<string, Value>
        {
            ["x"] = c.Args["x"], ["kernel"] = c.Args["kernel"], ["stride"] = c.Args["kernel"], ["padding"] = Int(0),
        }), "sum");
        var pool = ((TensorValue)pooled).Node;
        pool.Layer = null;
        var coef = c.Binder.Param("weight", new Shape(ch), c.Init("init"), k[0] * k[1], 1, c.Span);
        var bias = c.Binder.Param("bias", new Shape(ch), c.Init("bias_init"), k[0] * k[1], 1, c.Span);
        var y = Builtins.ScaleShiftPerMap(c, pool, coef, bias, "subsample");
        y.Connections = pool.Shape.Numel.PerExample * (k[0] * k[1] + 1);
        c.Binder.OwnParams(y);
        return new TensorValue(y);
    }
}
