using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Axis permutations: <c>permute(x, [axes])</c> and <c>transpose(x, a, b)</c> are one op, a copy of x with its axes
/// reordered (output axis d is input axis perm[d]). Its gradient is the inverse permutation.
/// </summary>
public sealed class Transposing : OpFamily
{
    public static readonly OpDef Permute = new PermuteOp();

    private sealed class PermuteOp : OpDef
    {
        public PermuteOp() : base("permute", PrimKind.Custom, 1)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            new Node?[] { g.Op(Permute, g.In(node, 0).Shape, Attrs(Inverse(node.AttrInts("perm"))), node, dy) };

        public override double[] Reference(RefCall call)
        {
            var perm = call.Node.AttrInts("perm");
            var inShape = call.InputShapes[0];
            var outShape = call.OutShape;
            var inStrides = Shape.Strides(inShape);
            var x = call.Inputs[0];
            var y = new double[call.Numel];
            var coords = new long[outShape.Length];
            for (var i = 0; i < y.Length; i++)
            {
                long rest = i, at = 0;
                for (var d = outShape.Length - 1; d >= 0; d--)
                {
                    coords[d] = rest % outShape[d];
                    rest /= outShape[d];
                }
                for (var d = 0; d < outShape.Length; d++) at += coords[d] * inStrides[perm[d]];
                y[i] = x[at];
            }
            return y;
        }

        // One work-item per output element: its coordinates, then the input's strides in the output's axis order,
        // all compile-time constants (symbolic sizes are ND_ macros).
        public override NodeLaunch Lower(KernelCall call)
        {
            var (node, input, name) = (call.Node, call.Inputs[0], call.Name);
            var perm = node.AttrInts("perm");
            var (ps, args) = OpenClKernels.Signature(node, call.Inputs, output: false);
            ps += $", __global {OpenClKernels.CType(node)}* restrict out";
            args.Add(ArgSpec.Node(node.Id));
            var inStrides = input.Shape.Strides();
            var used = Enumerable.Range(0, node.Shape.Rank).Where(d => node.Shape[d] != (Dim)1).ToList();
            var sb = new StringBuilder();
            sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
            sb.AppendLine("    const int i = get_global_id(0);");
            Axes.Coordinates(sb, node.Shape, used);
            var terms = used.Select(d => inStrides[perm[d]] == (Dim)1 ? $"c{d}" : $"c{d} * {inStrides[perm[d]].ToC()}")
                .ToList();
            sb.Append("    out[i] = in0[").Append(terms.Count == 0 ? "0" : string.Join(" + ", terms)).AppendLine("];");
            sb.AppendLine("}");
            return new NodeLaunch(name, args, new[] { node.Shape.Numel }, sb.ToString());
        }

        public override string Detail(Node node) => " [" + string.Join(", ", node.AttrInts("perm")) + "]";
    }

    private static Dictionary<string, object> Attrs(long[] perm) => new() { ["perm"] = perm };

    private static long[] Inverse(long[] perm)
    {
        var inverse = new long[perm.Length];
        for (var d = 0; d < perm.Length; d++) inverse[perm[d]] = d;
        return inverse;
    }



    public override void Surface(SurfaceTable table)
    {
        // transpose(x, axis1: -2, axis2: -1) swaps two axes (the last two by default); permute(x, [axes]) reorders all.
        table.Def("transpose", Transpose, T("x"), P("axis1", ArgKind.Int, Int(-2)), P("axis2", ArgKind.Int, Int(-1)));
        table.Def("permute", BindPermute, T("x"), P("axes", ArgKind.Ints));
    }

    private static Value Transpose(OpCall c)
    {
        var x = c.Tensor("x");
        if (x.Shape.Rank < 2)
            c.Fail(Codes.RankMismatch, $"transpose swaps two axes; got {x.Shape}", "transpose", "2 or more");
        var a = Axes.One(c, "axis1", c.Int("axis1"), x.Shape);
        var b = Axes.One(c, "axis2", c.Int("axis2"), x.Shape);
        var perm = Enumerable.Range(0, x.Shape.Rank).Select(d => (long)(d == a ? b : d == b ? a : d)).ToArray();
        return Bind(c, x, perm);
    }

    private static Value BindPermute(OpCall c)
    {
        var x = c.Tensor("x");
        var written = Axes.Written(c, "axes");
        if (written.Length != x.Shape.Rank)
            c.FailAt("axes", Codes.BadValue, $"x has shape {x.Shape}",
                $"Give permute one axis for each of the {x.Shape.Rank} axes of x, not {written.Length}");
        var perm = written.Select(a => (long)Axes.One(c, "axes", a, x.Shape)).ToArray();
        var missing = Enumerable.Range(0, perm.Length).Where(d => !perm.Contains(d)).ToList();
        if (missing.Count > 0)
            c.FailAt("axes", Codes.BadValue, $"x has shape {x.Shape}; axis {missing[0]} is missing",
                "Give permute each axis once");
        return Bind(c, x, perm);
    }

    private static Value Bind(OpCall c, Node x, long[] perm)
    {
        // The identity is no copy at all: the value itself.
        if (perm.Select((p, d) => p == d).All(same => same)) return new TensorValue(x);
        var shape = new Shape(perm.Select(p => x.Shape[(int)p]).ToArray());
        return new TensorValue(c.Binder.AddOp(Permute, new[] { x.Id }, shape, x.DType, Attrs(perm), c.Span, c.Op.Name));
    }
}
