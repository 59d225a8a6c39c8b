using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// The 2-D convolution (<c>conv2d</c>: groups, dilation, LeNet's connection tables) and its two gradients, on the
/// kernels of Emit/ConvolutionKernels; and <c>untied_bias</c>, the per-unit bias of LeCun et al. 1989.
/// Attributes: stride, padding, dilation ([h, w] each), groups and, for a connection table, mask[o·C/groups + c].
/// </summary>
public sealed class Convolution : OpFamily
{
    /// <summary>(x, w[, b]) → y; heads a fused elementwise epilogue.</summary>
    public static readonly OpDef Conv2d = new ForwardOp();

    /// <summary>(dy, w) → dx, with the forward node's attributes.</summary>
    public static readonly OpDef Conv2dGradInput = new GradInputOp();

    /// <summary>(dy, x) → dw, with the forward node's attributes; masked-out kernels get 0.</summary>
    public static readonly OpDef Conv2dGradWeight = new GradWeightOp();

    private sealed class ForwardOp : OpDef
    {
        public ForwardOp() : base("conv2d", PrimKind.Custom, -1)
        {
        }

        public override FusionRole Fusion => FusionRole.EpilogueHead;

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => ConvRule(g, node, dy);

        public override double[] Reference(RefCall call)
        {
            var (ins, shapes) = (call.Inputs, call.InputShapes);
            var g = Geometry.Of(call.Node, shapes[0], shapes[1], call.OutShape);
            var y = new double[call.Numel];
            if (ins.Length > 2)
                for (var i = 0; i < y.Length; i++) y[i] = ins[2][i / (g.OH * g.OW) % g.OC];
            ForEachTap(g, (yi, xi, wi) => y[yi] += ins[0][xi] * ins[1][wi]);
            return y;
        }

        public override NodeLaunch Lower(KernelCall call) => ConvolutionKernels.Forward(call);

        public override string Detail(Node node) => FiltersDetail(node);
    }

    private sealed class GradInputOp : OpDef
    {
        public GradInputOp() : base("conv2d_grad_input", PrimKind.Custom, 2)
        {
        }

        public override double[] Reference(RefCall call) => GradInputReference(call);

        public override NodeLaunch Lower(KernelCall call) => ConvolutionKernels.GradInput(call);
    }

    private sealed class GradWeightOp : OpDef
    {
        public GradWeightOp() : base("conv2d_grad_weight", PrimKind.Custom, 2)
        {
        }

        public override double[] Reference(RefCall call)
        {
            var (dy, x, shapes) = (call.Inputs[0], call.Inputs[1], call.InputShapes);
            var g = Geometry.Of(call.Node, shapes[1], call.OutShape, shapes[0]);
            var dw = new double[call.Numel];
            ForEachTap(g, (yi, xi, wi) => dw[wi] += dy[yi] * x[xi]);
            return dw;
        }

        public override NodeLaunch Lower(KernelCall call) => ConvolutionKernels.GradWeight(call);
    }

    // dx by the transposed convolution, dw by correlating x with dy, db by summing dy over N, H and W.
    private static Node?[] ConvRule(GradBuilder g, Node n, Node dy)
    {
        var x = g.In(n, 0);
        var w = g.In(n, 1);
        var grads = new List<Node?>
        {
            g.Op(Conv2dGradInput, x.Shape, n.Attrs, n, dy, w),
            g.Op(Conv2dGradWeight, w.Shape, n.Attrs, n, dy, x),
        };
        if (n.Inputs.Count > 2)
        {
            var oc = n.Shape[1];
            grads.Add(g.Reshape(g.SumTo(dy, new Shape(new[] { oc, (Dim)1, (Dim)1 }), n), new Shape(new[] { oc }), n));
        }
        return grads.ToArray();
    }

    /// <summary>
    /// dx from (dy, w): each output's gradient scattered back over its window. The float64 definition of
    /// <c>conv2d_grad_input</c> and of the transposed convolution, which is this map from its input to its output.
    /// </summary>
    internal static double[] GradInputReference(RefCall call)
    {
        var (dy, w, shapes) = (call.Inputs[0], call.Inputs[1], call.InputShapes);
        var g = Geometry.Of(call.Node, call.OutShape, shapes[1], shapes[0]);
        var dx = new double[call.Numel];
        ForEachTap(g, (yi, xi, wi) => dx[xi] += dy[yi] * w[wi]);
        return dx;
    }

    /// <summary>The diagram's detail of a convolution layer: "6 filters", "64 filters, stride 2".</summary>
    internal static string FiltersDetail(Node n)
    {
        var stride = DotWriter.Pair(n, "stride");
        return $" {n.Shape[1]} filters" + (stride is "1" or "" ? "" : ", stride " + stride);
    }

    /// <summary>A convolution's sizes, from the attributes and the shapes of x [N, C, H, W], w and y [N, OC, OH, OW].</summary>
    private readonly record struct Geometry(long N, long C, long H, long W, long OC, long OH, long OW, long KH, long KW,
        long SH, long SW, long PH, long PW, long DH, long DW, long G, long[]? Mask)
    {
        public long CG => C / G;
        public long OCG => OC / G;
        public bool Connected(long o, long cl) => Mask is null || Mask[o * CG + cl] != 0;

        public static Geometry Of(Node node, long[] x, long[] w, long[] y)
        {
            var s = node.AttrInts("stride");
            var p = node.AttrInts("padding");
            var d = node.AttrInts("dilation");
            return new Geometry(x[0], x[1], x[2], x[3], y[1], y[2], y[3], w[2], w[3], s[0], s[1], p[0], p[1], d[0], d[1],
                node.AttrInt("groups"), node.Attrs.TryGetValue("mask", out var m) ? (long[])m : null);
        }
    }

    /// <summary>Visits every (output, input, weight) index triple of a convolution: the definition itself.</summary>
    private static void ForEachTap(Geometry g, Action<long, long, long> visit)
    {
        for (long n = 0; n < g.N; n++)
            for (long o = 0; o < g.OC; o++)
                for (long cl = 0; cl < g.CG; cl++)
                {
                    if (!g.Connected(o, cl)) continue;
                    var c = o / g.OCG * g.CG + cl;
                    for (long oy = 0; oy < g.OH; oy++)
                        for (long ox = 0; ox < g.OW; ox++)
                            for (long ky = 0; ky < g.KH; ky++)
                                for (long kx = 0; kx < g.KW; kx++)
                                {
                                    var iy = oy * g.SH - g.PH + ky * g.DH;
                                    var ix = ox * g.SW - g.PW + kx * g.DW;
                                    if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                                    visit(((n * g.OC + o) * g.OH + oy) * g.OW + ox, ((n * g.C + c) * g.H + iy) * g.W + ix,
                                        ((o * g.CG + cl) * g.KH + ky) * g.KW + kx);
                                }
                }
    }

    public override void Surface(SurfaceTable table)
    {
        // conv2d(x, filters, kernel, stride: 1, padding: 0, dilation: 1, groups: 1, bias: true, table: none, …)
        table.Def("conv2d", LayerCategory.Weighted, Bind, T("x"), P("filters", ArgKind.Int), P("kernel", ArgKind.Ints),
            P("stride", ArgKind.Ints, Int(1)), P("padding", ArgKind.Ints, Int(0)), P("dilation", ArgKind.Ints, Int(1)),
            P("groups", ArgKind.Int, Int(1)), P("bias", ArgKind.Bool, True), P("table", ArgKind.Table, None),
            P("init", ArgKind.Init, GlorotUniform), P("bias_init", ArgKind.Init, Zeros), P("trainable", ArgKind.Bool, True));
        table.Def("untied_bias", UntiedBias, T("x"), P("init", ArgKind.Init, Zeros));
    }

    private static Value Bind(OpCall c)
    {
        const string op = "conv2d";
        var x = c.Tensor("x");
        var (ch, h, w) = Builtins.RequireImage(c, x, op);
        var (filters, k, s, p, d, groups) = Builtins.ReadConv(c, op, ch);
        var oh = Builtins.OutSize(c, op, h, k[0], s[0], p[0], d[0], "height");
        var ow = Builtins.OutSize(c, op, w, k[1], s[1], p[1], d[1], "width");
        var cg = ch / groups;
        var mask = c.Has("table") ? ReadTable(c, filters, ch, groups) : null;

        var kk = k[0] * k[1];
        var connected = mask?.Sum() ?? filters * cg;
        var fanIn = connected / filters * kk;
        var trainable = c.Bool("trainable");
        var weight = c.Binder.Param("weight", new Shape(filters, cg, k[0], k[1]), c.Init("init"), fanIn, filters / groups * kk, c.Span,
            trainable, mask, kk);
        var inputs = new List<int> { x.Id, weight.Id };
        var bias = c.Bool("bias");
        if (bias) inputs.Add(c.Binder.Param("bias", new Shape(filters), c.Init("bias_init"), fanIn, filters * kk, c.Span, trainable).Id);

        // A filter as large as its unpadded input (LeNet's C5) is a dense layer on the flattened input: lower it
        // to the tiled GEMM through views, keeping the parameters' convolution shapes (and checkpoint layout).
        if (oh == 1 && ow == 1 && k[0] == h && k[1] == w && p[0] == 0 && p[1] == 0 && groups == 1 && mask is null)
        {
            var n = x.Shape[0];
            var flatX = c.Binder.AddOp(Reshaping.Reshape, new[] { x.Id }, new Shape(new[] { n, (Dim)(ch * h * w) }), DType.F32, null, c.Span);
            var flatW = c.Binder.AddOp(Reshaping.Reshape, new[] { weight.Id }, new Shape(filters, ch * kk), DType.F32, null, c.Span);
            inputs[0] = flatX.Id;
            inputs[1] = flatW.Id;
            var dense = c.Binder.AddOp(MatMul.Linear, inputs, new Shape(new[] { n, (Dim)filters }), DType.F32, null, c.Span);
            var y = c.Binder.AddOp(Reshaping.Reshape, new[] { dense.Id }, new Shape(new[] { n, (Dim)filters, (Dim)1, (Dim)1 }),
                DType.F32, null, c.Span, op);
            y.Macs = connected * kk;
            y.Connections = connected * kk + (bias ? filters : 0);
            c.Binder.OwnParams(y);
            return new TensorValue(y);
        }
        var attrs = new Dictionary<string, object>
        {
            ["stride"] = s, ["padding"] = p, ["dilation"] = d, ["groups"] = groups,
        };
        if (mask is not null) attrs["mask"] = mask;
        var node = c.Binder.AddOp(Conv2d, inputs, new Shape(new[] { x.Shape[0], (Dim)filters, (Dim)oh, (Dim)ow }), DType.F32, attrs,
            c.Span, op);
        node.Macs = oh * ow * connected * kk;
        node.Connections = oh * ow * (connected * kk + (bias ? filters : 0));
        c.Binder.OwnParams(node);
        return new TensorValue(node);
    }

    /// <summary>A connection table (row o lists the input maps filter o reads) as a mask [filters·channels].</summary>
    private static long[] ReadTable(OpCall c, long filters, long ch, long groups)
    {
        var table = ((ListValue)c.Args["table"]).Items
            .Select(r => ((ListValue)r).Items.Select(i => (long)((NumberValue)i).Number).ToArray()).ToArray();
        if (groups != 1) c.Fail(Codes.BadValue, null, "Use either groups or a connection table, not both");
        if (table.Length != filters)
            c.Fail(Codes.ShapeMismatch, $"the table has {table.Length} rows; conv2d has {filters} filters (one row each)", "conv2d");
        var mask = new long[filters * ch];
        for (var o = 0; o < filters; o++)
            foreach (var i in table[o])
            {
                if (i < 0 || i >= ch) c.Fail(Codes.BadValue, null, $"Table row {o} names input map {i}; there are {ch} (0..{ch - 1})");
                mask[o * ch + i] = 1;
            }
        return mask;
    }

    /// <summary>One trainable bias per unit (per channel and position), as in LeCun et al. 1989: x + b[C, H, W].</summary>
    private static Value UntiedBias(OpCall c)
    {
        var x = c.Tensor("x");
        if (x.Shape.Rank < 2 || x.Shape.Dims.Skip(1).Any(d => !d.IsConstant))
            c.Fail(Codes.BadDimension, $"untied_bias needs constant dimensions after the batch axis; got {x.Shape}",
                "Give untied_bias constant unit dimensions");
        var unitDims = x.Shape.Dims.Skip(1).Select(d => d.Coef).ToArray();
        var bias = c.Binder.Param("bias", new Shape(unitDims), c.Init("init"), 1, 1, c.Span);
        var y = c.Binder.AddOp(Arithmetic.Add, new[] { x.Id, bias.Id }, x.Shape, DType.F32, null, c.Span, "untied_bias");
        y.Connections = x.Shape.Numel.PerExample;
        c.Binder.OwnParams(y);
        return new TensorValue(y);
    }
}
