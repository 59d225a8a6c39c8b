using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>Views: the same memory under a new shape, with no launch (<c>reshape</c>, <c>flatten</c>).</summary>
public sealed class Reshaping : OpFamily
{
    public static readonly OpDef Reshape = new ReshapeOp();

    private sealed class ReshapeOp : OpDef
    {
        public ReshapeOp() : base("reshape", PrimKind.View, 1)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            new Node?[] { g.Reshape(dy, g.In(node, 0).Shape, node) };

        public override double[] Reference(RefCall call) => call.Inputs[0];

        public override NodeLaunch Lower(KernelCall call) =>
            throw new System.InvalidOperationException("a view has no kernel: it shares its input's buffer");
    }

    public override void Surface(SurfaceTable table) => table.Def("flatten", Flatten, T("x"));

    private static Value Flatten(OpCall c)
    {
        var x = c.Tensor("x");
        if (x.Shape.Rank < 1) c.Fail(Codes.RankMismatch, $"flatten expects [N, ...]; got {x.Shape}", "flatten", "1 or more");
        var rest = x.Shape.Dims.Skip(1).Aggregate((Dim)1, (a, d) => a * d);
        var shape = new Shape(new[] { x.Shape[0], rest });
        return new TensorValue(c.Binder.AddOp(Reshape, new[] { x.Id }, shape, x.DType, null, c.Span, "flatten"));
    }
}
