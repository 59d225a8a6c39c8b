using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Emit.OpenClKernels;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Joining tensors along one axis (<c>concat</c>) and its inverse, the block of one axis from a start (<c>slice</c>,
/// the gradient of a concatenation, of a zero padding along an axis, and the rows of batch norm's sums).
/// </summary>
public sealed class Concatenation : OpFamily
{
    /// <summary>(x₀, x₁, …) → their concatenation along "axis".</summary>
    public static readonly OpDef Concat = new ConcatOp();

    /// <summary>(x) → the output shape's length of x along "axis", from "start".</summary>
    public static readonly OpDef Slice = new SliceOp();

    private sealed class ConcatOp : OpDef
    {
        public ConcatOp() : base("concat", PrimKind.Custom, -1)
        {
        }

        // Each input's gradient is the block of dy it filled.
        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy)
        {
            var axis = node.AttrInt("axis");
            var start = 0L;
            var grads = new Node?[node.Inputs.Count];
            for (var i = 0; i < grads.Length; i++)
            {
                var shape = g.In(node, i).Shape;
                var block = new Dictionary<string, object> { ["axis"] = axis, ["start"] = start };
                grads[i] = g.Op(Slice, shape, block, node, dy);
                start += shape[(int)axis].Coef;
            }
            return grads;
        }

        public override double[] Reference(RefCall call)
        {
            var axis = (int)call.Node.AttrInt("axis");
            var outer = call.OutShape.Take(axis).Aggregate(1L, (a, b) => a * b);
            var inner = call.OutShape.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);
            var y = new List<double>();
            for (long o = 0; o < outer; o++)
                for (var k = 0; k < call.Inputs.Length; k++)
                {
                    var chunk = call.InputShapes[k][axis] * inner;
                    y.AddRange(call.Inputs[k].Skip((int)(o * chunk)).Take((int)chunk));
                }
            return y.ToArray();
        }

        public override NodeLaunch Lower(KernelCall call)
        {
            var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
            var axis = (int)node.AttrInt("axis");
            var (_, total, inner) = Around(node.Shape, axis);
            var sb = new StringBuilder();
            sb.Append($"__kernel void {name}(")
                .Append(string.Join(", ", inputs.Select((_, k) => $"__global const float* restrict in{k}")))
                .AppendLine(", __global float* restrict out)\n{");
            sb.Append($"    const int i = get_global_id(0);\n    const int inner = i % {inner.ToC()};\n    const int a = (i / {inner.ToC()}) % {I(total)};\n    const int outer = i / {(inner * total).ToC()};\n");
            var offset = 0L;
            for (var k = 0; k < inputs.Length; k++)
            {
                var size = inputs[k].Shape[axis].Coef;
                var cond = k == inputs.Length - 1 ? "" : $"if (a < {I(offset + size)}) ";
                sb.Append(k == 0 ? "    " : "    else ").Append(cond)
                    .Append($"out[i] = in{k}[(outer * {I(size)} + a - {I(offset)}) * {inner.ToC()} + inner];\n");
                offset += size;
            }
            sb.AppendLine("}");
            var args = inputs.Select(x => ArgSpec.Node(x.Id)).Append(ArgSpec.Node(node.Id)).ToList();
            return new NodeLaunch(name, args, new[] { node.Shape.Numel }, sb.ToString());
        }
    }

    private sealed class SliceOp : OpDef
    {
        public SliceOp() : base("slice", PrimKind.Custom, 1)
        {
        }

        public override double[] Reference(RefCall call)
        {
            var (node, x, xs, ys) = (call.Node, call.Inputs[0], call.InputShapes[0], call.OutShape);
            var axis = (int)node.AttrInt("axis");
            var start = node.AttrInt("start");
            var outer = xs.Take(axis).Aggregate(1L, (a, b) => a * b);
            var inner = xs.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);
            var y = new List<double>();
            for (long o = 0; o < outer; o++)
                y.AddRange(x.Skip((int)((o * xs[axis] + start) * inner)).Take((int)(ys[axis] * inner)));
            return y.ToArray();
        }

        public override NodeLaunch Lower(KernelCall call)
        {
            var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
            var axis = (int)node.AttrInt("axis");
            var start = node.AttrInt("start");
            var (_, total, inner) = Around(inputs[0].Shape, axis);
            var length = node.Shape[axis].Coef;
            var code = $@"__kernel void {name}(__global const float* restrict in0, __global float* restrict out)
{{
    const int i = get_global_id(0);
    const int inner = i % {inner.ToC()};
    const int a = (i / {inner.ToC()}) % {I(length)};
    const int outer = i / {(inner * length).ToC()};
    out[i] = in0[(outer * {I(total)} + {I(start)} + a) * {inner.ToC()} + inner];
}}
";
            return new NodeLaunch(name, ArgSpec.Nodes(inputs[0], node), new[] { node.Shape.Numel }, code);
        }
    }

    // concat([a, b, …], axis: 1): the tensors agree on every other axis; the joined axis is constant.
    public override void Surface(SurfaceTable table) =>
        table.Def("concat", Bind, P("tensors", ArgKind.TensorList), P("axis", ArgKind.Int, Int(1)));

    private static Value Bind(OpCall c)
    {
        var xs = c.Tensors("tensors");
        var axis = c.Int("axis");
        var first = xs[0].Shape;
        if (axis < 0) axis += first.Rank;
        if (axis < 0 || axis >= first.Rank)
            c.FailAt("axis", Codes.BadValue, null, $"Concatenate along an axis of {-first.Rank}..{first.Rank - 1}");
        var sum = 0L;
        foreach (var x in xs)
        {
            if (x.DType != DType.F32) c.Fail(Codes.DTypeMismatch, null, "concat", "f32", "i32");
            if (x.Shape.Rank != first.Rank || Enumerable.Range(0, first.Rank).Any(d => d != axis && x.Shape[d] != first[d]))
                c.Fail(Codes.ShapeMismatch,
                    $"concat along axis {axis}: {string.Join(" and ", xs.Select(t => t.Shape))} differ elsewhere", "concat");
            if (!x.Shape[(int)axis].IsConstant) c.Fail(Codes.BadDimension, null, "Concatenate along a constant axis");
            sum += x.Shape[(int)axis].Coef;
        }
        var dims = first.Dims.ToArray();
        dims[axis] = sum;
        return new TensorValue(c.Binder.AddOp(Concat, xs.Select(x => x.Id).ToArray(), new Shape(dims), DType.F32,
            new Dictionary<string, object> { ["axis"] = axis }, c.Span, "concat"));
    }
}
