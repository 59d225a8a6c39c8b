using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>
/// The ops the convolutional zoo needs beyond LeNet: leaky ReLU (DCGAN, YOLO), reflection and zero padding, channel
/// padding (ResNet option A), instance norm (CycleGAN), local response normalization (AlexNet) and sum (for
/// gradients fed in from outside).
/// </summary>
public static partial class Builtins
{
    internal static void RegisterZoo()
    {
        Def("reflection_pad", c => Pad2d(c, "reflect"), T("x"), P("padding", ArgKind.Ints));
        Def("zero_pad", c => Pad2d(c, "zeros"), T("x"), P("padding", ArgKind.Ints));
        Def("pad_channels", PadChannels, T("x"), P("before", ArgKind.Int), P("after", ArgKind.Int, None));
        Def("instance_norm", InstanceNorm, T("x"), P("eps", ArgKind.Number, new NumberValue(1e-5, false)),
            P("affine", ArgKind.Bool, False));
        Def("lrn", Lrn, T("x"), P("size", ArgKind.Int, new NumberValue(5, true)),
            P("alpha", ArgKind.Number, new NumberValue(1e-4, false)), P("beta", ArgKind.Number, new NumberValue(0.75, false)),
            P("k", ArgKind.Number, new NumberValue(2, false)));
    }

    /// <summary>Pads H and W by [all], [vertical, horizontal] or [top, bottom, left, right].</summary>
    internal static Value Pad2d(OpCall c, string mode)
    {
        var op = mode == "reflect" ? "reflection_pad" : "zero_pad";
        var x = c.Tensor("x");
        var (ch, h, w) = RequireImage(c, x, op);
        var raw = c.Args["padding"] is ListValue l ? l.Items.Count : 1;
        if (raw != 1 && raw != 2 && raw != 4) c.Fail(Codes.BadValue, null, $"Give '{op}' one padding, two (vertical, horizontal) or four (top, bottom, left, right)");
        var given = c.Ints("padding", raw);
        var pads = raw switch
        {
            1 => new[] { given[0], given[0], given[0], given[0] },
            2 => new[] { given[0], given[0], given[1], given[1] },
            _ => given,
        };
        if (pads.Any(v => v < 0)) c.Fail(Codes.BadValue, null, $"Give '{op}' paddings of 0 or more");
        if (mode == "reflect" && (pads[0] >= h || pads[1] >= h || pads[2] >= w || pads[3] >= w))
            c.Fail(Codes.ShapeMismatch, $"reflection_pad of {x.Shape}: each padding must be smaller than its axis ({h}×{w})", op);
        var shape = new Shape(new[] { x.Shape[0], (Dim)ch, (Dim)(h + pads[0] + pads[1]), (Dim)(w + pads[2] + pads[3]) });
        return new TensorValue(c.Binder.AddOp("pad2d", new[] { x.Id }, shape, DType.F32,
            new Dictionary<string, object> { ["mode"] = mode, ["pads"] = pads }, c.Span, op));
    }

    /// <summary>Zero channels before and after the input's (the parameter-free "option A" shortcut of He et al.).</summary>
    internal static Value PadChannels(OpCall c)
    {
        var x = c.Tensor("x");
        if (x.Shape.Rank < 2 || !x.Shape[1].IsConstant) c.Fail(Codes.RankMismatch, $"pad_channels expects [N, C, ...]; got {x.Shape}", "pad_channels", "2 or more");
        var before = c.Int("before");
        var after = c.Has("after") ? c.Int("after") : before;
        if (before < 0 || after < 0) c.Fail(Codes.BadValue, null, "Give pad_channels counts of 0 or more");
        var dims = x.Shape.Dims.ToArray();
        dims[1] = x.Shape[1].Coef + before + after;
        return new TensorValue(c.Binder.AddOp("pad_axis", new[] { x.Id }, new Shape(dims), DType.F32,
            new Dictionary<string, object> { ["axis"] = 1L, ["before"] = before }, c.Span, "pad_channels"));
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
}
