using System;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// A scalar: the mean over all elements of a per-element term <see cref="CExpr"/> over (a = prediction,
/// b = target). Its gradient is an elementwise op that takes c = dL (a scalar) and writes d/da.
/// </summary>
public sealed class LossOp : OpDef
{
    private readonly GradientRule _gradient;

    public LossOp(string name, int arity, string cExpr, Func<double[], double, double> eval, GradientRule gradient)
        : base(name, PrimKind.LossMean, arity)
    {
        CExpr = cExpr;
        Eval = eval;
        _gradient = gradient;
    }

    public string CExpr { get; }
    public Func<double[], double, double> Eval { get; }

    public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => _gradient(g, node, dy);

    public override double[] Reference(RefCall call)
    {
        var n = ReferenceInterpreter.Numel(call.InputShapes[0]);
        var maps = call.InputShapes.Select(s => ReferenceInterpreter.BroadcastMap(s, call.InputShapes[0])).ToArray();
        var args = new double[call.Inputs.Length];
        var sum = 0.0;
        for (var i = 0; i < n; i++)
        {
            for (var k = 0; k < args.Length; k++) args[k] = call.Inputs[k][maps[k](i)];
            sum += Eval(args, n);
        }
        return new[] { sum / n };
    }

    public override NodeLaunch Lower(KernelCall call) => OpenClKernels.LossMean(call, this);
}

/// <summary>
/// Losses that average a per-element term (MSE, BCE, the perceptron criterion), and the mean and sum of all elements.
/// </summary>
public sealed class Losses : OpFamily
{
    public static readonly ElementwiseOp MseGrad = new("mse_grad", 3, "2.0f * (a - b) * c / NUMEL",
        (x, n) => 2 * (x[0] - x[1]) * x[2] / n);

    public static readonly LossOp Mse = new("mse", 2, "(a - b) * (a - b)", (x, _) => (x[0] - x[1]) * (x[0] - x[1]), Rule(MseGrad));

    public static readonly ElementwiseOp BceGrad = new("bce_grad", 3, "c * (a - b) / fmax(a * (1.0f - a), 1e-7f) / NUMEL",
        (x, n) => x[2] * (x[0] - x[1]) / Math.Max(x[0] * (1 - x[0]), 1e-7) / n);

    public static readonly LossOp Bce = new("bce", 2, "-(b * log(fmax(a, 1e-7f)) + (1.0f - b) * log(fmax(1.0f - a, 1e-7f)))",
        (x, _) => -(x[1] * Math.Log(Math.Max(x[0], 1e-7)) + (1 - x[1]) * Math.Log(Math.Max(1 - x[0], 1e-7))), Rule(BceGrad));

    public static readonly ElementwiseOp BceLogitsGrad = new("bce_logits_grad", 3, "c * (1.0f / (1.0f + exp(-a)) - b) / NUMEL",
        (x, n) => x[2] * (1 / (1 + Math.Exp(-x[0])) - x[1]) / n);

    public static readonly LossOp BceLogits = new("bce_logits", 2, "fmax(a, 0.0f) - a * b + log1p(exp(-fabs(a)))",
        (x, _) => Math.Max(x[0], 0) - x[0] * x[1] + Math.Log(1 + Math.Exp(-Math.Abs(x[0]))), Rule(BceLogitsGrad));

    // Rosenblatt's criterion: a point on the boundary (y·s = 0) counts as misclassified, so the subgradient there
    // is -y and SGD with rate 1 on one example is exactly w += y·x.
    public static readonly ElementwiseOp PerceptronGrad = new("perceptron_grad", 3, "(a * b <= 0.0f ? -b * c / NUMEL : 0.0f)",
        (x, n) => x[0] * x[1] <= 0 ? -x[1] * x[2] / n : 0);

    public static readonly LossOp Perceptron = new("perceptron", 2, "fmax(0.0f, -b * a)", (x, _) => Math.Max(0, -x[1] * x[0]),
        Rule(PerceptronGrad));

    public static readonly ElementwiseOp MeanGrad = new("mean_grad", 1, "a / NUMEL", (x, n) => x[0] / n);

    public static readonly LossOp Mean = new("mean", 1, "a", (x, _) => x[0],
        (g, n, dy) => new Node?[] { g.Ew(MeanGrad, n, g.In(n, 0).Shape, dy) });

    public static readonly LossOp Sum = new("sum", 1, "a * NUMEL", (x, n) => x[0] * n,
        (g, n, dy) => new Node?[] { g.Expand(dy, g.In(n, 0).Shape, n) });

    private static GradientRule Rule(ElementwiseOp grad) => (g, n, dy) =>
        new Node?[] { g.Ew(grad, n, g.In(n, 0).Shape, g.In(n, 0), g.In(n, 1), dy), null };

    public override void Surface(SurfaceTable table)
    {
        foreach (var loss in new[] { Mse, Bce, BceLogits, Perceptron })
            table.Def(loss.Name, c => c.Binder.LossMean(loss, c.Tensor("prediction"), c.Tensor("target"), c.Span),
                T("prediction"), T("target"));
        // sum(x) and mean(x) are scalars (a loss); given axes, or keepdims, they reduce over axes (Reductions).
        table.Def("mean", c => Total(c, Mean, Reductions.Mean), T("x"), P("axis", ArgKind.Ints, None),
            P("keepdims", ArgKind.Bool, False));
        table.Def("sum", c => Total(c, Sum, Reductions.Sum), T("x"), P("axis", ArgKind.Ints, None),
            P("keepdims", ArgKind.Bool, False));
    }

    private static Value Total(OpCall c, LossOp total, OpDef overAxes) => c.Has("axis") || c.Bool("keepdims")
        ? Reductions.Bind(c, overAxes)
        : c.Binder.Reduce(total, c.Tensor("x"), c.Span);
}
