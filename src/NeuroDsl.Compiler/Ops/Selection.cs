using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Choosing where values and gradients go: <c>where(cond, a, b)</c> picks a where the mask is nonzero and b
/// elsewhere; <c>stop_gradient(x)</c> is x going forward and passes no gradient back.
/// </summary>
public sealed class Selection : OpFamily
{
    /// <summary>(cond, a, b), broadcast: the gradient goes to the side that was picked, none to the mask.</summary>
    public static readonly ElementwiseOp Where = new("where", 3, "(a != 0.0f ? b : c)", x => x[0] != 0 ? x[1] : x[2],
        WhereRule);

    public static readonly ElementwiseOp StopGradient = new("stop_gradient", 1, "a", x => x[0],
        (g, n, dy) => new Node?[] { null });

    // dy routed by the same mask (where(cond, dy, 0) and where(cond, 0, dy)), so an inf or NaN on the side not
    // picked does not leak into the other, as it would through dy·cond.
    private static Node?[] WhereRule(GradBuilder g, Node n, Node dy)
    {
        var (cond, a, b) = (g.In(n, 0), g.In(n, 1), g.In(n, 2));
        return new Node?[]
        {
            null,
            a.Kind == NodeKind.Const ? null : g.SumTo(g.Ew(Where, n, n.Shape, cond, dy, g.Const(0, n)), a.Shape, n),
            b.Kind == NodeKind.Const ? null : g.SumTo(g.Ew(Where, n, n.Shape, cond, g.Const(0, n), dy), b.Shape, n),
        };
    }

    public override void Surface(SurfaceTable table)
    {
        table.Def("where",
            c => c.Binder.Elementwise(Where, c.Span, c.Tensor("cond"), Operands.Node(c, "a"), Operands.Node(c, "b")),
            T("cond"), P("a", ArgKind.Operand), P("b", ArgKind.Operand));
        table.Def("stop_gradient", c => c.Binder.Elementwise(StopGradient, c.Span, c.Tensor("x")), T("x"));
    }
}
