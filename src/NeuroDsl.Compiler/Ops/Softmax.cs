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
/// Computations over the last axis, one row per work-item: softmax and its gradient, and cross-entropy on
/// logits (with class labels or a target distribution per row) and its gradient.
/// </summary>
public sealed class Softmax : OpFamily
{
    /// <summary>(y, dy): dx = y·(dy − Σ y·dy).</summary>
    public static readonly OpDef Grad = new RowOp("softmax_grad", 2, null);

    public static readonly OpDef Forward = new RowOp("softmax", 1, (g, n, dy) => new Node?[] { g.Op(Grad, n.Shape, null, n, n, dy) });

    /// <summary>(logits, labels, dL).</summary>
    public static readonly OpDef CrossEntropyGrad = new RowOp("cross_entropy_grad", 3, null);

    /// <summary>(logits, labels) → the mean over rows of −Σ_j p_j·log softmax(x)_j.</summary>
    public static readonly OpDef CrossEntropy = new RowOp("cross_entropy", 2, (g, n, dy) => new Node?[]
    {
        g.Op(CrossEntropyGrad, g.In(n, 0).Shape, n.Attrs, n, g.In(n, 0), g.In(n, 1), dy), null,
    }, isLoss: true);

    private sealed class RowOp : OpDef
    {
        private readonly GradientRule? _gradient;
        private readonly bool _isLoss;

        public RowOp(string name, int arity, GradientRule? gradient, bool isLoss = false) : base(name, PrimKind.Row, arity)
        {
            _gradient = gradient;
            _isLoss = isLoss;
        }

        public override bool IsLoss => _isLoss;

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => _gradient?.Invoke(g, node, dy);

        public override double[] Reference(RefCall call) => RowReference(call);

        public override NodeLaunch Lower(KernelCall call) => RowKernel(call);
    }

    private static double[] RowReference(RefCall call)
    {
        var node = call.Node;
        var ins = call.Inputs;
        var shape = call.InputShapes[0];
        var c = (int)shape[shape.Length - 1];
        var rows = (int)(ReferenceInterpreter.Numel(shape) / c);
        var x = ins[0];
        double[] Probabilities(int row)
        {
            var m = Enumerable.Range(0, c).Max(j => x[row * c + j]);
            var e = Enumerable.Range(0, c).Select(j => Math.Exp(x[row * c + j] - m)).ToArray();
            var s = e.Sum();
            return e.Select(v => v / s).ToArray();
        }
        if (node.Def == Forward) return Enumerable.Range(0, rows).SelectMany(Probabilities).ToArray();
        if (node.Def == Grad)
        {
            var dy = ins[1];
            var dx = new double[x.Length];
            for (var r = 0; r < rows; r++)
            {
                var dot = 0.0;
                for (var j = 0; j < c; j++) dot += x[r * c + j] * dy[r * c + j];
                for (var j = 0; j < c; j++) dx[r * c + j] = x[r * c + j] * (dy[r * c + j] - dot);
            }
            return dx;
        }
        var soft = node.AttrBool("soft");
        if (node.Def == CrossEntropy)
        {
            var total = 0.0;
            for (var r = 0; r < rows; r++)
            {
                var p = Probabilities(r);
                if (soft)
                    for (var j = 0; j < c; j++) total -= ins[1][r * c + j] * Math.Log(p[j]);
                else
                {
                    var label = (int)ins[1][r];
                    total += label >= 0 && label < c ? -Math.Log(p[label]) : double.NaN;
                }
            }
            return new[] { total / rows };
        }
        {
            var dx = new double[x.Length];
            var scale = ins[2][0] / rows;
            for (var r = 0; r < rows; r++)
            {
                var p = Probabilities(r);
                var target = soft ? Enumerable.Range(0, c).Select(j => ins[1][r * c + j]).ToArray()
                    : Enumerable.Range(0, c).Select(j => j == (int)ins[1][r] ? 1.0 : 0.0).ToArray();
                var mass = target.Sum();
                for (var j = 0; j < c; j++) dx[r * c + j] = (p[j] * mass - target[j]) * scale;
            }
            return dx;
        }
    }

    private static NodeLaunch RowKernel(KernelCall call)
    {
        var (node, inputs, name) = (call.Node, call.Inputs, call.Name);
        var (ps, args) = OpenClKernels.Signature(node, inputs);
        var width = inputs[0].Shape[inputs[0].Shape.Rank - 1];
        var c = width.ToC();
        var rows = inputs[0].Shape.Numel.DivideBy(width)!.Value;
        var sb = new StringBuilder(OpenClKernels.Header(call.Comment));
        sb.Append("__kernel void ").Append(name).Append('(').Append(ps).AppendLine(")\n{");
        string Dl() => inputs[2].Kind == NodeKind.Const ? OpenClKernels.Lit(inputs[2].ConstValue) : "in2[0]";
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
        else if (node.Def == Grad)
            sb.Append($@"    const int row = get_global_id(0);
    const __global float* y = in0 + row * {c};
    const __global float* dy = in1 + row * {c};
    __global float* dx = out + row * {c};
    float dot = 0.0f;
    for (int j = 0; j < {c}; j++) dot += y[j] * dy[j];
    for (int j = 0; j < {c}; j++) dx[j] = y[j] * (dy[j] - dot);
");
        else if (node.Def == CrossEntropy)
        {
            // One work-item: mean over rows of Σ_j p_j·(logsumexp(x) − x_j), p one-hot from a label (an
            // out-of-range label gives NaN) or a given distribution.
            var soft = node.AttrBool("soft");
            var term = soft
                ? $"float ps = 0.0f, px = 0.0f;\n        for (int j = 0; j < {c}; j++) {{ const float p = in1[row * {c} + j]; ps += p; px += p * x[j]; }}\n        total += ps * (log(s) + m) - px;"
                : $"const int label = in1[row];\n        total += (label >= 0 && label < {c}) ? log(s) + m - x[label] : NAN;";
            sb.Append($@"    float total = 0.0f;
    for (int row = 0; row < {rows.ToC()}; row++)
    {{
        const __global float* x = in0 + row * {c};
        float m = x[0];
        for (int j = 1; j < {c}; j++) m = fmax(m, x[j]);
        float s = 0.0f;
        for (int j = 0; j < {c}; j++) s += exp(x[j] - m);
        {term}
    }}
    out[0] = total / (float){rows.ToC()};
");
            rows = 1;
        }
        else
        {
            // d/dx_j = softmax_j·Σp − p_j, times dL over the rows.
            var soft = node.AttrBool("soft");
            sb.Append($@"    const int row = get_global_id(0);
    const __global float* x = in0 + row * {c};
    __global float* dx = out + row * {c};
{(soft ? $"    const __global float* p = in1 + row * {c};\n    float ps = 0.0f;\n    for (int j = 0; j < {c}; j++) ps += p[j];" : "    const int label = in1[row];")}
    const float scale = {Dl()} / (float){rows.ToC()};
    float m = x[0];
    for (int j = 1; j < {c}; j++) m = fmax(m, x[j]);
    float s = 0.0f;
    for (int j = 0; j < {c}; j++) s += exp(x[j] - m);
    const float inv = 1.0f / s;
    for (int j = 0; j < {c}; j++) dx[j] = (exp(x[j] - m) * inv{(soft ? " * ps - p[j]" : " - (j == label ? 1.0f : 0.0f)")}) * scale;
");
        }
        sb.AppendLine("}");
        return new NodeLaunch(name, args, new[] { rows }, sb.ToString());
    }

    public override void Surface(SurfaceTable table)
    {
        table.Def("softmax", c => c.Binder.Unary(Forward, c.Tensor("x"), c.Span, requireRank: 1), T("x"));
        table.Def("cross_entropy", c => BindCrossEntropy(c, c.Tensor("logits"), c.Tensor("labels")), T("logits"), T("labels"));
    }

    /// <summary>
    /// Mean over rows of −Σ_j p_j·log softmax(x)_j: with class indices (i32[N]) p is one-hot; with a
    /// distribution per row (f32[N, C], AlphaGo Zero's search probabilities) p is that distribution.
    /// </summary>
    private static Value BindCrossEntropy(OpCall call, Node logits, Node labels)
    {
        call.Binder.RequireFloat("cross_entropy", call.Span, logits);
        if (logits.Shape.Rank != 2 || !logits.Shape[1].IsConstant)
            call.Fail(Codes.ShapeMismatch, $"cross_entropy takes logits [N, C]; got {logits.Shape}", "cross_entropy");
        var soft = labels.DType == DType.F32;
        if (soft && !labels.Shape.Equals(logits.Shape))
            call.Fail(Codes.ShapeMismatch, $"cross_entropy takes logits [N, C] and probabilities of the same shape; got {logits.Shape} and {labels.Shape}", "cross_entropy");
        if (!soft && (labels.Shape.Rank != 1 || logits.Shape[0] != labels.Shape[0]))
            call.Fail(Codes.ShapeMismatch, $"cross_entropy takes logits [N, C] and labels [N] (or probabilities [N, C]); got {logits.Shape} and {labels.Shape}", "cross_entropy");
        var attrs = soft ? new Dictionary<string, object> { ["soft"] = true } : null;
        return new TensorValue(call.Binder.AddOp(CrossEntropy, new[] { logits.Id, labels.Id }, Shape.Scalar, DType.F32, attrs, call.Span, "cross_entropy"));
    }
}
