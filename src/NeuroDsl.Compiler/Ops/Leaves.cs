using System;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Ops;

/// <summary>The graph's leaves: inputs, parameters and constants get values, not kernels.</summary>
public sealed class Leaves : OpFamily
{
    public static readonly OpDef Input = new LeafOp("input");
    public static readonly OpDef Param = new LeafOp("param");
    public static readonly OpDef Const = new LeafOp("const");

    private sealed class LeafOp : OpDef
    {
        public LeafOp(string name) : base(name, PrimKind.Leaf, 0)
        {
        }

        public override double[] Reference(RefCall call) => throw new InvalidOperationException("a leaf has no reference: its value is given");

        public override NodeLaunch Lower(KernelCall call) => throw new InvalidOperationException("a leaf has no kernel: its buffer is given");
    }
}
