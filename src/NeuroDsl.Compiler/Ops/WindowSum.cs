using System;
using System.Collections.Generic;
using System.Text;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;
using static NeuroDsl.Compiler.Emit.OpenClKernels;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// A sliding-window sum along one axis, the shape kept: out[…, c, …] = Σ x[…, j, …] for j in
/// [c − before, c + after] clipped to the axis (LRN's sum of squares over neighbouring channels). Its gradient is the
/// same sum with the window mirrored. A row-kernel head (<see cref="IRowHead"/>): the elementwise producers of its
/// operand are computed inside its loop and the elementwise ops after it in the same kernel.
/// </summary>
public sealed class WindowSums : OpFamily
{
    public static readonly OpDef WindowSum = new WindowSumOp();

    /// <summary>The attributes of a window of <paramref name="before"/> and <paramref name="after"/> along an axis.</summary>
    internal static Dictionary<string, object> Window(long axis, long before, long after) =>
        new() { ["axis"] = axis, ["before"] = before, ["after"] = after };

    private sealed class WindowSumOp : OpDef, IRowHead
    {
        public WindowSumOp() : base("window_sum", PrimKind.Custom, 1)
        {
        }

        private static (int Axis, long Before, long After) Attrs(Node node) =>
            ((int)node.AttrInt("axis"), node.AttrInt("before"), node.AttrInt("after"));

        // x is in the window of out[j] for j in [c − after, c + before]: the mirrored window, summed.
        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy)
        {
            var (axis, before, after) = Attrs(node);
            return new Node?[] { g.Op(WindowSum, node.Shape, Window(axis, after, before), node, dy) };
        }

        public override double[] Reference(RefCall call)
        {
            var (axis, before, after) = Attrs(call.Node);
            var shape = call.OutShape;
            var (size, inner) = (shape[axis], 1L);
            for (var d = axis + 1; d < shape.Length; d++) inner *= shape[d];
            var x = call.Inputs[0];
            var result = new double[x.Length];
            for (long i = 0; i < x.Length; i++)
            {
                var c = i / inner % size;
                var sum = 0.0;
                for (var j = Math.Max(0, c - before); j <= Math.Min(size - 1, c + after); j++) sum += x[i + (j - c) * inner];
                result[i] = sum;
            }
            return result;
        }

        // One work-item per element, the window along the axis at a stride of the axes after it.
        public override NodeLaunch Lower(KernelCall call)
        {
            var (node, name) = (call.Node, call.Name);
            var (axis, before, after) = Attrs(node);
            var size = node.Shape[axis].ToC();
            var stride = RowKernels.Stride(node.Shape, axis).ToC();
            var sb = new StringBuilder();
            sb.Append("__kernel void ").Append(name).AppendLine("(__global const float* restrict in0, __global float* restrict out)\n{");
            sb.AppendLine("    const int i = get_global_id(0);");
            sb.AppendLine($"    const int c = (i / {stride}) % {size};");
            sb.AppendLine("    float acc = 0.0f;");
            sb.AppendLine($"    for (int j = max(0, c - {I(before)}); j <= min({size} - 1, c + {I(after)}); j++)");
            sb.AppendLine($"        acc += in0[i + (j - c) * {stride}];");
            sb.AppendLine("    out[i] = acc;\n}");
            return new NodeLaunch(name, ArgSpec.Nodes(call.Inputs[0], node), new[] { node.Shape.Numel }, sb.ToString());
        }

        public (RowSpace Space, Accumulate Mode)? Head(Node node, Shape input)
        {
            var (axis, before, after) = Attrs(node);
            return (new RowSpace(input, input, Array.Empty<long>(), axis, before, after), Accumulate.Sum);
        }

        public override string Detail(Node node)
        {
            var (axis, before, after) = Attrs(node);
            return $" along axis {axis}, window [-{before}, +{after}]";
        }
    }
}
