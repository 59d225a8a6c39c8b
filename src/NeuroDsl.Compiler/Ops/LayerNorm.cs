using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Layer normalization (Ba, Kiros &amp; Hinton 2016) over the last axis, as PyTorch's <c>nn.LayerNorm(D)</c>:
/// y = (x − mean) · (var + eps)^−½ · weight + bias with the population variance, weight and bias of [D]. A
/// composition of primitives — two reductions and an elementwise chain that fuses into one kernel — with no kernel,
/// reference or gradient rule of its own: the differentiator derives its backward pass from theirs.
/// </summary>
public sealed class LayerNorm : OpFamily
{
    public override void Surface(SurfaceTable table) =>
        table.Def("layer_norm", LayerCategory.Normalization, Bind, T("x"), P("eps", ArgKind.Number, Number(1e-5)),
            P("affine", ArgKind.Bool, True));

    private static Value Bind(OpCall c)
    {
        var x = c.Tensor("x");
        c.Binder.RequireFloat("layer_norm", c.Span, x);
        if (x.Shape.Rank < 1 || !x.Shape[x.Shape.Rank - 1].IsConstant)
            c.Fail(Codes.RankMismatch, $"layer_norm normalizes a constant last axis; got {x.Shape}", "layer_norm", "1 or more");
        var eps = c.Number("eps");
        if (!(eps > 0)) c.FailAt("eps", Codes.BadValue, null, $"Give layer_norm a positive eps, not {eps}");
        var d = x.Shape[x.Shape.Rank - 1].Coef;
        var axes = new long[] { x.Shape.Rank - 1 };
        var rows = Reductions.KeepShape(x.Shape, axes);
        Node Add(OpDef op, Shape shape, params Node[] inputs) =>
            c.Binder.AddOp(op, inputs.Select(i => i.Id).ToArray(), shape, DType.F32,
                op.Kind == PrimKind.Elementwise ? null : KeepDims(axes), c.Span);

        var mark = c.Binder.OpsMark();
        var mean = Add(Reductions.Mean, rows, x);
        var variance = Add(Reductions.Var, rows, x);
        var rstd = Add(MathFunctions.Rsqrt, rows, Add(Arithmetic.Add, rows, variance, c.Binder.Const(eps, c.Span)));
        var y = Add(Arithmetic.Mul, x.Shape, Add(Arithmetic.Sub, x.Shape, x, mean), rstd);
        if (c.Bool("affine"))
        {
            var weight = c.Binder.Param("weight", new Shape(d), new InitSpec("ones"), d, d, c.Span);
            var bias = c.Binder.Param("bias", new Shape(d), new InitSpec("zeros"), d, d, c.Span);
            y = Add(Arithmetic.Add, x.Shape, Add(Arithmetic.Mul, x.Shape, y, weight), bias);
        }
        y.Layer = "layer_norm";
        c.Binder.OwnParams(y);
        return new TensorValue(c.Binder.Composite(y, mark));
    }

    private static System.Collections.Generic.Dictionary<string, object> KeepDims(long[] axes)
    {
        var attrs = Reductions.AxesAttr(axes);
        attrs["keepdims"] = true;
        return attrs;
    }
}
