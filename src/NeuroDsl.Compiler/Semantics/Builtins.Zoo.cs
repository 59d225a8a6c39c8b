using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>
/// The ops the convolutional zoo needs beyond LeNet: leaky ReLU (DCGAN, YOLO), instance norm (CycleGAN), local
/// response normalization (AlexNet) and sum (for gradients fed in from outside).
/// </summary>
public static partial class Builtins
{
    internal static void RegisterZoo()
    {
        Def("instance_norm", LayerCategory.Normalization, InstanceNorm, T("x"), P("eps", ArgKind.Number, new NumberValue(1e-5, false)),
            P("affine", ArgKind.Bool, False));
        Def("lrn", LayerCategory.Normalization, Lrn, T("x"), P("size", ArgKind.Int, new NumberValue(5, true)),
            P("alpha", ArgKind.Number, new NumberValue(1e-4, false)), P("beta", ArgKind.Number, new NumberValue(0.75, false)),
            P("k", ArgKind.Number, new NumberValue(2, false)));
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
