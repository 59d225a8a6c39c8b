using System;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;

namespace NeuroDsl.Compiler.Ops;

/// <summary>The gradient rule of one op, as a delegate (the shape of tinygrad's rule table).</summary>
public delegate Node?[] GradientRule(GradBuilder g, Node node, Node dy);

/// <summary>
/// An op computed element by element over broadcast inputs: <see cref="CExpr"/> is its OpenCL expression over
/// the inputs <c>a</c>, <c>b</c>, <c>c</c> (<c>NUMEL</c> stands for the output's element count, <c>INDEX</c> for the
/// element's flat index in the output, as an int), and <see cref="Eval"/> the same function in float64. Elementwise ops share one kernel template, and chains of
/// them fuse into one kernel.
/// </summary>
public sealed class ElementwiseOp : OpDef
{
    private readonly GradientRule? _gradient;

    public ElementwiseOp(string name, int arity, string cExpr, Func<double[], double> eval, GradientRule? gradient = null,
        int gemmEpilogue = 0, string? prelude = null)
        : this(name, arity, cExpr, (x, _) => eval(x), gradient, gemmEpilogue, prelude)
    {
    }

    public ElementwiseOp(string name, int arity, string cExpr, Func<double[], double, double> eval, GradientRule? gradient = null,
        int gemmEpilogue = 0, string? prelude = null)
        : base(name, PrimKind.Elementwise, arity)
    {
        CExpr = cExpr;
        Eval = eval;
        _gradient = gradient;
        GemmEpilogue = gemmEpilogue;
        _prelude = prelude;
    }

    private readonly string? _prelude;

    /// <summary>A helper function <see cref="CExpr"/> calls (nd_pow), emitted once before the kernels.</summary>
    public override string? Prelude => _prelude;

    public string CExpr { get; }

    /// <summary>
    /// Whether the op is a few arithmetic instructions (no transcendental or other library function, no helper):
    /// cheap enough that a kernel computes it again rather than read it from memory (FusionPlanner).
    /// </summary>
    public bool IsCheap => _prelude is null && LibraryCalls == 0;

    /// <summary>
    /// The library functions (transcendentals, square roots) the op's C expression calls, and its helper function if it
    /// has one. On PoCL a kernel calling more than three of them was often no longer vectorized across work-items, so a
    /// merged kernel keeps within that unless its work-items loop over lanes of their own (<see cref="Fusion.MultiOutputFusion"/>).
    /// </summary>
    public int LibraryCalls => (_prelude is null ? 0 : 1)
        + System.Text.RegularExpressions.Regex.Matches(CExpr, @"\b(exp|exp2|expm1|log|log2|log1p|tanh|sinh|cosh|sin|cos|tan|pow|powr|sqrt|rsqrt|erf|erfc|atan|asin|acos|lgamma|tgamma)\s*\(").Count;

    /// <summary>Whether the value depends on the element's position (<c>INDEX</c>), not on its inputs alone.</summary>
    public bool UsesIndex => CExpr.Contains("INDEX");

    /// <summary>The float64 function of the input values and the element's flat index, for ops that use INDEX.</summary>
    public Func<double[], long, double>? EvalAt { get; init; }

    /// <summary>The bound of an i32 input read as an index (<see cref="OpDef.IndexLimit"/>), for ops that pick.</summary>
    public Func<Node, Node[], int, long?>? IndexLimitOf { get; init; }

    public override long? IndexLimit(Node node, Node[] inputs, int input) => IndexLimitOf?.Invoke(node, inputs, input);

    /// <summary>The float64 function of the input values and the output's element count.</summary>
    public Func<double[], double, double> Eval { get; }

    /// <summary>The <c>act</c> code of kernels/gemm.cl when the library GEMM can apply this op in its store; 0 when not.</summary>
    public int GemmEpilogue { get; }

    /// <summary>
    /// The <c>act</c> code of kernels/gemm.cl when the library GEMM can apply this op, with its second input the product
    /// and its first read from memory (an activation's gradient from its output: the gate), in its store; 0 when not.
    /// </summary>
    public int GemmGateEpilogue { get; init; }

    public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => _gradient?.Invoke(g, node, dy);

    public override double[] Reference(RefCall call)
    {
        var numel = call.Numel;
        var result = new double[numel];
        var args = new double[call.Inputs.Length];
        var maps = call.InputShapes.Select(s => ReferenceInterpreter.BroadcastMap(s, call.OutShape)).ToArray();
        for (var i = 0; i < numel; i++)
        {
            for (var k = 0; k < args.Length; k++) args[k] = call.Inputs[k][maps[k](i)];
            result[i] = EvalAt is { } at ? at(args, i) : Eval(args, numel);
        }
        return result;
    }

    public override NodeLaunch Lower(KernelCall call) => OpenClKernels.Elementwise(call, this);
}
