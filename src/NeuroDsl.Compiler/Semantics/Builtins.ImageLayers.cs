using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>The argument checks and helpers that the image-layer op families share.</summary>
public static partial class Builtins
{
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
}
