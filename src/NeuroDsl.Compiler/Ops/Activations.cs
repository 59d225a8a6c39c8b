using System;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Pointwise nonlinearities and their gradients. Gradients are taken from the output where the output
/// determines them (relu, tanh, sigmoid), so the producer of the input can be fused away.
/// </summary>
public sealed class Activations : OpFamily
{
    // Gradients: a = the saved output, b = the incoming gradient, unless stated. The library GEMM applies the first three
    // in its store when b is its product (kernels/gemm.cl's act 5–7, reading a as it writes).
    public static readonly ElementwiseOp ReluGrad = new("relu_grad", 2, "(a > 0.0f ? b : 0.0f)", x => x[0] > 0 ? x[1] : 0)
        { GemmGateEpilogue = 5 };

    public static readonly ElementwiseOp TanhGrad = new("tanh_grad", 2, "b * (1.0f - a * a)", x => x[1] * (1 - x[0] * x[0]))
        { GemmGateEpilogue = 6 };

    public static readonly ElementwiseOp SigmoidGrad = new("sigmoid_grad", 2, "b * a * (1.0f - a)", x => x[1] * x[0] * (1 - x[0]))
        { GemmGateEpilogue = 7 };

    public static readonly ElementwiseOp ScaledTanhGrad = new("scaled_tanh_grad", 2,
        "b * 1.1439333f * (1.0f - (a * 0.58278453f) * (a * 0.58278453f))",
        x => x[1] * 1.7159 * 2 / 3 * (1 - (x[0] / 1.7159) * (x[0] / 1.7159)));

    /// <summary>(y, dy, slope).</summary>
    public static readonly ElementwiseOp LeakyReluGrad = new("leaky_relu_grad", 3, "(a > 0.0f ? b : b * c)",
        x => x[0] > 0 ? x[1] : x[1] * x[2]);

    // The gemmEpilogue codes are the act argument of kernels/gemm.cl: the library GEMM applies these in its store.
    public static readonly ElementwiseOp Relu = new("relu", 1, "fmax(a, 0.0f)", x => Math.Max(x[0], 0),
        (g, n, dy) => new Node?[] { g.Ew(ReluGrad, n, n, dy) }, gemmEpilogue: 1);

    public static readonly ElementwiseOp Tanh = new("tanh", 1, "tanh(a)", x => Math.Tanh(x[0]),
        (g, n, dy) => new Node?[] { g.Ew(TanhGrad, n, n, dy) }, gemmEpilogue: 2);

    public static readonly ElementwiseOp Sigmoid = new("sigmoid", 1, "1.0f / (1.0f + exp(-a))", x => 1 / (1 + Math.Exp(-x[0])),
        (g, n, dy) => new Node?[] { g.Ew(SigmoidGrad, n, n, dy) }, gemmEpilogue: 3);

    /// <summary>LeCun's scaled tanh, 1.7159·tanh(2x/3) (LeCun et al. 1998, appendix A).</summary>
    public static readonly ElementwiseOp ScaledTanh = new("scaled_tanh", 1, "1.7159f * tanh(0.6666667f * a)",
        x => 1.7159 * Math.Tanh(2.0 / 3.0 * x[0]), (g, n, dy) => new Node?[] { g.Ew(ScaledTanhGrad, n, n, dy) }, gemmEpilogue: 4);

    public static readonly ElementwiseOp Sign = new("sign", 1, "(a > 0.0f ? 1.0f : (a < 0.0f ? -1.0f : 0.0f))",
        x => Math.Sign(x[0]), (g, n, dy) => new Node?[] { null });

    public static readonly ElementwiseOp Step = new("step", 1, "(a > 0.0f ? 1.0f : 0.0f)", x => x[0] > 0 ? 1 : 0,
        (g, n, dy) => new Node?[] { null });

    public static readonly ElementwiseOp Exp = new("exp", 1, "exp(a)", x => Math.Exp(x[0]),
        (g, n, dy) => new Node?[] { g.Ew(Arithmetic.Mul, n, dy, n) });

    public static readonly ElementwiseOp Log = new("log", 1, "log(a)", x => Math.Log(x[0]),
        (g, n, dy) => new Node?[] { g.Ew(Arithmetic.Div, n, dy, g.In(n, 0)) });

    /// <summary>max(x, slope·x) for slopes in [0, 1]; b is the slope, a literal constant.</summary>
    public static readonly ElementwiseOp LeakyRelu = new("leaky_relu", 2, "(a > 0.0f ? a : a * b)",
        x => x[0] > 0 ? x[0] : x[0] * x[1], (g, n, dy) => new Node?[] { g.Ew(LeakyReluGrad, n, n.Shape, n, dy, g.In(n, 1)), null });

    public override void Surface(SurfaceTable table)
    {
        foreach (var op in new[] { Relu, Tanh, Sigmoid, Sign, Step, Exp, Log, ScaledTanh })
            table.Def(op.Name, c => c.Binder.Elementwise(op, c.Span, c.Tensor("x")), T("x"));
        table.Def("leaky_relu", LeakyReluLayer, T("x"), P("slope", ArgKind.Number, Number(0.01)));
    }

    // The slope is a literal in the kernel.
    private static Value LeakyReluLayer(OpCall c)
    {
        var slope = c.Number("slope");
        if (slope < 0 || slope > 1) c.Fail(Codes.BadValue, null, $"Give leaky_relu a slope in [0, 1], not {slope}");
        var x = c.Tensor("x");
        if (x.DType != DType.F32) c.Fail(Codes.DTypeMismatch, null, "leaky_relu", "f32", x.DType.ToString().ToLowerInvariant());
        var k = c.Binder.Const(slope, c.Span);
        return new TensorValue(c.Binder.AddOp(LeakyRelu, new[] { x.Id, k.Id }, x.Shape, DType.F32, null, c.Span, "leaky_relu"));
    }
}
