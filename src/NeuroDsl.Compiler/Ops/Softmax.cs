using System;
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

/// <summary>
/// Computations along one axis, one row per work-item: softmax, log-softmax and their gradients, and cross-entropy
/// on logits (with class labels or a target distribution per row) and its gradient. Rows lie along the last axis
/// unless the node has an <c>axis</c> attribute; then a row's elements are a stride apart (<c>softmax(x, axis: 1)</c>).
/// </summary>
public sealed class Softmax : OpFamily
{
    /// <summary>(y, dy): dx = y·(dy − Σ y·dy).</summary>
    public static readonly OpDef Grad = new RowOp("softmax_grad", 2, null);

    public static readonly OpDef Forward = new RowOp("softmax", 1, (g, n, dy) => new Node?[] { g.Op(Grad, n.Shape, n.Attrs, n, n, dy) });

    /// <summary>(y, dy): dx = dy − exp(y)·Σ dy.</summary>
    public static readonly OpDef LogGrad = new RowOp("log_softmax_grad", 2, null);

    /// <summary>x − max − log Σ exp(x − max), the max and the sum taken along the row.</summary>
    public static readonly OpDef LogForward = new RowOp("log_softmax", 1,
        (g, n, dy) => new Node?[] { g.Op(LogGrad, n.Shape, n.Attrs, n, n, dy) });

    private sealed class RowOp : OpDef
    {
        private readonly GradientRule? _gradient;

        public RowOp(string name, int arity, GradientRule? gradient) : base(name, PrimKind.Row, arity)
        {
            _gradient = gradient;
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => _gradient?.Invoke(g, node, dy);

        public override double[] Reference(RefCall call) => RowReference(call);

        public override NodeLaunch Lower(KernelCall call) =>
            call.Node.Attrs.ContainsKey("axis") || call.Node.Def == LogForward || call.Node.Def == LogGrad
                ? StridedRowKernel(call)
                : RowKernel(call);
    }

    /// <summary>The axis a row lies along: the last unless the node says otherwise.</summary>
    private static int RowAxis(Node node, int rank) =>
        node.Attrs.ContainsKey("axis") ? (int)node.AttrInt("axis") : rank - 1;

    private static double[] RowReference(RefCall call)
    {
        var node = call.Node;
        var ins = call.Inputs;
        var shape = call.InputShapes[0];
        var axis = RowAxis(node, shape.Length);
        var c = (int)shape[axis];
        var inner = (int)ReferenceInterpreter.Numel(shape.Skip(axis + 1).ToArray());
        var rows = (int)(ReferenceInterpreter.Numel(shape) / c);
        var x = ins[0];
        // Element j of row r: rows are numbered in row-major order of the other axes.
        int At(int r, int j) => r / inner * c * inner + j * inner + r % inner;
        double[] Probabilities(int row)
        {
            var m = Enumerable.Range(0, c).Max(j => x[At(row, j)]);
            var e = Enumerable.Range(0, c).Select(j => Math.Exp(x[At(row, j)] - m)).ToArray();
            var s = e.Sum();
            return e.Select(v => v / s).ToArray();
        }
        if (node.Def == Forward || node.Def == LogForward)
        {
            var y = new double[x.Length];
            for (var r = 0; r < rows; r++)
            {
                var p = Probabilities(r);
                var m = Enumerable.Range(0, c).Max(j => x[At(r, j)]);
                var lse = m + Math.Log(Enumerable.Range(0, c).Sum(j => Math.Exp(x[At(r, j)] - m)));
                for (var j = 0; j < c; j++) y[At(r, j)] = node.Def == Forward ? p[j] : x[At(r, j)] - lse;
            }
            return y;
        }
        if (node.Def == Grad || node.Def == LogGrad)
        {
            var dy = ins[1];
            var dx = new double[x.Length];
            for (var r = 0; r < rows; r++)
            {
                var dot = 0.0;
                for (var j = 0; j < c; j++) dot += node.Def == Grad ? x[At(r, j)] * dy[At(r, j)] : dy[At(r, j)];
                for (var j = 0; j < c; j++)
                    dx[At(r, j)] = node.Def == Grad
                        ? x[At(r, j)] * (dy[At(r, j)] - dot)
                        : dy[At(r, j)] - Math.Exp(x[At(r, j)]) * dot;
            }
            return dx;
        }
        throw new InvalidOperationException($"{node.Op} is not a row op");
    }

    private static NodeLaunch RowKernel(KernelCall call)
    {
        var (node, inputs, name) = (call.Node, call.Inputs, call.Name);
        var (ps, args) = OpenClKernels.Signature(node, inputs);
        var width = inputs[0].Shape[inputs[0].Shape.Rank - 1];
        var c = width.ToC();
        var rows = inputs[0].Shape.Numel.DivideBy(width)!.Value;
        var sb = new StringBuilder();
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        if (node.Def == Forward)
            sb.Append($@"    const int row = get_global_id(0);
    const __global float* x = in0 + row * {c};
    __global float* y = out + row * {c};
    float m = x[0];
    for (int j = 1; j < {c}; j++) m = fmax(m, x[j]);
    float s = 0.0f;
    for (int j = 0; j < {c}; j++) {{ const float e = exp(x[j] - m); y[j] = e; s += e; }}
    const float inv = 1.0f / s;
    for (int j = 0; j < {c}; j++) y[j] *= inv;
");
        else
            sb.Append($@"    const int row = get_global_id(0);
    const __global float* y = in0 + row * {c};
    const __global float* dy = in1 + row * {c};
    __global float* dx = out + row * {c};
    float dot = 0.0f;
    for (int j = 0; j < {c}; j++) dot += y[j] * dy[j];
    for (int j = 0; j < {c}; j++) dx[j] = y[j] * (dy[j] - dot);
");
        sb.AppendLine("}");
        return new NodeLaunch(name, args, new[] { rows }, sb.ToString());
    }

    // A row per work-item whose elements lie `inner` apart (1 along the last axis): row r starts at
    // (r / inner)·width·inner + r % inner.
    private static NodeLaunch StridedRowKernel(KernelCall call)
    {
        var (node, inputs, name) = (call.Node, call.Inputs, call.Name);
        var (ps, args) = OpenClKernels.Signature(node, inputs);
        var shape = inputs[0].Shape;
        var axis = RowAxis(node, shape.Rank);
        var width = shape[axis];
        var c = width.ToC();
        var inner = shape.Dims.Skip(axis + 1).Aggregate((Dim)1, (a, d) => a * d);
        var rows = shape.Numel.DivideBy(width)!.Value;
        var start = inner == (Dim)1
            ? $"row * {c}"
            : $"row / {inner.ToC()} * {(width * inner).ToC()} + row % {inner.ToC()}";
        var j = inner == (Dim)1 ? "[j]" : $"[j * {inner.ToC()}]";
        var sb = new StringBuilder();
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        sb.AppendLine("    const int row = get_global_id(0);");
        sb.AppendLine($"    const int start = {start};");
        if (node.Def == Forward || node.Def == LogForward)
        {
            sb.Append($@"    const __global float* x = in0 + start;
    __global float* y = out + start;
    float m = x[0];
    for (int j = 1; j < {c}; j++) m = fmax(m, x{j});
    float s = 0.0f;
");
            sb.Append(node.Def == Forward
                ? $@"    for (int j = 0; j < {c}; j++) {{ const float e = exp(x{j} - m); y{j} = e; s += e; }}
    const float inv = 1.0f / s;
    for (int j = 0; j < {c}; j++) y{j} *= inv;
"
                : $@"    for (int j = 0; j < {c}; j++) s += exp(x{j} - m);
    const float lse = m + log(s);
    for (int j = 0; j < {c}; j++) y{j} = x{j} - lse;
");
        }
        else
        {
            sb.Append($@"    const __global float* y = in0 + start;
    const __global float* dy = in1 + start;
    __global float* dx = out + start;
");
            sb.Append(node.Def == Grad
                ? $@"    float dot = 0.0f;
    for (int j = 0; j < {c}; j++) dot += y{j} * dy{j};
    for (int j = 0; j < {c}; j++) dx{j} = y{j} * (dy{j} - dot);
"
                : $@"    float total = 0.0f;
    for (int j = 0; j < {c}; j++) total += dy{j};
    for (int j = 0; j < {c}; j++) dx{j} = dy{j} - exp(y{j}) * total;
");
        }
        sb.AppendLine("}");
        return new NodeLaunch(name, args, new[] { rows }, sb.ToString());
    }

    public override void Surface(SurfaceTable table)
    {
        table.Def("softmax", c => BindRow(c, Forward), T("x"), P("axis", ArgKind.Int, Int(-1)));
        table.Def("log_softmax", c => BindRow(c, LogForward), T("x"), P("axis", ArgKind.Int, Int(-1)));
        table.Def("cross_entropy", c => BindCrossEntropy(c, c.Tensor("logits"), c.Tensor("labels")), T("logits"), T("labels"));
    }

    /// <summary><c>softmax(x, axis: -1)</c>, <c>log_softmax</c>: along the last axis, the node has no attribute.</summary>
    private static Value BindRow(OpCall c, OpDef op)
    {
        var x = c.Tensor("x");
        if (x.Shape.Rank >= 1)
        {
            var axis = Axes.One(c, "axis", c.Int("axis"), x.Shape);
            if (axis != x.Shape.Rank - 1)
            {
                c.Binder.RequireFloat(c.Op.Name, c.Span, x);
                var attrs = new Dictionary<string, object> { ["axis"] = (long)axis };
                var node = c.Binder.AddOp(op, new[] { x.Id }, x.Shape, DType.F32, attrs, c.Span, c.Op.Name);
                return new TensorValue(node);
            }
        }
        return c.Binder.Unary(op, x, c.Span, requireRank: 1);
    }

    /// <summary>
    /// Mean over rows of −Σ_j p_j·log softmax(x)_j, rows along the last axis of the logits: with class indices
    /// (i32 of the logits' shape without the class axis) p is one-hot; with a distribution per row (f32 of the
    /// logits' shape, AlphaGo Zero's search probabilities) p is that distribution. A composition with no kernel of
    /// its own: per row, log Σ exp(x − max) − Σ p·(x − max) (times Σ p for a distribution), the max under
    /// stop_gradient since the loss does not depend on it; row fusion computes the three row sums and the loss per
    /// row in one kernel, the mean over rows is a second, and the backward pass (softmax·Σp − p, scaled) is one
    /// elementwise kernel. A label outside the classes gives NaN, through one_hot.
    /// </summary>
    private static Value BindCrossEntropy(OpCall call, Node logits, Node labels)
    {
        call.Binder.RequireFloat("cross_entropy", call.Span, logits);
        var shape = logits.Shape;
        if (shape.Rank < 2 || !shape[shape.Rank - 1].IsConstant)
            call.Fail(Codes.ShapeMismatch, $"cross_entropy takes logits [N, …, C]; got {shape}", "cross_entropy");
        var soft = labels.DType == DType.F32;
        var rowShape = new Shape(shape.Dims.Take(shape.Rank - 1).ToArray());
        if (soft && !labels.Shape.Equals(shape))
            call.Fail(Codes.ShapeMismatch, $"cross_entropy takes logits [N, …, C] and probabilities of the same shape; got {shape} and {labels.Shape}", "cross_entropy");
        if (!soft && !labels.Shape.Equals(rowShape))
            call.Fail(Codes.ShapeMismatch, $"cross_entropy takes logits [N, …, C] and labels [N, …] (or probabilities [N, …, C]); got {shape} and {labels.Shape}", "cross_entropy");

        var binder = call.Binder;
        var axes = new long[] { shape.Rank - 1 };
        var rows = Reductions.KeepShape(shape, axes);
        Node Add(OpDef op, Shape s, params Node[] inputs) =>
            binder.AddOp(op, inputs.Select(i => i.Id).ToArray(), s, DType.F32,
                op.Kind == PrimKind.Elementwise ? null : Reductions.Keep(axes), call.Span);
        var mark = binder.OpsMark();
        var max = Add(Selection.StopGradient, rows, Add(Reductions.Max, rows, logits));
        var shifted = Add(Arithmetic.Sub, shape, logits, max);
        var logSum = Add(Activations.Log, rows, Add(Reductions.Sum, rows, Add(Activations.Exp, shape, shifted)));
        var picked = Add(Reductions.Sum, rows, soft ? Add(Arithmetic.Mul, shape, shifted, labels)
            : Gather.Pick(call, labels, shifted, shape[shape.Rank - 1].Coef));
        var perRow = soft
            ? Add(Arithmetic.Sub, rows, Add(Arithmetic.Mul, rows, logSum, Add(Reductions.Sum, rows, labels)), picked)
            : Add(Arithmetic.Sub, rows, logSum, picked);
        var all = Enumerable.Range(0, rows.Rank).Select(a => (long)a).ToArray();
        var loss = binder.AddOp(Reductions.Mean, new[] { perRow.Id }, Shape.Scalar, DType.F32, Reductions.AxesAttr(all),
            call.Span);
        loss.Layer = "cross_entropy";
        return new TensorValue(binder.Composite(loss, mark));
    }
}
