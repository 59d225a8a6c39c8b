using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Local response normalization across channels (Krizhevsky et al. 2012, §3.3):
/// b_c = a_c / (k + α·Σ_{j in window(c)} a_j²)^β, window(c) = [c − size/2, c + (size − 1)/2] clipped to the
/// channels. α is the paper's (PyTorch's LocalResponseNorm divides its alpha by size: pass alpha·size there).
/// A composition — squares, a window sum over channels, and the power — with no kernel, reference or gradient
/// of its own: row fusion computes it in one kernel (the squares inside the window's loop, the power after it),
/// and the differentiator derives its backward pass, also one kernel.
/// </summary>
public sealed class Lrn : OpFamily
{
    public override void Surface(SurfaceTable table) =>
        table.Def("lrn", LayerCategory.Normalization, Bind, T("x"), P("size", ArgKind.Int, Int(5)),
            P("alpha", ArgKind.Number, Number(1e-4)), P("beta", ArgKind.Number, Number(0.75)),
            P("k", ArgKind.Number, Number(2)));

    private static Value Bind(OpCall c)
    {
        var x = c.Tensor("x");
        Builtins.RequireImage(c, x, "lrn");
        var size = c.Int("size");
        var alpha = c.Number("alpha");
        var beta = c.Number("beta");
        var k = c.Number("k");
        if (size < 1 || alpha < 0 || beta < 0 || k <= 0)
            c.Fail(Codes.BadValue, null, "Give lrn a positive size and k and a non-negative alpha and beta");
        Node Add(OpDef op, Dictionary<string, object>? attrs, params Node[] inputs) =>
            c.Binder.AddOp(op, inputs.Select(i => i.Id).ToArray(), x.Shape, DType.F32, attrs, c.Span);
        Node Const(double v) => c.Binder.Const(v, c.Span);
        var mark = c.Binder.OpsMark();

        var squares = Add(MathFunctions.Square, null, x);
        var sums = Add(WindowSums.WindowSum, WindowSums.Window(1, size / 2, (size - 1) / 2), squares);
        var scale = Add(Arithmetic.Add, null, Add(Arithmetic.Mul, null, sums, Const(alpha)), Const(k));
        var y = Add(Arithmetic.Mul, null, x, Add(MathFunctions.Pow, null, scale, Const(-beta)));
        y.Layer = "lrn";
        return new TensorValue(c.Binder.Composite(y, mark));
    }
}
