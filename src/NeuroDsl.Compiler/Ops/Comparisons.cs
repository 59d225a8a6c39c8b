using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Comparisons and logic on tensors, as the operators <c>&lt; &lt;= &gt; &gt;= == !=</c>, <c>and</c>, <c>or</c> and
/// <c>not</c>: each makes an f32 mask of 0s and 1s (a mask is an ordinary f32 tensor, so it fuses with its
/// producers and consumers), and passes no gradient. Logic treats any nonzero value as true.
/// </summary>
public sealed class Comparisons : OpFamily
{
    public static readonly ElementwiseOp Lt = Mask("lt", "a < b", x => x[0] < x[1]);
    public static readonly ElementwiseOp Le = Mask("le", "a <= b", x => x[0] <= x[1]);
    public static readonly ElementwiseOp Gt = Mask("gt", "a > b", x => x[0] > x[1]);
    public static readonly ElementwiseOp Ge = Mask("ge", "a >= b", x => x[0] >= x[1]);
    public static readonly ElementwiseOp Eq = Mask("eq", "a == b", x => x[0] == x[1]);
    public static readonly ElementwiseOp Ne = Mask("ne", "a != b", x => x[0] != x[1]);
    public static readonly ElementwiseOp LogicalAnd = Mask("logical_and", "a != 0.0f && b != 0.0f",
        x => x[0] != 0 && x[1] != 0);
    public static readonly ElementwiseOp LogicalOr = Mask("logical_or", "a != 0.0f || b != 0.0f",
        x => x[0] != 0 || x[1] != 0);
    public static readonly ElementwiseOp LogicalNot = Mask("logical_not", "a == 0.0f", x => x[0] == 0, arity: 1);

    /// <summary>The mask op of a binary operator applied to a tensor, or null for other operators.</summary>
    internal static ElementwiseOp? ForOperator(string symbol) => symbol switch
    {
        "<" => Lt,
        "<=" => Le,
        ">" => Gt,
        ">=" => Ge,
        "==" => Eq,
        "!=" => Ne,
        "and" => LogicalAnd,
        "or" => LogicalOr,
        _ => null,
    };

    // A mask is piecewise constant: its gradient is zero almost everywhere, so none flows.
    private static ElementwiseOp Mask(string name, string condition, System.Func<double[], bool> eval, int arity = 2) =>
        new(name, arity, "(" + condition + " ? 1.0f : 0.0f)", x => eval(x) ? 1 : 0, (g, n, dy) => new Node?[arity]);
}
