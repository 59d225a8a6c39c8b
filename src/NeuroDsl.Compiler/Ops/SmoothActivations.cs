using System;
using System.Globalization;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Smooth nonlinearities of the transformer era: GELU (exact, and the tanh form), SiLU (swish) and softplus.
/// The rules of GELU and SiLU need the input; softplus's reads its output.
/// </summary>
public sealed class SmoothActivations : OpFamily
{
    private const double InvSqrt2 = 0.70710678118654752;
    private const double InvSqrt2Pi = 0.3989422804014327;
    private const double SqrtTwoOverPi = 0.79788456080286536;
    private const double GeluC = 0.044715;

    // Gradients: (x, dy) unless stated.

    /// <summary>dy·(Φ(x) + x·φ(x)), Φ and φ the standard normal distribution and density.</summary>
    public static readonly ElementwiseOp GeluGrad = new("gelu_grad", 2,
        "b * (0.5f * (1.0f + erf(a * 0.70710678118654752f)) + a * 0.3989422804014327f * exp(-0.5f * a * a))",
        x => x[1] * (0.5 * (1 + SpecialFunctions.Erf(x[0] * InvSqrt2))
                     + x[0] * InvSqrt2Pi * Math.Exp(-0.5 * x[0] * x[0])));

    /// <summary>dy·(½(1 + t) + ½x(1 − t²)·k(1 + 3c·x²)), t = tanh(k(x + c·x³)), k = √(2/π), c = 0.044715.</summary>
    public static readonly ElementwiseOp GeluTanhGrad = new("gelu_tanh_grad", 2,
        "b * (0.5f * (1.0f + tanh(0.79788456080286536f * (a + 0.044715f * a * a * a)))"
        + " + 0.5f * a * (1.0f - tanh(0.79788456080286536f * (a + 0.044715f * a * a * a))"
        + " * tanh(0.79788456080286536f * (a + 0.044715f * a * a * a)))"
        + " * 0.79788456080286536f * (1.0f + 0.134145f * a * a))",
        x =>
        {
            var t = Math.Tanh(SqrtTwoOverPi * (x[0] + GeluC * x[0] * x[0] * x[0]));
            return x[1] * (0.5 * (1 + t) + 0.5 * x[0] * (1 - t * t) * SqrtTwoOverPi * (1 + 3 * GeluC * x[0] * x[0]));
        });

    /// <summary>dy·σ(x)·(1 + x·(1 − σ(x))).</summary>
    public static readonly ElementwiseOp SiluGrad = new("silu_grad", 2,
        "b * (1.0f + a * (1.0f - 1.0f / (1.0f + exp(-a)))) / (1.0f + exp(-a))",
        x => x[1] * (1 + x[0] * (1 - Sigmoid(x[0]))) * Sigmoid(x[0]));

    /// <summary>
    /// (y, dy, β): dy·σ(βx) from the output, as dy·(1 − e^(−βy)) = −dy·expm1(−βy) since e^(βy) = 1 + e^(βx);
    /// so a producer of x still fuses. expm1 keeps the small gradients of large negative x.
    /// </summary>
    public static readonly ElementwiseOp SoftplusGrad = new("softplus_grad", 3, "-b * expm1(-c * a)",
        x => -x[1] * SpecialFunctions.Expm1(-x[2] * x[0]));

    /// <summary>x·Φ(x) = ½x(1 + erf(x/√2)), as PyTorch's gelu.</summary>
    public static readonly ElementwiseOp Gelu = new("gelu", 1, "0.5f * a * (1.0f + erf(a * 0.70710678118654752f))",
        x => 0.5 * x[0] * (1 + SpecialFunctions.Erf(x[0] * InvSqrt2)),
        (g, n, dy) => new Node?[] { g.Ew(GeluGrad, n, g.In(n, 0), dy) });

    /// <summary>½x(1 + tanh(√(2/π)(x + 0.044715x³))), as PyTorch's gelu(approximate='tanh').</summary>
    public static readonly ElementwiseOp GeluTanh = new("gelu_tanh", 1,
        "0.5f * a * (1.0f + tanh(0.79788456080286536f * (a + 0.044715f * a * a * a)))",
        x => 0.5 * x[0] * (1 + Math.Tanh(SqrtTwoOverPi * (x[0] + GeluC * x[0] * x[0] * x[0]))),
        (g, n, dy) => new Node?[] { g.Ew(GeluTanhGrad, n, g.In(n, 0), dy) });

    /// <summary>x·σ(x) (SiLU, swish).</summary>
    public static readonly ElementwiseOp Silu = new("silu", 1, "a / (1.0f + exp(-a))", x => x[0] * Sigmoid(x[0]),
        (g, n, dy) => new Node?[] { g.Ew(SiluGrad, n, g.In(n, 0), dy) });

    /// <summary>
    /// (x, β): log(1 + e^(βx))/β written as (log1p(e^(−|βx|)) + max(βx, 0))/β, which neither overflows for
    /// large x nor loses the small values of large negative x.
    /// </summary>
    public static readonly ElementwiseOp Softplus = new("softplus", 2,
        "(log1p(exp(-fabs(b * a))) + fmax(b * a, 0.0f)) / b",
        x => (SpecialFunctions.Log1p(Math.Exp(-Math.Abs(x[1] * x[0]))) + Math.Max(x[1] * x[0], 0)) / x[1],
        (g, n, dy) => new Node?[] { g.Ew(SoftplusGrad, n, n.Shape, n, dy, g.In(n, 1)), null });

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    public override void Surface(SurfaceTable table)
    {
        table.Def("silu", c => c.Binder.Elementwise(Silu, c.Span, c.Tensor("x")), T("x"));
        table.Def("gelu", GeluLayer, T("x"), P("approximate", ArgKind.String, new StringValue("none")));
        table.Def("softplus", SoftplusLayer, T("x"), P("beta", ArgKind.Number, Number(1)));
    }

    private static Value GeluLayer(OpCall c)
    {
        var approximate = ((StringValue)c.Args["approximate"]).Text;
        if (approximate == "none") return c.Binder.Elementwise(Gelu, c.Span, c.Tensor("x"));
        if (approximate != "tanh")
            c.FailAt("approximate", Codes.BadValue, null,
                $"Give gelu approximate: \"none\" or \"tanh\", not \"{approximate}\"");
        var x = c.Tensor("x");
        c.Binder.RequireFloat("gelu", c.Span, x);
        // One surface op, two primitives: the layer is "gelu" either way.
        return new TensorValue(c.Binder.AddOp(GeluTanh, new[] { x.Id }, x.Shape, DType.F32, null, c.Span, "gelu"));
    }

    // β is a literal in the kernel.
    private static Value SoftplusLayer(OpCall c)
    {
        var beta = c.Number("beta");
        if (!(beta > 0))
            c.FailAt("beta", Codes.BadValue, null,
                "Give softplus a beta above 0, not " + beta.ToString(CultureInfo.InvariantCulture));
        var x = c.Tensor("x");
        c.Binder.RequireFloat("softplus", c.Span, x);
        var k = c.Binder.Const(beta, c.Span);
        var node = c.Binder.AddOp(Softplus, new[] { x.Id, k.Id }, x.Shape, DType.F32, null, c.Span, "softplus");
        return new TensorValue(node);
    }
}
