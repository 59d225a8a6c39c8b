using System;
using System.Collections.Generic;
using System.Globalization;
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
/// Reads by index, for sequence models and Transformers: slices of a float table picked by an i32 tensor
/// (<c>gather</c>, and the <c>embedding</c> layer built on it), the scatter-add that is its gradient, and
/// <c>one_hot</c>. An index outside the table gives NaN, as <c>cross_entropy</c> does for a bad label, and is
/// never read through.
/// </summary>
public sealed class Gather : OpFamily
{
    /// <summary>
    /// (table, index) → the table's slices along "axis" at each index, NumPy's <c>take</c>: the output shape is the
    /// table's with that axis replaced by the index's shape ([V, D] by [N, T] → [N, T, D]); NaN for a bad index.
    /// </summary>
    public static readonly OpDef Take = new GatherOp();

    /// <summary>(dy, index) → the table's gradient: zeros, plus each dy slice added at its index.</summary>
    public static readonly OpDef ScatterAdd = new GatherGradOp();

    /// <summary>A table seen around the gathered axis: [outer, rows, inner].</summary>
    private static (Dim Outer, Dim Rows, Dim Inner) Geometry(Shape table, int axis) =>
        (table.Dims.Take(axis).Aggregate((Dim)1, (a, b) => a * b), table[axis],
            table.Dims.Skip(axis + 1).Aggregate((Dim)1, (a, b) => a * b));

    private static (long Outer, long Rows, long Inner) Geometry(long[] table, int axis) =>
        (table.Take(axis).Aggregate(1L, (a, b) => a * b), table[axis],
            table.Skip(axis + 1).Aggregate(1L, (a, b) => a * b));

    /// <summary>The row an index value names, or -1 when it names none (negative, too large, not an integer).</summary>
    private static long Row(double index, long rows) =>
        index >= 0 && index < rows && index == Math.Floor(index) ? (long)index : -1;

    private sealed class GatherOp : OpDef
    {
        public GatherOp() : base("gather", PrimKind.Custom, 2)
        {
        }

        // The table's gradient is the scatter-add of dy at the indices; an index has none.
        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            new Node?[] { g.Op(ScatterAdd, g.In(node, 0).Shape, node.Attrs, node, dy, g.In(node, 1)), null };

        public override double[] Reference(RefCall call)
        {
            var (table, index) = (call.Inputs[0], call.Inputs[1]);
            var (outer, rows, inner) = Geometry(call.InputShapes[0], (int)call.Node.AttrInt("axis"));
            var y = new double[call.Numel];
            var o = 0;
            for (long a = 0; a < outer; a++)
                foreach (var value in index)
                {
                    var row = Row(value, rows);
                    for (long k = 0; k < inner; k++)
                        y[o++] = row < 0 ? double.NaN : table[(a * rows + row) * inner + k];
                }
            return y;
        }

        // One work-item per output element: out[o, j, k] = table[o, index[j], k].
        public override NodeLaunch Lower(KernelCall call)
        {
            var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
            var (ps, args) = Signature(node, inputs);
            var (outer, rows, inner) = Geometry(inputs[0].Shape, (int)node.AttrInt("axis"));
            var picks = inputs[1].Shape.Numel;
            var (n, w) = (picks.ToC(), inner.ToC());
            // out[i] at (o, j, k) of [outer, picks, inner]; an axis of size 1 gets no coordinate.
            var j = inner == (Dim)1 ? "i" : $"i / {w}";
            if (outer != (Dim)1) j = inner == (Dim)1 ? $"i % {n}" : $"({j}) % {n}";
            var at = outer == (Dim)1 ? "v" : $"o * {rows.ToC()} + v";
            if (inner != (Dim)1) at = outer == (Dim)1 ? $"v * {w} + k" : $"({at}) * {w} + k";
            var sb = new StringBuilder();
            sb.Append($"__kernel void {name}({ps})\n{{\n    const int i = get_global_id(0);\n");
            if (inner != (Dim)1) sb.Append($"    const int k = i % {w};\n");
            sb.Append($"    const int j = {j};\n");
            if (outer != (Dim)1) sb.Append($"    const int o = i / {(inner * picks).ToC()};\n");
            sb.Append($@"    const int v = in1[j];
    // An index outside the table reads nothing and gives NaN, as cross_entropy does for a bad label.
    out[i] = (v >= 0 && v < {rows.ToC()}) ? in0[{at}] : NAN;
}}
");
            return new NodeLaunch(name, args, new[] { node.Shape.Numel }, sb.ToString());
        }

        public override string Detail(Node node) =>
            node.AttrInt("axis") == 0 ? "" : " axis " + node.AttrInt("axis").ToString(CultureInfo.InvariantCulture);

        // The index picks one of the table's slices along the axis.
        public override long? IndexLimit(Node node, Node[] inputs, int input) =>
            input == 1 && inputs[0].Shape[(int)node.AttrInt("axis")] is { IsConstant: true } rows ? rows.Coef : null;
    }

    private sealed class GatherGradOp : OpDef
    {
        public GatherGradOp() : base("gather_grad", PrimKind.Custom, 2)
        {
        }

        public override double[] Reference(RefCall call)
        {
            var (dy, index) = (call.Inputs[0], call.Inputs[1]);
            var (outer, rows, inner) = Geometry(call.OutShape, (int)call.Node.AttrInt("axis"));
            var dt = new double[call.Numel];
            for (long a = 0; a < outer; a++)
                for (var j = 0; j < index.Length; j++)
                {
                    var row = Row(index[j], rows);
                    if (row < 0) continue; // a bad index read nothing, so nothing flows back through it
                    for (long k = 0; k < inner; k++)
                        dt[(a * rows + row) * inner + k] += dy[(a * index.Length + j) * inner + k];
                }
            return dt;
        }

        // Deterministic without atomics (OpenCL 1.2 has none for floats): one work-item per table slice (o, v)
        // zeroes it, scans the indices once in order and adds the dy slice of every index that names v. That is
        // outer·V·J index reads and outer·J·inner dy reads (each dy slice is read by the one work-item it belongs
        // to), not the V·inner·J of a work-item per element; no scratch buffer and one launch.
        public override NodeLaunch Lower(KernelCall call)
        {
            var (name, node, inputs) = (call.Name, call.Node, call.Inputs);
            var (ps, args) = Signature(node, inputs);
            var (outer, rows, inner) = Geometry(node.Shape, (int)node.AttrInt("axis"));
            var picks = inputs[1].Shape.Numel;
            var (v, dy) = outer == (Dim)1
                ? ("r", "in0")
                : ($"r % {rows.ToC()}", $"in0 + r / {rows.ToC()} * {(picks * inner).ToC()}");
            var (n, w) = (picks.ToC(), inner.ToC());
            var sum = inner == (Dim)1
                ? $@"    float sum = 0.0f;
    for (int j = 0; j < {n}; j++)
        if (in1[j] == v) sum += dy[j];
    out[r] = sum;"
                : $@"    __global float* row = out + r * {w};
    for (int k = 0; k < {w}; k++) row[k] = 0.0f;
    for (int j = 0; j < {n}; j++)
        if (in1[j] == v)
            for (int k = 0; k < {w}; k++) row[k] += dy[j * {w} + k];";
            var code = $@"__kernel void {name}({ps})
{{
    const int r = get_global_id(0);
    const int v = {v};
    const __global float* dy = {dy};
{sum}
}}
";
            return new NodeLaunch(name, args, new[] { outer * rows }, code);
        }
    }

    /// <summary>
    /// (index, classes) → [..., classes]: 1 where the index (broadcast along the classes axis) names the element's
    /// class, its position along that axis, and 0 elsewhere; NaN when the index lies outside 0..classes − 1 (as gather
    /// does), so a bad label shows in the loss. Elementwise, so one_hot fuses into what reads it (cross-entropy's row
    /// kernel) and is never stored.
    /// </summary>
    public static readonly ElementwiseOp ClassMatch = new("one_hot", 2,
        "((a >= 0.0f && a < b) ? ((float)(INDEX % (int)b) == a ? 1.0f : 0.0f) : NAN)",
        (_, _) => throw new InvalidOperationException("one_hot depends on its position"),
        (g, n, dy) => new Node?[2]) // nothing flows back to an index
    {
        EvalAt = (x, i) => x[0] >= 0 && x[0] < x[1] ? (i % (long)x[1] == (long)x[0] ? 1 : 0) : double.NaN,
        IndexLimitOf = (_, inputs, input) => input == 0 && inputs[1].Kind == NodeKind.Const ? (long)inputs[1].ConstValue : null,
    };

    /// <summary>
    /// (index, x, classes) → x where the index names the element's class, 0 elsewhere, NaN for an index outside the
    /// classes: one_hot(index)·x without 0·x (a masked −∞ logit of another class stays out of the sum).
    /// </summary>
    public static readonly ElementwiseOp ClassPick = new("pick_class", 3,
        "((a >= 0.0f && a < c) ? ((float)(INDEX % (int)c) == a ? b : 0.0f) : NAN)",
        (_, _) => throw new InvalidOperationException("pick_class depends on its position"),
        (g, n, dy) => new Node?[] { null, g.Ew(ClassPick!, n, n.Shape, g.In(n, 0), dy, g.In(n, 2)), null })
    {
        EvalAt = (x, i) => x[0] >= 0 && x[0] < x[2] ? (i % (long)x[2] == (long)x[0] ? x[1] : 0) : double.NaN,
        IndexLimitOf = (_, inputs, input) => input == 0 && inputs[2].Kind == NodeKind.Const ? (long)inputs[2].ConstValue : null,
    };

    /// <summary>The index viewed as [..., 1], broadcast along a classes axis by the ops that match it to a position.</summary>
    private static Node Column(OpCall c, Node index) => c.Binder.AddOp(Reshaping.Reshape, new[] { index.Id },
        new Shape(index.Shape.Dims.Append((Dim)1).ToArray()), DType.I32, null, c.Span);

    /// <summary>x picked at the index's class along the last axis (<see cref="ClassPick"/>), a composition.</summary>
    internal static Node Pick(OpCall c, Node index, Node x, long classes)
    {
        var column = Column(c, index);
        return c.Binder.AddOp(ClassPick, new[] { column.Id, x.Id, c.Binder.Const(classes, c.Span).Id }, x.Shape, DType.F32,
            null, c.Span);
    }

    private static readonly Value StandardNormal = new InitValue(new InitSpec("normal", 0, 1));

    public override void Surface(SurfaceTable table)
    {
        table.Def("gather", BindGather, T("table"), T("index"), P("axis", ArgKind.Int, Int(0)));
        // embedding(index, vocab, dims): PyTorch's nn.Embedding — weight [vocab, dims], N(0, 1) by default.
        table.Def("embedding", LayerCategory.Weighted, BindEmbedding, T("index"), P("vocab", ArgKind.Int),
            P("dims", ArgKind.Int), P("init", ArgKind.Init, StandardNormal), P("trainable", ArgKind.Bool, True));
        table.Def("one_hot", BindOneHot, T("index"), P("classes", ArgKind.Int));
    }

    private static void RequireIndex(OpCall c, Node index)
    {
        if (index.DType == DType.I32) return;
        var note = $"{c.Op.Name} picks with an i32 index; {index.Name} is {Describe(index)}";
        c.FailAt("index", Codes.DTypeMismatch, note, c.Op.Name, "i32", DTypeName(index));
    }

    private static string DTypeName(Node x) => x.DType.ToString().ToLowerInvariant();

    private static string Describe(Node x) => DTypeName(x) + x.Shape;

    private static Value BindGather(OpCall c)
    {
        var (table, index) = (c.Tensor("table"), c.Tensor("index"));
        if (table.DType != DType.F32)
            c.FailAt("table", Codes.DTypeMismatch, $"gather reads a float table; {table.Name} is {Describe(table)}",
                "gather", "f32", DTypeName(table));
        RequireIndex(c, index);
        if (table.Shape.Rank < 1)
            c.FailAt("table", Codes.RankMismatch, $"gather reads slices of a table; got {Describe(table)}", "gather",
                "1 or more");
        var rank = table.Shape.Rank;
        var axis = c.Int("axis");
        if (axis < -rank || axis >= rank)
            c.FailAt("axis", Codes.BadValue, $"table is {Describe(table)}",
                $"Gather along an axis of {-rank}..{rank - 1}, not {axis}");
        if (axis < 0) axis += rank;
        // The gathered axis gives way to the index's shape: [V, D] by [N, T] → [N, T, D].
        var dims = table.Shape.Dims.Take((int)axis).Concat(index.Shape.Dims)
            .Concat(table.Shape.Dims.Skip((int)axis + 1));
        return new TensorValue(c.Binder.AddOp(Take, new[] { table.Id, index.Id }, new Shape(dims.ToArray()), DType.F32,
            new Dictionary<string, object> { ["axis"] = axis }, c.Span, "gather"));
    }

    private static Value BindEmbedding(OpCall c)
    {
        var index = c.Tensor("index");
        RequireIndex(c, index);
        var (vocab, dims) = (c.Int("vocab"), c.Int("dims"));
        if (vocab <= 0) c.FailAt("vocab", Codes.BadValue, null, $"Give embedding a positive vocabulary, not {vocab}");
        if (dims <= 0) c.FailAt("dims", Codes.BadValue, null, $"Give embedding a positive width, not {dims}");
        // Fans as PyTorch reads a [vocab, dims] weight: in = dims, out = vocab.
        var weight = c.Binder.Param("weight", new Shape(vocab, dims), c.Init("init"), dims, vocab, c.Span,
            c.Bool("trainable"));
        var shape = new Shape(index.Shape.Dims.Concat(new[] { (Dim)dims }).ToArray());
        var node = c.Binder.AddOp(Take, new[] { weight.Id, index.Id }, shape, DType.F32,
            new Dictionary<string, object> { ["axis"] = 0L }, c.Span, "embedding");
        c.Binder.OwnParams(node);
        return new TensorValue(node);
    }

    private static Value BindOneHot(OpCall c)
    {
        var index = c.Tensor("index");
        RequireIndex(c, index);
        var classes = c.Int("classes");
        if (classes <= 0)
            c.FailAt("classes", Codes.BadValue, null, $"Give one_hot a positive number of classes, not {classes}");
        var mark = c.Binder.OpsMark();
        var y = OneHot(c, index, classes);
        y.Layer = "one_hot";
        return new TensorValue(c.Binder.Composite(y, mark));
    }

    /// <summary>
    /// one_hot(index, classes) as a composition: the index viewed as [..., 1], matched against each element's
    /// position along the classes axis by an elementwise op that fuses with what reads it.
    /// </summary>
    internal static Node OneHot(OpCall c, Node index, long classes)
    {
        var column = Column(c, index);
        var shape = new Shape(index.Shape.Dims.Append((Dim)classes).ToArray());
        return c.Binder.AddOp(ClassMatch, new[] { column.Id, c.Binder.Const(classes, c.Span).Id }, shape, DType.F32,
            null, c.Span);
    }
}
