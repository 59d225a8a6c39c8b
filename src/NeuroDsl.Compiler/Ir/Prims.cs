using System;
using System.Collections.Generic;

namespace NeuroDsl.Compiler.Ir;

/// <summary>How a primitive is computed: decides its kernel template and its reference evaluation.</summary>
public enum PrimKind
{
    Leaf,

    /// <summary>One output element from the broadcast input elements at the same index: <see cref="Prim.CExpr"/>.</summary>
    Elementwise,

    /// <summary>Sum over the axes along which the input was broadcast to reach it (<c>sum_to</c>).</summary>
    SumTo,

    /// <summary>Matrix product with optional transposes and a bias epilogue (<c>linear</c>, <c>matmul</c>).</summary>
    Gemm,

    /// <summary>A computation over the last axis, one row per work-item (softmax and its gradient).</summary>
    Row,

    /// <summary>A scalar loss: the mean over all elements of a per-element term.</summary>
    LossMean,

    /// <summary>Same memory, new shape (reshape, flatten): no launch.</summary>
    View,

    /// <summary>A structured op with its own kernel template and reference (convolution, pooling, batch norm…).</summary>
    Custom,
}

/// <summary>
/// An IR primitive: its kind, and for elementwise ops the OpenCL expression over inputs <c>a</c>, <c>b</c>,
/// <c>c</c> and the float64 reference of the same function. <c>NUMEL</c> stands for the output's element
/// count. Gradient rules live beside the differentiator (<see cref="Autodiff.GradientRules"/>).
/// </summary>
public sealed record Prim(string Name, PrimKind Kind, int Arity, string? CExpr = null,
    Func<double[], double, double>? Reference = null)
{
    public bool IsLoss => Kind == PrimKind.LossMean || Name == "cross_entropy";
}

/// <summary>The table of primitives. Adding an op means one entry here and one gradient rule.</summary>
public static class Prims
{
    private static readonly Dictionary<string, Prim> Table = new(StringComparer.Ordinal);

    static Prims()
    {
        Leaf("input");
        Leaf("param");
        Leaf("const");

        // Elementwise forward ops.
        Ew("add", 2, "a + b", x => x[0] + x[1]);
        Ew("sub", 2, "a - b", x => x[0] - x[1]);
        Ew("mul", 2, "a * b", x => x[0] * x[1]);
        Ew("div", 2, "a / b", x => x[0] / x[1]);
        Ew("neg", 1, "-a", x => -x[0]);
        Ew("relu", 1, "fmax(a, 0.0f)", x => Math.Max(x[0], 0));
        Ew("tanh", 1, "tanh(a)", x => Math.Tanh(x[0]));
        Ew("sigmoid", 1, "1.0f / (1.0f + exp(-a))", x => 1 / (1 + Math.Exp(-x[0])));
        Ew("sign", 1, "(a > 0.0f ? 1.0f : (a < 0.0f ? -1.0f : 0.0f))", x => Math.Sign(x[0]));
        Ew("step", 1, "(a > 0.0f ? 1.0f : 0.0f)", x => x[0] > 0 ? 1 : 0);
        Ew("exp", 1, "exp(a)", x => Math.Exp(x[0]));
        Ew("log", 1, "log(a)", x => Math.Log(x[0]));
        Ew("expand", 1, "a", x => x[0]);
        Ew("copy", 1, "a", x => x[0]);
        // b is the slope, a literal constant: max(x, slope·x) for slopes in [0, 1].
        Ew("leaky_relu", 2, "(a > 0.0f ? a : a * b)", x => x[0] > 0 ? x[0] : x[0] * x[1]);

        // Elementwise gradient ops (a = saved value, b = incoming gradient, unless stated).
        Ew("relu_grad", 2, "(a > 0.0f ? b : 0.0f)", x => x[0] > 0 ? x[1] : 0);
        Ew("tanh_grad", 2, "b * (1.0f - a * a)", x => x[1] * (1 - x[0] * x[0]));
        Ew("sigmoid_grad", 2, "b * a * (1.0f - a)", x => x[1] * x[0] * (1 - x[0]));
        Ew("leaky_relu_grad", 3, "(a > 0.0f ? b : b * c)", x => x[0] > 0 ? x[1] : x[1] * x[2]); // (y, dy, slope)
        Ew("div_grad_b", 3, "-a * b / (c * c)", x => -x[0] * x[1] / (x[2] * x[2])); // (dy, a, b)

        // Losses: mean over all elements of a term in (a = prediction, b = target); the gradient takes
        // c = dL (a scalar) and writes d/da.
        Loss("mse", "(a - b) * (a - b)", x => (x[0] - x[1]) * (x[0] - x[1]),
            "2.0f * (a - b) * c / NUMEL", (x, n) => 2 * (x[0] - x[1]) * x[2] / n);
        Loss("bce", "-(b * log(fmax(a, 1e-7f)) + (1.0f - b) * log(fmax(1.0f - a, 1e-7f)))",
            x => -(x[1] * Math.Log(Math.Max(x[0], 1e-7)) + (1 - x[1]) * Math.Log(Math.Max(1 - x[0], 1e-7))),
            "c * (a - b) / fmax(a * (1.0f - a), 1e-7f) / NUMEL",
            (x, n) => x[2] * (x[0] - x[1]) / Math.Max(x[0] * (1 - x[0]), 1e-7) / n);
        Loss("bce_logits", "fmax(a, 0.0f) - a * b + log1p(exp(-fabs(a)))",
            x => Math.Max(x[0], 0) - x[0] * x[1] + Math.Log(1 + Math.Exp(-Math.Abs(x[0]))),
            "c * (1.0f / (1.0f + exp(-a)) - b) / NUMEL",
            (x, n) => x[2] * (1 / (1 + Math.Exp(-x[0])) - x[1]) / n);
        // Rosenblatt's criterion: a point on the boundary (y·s = 0) counts as misclassified, so the
        // subgradient there is -y and SGD with rate 1 on one example is exactly w += y·x.
        Loss("perceptron", "fmax(0.0f, -b * a)", x => Math.Max(0, -x[1] * x[0]),
            "(a * b <= 0.0f ? -b * c / NUMEL : 0.0f)", (x, n) => x[0] * x[1] <= 0 ? -x[1] * x[2] / n : 0);

        Add(new Prim("sum_to", PrimKind.SumTo, 1));
        Add(new Prim("mean", PrimKind.LossMean, 1, "a", (x, _) => x[0]));
        Add(new Prim("sum", PrimKind.LossMean, 1, "a * NUMEL", (x, n) => x[0] * n));
        Add(new Prim("mean_grad", PrimKind.Elementwise, 1, "a / NUMEL", (x, n) => x[0] / n));
        Add(new Prim("linear", PrimKind.Gemm, 3));
        Add(new Prim("matmul", PrimKind.Gemm, 2));
        Add(new Prim("softmax", PrimKind.Row, 1));
        Add(new Prim("softmax_grad", PrimKind.Row, 2)); // (y, dy)
        Add(new Prim("cross_entropy", PrimKind.Row, 2)); // (logits, labels) -> scalar mean
        Add(new Prim("cross_entropy_grad", PrimKind.Row, 3)); // (logits, labels, dL)
        Add(new Prim("reshape", PrimKind.View, 1));

        // LeCun's scaled tanh, 1.7159·tanh(2x/3) (LeCun et al. 1998, appendix A); its gradient from the output y.
        Ew("scaled_tanh", 1, "1.7159f * tanh(0.6666667f * a)", x => 1.7159 * Math.Tanh(2.0 / 3.0 * x[0]));
        Ew("scaled_tanh_grad", 2, "b * 1.1439333f * (1.0f - (a * 0.58278453f) * (a * 0.58278453f))",
            x => x[1] * 1.7159 * 2 / 3 * (1 - (x[0] / 1.7159) * (x[0] / 1.7159)));

        // Structured ops: kernels in OpenClKernels.*.cs, references in ReferenceInterpreter.*.cs.
        foreach (var name in new[]
                 {
                     "conv2d", "conv2d_grad_input", "conv2d_grad_weight", "pool2d", "pool2d_grad", "concat", "slice",
                     "bn_stats", "bn_apply", "bn_grad_params", "bn_grad_input", "dropout", "dropout_grad",
                     "rbf", "rbf_grad_input", "rbf_grad_weight",
                     "conv_transpose2d", "pad2d", "pad2d_grad", "pad_axis", "instance_norm", "instance_norm_grad",
                     "lrn", "lrn_grad",
                 })
            Add(new Prim(name, PrimKind.Custom, -1));
    }

    public static Prim Get(string name) =>
        Table.TryGetValue(name, out var prim) ? prim : throw new KeyNotFoundException("Unknown primitive " + name);

    public static bool TryGet(string name, out Prim prim) => Table.TryGetValue(name, out prim!);

    public static IEnumerable<Prim> All => Table.Values;

    private static void Add(Prim prim) => Table.Add(prim.Name, prim);

    private static void Leaf(string name) => Add(new Prim(name, PrimKind.Leaf, 0));

    private static void Ew(string name, int arity, string expr, Func<double[], double> reference) =>
        Add(new Prim(name, PrimKind.Elementwise, arity, expr, (x, _) => reference(x)));

    private static void Loss(string name, string term, Func<double[], double> reference, string gradExpr,
        Func<double[], double, double> gradReference)
    {
        Add(new Prim(name, PrimKind.LossMean, 2, term, (x, _) => reference(x)));
        Add(new Prim(name + "_grad", PrimKind.Elementwise, 3, gradExpr, gradReference));
    }
}
