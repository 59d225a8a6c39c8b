using System;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Pointwise math: sqrt, rsqrt, pow, abs, square and erf. Where the output gives the gradient (sqrt, rsqrt) the rule
/// reads the output, so the input's producer can still be fused away.
/// </summary>
public sealed class MathFunctions : OpFamily
{
    // Gradients: inputs named in each comment; dy is the incoming gradient.

    /// <summary>(y, dy): dy / (2·y).</summary>
    public static readonly ElementwiseOp SqrtGrad = new("sqrt_grad", 2, "0.5f * b / a", x => 0.5 * x[1] / x[0]);

    /// <summary>(y, dy): −dy·y³/2, since d(x^−½)/dx = −½·x^−3/2.</summary>
    public static readonly ElementwiseOp RsqrtGrad = new("rsqrt_grad", 2, "-0.5f * b * a * a * a",
        x => -0.5 * x[1] * x[0] * x[0] * x[0]);

    /// <summary>
    /// x^p as 2^(p·log₂|x|), with pow's results for a negative base (NaN unless p is an integer, negative for an odd
    /// one) and for p = 0 (1, even for 0, ∞ and NaN). PoCL's pow takes about 170 ns an element on a CPU (LRN's
    /// power was most of AlexNet-2012's step); this about a tenth, within a few ulp for the exponents models use.
    /// </summary>
    private const string PowSource = @"float nd_pow(float x, float p)
{
    if (p == 0.0f) return 1.0f;
    const float r = exp2(p * log2(fabs(x)));
    if (x >= 0.0f || isnan(x)) return r;
    if (p != rint(p)) return NAN;
    return fmod(fabs(p), 2.0f) == 1.0f ? -r : r;
}
";

    /// <summary>(x, p, dy): dy·p·x^(p−1), and 0 where p = 0 (as PyTorch: no 0·∞ at x = 0).</summary>
    public static readonly ElementwiseOp PowGradX = new("pow_grad_x", 3,
        "(b == 0.0f ? 0.0f : c * b * nd_pow(a, b - 1.0f))",
        x => x[1] == 0 ? 0 : x[2] * x[1] * Math.Pow(x[0], x[1] - 1), prelude: PowSource);

    /// <summary>(x, p, dy): dy·x^p·ln x, and 0 where x = 0 and p ≥ 0 (as PyTorch).</summary>
    public static readonly ElementwiseOp PowGradP = new("pow_grad_p", 3,
        "((a == 0.0f && b >= 0.0f) ? 0.0f : c * nd_pow(a, b) * log(a))",
        x => x[0] == 0 && x[1] >= 0 ? 0 : x[2] * Math.Pow(x[0], x[1]) * Math.Log(x[0]), prelude: PowSource);

    /// <summary>(x, dy): dy·sign(x), 0 at x = 0.</summary>
    public static readonly ElementwiseOp AbsGrad = new("abs_grad", 2, "(a > 0.0f ? b : (a < 0.0f ? -b : 0.0f))",
        x => x[0] > 0 ? x[1] : x[0] < 0 ? -x[1] : 0);

    /// <summary>(x, dy): 2·x·dy.</summary>
    public static readonly ElementwiseOp SquareGrad = new("square_grad", 2, "2.0f * a * b", x => 2 * x[0] * x[1]);

    /// <summary>(x, dy): dy·2/√π·e^(−x²).</summary>
    public static readonly ElementwiseOp ErfGrad = new("erf_grad", 2, "b * 1.1283791670955126f * exp(-a * a)",
        x => x[1] * 1.1283791670955126 * Math.Exp(-x[0] * x[0]));

    public static readonly ElementwiseOp Sqrt = new("sqrt", 1, "sqrt(a)", x => Math.Sqrt(x[0]),
        (g, n, dy) => new Node?[] { g.Ew(SqrtGrad, n, n, dy) });

    public static readonly ElementwiseOp Rsqrt = new("rsqrt", 1, "rsqrt(a)", x => 1 / Math.Sqrt(x[0]),
        (g, n, dy) => new Node?[] { g.Ew(RsqrtGrad, n, n, dy) });

    /// <summary>x^p, p a constant or a (broadcast) tensor; a tensor p gets its partial.</summary>
    public static readonly ElementwiseOp Pow = new("pow", 2, "nd_pow(a, b)", x => Math.Pow(x[0], x[1]), PowRule,
        prelude: PowSource);

    public static readonly ElementwiseOp Abs = new("abs", 1, "fabs(a)", x => Math.Abs(x[0]),
        (g, n, dy) => new Node?[] { g.Ew(AbsGrad, n, g.In(n, 0), dy) });

    public static readonly ElementwiseOp Square = new("square", 1, "a * a", x => x[0] * x[0],
        (g, n, dy) => new Node?[] { g.Ew(SquareGrad, n, g.In(n, 0), dy) });

    /// <summary>The error function: OpenCL's erf, and <see cref="SpecialFunctions.Erf"/> in float64.</summary>
    public static readonly ElementwiseOp Erf = new("erf", 1, "erf(a)", x => SpecialFunctions.Erf(x[0]),
        (g, n, dy) => new Node?[] { g.Ew(ErfGrad, n, g.In(n, 0), dy) });

    // A constant exponent (pow(x, 2)) gets no partial; a tensor one gets dy·x^p·ln x, summed to its shape.
    private static Node?[] PowRule(GradBuilder g, Node n, Node dy)
    {
        var (x, p) = (g.In(n, 0), g.In(n, 1));
        return new Node?[]
        {
            g.SumTo(g.Ew(PowGradX, n, n.Shape, x, p, dy), x.Shape, n),
            p.Kind == NodeKind.Const ? null : g.SumTo(g.Ew(PowGradP, n, n.Shape, x, p, dy), p.Shape, n),
        };
    }

    // On numbers alone these are constants, folded here (1 / sqrt(64) scales attention scores): no node, no kernel.
    public override void Surface(SurfaceTable table)
    {
        foreach (var op in new[] { Sqrt, Rsqrt, Abs, Square, Erf })
            table.Def(op.Name, c => c.Args["x"] is NumberValue n
                ? Fold(c, op, n.Number)
                : c.Binder.Elementwise(op, c.Span, c.Tensor("x")), P("x", ArgKind.Operand));
        table.Def("pow", c => c.Args["x"] is NumberValue n && c.Args["p"] is NumberValue p
                ? Fold(c, Pow, n.Number, p.Number)
                : c.Binder.Elementwise(Pow, c.Span, Operands.Node(c, "x"), Operands.Node(c, "p")),
            P("x", ArgKind.Operand), P("p", ArgKind.Operand));
    }

    private static Value Fold(OpCall c, ElementwiseOp op, params double[] args)
    {
        var value = op.Eval(args, 1);
        if (double.IsNaN(value) || double.IsInfinity(value))
            c.FailAt("x", Codes.BadValue, $"{op.Name} of {string.Join(", ", args)} is {value}",
                $"Give {op.Name} a number in its domain");
        return new NumberValue(value, false);
    }
}
