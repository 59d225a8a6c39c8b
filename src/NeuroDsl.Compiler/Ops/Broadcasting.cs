using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Broadcasting made explicit: <c>expand</c> repeats a value along axes of size 1 (or missing ones), and
/// <c>sum_to</c>, its gradient, sums over the axes along which the input was broadcast.
/// </summary>
public sealed class Broadcasting : OpFamily
{
    public static readonly ElementwiseOp Expand = new("expand", 1, "a", x => x[0],
        (g, n, dy) => new Node?[] { g.SumTo(dy, g.In(n, 0).Shape, n) });

    public static readonly OpDef SumTo = new SumToOp();

    private sealed class SumToOp : OpDef
    {
        public SumToOp() : base("sum_to", PrimKind.SumTo, 1)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            new Node?[] { g.Expand(dy, g.In(node, 0).Shape, node) };

        public override double[] Reference(RefCall call)
        {
            var result = new double[call.Numel];
            var map = ReferenceInterpreter.BroadcastMap(call.OutShape, call.InputShapes[0]);
            var x = call.Inputs[0];
            for (var i = 0; i < x.Length; i++) result[map(i)] += x[i];
            return result;
        }

        public override NodeLaunch Lower(KernelCall call) => OpenClKernels.SumTo(call);
    }
}
