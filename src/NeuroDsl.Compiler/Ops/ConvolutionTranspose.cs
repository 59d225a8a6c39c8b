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
/// The transposed convolution (<c>conv_transpose2d</c>: DCGAN, CycleGAN): the gradient of a convolution with
/// respect to its input, as a layer. Its node holds the attributes of that convolution, from its output to its input.
/// </summary>
public sealed class ConvolutionTranspose : OpFamily
{
    /// <summary>(x, w[in, out / groups, kh, kw]) → y; attributes stride, padding, dilation, groups.</summary>
    public static readonly OpDef ConvTranspose2d = new TransposeOp();

    private sealed class TransposeOp : OpDef
    {
        public TransposeOp() : base("conv_transpose2d", PrimKind.Custom, 2)
        {
        }

        // The transposed convolution is the input gradient of a convolution from its output to its input, so dx is
        // that convolution applied to dy, and dw correlates dy (the convolution's input) with x (its output gradient).
        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy)
        {
            var x = g.In(node, 0);
            var w = g.In(node, 1);
            return new Node?[]
            {
                g.Op(Convolution.Conv2d, x.Shape, node.Attrs, node, dy, w),
                g.Op(Convolution.Conv2dGradWeight, w.Shape, node.Attrs, node, x, dy),
            };
        }

        public override double[] Reference(RefCall call) => Convolution.GradInputReference(call);

        public override NodeLaunch Lower(KernelCall call) => ConvolutionKernels.GradInput(call);

        public override string Detail(Node node) => Convolution.FiltersDetail(node);
    }

    public override void Surface(SurfaceTable table) =>
        table.Def("conv_transpose2d", LayerCategory.Weighted, Bind, T("x"), P("filters", ArgKind.Int), P("kernel", ArgKind.Ints),
            P("stride", ArgKind.Ints, Int(1)), P("padding", ArgKind.Ints, Int(0)), P("output_padding", ArgKind.Ints, Int(0)),
            P("dilation", ArgKind.Ints, Int(1)), P("groups", ArgKind.Int, Int(1)), P("bias", ArgKind.Bool, True),
            P("init", ArgKind.Init, GlorotUniform), P("bias_init", ArgKind.Init, Zeros));

    /// <summary>
    /// Each input pixel scatters a filter-sized patch, stride apart. Output size (H − 1)·stride − 2·padding +
    /// dilation·(kernel − 1) + output_padding + 1; the weight is [in, out / groups, kh, kw] as in PyTorch.
    /// </summary>
    private static Value Bind(OpCall c)
    {
        const string op = "conv_transpose2d";
        var x = c.Tensor("x");
        var (ch, h, w) = Builtins.RequireImage(c, x, op);
        var (filters, k, s, p, d, groups) = Builtins.ReadConv(c, op, ch);
        var outPad = c.Ints("output_padding", 2);
        if (k.Any(v => v < 1) || s.Any(v => v < 1) || d.Any(v => v < 1) || p.Any(v => v < 0))
            c.Fail(Codes.BadValue, null, "Give conv_transpose2d a positive kernel, stride and dilation and a padding of 0 or more");
        if (outPad.Zip(s, (o, st) => o < 0 || (o >= st && o >= d[0])).Any(b => b))
            c.Fail(Codes.BadValue, null, "Give conv_transpose2d an output_padding smaller than its stride");
        var oh = (h - 1) * s[0] - 2 * p[0] + d[0] * (k[0] - 1) + outPad[0] + 1;
        var ow = (w - 1) * s[1] - 2 * p[1] + d[1] * (k[1] - 1) + outPad[1] + 1;
        if (oh < 1 || ow < 1)
            c.Fail(Codes.ShapeMismatch, $"conv_transpose2d: padding {p[0]}×{p[1]} leaves no output from {h}×{w}", op);

        var kk = k[0] * k[1];
        var og = filters / groups;
        var weight = c.Binder.Param("weight", new Shape(ch, og, k[0], k[1]), c.Init("init"), og * kk, ch / groups * kk, c.Span);
        var attrs = new Dictionary<string, object> { ["stride"] = s, ["padding"] = p, ["dilation"] = d, ["groups"] = groups };
        var outShape = new Shape(new[] { x.Shape[0], (Dim)filters, (Dim)oh, (Dim)ow });
        var node = c.Binder.AddOp(ConvTranspose2d, new[] { x.Id, weight.Id }, outShape, DType.F32, attrs, c.Span, op);
        node.Macs = h * w * ch * og * kk;
        node.Connections = node.Macs;
        if (c.Bool("bias"))
        {
            var bias = c.Binder.Param("bias", new Shape(filters), c.Init("bias_init"), og * kk, ch / groups * kk, c.Span);
            var map = c.Binder.AddOp(Reshaping.Reshape, new[] { bias.Id }, new Shape(filters, 1, 1), DType.F32, null, c.Span);
            // The summary shows one row per layer: the add carries the layer's figures.
            var conv = node;
            conv.Layer = null;
            node = c.Binder.AddOp(Arithmetic.Add, new[] { conv.Id, map.Id }, outShape, DType.F32, null, c.Span, op);
            node.Macs = conv.Macs;
            node.Connections = conv.Connections + filters * oh * ow;
            conv.Macs = 0;
            conv.Connections = 0;
        }
        c.Binder.OwnParams(node);
        return new TensorValue(node);
    }
}
