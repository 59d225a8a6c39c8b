using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Arithmetic on tensors with broadcasting (<c>+ - * /</c> and unary minus in the language). A broadcast
/// operand's gradient is summed back to its shape.
/// </summary>
public sealed class Arithmetic : OpFamily
{
    public static readonly ElementwiseOp Add = new("add", 2, "a + b", x => x[0] + x[1], AddRule);
    public static readonly ElementwiseOp Sub = new("sub", 2, "a - b", x => x[0] - x[1], SubRule);
    public static readonly ElementwiseOp Mul = new("mul", 2, "a * b", x => x[0] * x[1], MulRule);
    public static readonly ElementwiseOp Div = new("div", 2, "a / b", x => x[0] / x[1], DivRule);
    public static readonly ElementwiseOp Neg = new("neg", 1, "-a", x => -x[0], (g, n, dy) => new Node?[] { g.Ew(Neg!, n, dy) });

    /// <summary>d(a/b)/db · dy, from (dy, a, b).</summary>
    public static readonly ElementwiseOp DivGradB = new("div_grad_b", 3, "-a * b / (c * c)", x => -x[0] * x[1] / (x[2] * x[2]));

    private static Node?[] AddRule(GradBuilder g, Node n, Node dy) =>
        new Node?[] { g.SumTo(dy, g.In(n, 0).Shape, n), g.SumTo(dy, g.In(n, 1).Shape, n) };

    private static Node?[] SubRule(GradBuilder g, Node n, Node dy) =>
        new Node?[] { g.SumTo(dy, g.In(n, 0).Shape, n), g.SumTo(g.Ew(Neg, n, dy), g.In(n, 1).Shape, n) };

    private static Node?[] MulRule(GradBuilder g, Node n, Node dy) => new Node?[]
    {
        g.SumTo(g.Ew(Mul, n, dy, g.In(n, 1)), g.In(n, 0).Shape, n),
        g.SumTo(g.Ew(Mul, n, dy, g.In(n, 0)), g.In(n, 1).Shape, n),
    };

    private static Node?[] DivRule(GradBuilder g, Node n, Node dy) => new Node?[]
    {
        g.SumTo(g.Ew(Div, n, dy, g.In(n, 1)), g.In(n, 0).Shape, n),
        g.SumTo(g.Ew(DivGradB, n, dy, g.In(n, 0), g.In(n, 1)), g.In(n, 1).Shape, n),
    };

    public override void Surface(Semantics.SurfaceTable table) =>
        table.Def("neg", c => c.Binder.Elementwise(Neg, c.Span, c.Tensor("x")), Semantics.SurfaceTable.T("x"));
}
