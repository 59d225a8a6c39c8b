using System;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// A structured op given by its family's functions — float64 reference, lowering and (optionally) gradient rule —
/// for the families whose ops differ in nothing else (batch norm, instance norm, LRN, the RBF layer).
/// </summary>
public sealed class FunctionOp : OpDef
{
    private readonly Func<RefCall, double[]> _reference;
    private readonly Func<KernelCall, NodeLaunch> _lower;
    private readonly GradientRule? _gradient;

    public FunctionOp(string name, int arity, Func<RefCall, double[]> reference, Func<KernelCall, NodeLaunch> lower,
        GradientRule? gradient = null) : base(name, PrimKind.Custom, arity)
    {
        _reference = reference;
        _lower = lower;
        _gradient = gradient;
    }

    public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => _gradient?.Invoke(g, node, dy);

    public override double[] Reference(RefCall call) => _reference(call);

    public override NodeLaunch Lower(KernelCall call) => _lower(call);
}
