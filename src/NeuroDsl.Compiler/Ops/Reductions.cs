using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Reductions over chosen axes: <c>sum(x, axis: 1)</c>, <c>mean</c>, <c>max</c>, <c>min</c>, <c>var</c> (population
/// variance: divided by the count, not count − 1) and <c>argmax</c> (i32, no gradient), the reduced axes dropped or
/// kept as size 1 (<c>keepdims</c>). A node's <c>axes</c> attribute lists the reduced axes of the tensor whose
/// groups it walks: the input of a reduction, the output of a reduction's gradient. One work-item per group (one
/// output element of the reduction) loops over the group in row-major order, so "first" means the same in the
/// kernel and in the float64 reference: max, min and argmax keep the first of equal extremes, and the gradient of
/// max and min goes to that element alone.
/// </summary>
public sealed class Reductions : OpFamily
{
    private enum Mode
    {
        Sum,
        Mean,
        Max,
        Min,
        Var,
        ArgMax,

        /// <summary>(dy) → dy / count over the group.</summary>
        MeanGrad,

        /// <summary>(x, dy) → dy at the group's first maximum, 0 elsewhere.</summary>
        MaxGrad,

        /// <summary>(x, dy) → dy at the group's first minimum, 0 elsewhere.</summary>
        MinGrad,

        /// <summary>(x, dy) → 2·(x − mean)/count · dy.</summary>
        VarGrad,
    }

    public static readonly OpDef Sum = new ReduceOp("reduce_sum", Mode.Sum, 1);
    public static readonly OpDef Mean = new ReduceOp("reduce_mean", Mode.Mean, 1);
    public static readonly OpDef Max = new ReduceOp("reduce_max", Mode.Max, 1);
    public static readonly OpDef Min = new ReduceOp("reduce_min", Mode.Min, 1);
    public static readonly OpDef Var = new ReduceOp("reduce_var", Mode.Var, 1);
    public static readonly OpDef ArgMax = new ReduceOp("argmax", Mode.ArgMax, 1);
    public static readonly OpDef MeanGrad = new ReduceOp("reduce_mean_grad", Mode.MeanGrad, 1);

    /// <summary>
    /// (dy, groups) → dy · groups / NUMEL: a mean's gradient when its count holds a size symbol, the count being the
    /// gradient's element count over the number of groups (1 for a mean over everything, the loss).
    /// </summary>
    public static readonly ElementwiseOp MeanShare = new("mean_share", 2, "a * b / NUMEL", (x, numel) => x[0] * x[1] / numel);
    public static readonly OpDef MaxGrad = new ReduceOp("reduce_max_grad", Mode.MaxGrad, 2);
    public static readonly OpDef MinGrad = new ReduceOp("reduce_min_grad", Mode.MinGrad, 2);
    public static readonly OpDef VarGrad = new ReduceOp("reduce_var_grad", Mode.VarGrad, 2);

    private sealed class ReduceOp : OpDef, IRowHead
    {
        public ReduceOp(string name, Mode mode, int arity) : base(name, PrimKind.Custom, arity) => Mode = mode;

        public Mode Mode { get; }

        public bool IsGrad => Mode >= Mode.MeanGrad;

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy)
        {
            if (IsGrad) return null;
            var x = g.In(node, 0);
            var axes = node.AttrInts("axes");
            var attrs = AxesAttr(axes);
            var size = axes.Aggregate((Dim)1, (a, d) => a * x.Shape[(int)d]);
            long? count = size.IsConstant ? size.Coef : null;
            // dy with the reduced axes back as size 1 (a view), broadcasting over them.
            Node rows() => dy.Shape.Rank == 0 ? dy : g.Reshape(dy, KeepShape(x.Shape, axes), node);
            return Mode switch
            {
                // dy with the reduced axes back as size 1 (a view), broadcast over them.
                Mode.Sum => new Node?[]
                {
                    g.Expand(dy.Shape.Rank == 0 ? dy : g.Reshape(dy, KeepShape(x.Shape, node.AttrInts("axes")), node),
                        x.Shape, node),
                },
                // dy / count broadcast over each group, and 2·(x − mean)/count · dy: elementwise ops and a mean, which
                // fuse into the row kernels around them. When the count holds N (the batch axis is reduced) no
                // constant node can carry it: it is the element count over the groups' (constant) count, which the
                // elementwise kernel knows; only when both hold a symbol does a kernel of its own write the gradient.
                Mode.Mean => new Node?[]
                {
                    count is { } c ? g.Ew(Arithmetic.Mul, node, x.Shape, rows(), g.Const(1.0 / c, node))
                    : KeepShape(x.Shape, axes).Numel is { IsConstant: true } groups
                        ? g.Ew(MeanShare, node, x.Shape, rows(), g.Const(groups.Coef, node))
                        : g.Op(MeanGrad, x.Shape, attrs, node, dy),
                },
                Mode.Max => new Node?[] { g.Op(MaxGrad, x.Shape, attrs, node, x, dy) },
                Mode.Min => new Node?[] { g.Op(MinGrad, x.Shape, attrs, node, x, dy) },
                Mode.Var => new Node?[]
                {
                    count is { } c
                        ? g.Ew(Arithmetic.Mul, node, x.Shape,
                            g.Ew(Arithmetic.Sub, node, x, g.Op(Mean, KeepShape(x.Shape, axes), Keep(axes), node, x)),
                            g.Ew(Arithmetic.Mul, node, rows(), g.Const(2.0 / c, node)))
                        : g.Op(VarGrad, x.Shape, attrs, node, x, dy),
                },
                _ => new Node?[] { null },
            };
        }

        public override double[] Reference(RefCall call)
        {
            var shape = IsGrad ? call.OutShape : call.InputShapes[0];
            var (bases, offsets) = Groups(shape, call.Node.AttrInts("axes"));
            var count = (double)offsets.Length;
            var x = call.Inputs[0];
            var dy = IsGrad ? call.Inputs[call.Inputs.Length - 1] : Array.Empty<double>();
            var result = new double[call.Numel];
            for (var o = 0; o < bases.Length; o++)
            {
                var b = bases[o];
                double Mean()
                {
                    var s = 0.0;
                    foreach (var off in offsets) s += x[b + off];
                    return s / count;
                }
                // The first extreme in row-major order: a later equal value does not replace it. NaN propagates, as
                // in PyTorch: the first NaN is the extreme (and takes the gradient).
                int First(bool max)
                {
                    var (m, pos) = (max ? double.NegativeInfinity : double.PositiveInfinity, 0);
                    for (var k = 0; k < offsets.Length; k++)
                    {
                        var v = x[b + offsets[k]];
                        if (!double.IsNaN(m) && (double.IsNaN(v) || (max ? v > m : v < m))) (m, pos) = (v, k);
                    }
                    return pos;
                }
                switch (Mode)
                {
                    case Mode.Sum:
                        result[o] = Mean() * count;
                        break;
                    case Mode.Mean:
                        result[o] = Mean();
                        break;
                    case Mode.Max or Mode.Min:
                        result[o] = x[b + offsets[First(Mode == Mode.Max)]];
                        break;
                    case Mode.ArgMax:
                        result[o] = First(max: true);
                        break;
                    case Mode.Var:
                    {
                        var mean = Mean();
                        var ss = 0.0;
                        foreach (var off in offsets) ss += (x[b + off] - mean) * (x[b + off] - mean);
                        result[o] = ss / count;
                        break;
                    }
                    case Mode.MeanGrad:
                        foreach (var off in offsets) result[b + off] = dy[o] / count;
                        break;
                    case Mode.MaxGrad or Mode.MinGrad:
                        result[b + offsets[First(Mode == Mode.MaxGrad)]] = dy[o];
                        break;
                    default:
                    {
                        var mean = Mean();
                        foreach (var off in offsets) result[b + off] = 2 * (x[b + off] - mean) / count * dy[o];
                        break;
                    }
                }
            }
            return result;
        }

        public override NodeLaunch Lower(KernelCall call) => Kernel(call, this);

        /// <summary>The forward reductions head row kernels; argmax (an index) and the gradients do not.</summary>
        public (RowSpace Space, Accumulate Mode)? Head(Node node, Shape input)
        {
            Accumulate? mode = Mode switch
            {
                Mode.Sum => Accumulate.Sum,
                Mode.Mean => Accumulate.Mean,
                Mode.Max => Accumulate.Max,
                Mode.Min => Accumulate.Min,
                Mode.Var => Accumulate.Var,
                _ => null,
            };
            if (mode is null) return null;
            var axes = node.AttrInts("axes");
            return (new RowSpace(input, KeepShape(input, axes), axes), mode.Value);
        }

        public override string Detail(Node node) => " over axes " + string.Join(", ", node.AttrInts("axes"));
    }

    internal static Dictionary<string, object> AxesAttr(long[] axes) => new() { ["axes"] = axes };

    /// <summary>The attributes of a reduction over <paramref name="axes"/> that keeps them as size 1.</summary>
    internal static Dictionary<string, object> Keep(long[] axes) => new() { ["axes"] = axes, ["keepdims"] = true };

    /// <summary>The shape with the reduced axes kept as size 1.</summary>
    internal static Shape KeepShape(Shape shape, long[] axes) =>
        new(shape.Dims.Select((d, a) => axes.Contains(a) ? (Dim)1 : d).ToArray());

    /// <summary>
    /// The flat index of each group's first element (in the order of the reduction's output) and the offsets of a
    /// group's elements from it (row-major over the reduced axes).
    /// </summary>
    private static (long[] Bases, long[] Offsets) Groups(long[] shape, long[] axes)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            strides[d] = s;
            s *= shape[d];
        }
        long[] Walk(IEnumerable<int> dims) => dims.Aggregate(new[] { 0L },
            (acc, d) => acc.SelectMany(o => Enumerable.Range(0, (int)shape[d]).Select(k => o + k * strides[d]))
                .ToArray());
        var reduced = Enumerable.Range(0, shape.Length).Where(d => axes.Contains(d)).ToList();
        var kept = Enumerable.Range(0, shape.Length).Where(d => !axes.Contains(d)).ToList();
        return (Walk(kept), Walk(reduced));
    }

    // One work-item per group: its kept coordinates give the group's base, nested loops with compile-time bounds
    // (adjacent reduced axes merged) walk its elements; the gradients write every element of their group.
    private static NodeLaunch Kernel(KernelCall call, ReduceOp op)
    {
        var (node, inputs, name) = (call.Node, call.Inputs, call.Name);
        var shape = op.IsGrad ? node.Shape : inputs[0].Shape;
        var axes = node.AttrInts("axes");
        var (ps, args) = OpenClKernels.Signature(node, inputs, output: false);
        // The gradient of the loss itself is a literal, not a parameter: then the output is the only one.
        ps += (ps.Length == 0 ? "" : ", ") + $"__global {OpenClKernels.CType(node)}* restrict out";
        args.Add(ArgSpec.Node(node.Id));

        var strides = shape.Strides();
        var kept = Enumerable.Range(0, shape.Rank).Where(d => !axes.Contains(d) && shape[d] != (Dim)1).ToList();
        var runs = RowKernels.Runs(shape, axes);
        var count = $"(float){axes.Aggregate((Dim)1, (a, d) => a * shape[(int)d]).ToC()}";

        var sb = new StringBuilder();
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        sb.AppendLine("    const int i = get_global_id(0);");
        Axes.Coordinates(sb, shape, kept);
        var terms = kept.Select(d => strides[d] == (Dim)1 ? $"c{d}" : $"c{d} * {strides[d].ToC()}").ToList();
        sb.Append("    const int base = ").Append(terms.Count == 0 ? "0" : string.Join(" + ", terms)).AppendLine(";");
        var at = string.Join(" + ",
            runs.Select((run, r) => run.Stride == (Dim)1 ? $"r{r}" : $"r{r} * {run.Stride.ToC()}").Prepend("base"));
        void Loop(params string[] body)
        {
            var indent = "    ";
            for (var r = 0; r < runs.Count; r++)
            {
                if (r > 0) indent += "    ";
                sb.Append(indent).AppendLine($"for (int r{r} = 0; r{r} < {runs[r].Size.ToC()}; r{r}++)");
            }
            sb.Append(indent).AppendLine("{");
            sb.Append(indent).AppendLine($"    const int at = {at};");
            foreach (var line in body) sb.Append(indent).Append("    ").AppendLine(line);
            sb.Append(indent).AppendLine("}");
        }
        // The same loops adding into `sum` in blocks (OpenClKernels.BlockedSumLoops); {0} in a line is the suffix of
        // the name to add into.
        void Sum(string sum, params string[] body) => OpenClKernels.BlockedSumLoops(sb, runs.Select(r => r.Size).ToList(),
            "    ", new[] { sum }, suffix => body.Select(line => string.Format(line, suffix)).Prepend($"const int at = {at};"));
        var dyInput = inputs.Length - 1;
        // The gradient of a scalar loss itself is a literal.
        var dy = inputs[dyInput].Kind == NodeKind.Const
            ? OpenClKernels.Lit(inputs[dyInput].ConstValue)
            : $"in{dyInput}[i]";
        // The first extreme in row-major order: only a strictly better value replaces it; the first NaN wins and stays.
        void First(string compare, string start, string keep = "", params string[] after)
        {
            sb.AppendLine($"    float m = {start};");
            var test = $"if (!isnan(m) && (isnan(v) || v {compare} m)) {{ m = v;{keep} }}";
            Loop(new[] { "const float v = in0[at];", test }.Concat(after).ToArray());
        }
        switch (op.Mode)
        {
            case Mode.Sum or Mode.Mean:
                sb.AppendLine("    float acc = 0.0f;");
                Sum("acc", "acc{0} += in0[at];");
                sb.AppendLine(op.Mode == Mode.Sum ? "    out[i] = acc;" : $"    out[i] = acc / {count};");
                break;
            case Mode.Max or Mode.Min:
                First(op.Mode == Mode.Max ? ">" : "<", op.Mode == Mode.Max ? "-INFINITY" : "INFINITY");
                sb.AppendLine("    out[i] = m;");
                break;
            case Mode.ArgMax:
                sb.AppendLine("    int pos = 0, k = 0;");
                First(">", "-INFINITY", " pos = k;", "k++;");
                sb.AppendLine("    out[i] = pos;");
                break;
            case Mode.Var or Mode.VarGrad:
                sb.AppendLine("    float acc = 0.0f;");
                Sum("acc", "acc{0} += in0[at];");
                sb.AppendLine($"    const float mean = acc / {count};");
                if (op.Mode == Mode.Var)
                {
                    sb.AppendLine("    float ss = 0.0f;");
                    Sum("ss", "const float d = in0[at] - mean;", "ss{0} += d * d;");
                    sb.AppendLine($"    out[i] = ss / {count};");
                }
                else
                {
                    sb.AppendLine($"    const float g = 2.0f * {dy} / {count};");
                    Loop("out[at] = (in0[at] - mean) * g;");
                }
                break;
            case Mode.MeanGrad:
                sb.AppendLine($"    const float g = {dy} / {count};");
                Loop("out[at] = g;");
                break;
            default:
                sb.AppendLine("    int pos = base;");
                var max = op.Mode == Mode.MaxGrad;
                First(max ? ">" : "<", max ? "-INFINITY" : "INFINITY", " pos = at;");
                sb.AppendLine($"    const float g = {dy};");
                Loop("out[at] = at == pos ? g : 0.0f;");
                break;
        }
        sb.AppendLine("}");
        var groups = KeepShape(shape, axes).Numel;
        return new NodeLaunch(name, args, new[] { groups }, sb.ToString());
    }

    public override void Surface(SurfaceTable table)
    {
        // max, min and var reduce every axis unless given some; sum and mean (Losses) do the same through here.
        foreach (var (surface, op) in new[] { ("max", Max), ("min", Min), ("var", Var) })
            table.Def(surface, c => Bind(c, op), T("x"), P("axis", ArgKind.Ints, None), P("keepdims", ArgKind.Bool, False));
        // argmax(x, axis: -1): the index of the first maximum along one axis (class predictions from logits).
        table.Def("argmax", c => Bind(c, ArgMax), T("x"), P("axis", ArgKind.Int, Int(-1)),
            P("keepdims", ArgKind.Bool, False));
    }

    /// <summary><c>op(x, axis: …, keepdims: …)</c>: the reduction over the given axes, or every axis when none.</summary>
    internal static Value Bind(OpCall c, OpDef op)
    {
        var x = c.Tensor("x");
        c.Binder.RequireFloat(c.Op.Name, c.Span, x);
        var axes = op == ArgMax ? new long[] { Axes.One(c, "axis", c.Int("axis"), x.Shape) }
            : c.Has("axis") ? Axes.Set(c, "axis", x.Shape)
            : Enumerable.Range(0, x.Shape.Rank).Select(a => (long)a).ToArray();
        if (axes.Length == 0) return new TensorValue(x); // every axis of a scalar: nothing to reduce
        var keepdims = c.Bool("keepdims");
        var shape = keepdims ? KeepShape(x.Shape, axes)
            : new Shape(x.Shape.Dims.Where((_, a) => !axes.Contains(a)).ToArray());
        var attrs = AxesAttr(axes);
        if (keepdims) attrs["keepdims"] = true;
        var dtype = op == ArgMax ? DType.I32 : DType.F32;
        return new TensorValue(c.Binder.AddOp(op, new[] { x.Id }, shape, dtype, attrs, c.Span, c.Op.Name));
    }
}
