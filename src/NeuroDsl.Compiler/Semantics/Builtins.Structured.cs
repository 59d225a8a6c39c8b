using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>Normalization, dropout, LeCun-1998's RBF layer, and the argument checks of image layers.</summary>
public static partial class Builtins
{
    internal static void RegisterStructured()
    {
        Def("batchnorm", LayerCategory.Normalization, BatchNorm, T("x"), P("momentum", ArgKind.Number, new NumberValue(0.1, false)), P("eps", ArgKind.Number, new NumberValue(1e-5, false)));
        Def("dropout", LayerCategory.Normalization, Dropout, T("x"), P("p", ArgKind.Number, new NumberValue(0.5, false)));
        // LeCun et al. 1998: the RBF output layer.
        Def("rbf", LayerCategory.Weighted, Rbf, T("x"), P("units", ArgKind.Int), P("init", ArgKind.Init, new InitValue(new InitSpec("bipolar"))),
            P("trainable", ArgKind.Bool, True));
        foreach (var name in new[] { "lecun98_uniform", "bipolar" })
            Def(name, _ => new InitValue(new InitSpec(name)));
    }

    internal static readonly Value One = new NumberValue(1, true);
    internal static readonly Value ZeroInt = new NumberValue(0, true);

    internal static (long C, long H, long W) RequireImage(OpCall c, Node x, string op)
    {
        if (x.Shape.Rank != 4 || !x.Shape[1].IsConstant || !x.Shape[2].IsConstant || !x.Shape[3].IsConstant)
            c.Fail(Codes.RankMismatch, $"{op} expects [N, C, H, W] with constant C, H, W; got {x.Shape}", op, 4);
        return (x.Shape[1].Coef, x.Shape[2].Coef, x.Shape[3].Coef);
    }

    internal static long OutSize(OpCall c, string op, long size, long kernel, long stride, long pad, long dilation, string axis)
    {
        var span = dilation * (kernel - 1) + 1;
        if (stride < 1 || pad < 0 || dilation < 1 || kernel < 1)
            c.Fail(Codes.BadValue, null, $"Give {op} a positive kernel, stride and dilation and a padding of 0 or more");
        var o = (size + 2 * pad - span) / stride + 1;
        if (size + 2 * pad < span)
            c.Fail(Codes.ShapeMismatch, $"{op}: the {axis} axis is {size} (+{2 * pad} padding) but the kernel spans {span}", op);
        return o;
    }

    /// <summary>The arguments convolutions share, with the checks they share: filters, kernel, stride, padding, dilation, groups.</summary>
    internal static (long Filters, long[] K, long[] S, long[] P, long[] D, long Groups) ReadConv(OpCall c, string op, long ch)
    {
        var filters = c.Int("filters");
        var k = c.Ints("kernel", 2);
        var s = c.Ints("stride", 2);
        var p = c.Ints("padding", 2);
        var d = c.Ints("dilation", 2);
        var groups = c.Int("groups");
        if (filters <= 0) c.Fail(Codes.BadValue, null, $"Give {op} a positive number of filters, not {filters}");
        if (groups < 1 || ch % groups != 0 || filters % groups != 0)
            c.Fail(Codes.ShapeMismatch, $"groups {groups} must divide the input channels {ch} and the filters {filters}", op);
        return (filters, k, s, p, d, groups);
    }

    /// <summary>y = x·weight[c] + bias[c] for each channel map: subsampling's coefficient and bias, an affine norm's γ and β.</summary>
    internal static Node ScaleShiftPerMap(OpCall c, Node x, Node weight, Node bias, string layer)
    {
        var perMap = new Shape(weight.Shape[0].Coef, 1, 1);
        var weightMap = c.Binder.AddOp(Ops.Reshaping.Reshape, new[] { weight.Id }, perMap, DType.F32, null, c.Span);
        var biasMap = c.Binder.AddOp(Ops.Reshaping.Reshape, new[] { bias.Id }, perMap, DType.F32, null, c.Span);
        var scaled = c.Binder.AddOp(Ops.Arithmetic.Mul, new[] { x.Id, weightMap.Id }, x.Shape, DType.F32, null, c.Span);
        return c.Binder.AddOp(Ops.Arithmetic.Add, new[] { scaled.Id, biasMap.Id }, x.Shape, DType.F32, null, c.Span, layer);
    }

    internal static Value BatchNorm(OpCall c)
    {
        var x = c.Tensor("x");
        if ((x.Shape.Rank != 2 && x.Shape.Rank != 4) || !x.Shape[1].IsConstant)
            c.Fail(Codes.RankMismatch, $"batchnorm expects [N, C] or [N, C, H, W]; got {x.Shape}", "batchnorm", "2 or 4");
        var ch = x.Shape[1].Coef;
        var momentum = c.Number("momentum");
        var eps = c.Number("eps");
        if (momentum < 0 || momentum > 1 || eps <= 0) c.Fail(Codes.BadValue, null, "Give batchnorm a momentum in [0, 1] and a positive eps");
        var gamma = c.Binder.Param("weight", new Shape(ch), new InitSpec("ones"), ch, ch, c.Span);
        var beta = c.Binder.Param("bias", new Shape(ch), new InitSpec("zeros"), ch, ch, c.Span);
        var mean = c.Binder.Param("running_mean", new Shape(ch), new InitSpec("zeros"), ch, ch, c.Span, trainable: false);
        var variance = c.Binder.Param("running_var", new Shape(ch), new InitSpec("ones"), ch, ch, c.Span, trainable: false);
        var attrs = new Dictionary<string, object> { ["eps"] = eps, ["momentum"] = momentum };
        var stats = c.Binder.AddOp("bn_stats", new[] { x.Id, mean.Id, variance.Id }, new Shape(2, ch), DType.F32, attrs, c.Span);
        var y = c.Binder.AddOp("bn_apply", new[] { x.Id, stats.Id, gamma.Id, beta.Id }, x.Shape, DType.F32, attrs, c.Span, "batchnorm");
        y.Connections = x.Shape.Numel.PerExample * 2;
        c.Binder.OwnParams(y);
        return new TensorValue(y);
    }

    internal static Value Dropout(OpCall c)
    {
        var x = c.Tensor("x");
        var p = c.Number("p");
        if (p < 0 || p >= 1) c.Fail(Codes.BadValue, null, $"Give dropout a probability in [0, 1), not {p}");
        var attrs = new Dictionary<string, object> { ["p"] = p };
        var node = c.Binder.AddOp("dropout", new[] { x.Id }, x.Shape, DType.F32, attrs, c.Span, "dropout");
        attrs["stream"] = (long)node.Id; // the mask's random stream; backward reuses it
        return new TensorValue(node);
    }

    /// <summary>y[n, i] = Σ_j (x[n, j] − w[i, j])²: the Euclidean RBF units of LeNet-5's output layer.</summary>
    internal static Value Rbf(OpCall c)
    {
        var x = c.Tensor("x");
        var units = c.Int("units");
        if (x.Shape.Rank != 2 || !x.Shape[1].IsConstant) c.Fail(Codes.RankMismatch, $"rbf expects [N, features]; got {x.Shape}", "rbf", 2);
        if (units <= 0) c.Fail(Codes.BadValue, null, $"Give rbf a positive number of units, not {units}");
        var d = x.Shape[1].Coef;
        var w = c.Binder.Param("weight", new Shape(units, d), c.Init("init"), d, units, c.Span, c.Bool("trainable"));
        var node = c.Binder.AddOp("rbf", new[] { x.Id, w.Id }, new Shape(new[] { x.Shape[0], (Dim)units }), DType.F32, null, c.Span, "rbf");
        node.Macs = units * d;
        node.Connections = units * d;
        c.Binder.OwnParams(node);
        return new TensorValue(node);
    }
}
