using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>
/// The ops the convolutional zoo needs beyond LeNet: leaky ReLU (DCGAN, YOLO), transposed convolution (DCGAN,
/// CycleGAN), instance norm (CycleGAN), local response normalization (AlexNet), untied biases (LeCun 1989) and
/// sum (for gradients fed in from outside).
/// </summary>
public static partial class Builtins
{
    internal static void RegisterZoo()
    {
        Def("conv_transpose2d", LayerCategory.Weighted, ConvTranspose2d, T("x"), P("filters", ArgKind.Int), P("kernel", ArgKind.Ints),
            P("stride", ArgKind.Ints, One), P("padding", ArgKind.Ints, ZeroInt), P("output_padding", ArgKind.Ints, ZeroInt),
            P("dilation", ArgKind.Ints, One), P("groups", ArgKind.Int, One), P("bias", ArgKind.Bool, True),
            P("init", ArgKind.Init, GlorotUniform), P("bias_init", ArgKind.Init, Zeros));
        Def("instance_norm", LayerCategory.Normalization, InstanceNorm, T("x"), P("eps", ArgKind.Number, new NumberValue(1e-5, false)),
            P("affine", ArgKind.Bool, False));
        Def("lrn", LayerCategory.Normalization, Lrn, T("x"), P("size", ArgKind.Int, new NumberValue(5, true)),
            P("alpha", ArgKind.Number, new NumberValue(1e-4, false)), P("beta", ArgKind.Number, new NumberValue(0.75, false)),
            P("k", ArgKind.Number, new NumberValue(2, false)));
        Def("untied_bias", UntiedBias, T("x"), P("init", ArgKind.Init, Zeros));
    }

    /// <summary>
    /// The gradient of a convolution with respect to its input, as a layer: each input pixel scatters a
    /// filter-sized patch, stride apart. Output size (H − 1)·stride − 2·padding + dilation·(kernel − 1) +
    /// output_padding + 1; the weight is [in, out / groups, kh, kw] as in PyTorch.
    /// </summary>
    internal static Value ConvTranspose2d(OpCall c)
    {
        var x = c.Tensor("x");
        var (ch, h, w) = RequireImage(c, x, "conv_transpose2d");
        var (filters, k, s, p, d, groups) = ReadConv(c, "conv_transpose2d", ch);
        var op = c.Ints("output_padding", 2);
        if (k.Any(v => v < 1) || s.Any(v => v < 1) || d.Any(v => v < 1) || p.Any(v => v < 0))
            c.Fail(Codes.BadValue, null, "Give conv_transpose2d a positive kernel, stride and dilation and a padding of 0 or more");
        if (op.Zip(s, (o, st) => o < 0 || (o >= st && o >= d[0])).Any(b => b))
            c.Fail(Codes.BadValue, null, "Give conv_transpose2d an output_padding smaller than its stride");
        var oh = (h - 1) * s[0] - 2 * p[0] + d[0] * (k[0] - 1) + op[0] + 1;
        var ow = (w - 1) * s[1] - 2 * p[1] + d[1] * (k[1] - 1) + op[1] + 1;
        if (oh < 1 || ow < 1)
            c.Fail(Codes.ShapeMismatch, $"conv_transpose2d: padding {p[0]}×{p[1]} leaves no output from {h}×{w}", "conv_transpose2d");

        var kk = k[0] * k[1];
        var og = filters / groups;
        var weight = c.Binder.Param("weight", new Shape(ch, og, k[0], k[1]), c.Init("init"), og * kk, ch / groups * kk, c.Span);
        var attrs = new Dictionary<string, object> { ["stride"] = s, ["padding"] = p, ["dilation"] = d, ["groups"] = groups };
        var outShape = new Shape(new[] { x.Shape[0], (Dim)filters, (Dim)oh, (Dim)ow });
        var node = c.Binder.AddOp("conv_transpose2d", new[] { x.Id, weight.Id }, outShape, DType.F32, attrs, c.Span, "conv_transpose2d");
        node.Macs = h * w * ch * og * kk;
        node.Connections = node.Macs;
        if (c.Bool("bias"))
        {
            var bias = c.Binder.Param("bias", new Shape(filters), c.Init("bias_init"), og * kk, ch / groups * kk, c.Span);
            var map = c.Binder.AddOp("reshape", new[] { bias.Id }, new Shape(filters, 1, 1), DType.F32, null, c.Span);
            // The summary shows one row per layer: the add carries the layer's figures.
            var conv = node;
            conv.Layer = null;
            node = c.Binder.AddOp("add", new[] { conv.Id, map.Id }, outShape, DType.F32, null, c.Span, "conv_transpose2d");
            node.Macs = conv.Macs;
            node.Connections = conv.Connections + filters * oh * ow;
            conv.Macs = 0;
            conv.Connections = 0;
        }
        c.Binder.OwnParams(node);
        return new TensorValue(node);
    }

    /// <summary>Per example and channel: (x − mean) / sqrt(var + eps) over H·W (Ulyanov et al. 2016), then γ, β if affine.</summary>
    internal static Value InstanceNorm(OpCall c)
    {
        var x = c.Tensor("x");
        var (ch, _, _) = RequireImage(c, x, "instance_norm");
        var eps = c.Number("eps");
        if (eps <= 0) c.Fail(Codes.BadValue, null, "Give instance_norm a positive eps");
        var node = c.Binder.AddOp("instance_norm", new[] { x.Id }, x.Shape, DType.F32,
            new Dictionary<string, object> { ["eps"] = eps }, c.Span, "instance_norm");
        if (!c.Bool("affine")) return new TensorValue(node);
        var gamma = c.Binder.Param("weight", new Shape(ch), new InitSpec("ones"), ch, ch, c.Span);
        var beta = c.Binder.Param("bias", new Shape(ch), new InitSpec("zeros"), ch, ch, c.Span);
        node.Layer = null;
        var y = ScaleShiftPerMap(c, node, gamma, beta, "instance_norm");
        c.Binder.OwnParams(y);
        return new TensorValue(y);
    }

    /// <summary>
    /// Local response normalization across channels (Krizhevsky et al. 2012, §3.3):
    /// b_c = a_c / (k + α·Σ_{j in window(c)} a_j²)^β, window(c) = [c − size/2, c + (size − 1)/2] clipped to the
    /// channels. α is the paper's (PyTorch's LocalResponseNorm divides its alpha by size: pass alpha·size there).
    /// </summary>
    internal static Value Lrn(OpCall c)
    {
        var x = c.Tensor("x");
        RequireImage(c, x, "lrn");
        var size = c.Int("size");
        var alpha = c.Number("alpha");
        var beta = c.Number("beta");
        var k = c.Number("k");
        if (size < 1 || alpha < 0 || beta < 0 || k <= 0) c.Fail(Codes.BadValue, null, "Give lrn a positive size and k and a non-negative alpha and beta");
        var node = c.Binder.AddOp("lrn", new[] { x.Id }, x.Shape, DType.F32,
            new Dictionary<string, object> { ["size"] = size, ["alpha"] = alpha, ["beta"] = beta, ["k"] = k }, c.Span, "lrn");
        return new TensorValue(node);
    }

    /// <summary>One trainable bias per unit (per channel and position), as in LeCun et al. 1989.</summary>
    internal static Value UntiedBias(OpCall c)
    {
        var x = c.Tensor("x");
        if (x.Shape.Rank < 2 || x.Shape.Dims.Skip(1).Any(d => !d.IsConstant))
            c.Fail(Codes.BadDimension, $"untied_bias needs constant dimensions after the batch axis; got {x.Shape}", "Give untied_bias constant unit dimensions");
        var unitDims = x.Shape.Dims.Skip(1).Select(d => d.Coef).ToArray();
        var bias = c.Binder.Param("bias", new Shape(unitDims), c.Init("init"), 1, 1, c.Span);
        var y = c.Binder.AddOp("add", new[] { x.Id, bias.Id }, x.Shape, DType.F32, null, c.Span, "untied_bias");
        y.Connections = x.Shape.Numel.PerExample;
        c.Binder.OwnParams(y);
        return new TensorValue(y);
    }
}
