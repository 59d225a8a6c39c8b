using System.Globalization;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Bounding values: clamp between constants, and the elementwise minimum and maximum of two broadcast operands.
/// NaN propagates (as PyTorch's clamp, minimum and maximum), in the kernels and the reference alike.
/// </summary>
public sealed class Clamping : OpFamily
{
    /// <summary>
    /// (y, lo, hi, dy): dy where lo &lt; y &lt; hi, else 0. It reads the output, as relu's rule does, so a convolution
    /// keeps clamp (ReLU6) as its epilogue in training; so a value exactly at a bound passes none (as PyTorch's relu6
    /// and hardtanh; PyTorch's clamp passes it).
    /// </summary>
    public static readonly ElementwiseOp ClampGrad = new("clamp_grad", 4, "((a > b && a < c) ? d : 0.0f)",
        x => x[0] > x[1] && x[0] < x[2] ? x[3] : 0);

    /// <summary>(a, b, dy): maximum(a, b)'s gradient to a: dy where a wins, half on a tie (as PyTorch).</summary>
    public static readonly ElementwiseOp MaximumGrad = new("maximum_grad", 3,
        "(a < b ? 0.0f : (a == b ? 0.5f * c : c))",
        x => x[0] < x[1] ? 0 : x[0] == x[1] ? 0.5 * x[2] : x[2]);

    /// <summary>(a, b, dy): minimum(a, b)'s gradient to a: dy where a wins, half on a tie (as PyTorch).</summary>
    public static readonly ElementwiseOp MinimumGrad = new("minimum_grad", 3,
        "(a > b ? 0.0f : (a == b ? 0.5f * c : c))",
        x => x[0] > x[1] ? 0 : x[0] == x[1] ? 0.5 * x[2] : x[2]);

    /// <summary>(x, lo, hi): a missing bound is an infinite constant.</summary>
    public static readonly ElementwiseOp Clamp = new("clamp", 3, "(a < b ? b : (a > c ? c : a))",
        x => x[0] < x[1] ? x[1] : x[0] > x[2] ? x[2] : x[0],
        (g, n, dy) => new Node?[] { g.Ew(ClampGrad, n, n.Shape, n, g.In(n, 1), g.In(n, 2), dy), null, null });

    public static readonly ElementwiseOp Maximum = new("maximum", 2, "((isnan(a) || a > b) ? a : b)",
        x => double.IsNaN(x[0]) || x[0] > x[1] ? x[0] : x[1], (g, n, dy) => Split(g, n, dy, MaximumGrad));

    public static readonly ElementwiseOp Minimum = new("minimum", 2, "((isnan(a) || a < b) ? a : b)",
        x => double.IsNaN(x[0]) || x[0] < x[1] ? x[0] : x[1], (g, n, dy) => Split(g, n, dy, MinimumGrad));

    // Each side's share of dy (one grad op, the operands swapped for b), summed back to its own shape.
    private static Node?[] Split(GradBuilder g, Node n, Node dy, ElementwiseOp grad)
    {
        var (a, b) = (g.In(n, 0), g.In(n, 1));
        return new Node?[]
        {
            a.Kind == NodeKind.Const ? null : g.SumTo(g.Ew(grad, n, n.Shape, a, b, dy), a.Shape, n),
            b.Kind == NodeKind.Const ? null : g.SumTo(g.Ew(grad, n, n.Shape, b, a, dy), b.Shape, n),
        };
    }

    public override void Surface(SurfaceTable table)
    {
        table.Def("clamp", ClampLayer, T("x"), P("min", ArgKind.Number, None), P("max", ArgKind.Number, None));
        foreach (var op in new[] { Minimum, Maximum })
            table.Def(op.Name, c =>
            {
                Operands.RequireTensor(c, "a", "b");
                return c.Binder.Elementwise(op, c.Span, Operands.Node(c, "a"), Operands.Node(c, "b"));
            }, P("a", ArgKind.Operand), P("b", ArgKind.Operand));
    }

    // The bounds are literals in the kernel.
    private static Value ClampLayer(OpCall c)
    {
        if (!c.Has("min") && !c.Has("max"))
            c.Fail(Codes.BadValue, "for example clamp(x, min: 0, max: 6)", "Give clamp a min, a max or both");
        var lo = c.Has("min") ? c.Number("min") : double.NegativeInfinity;
        var hi = c.Has("max") ? c.Number("max") : double.PositiveInfinity;
        if (lo > hi)
        {
            var (l, h) = (lo.ToString(CultureInfo.InvariantCulture), hi.ToString(CultureInfo.InvariantCulture));
            c.FailAt("min", Codes.BadValue, null, $"Give clamp a min no greater than its max, not {l} > {h}");
        }
        var x = c.Tensor("x");
        c.Binder.RequireFloat("clamp", c.Span, x);
        var inputs = new[] { x.Id, c.Binder.Const(lo, c.Span).Id, c.Binder.Const(hi, c.Span).Id };
        return new TensorValue(c.Binder.AddOp(Clamp, inputs, x.Shape, DType.F32, null, c.Span, "clamp"));
    }
}
