using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>What one position of <c>x[…]</c> holds: an integer index, a <c>start:stop:step</c> range or <c>...</c>.</summary>
public sealed record IndexItem(IndexItemKind Kind, long? Start, long? Stop, long? Step, SourceSpan Span)
{
    public static IndexItem At(long index, SourceSpan span) => new(IndexItemKind.Index, index, null, null, span);

    public static IndexItem Range(long? start, long? stop, long? step, SourceSpan span) => new(IndexItemKind.Range, start, stop, step, span);

    public static IndexItem Ellipsis(SourceSpan span) => new(IndexItemKind.Ellipsis, null, null, null, span);
}

/// <summary>The three kinds of <see cref="IndexItem"/>.</summary>
public enum IndexItemKind
{
    Index,
    Range,
    Ellipsis,
}

/// <summary>
/// Parts of a tensor: <c>x[:, t]</c>, <c>x[..., 0:64]</c>, <c>x[:, ::2]</c> and <c>split</c> lower to
/// <c>strided_slice</c> (per axis a first index, a positive step and, as the output's shape, a count), followed by
/// a reshape (a view) when an integer index drops an axis; its gradient <c>strided_slice_grad</c> gathers dy into
/// the positions the slice read and zeros elsewhere (one work-item per element: no atomics, no separate zero
/// fill). <c>flip</c> reverses axes and is its own gradient.
/// </summary>
public sealed partial class Slicing : OpFamily
{
    /// <summary>(x) with attrs begin[], step[] per axis of x; the output shape holds the counts.</summary>
    public static readonly OpDef StridedSlice = new SliceOp("strided_slice", grad: false);

    /// <summary>(dy) → dx of x's shape: dy where the slice read, 0 elsewhere; attrs as the forward slice.</summary>
    public static readonly OpDef StridedSliceGrad = new SliceOp("strided_slice_grad", grad: true);

    /// <summary>(x) with attr axes[]: reversed along each of them.</summary>
    public static readonly OpDef Flip = new FlipOp();

    public override void Surface(SurfaceTable table)
    {
        // split(x, parts, axis: -1): `parts` equal parts, or parts of the listed sizes, in order along the axis.
        table.Def("split", BindSplit, T("x"), P("parts", ArgKind.Ints), P("axis", ArgKind.Int, Int(-1)));
        // flip(x, axis): reversed along one axis or a list of axes.
        table.Def("flip", BindFlip, T("x"), P("axis", ArgKind.Ints));
    }



    /// <summary>For each element of the slice (shape <paramref name="counts"/>), the flat index it reads in x.</summary>
    private static IEnumerable<(long Slice, long Source)> Positions(long[] xShape, long[] counts, long[] begin, long[] step)
    {
        var xStrides = Shape.Strides(xShape);
        var total = ReferenceInterpreter.Numel(counts);
        for (long o = 0; o < total; o++)
        {
            long rest = o, source = 0;
            for (var d = counts.Length - 1; d >= 0; d--)
            {
                source += (begin[d] + rest % counts[d] * step[d]) * xStrides[d];
                rest /= counts[d];
            }
            yield return (o, source);
        }
    }

    private sealed class SliceOp : OpDef
    {
        private readonly bool _grad;

        public SliceOp(string name, bool grad) : base(name, PrimKind.Custom, 1) => _grad = grad;

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            new Node?[] { g.Op(_grad ? StridedSlice : StridedSliceGrad, g.In(node, 0).Shape, node.Attrs, node, dy) };

        public override double[] Reference(RefCall call)
        {
            var (begin, step) = (call.Node.AttrInts("begin"), call.Node.AttrInts("step"));
            if (!_grad)
            {
                var x = call.Inputs[0];
                var y = new double[call.Numel];
                foreach (var (o, source) in Positions(call.InputShapes[0], call.OutShape, begin, step)) y[o] = x[source];
                return y;
            }
            // The positions a slice reads are distinct: each dx element gets at most one dy element.
            var dy = call.Inputs[0];
            var dx = new double[call.Numel];
            foreach (var (o, source) in Positions(call.OutShape, call.InputShapes[0], begin, step)) dx[source] = dy[o];
            return dx;
        }

        public override NodeLaunch Lower(KernelCall call) => _grad ? GradKernel(call) : SliceKernel(call);

        public override string Detail(Node node)
        {
            var step = node.AttrInts("step");
            return step.Any(s => s != 1) ? " step " + string.Join("x", step) : "";
        }
    }

    // out[i] = x[offset + Σ c_d·step_d·stride_d], c the coordinates of i in the slice (RemapRead).
    private static NodeLaunch SliceKernel(KernelCall call)
    {
        var (node, x) = (call.Node, call.Inputs[0]);
        var (read, used) = RemapRead(node, x, "in0");
        var sb = new StringBuilder();
        var type = OpenClKernels.CType(x);
        sb.Append($"__kernel void {call.Name}(__global const {type}* restrict in0, __global {type}* restrict out)\n{{\n");
        var laned = OpenClKernels.Laned(node.Shape);
        var indent = OpenClKernels.ElementStart(sb, node.Shape, new HashSet<int>(used), laned);
        sb.Append(indent).Append("out[i] = ").Append(read).AppendLine(";");
        OpenClKernels.ElementEnd(sb, laned);
        return new NodeLaunch(call.Name, ArgSpec.Nodes(x, node), new[] { node.Shape.Numel }, sb.ToString(), Lanes: laned);
    }

    // dx[i] = dy[(c − begin) / step] where c − begin is a multiple of the step inside the slice, else 0 (RemapRead).
    private static NodeLaunch GradKernel(KernelCall call)
    {
        var (node, dy) = (call.Node, call.Inputs[0]);
        var (read, used) = RemapRead(node, dy, "in0");
        var sb = new StringBuilder();
        sb.Append($"__kernel void {call.Name}(__global const float* restrict in0, __global float* restrict out)\n{{\n");
        var laned = OpenClKernels.Laned(node.Shape);
        var indent = OpenClKernels.ElementStart(sb, node.Shape, new HashSet<int>(used), laned);
        sb.Append(indent).Append("out[i] = ").Append(read).AppendLine(";");
        OpenClKernels.ElementEnd(sb, laned);
        return new NodeLaunch(call.Name, ArgSpec.Nodes(dy, node), new[] { node.Shape.Numel }, sb.ToString(), Lanes: laned);
    }

    /// <summary>Declares c&lt;axis&gt;, the coordinates of the flat index i, for the axes in <paramref name="used"/>.</summary>
    internal static void Coordinates(StringBuilder sb, Shape shape, IReadOnlyCollection<int> used)
    {
        if (used.Count == 0) return;
        var outer = used.Min();
        sb.AppendLine("    int r = i;");
        for (var d = shape.Rank - 1; d > outer; d--)
        {
            if (shape[d] == (Dim)1)
            {
                if (used.Contains(d)) sb.Append($"    const int c{d} = 0;\n");
                continue;
            }
            if (used.Contains(d)) sb.Append($"    const int c{d} = r % {shape[d].ToC()};\n");
            sb.Append($"    r /= {shape[d].ToC()};\n");
        }
        sb.Append(outer == 0 ? "    const int c0 = r;\n" : $"    const int c{outer} = r % {shape[outer].ToC()};\n");
    }

    private static string L(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Term(string coordinate, Dim stride) => stride == (Dim)1 ? coordinate : $"{coordinate} * {stride.ToC()}";

    private sealed class FlipOp : OpDef
    {
        public FlipOp() : base("flip", PrimKind.Custom, 1)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            new Node?[] { g.Op(Flip, node.Shape, node.Attrs, node, dy) };

        public override double[] Reference(RefCall call)
        {
            var shape = call.OutShape;
            var axes = call.Node.AttrInts("axes");
            var strides = Shape.Strides(shape);
            var x = call.Inputs[0];
            var y = new double[x.Length];
            for (long i = 0; i < y.Length; i++)
            {
                var source = i;
                foreach (var d in axes)
                {
                    var c = i / strides[d] % shape[d];
                    source += (shape[d] - 1 - 2 * c) * strides[d];
                }
                y[i] = x[source];
            }
            return y;
        }

        // out[i] = x[i + Σ (size_d − 1 − 2·c_d)·stride_d] over the flipped axes.
        public override NodeLaunch Lower(KernelCall call)
        {
            var (node, x) = (call.Node, call.Inputs[0]);
            var axes = node.AttrInts("axes").Select(a => (int)a).Where(d => node.Shape[d] != (Dim)1).ToList();
            var strides = node.Shape.Strides();
            var type = OpenClKernels.CType(x);
            var sb = new StringBuilder();
            sb.Append($"__kernel void {call.Name}(__global const {type}* restrict in0, __global {type}* restrict out)\n{{\n");
            sb.AppendLine("    const int i = get_global_id(0);");
            Coordinates(sb, node.Shape, axes);
            var terms = axes.Select(d => Term(node.Shape[d].IsConstant ? $"({L(node.Shape[d].Coef - 1)} - 2 * c{d})"
                : $"({node.Shape[d].ToC()} - 1 - 2 * c{d})", strides[d]));
            sb.Append("    out[i] = in0[").Append(string.Join(" + ", terms.Prepend("i"))).AppendLine("];\n}");
            return new NodeLaunch(call.Name, ArgSpec.Nodes(x, node), new[] { node.Shape.Numel }, sb.ToString());
        }

        public override string Detail(Node node) => " axis " + string.Join(", ", node.AttrInts("axes"));
    }
}
