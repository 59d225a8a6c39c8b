using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Recurrence: <c>scan</c> runs a cell (a body graph, <see cref="Node.Body"/>) once per step of the time axis (axis 1) of
/// its sequences, carrying the cell's state from step to step with the same weights at every step; its value is every
/// step's state, the states side by side on the last axis ([N, T, H₁ + H₂ + …]). Its gradient is <c>scan_grad</c>, a
/// reverse-time scan whose body the compiler derives from the cell (<see cref="BodyDifferentiator"/>); that op has
/// several results (the gradients of the sequences, the initial states and the shared weights), each read by a
/// <c>scan_grad_part</c> node. The planner runs both as loops of ordinary launches (Planning/Planner.Scan.cs); the
/// loops never reach <see cref="OpDef.Lower"/>.
/// </summary>
public sealed class Scan : OpFamily
{
    /// <summary>inputs: sequences [N, T, F] (k), initial states [N, H] or the constant 0 (m), shared tensors (q).</summary>
    public static readonly OpDef Forward = new ForwardOp();

    /// <summary>inputs: sequences (k), the forward scan, initial states (m), shared tensors (q), the gradient of the scan.</summary>
    public static readonly OpDef Backward = new BackwardOp();

    /// <summary>One result of a <c>scan_grad</c>: attribute <c>index</c> counts sequences, initial states, shared tensors.</summary>
    public static readonly OpDef Part = new PartOp();

    /// <summary>A state after the last step (<c>last: true</c>): [N, size] from a scan's [N, T, width] at columns offset….</summary>
    public static readonly OpDef Last = new LastOp(grad: false);

    /// <summary>The gradient of <see cref="Last"/>: dy at the last step, zeros elsewhere ([N, T, width]).</summary>
    public static readonly OpDef LastGrad = new LastOp(grad: true);

    /// <summary>
    /// <c>lengths:</c>'s mask: f32 [N, T, 1], 1 where step t is within sequence n's length and 0 after it, from the
    /// lengths i32 [N]. The scan reads it as one more sequence; its cell keeps the state where it is 0.
    /// </summary>
    public static readonly OpDef LengthMask = new LengthMaskOp();

    /// <summary>
    /// A value the forward loop keeps for the reverse loop (cuDNN's reserve space): one of the cell's matrix products
    /// at every step, [N, T, F]. Inputs: the scan, then the scan's own inputs (the reference runs the loop again);
    /// attribute <c>cell</c> names the product in the cell.
    /// </summary>
    public static readonly OpDef Saved = new SavedOp();

    /// <summary>Whether the node is a result of a scan, planned (and given its buffer) by the scan's loop.</summary>
    public static bool IsPart(Node node) => node.Def is PartOp or SavedOp;

    /// <summary>How a scan's inputs, body inputs and body outputs are counted.</summary>
    /// <param name="Stacked">For a scan_grad: per-step values it stacks over time besides the sequences' gradients.</param>
    /// <param name="Truncate">Truncated BPTT: the state's gradient is cut every this many steps (0: never).</param>
    /// <param name="Saved">For a scan_grad: values the forward loop kept, inputs after the shared ones.</param>
    internal sealed record Layout(int Seqs, long[] States, int Shared, bool Reverse, int Stacked = 0, long Truncate = 0, int Saved = 0)
    {
        public int StateCount => States.Length;
        public long Width => States.Sum();
        public long Offset(int state) => States.Take(state).Sum();

        public static Layout Of(Node node)
        {
            var seqs = (int)node.AttrInt("seqs");
            var states = node.AttrInts("states");
            var saved = node.Attrs.ContainsKey("saved") ? (int)node.AttrInt("saved") : 0;
            var fixedInputs = seqs + states.Length + (node.Def is BackwardOp ? 2 + saved : 0) + (node.Def is SavedOp ? 1 : 0);
            var stacked = node.Attrs.ContainsKey("stacked") ? (int)node.AttrInt("stacked") : 0;
            var truncate = node.Attrs.ContainsKey("truncate") ? node.AttrInt("truncate") : 0;
            return new Layout(seqs, states, node.Inputs.Count - fixedInputs, node.AttrBool("reverse"), stacked, truncate, saved);
        }

        /// <summary>
        /// Whether the gradient carried back into the state stops at step t: the state entering the s-th step the
        /// forward pass runs (s = t, or T − 1 − t reversed) comes from a truncation boundary when s is a positive
        /// multiple of <see cref="Truncate"/>.
        /// </summary>
        public bool Cut(long t, long steps)
        {
            var s = Reverse ? steps - 1 - t : t;
            return Truncate > 0 && s > 0 && s % Truncate == 0;
        }

        // Inputs of a forward scan and of its gradient, by role.
        public int InitInput(int i, bool backward) => Seqs + (backward ? 1 : 0) + i;
        public int SharedInput(int q, bool backward) => Seqs + (backward ? 1 : 0) + StateCount + q;
        public int SavedInput(int v) => Seqs + 1 + StateCount + Shared + v;
    }

    /// <summary>The attributes both scans carry.</summary>
    internal static Dictionary<string, object> Attrs(int seqs, long[] states, bool reverse, long truncate = 0)
    {
        var attrs = new Dictionary<string, object> { ["seqs"] = (long)seqs, ["states"] = states, ["reverse"] = reverse };
        if (truncate > 0) attrs["truncate"] = truncate;
        return attrs;
    }

    private sealed class ForwardOp : OpDef
    {
        public ForwardOp() : base("scan", PrimKind.Custom, -1)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => BackwardOf(g, node, dy);

        public override double[] Reference(RefCall call) =>
            Run(call.Node.Body!, Layout.Of(call.Node), call.Inputs, call.InputShapes, call.Symbols, null).Trajectory;

        public override NodeLaunch Lower(KernelCall call) =>
            throw new InvalidOperationException("a scan is planned as a loop of its body's launches (Planner.Scan)");

        public override string Detail(Node node)
        {
            var layout = Layout.Of(node);
            return (layout.Reverse ? "reversed, " : "") + "state " + string.Join(" + ", layout.States)
                + (layout.Truncate > 0 ? ", gradient truncated every " + layout.Truncate + " steps" : "");
        }
    }

    /// <summary>
    /// The forward loop in float64: the trajectory [N, T, width], and the value of the cell's node
    /// <paramref name="keep"/> at every step ([N, T, F]) when one is named.
    /// </summary>
    private static (double[] Trajectory, double[]? Kept) Run(Graph body, Layout layout, IReadOnlyList<double[]> inputs,
        IReadOnlyList<long[]> shapes, IReadOnlyDictionary<string, long> symbols, int? keep)
    {
        var (n, steps) = (shapes[0][0], shapes[0][1]);
        var width = layout.Width;
        var states = layout.States.Select((h, i) => Full(inputs[layout.InitInput(i, false)], n * h)).ToArray();
        var trajectory = new double[n * steps * width];
        var keptWidth = keep is { } id ? body[id].Shape[1].Eval(symbols) : 0;
        var kept = keep is null ? null : new double[n * steps * keptWidth];
        for (var step = 0L; step < steps; step++)
        {
            var t = layout.Reverse ? steps - 1 - step : step;
            var leaves = new Dictionary<int, double[]>();
            for (var j = 0; j < layout.Seqs; j++)
                leaves[body.InputIds[j]] = ReadStep(inputs[j], n, steps, shapes[j][2], 0, shapes[j][2], t);
            for (var i = 0; i < layout.StateCount; i++) leaves[body.InputIds[layout.Seqs + i]] = states[i];
            for (var q = 0; q < layout.Shared; q++)
                leaves[body.InputIds[layout.Seqs + layout.StateCount + q]] = inputs[layout.SharedInput(q, false)];
            var values = ReferenceInterpreter.Run(body, symbols, leaves);
            for (var i = 0; i < layout.StateCount; i++)
            {
                states[i] = Full(values[body.Outputs[i].Value], n * layout.States[i]);
                WriteStep(trajectory, states[i], n, steps, width, layout.Offset(i), layout.States[i], t);
            }
            if (kept is not null) WriteStep(kept, values[keep!.Value], n, steps, keptWidth, 0, keptWidth, t);
        }
        return (trajectory, kept);
    }

    /// <summary>The cell a <see cref="Saved"/> value comes from, and which of its nodes it is.</summary>
    internal sealed class CellValue
    {
        public CellValue(Graph body, int id) => (Body, Id) = (body, id);

        public Graph Body { get; }

        public int Id { get; }

        public override string ToString() => Body[Id].Name + " (%" + Id + " of the cell)";
    }

    private sealed class SavedOp : OpDef
    {
        public SavedOp() : base("scan_saved", PrimKind.Custom, -1)
        {
        }

        // The forward loop run again, keeping the product's value at every step (inputs after the scan itself).
        public override double[] Reference(RefCall call)
        {
            var cell = (CellValue)call.Node.Attrs["cell"];
            return Run(cell.Body, Layout.Of(call.Node), call.Inputs.Skip(1).ToArray(), call.InputShapes.Skip(1).ToArray(),
                call.Symbols, cell.Id).Kept!;
        }

        public override NodeLaunch Lower(KernelCall call) =>
            throw new InvalidOperationException("a scan's kept value is written by the scan's loop (Planner.Scan)");

        public override string Detail(Node node) => "kept by the loop: " + node.Attrs["cell"];
    }

    // The gradient of a scan: one scan_grad node running the derived body backwards in time, and a part per input.
    private static Node?[] BackwardOf(GradBuilder g, Node node, Node dy)
    {
        var layout = Layout.Of(node);
        var inputs = node.Inputs.Select(i => g.Of(i)).ToList();
        var seqs = inputs.Take(layout.Seqs).ToList();
        var inits = inputs.Skip(layout.Seqs).Take(layout.StateCount).ToList();
        var shared = inputs.Skip(layout.Seqs + layout.StateCount).ToList();
        var batch = node.Shape[0];
        var (body, deferred, savedIds) = BodyDifferentiator.Differentiate(node.Body!, layout);
        var stacked = body.Outputs.Skip(layout.StateCount + layout.Seqs + layout.Shared).Select(o => body[o.Value]).ToList();
        var steps = node.Shape[1];
        var saved = savedIds.Select(id =>
        {
            var value = node.Body![id];
            var keptAttrs = Attrs(layout.Seqs, layout.States, layout.Reverse);
            keptAttrs["cell"] = new CellValue(node.Body!, id);
            var kept = g.Op(Saved, new Shape(new[] { batch, steps, value.Shape[1] }), keptAttrs, node, inputs.Prepend(node).ToArray());
            kept.Name = node.Name + ".saved." + value.Name;
            return kept;
        }).ToList();
        var attrs = Attrs(layout.Seqs, layout.States, layout.Reverse, layout.Truncate);
        if (stacked.Count > 0) attrs["stacked"] = (long)stacked.Count;
        if (saved.Count > 0) attrs["saved"] = (long)saved.Count;
        var backward = g.Op(Backward, Shape.Scalar, attrs, node,
            seqs.Append(node).Concat(inits).Concat(shared).Concat(saved).Append(dy).ToArray());
        backward.Body = body;

        var shapes = seqs.Select(s => s.Shape).Concat(layout.States.Select(h => new Shape(new Dim[] { batch, h })))
            .Concat(shared.Select(s => s.Shape)).Concat(stacked.Select(x => new Shape(new[] { batch, steps, x.Shape[1] }))).ToList();
        var parts = new PartLayout(shapes.Select(s => s.Numel).ToArray());
        var made = new Dictionary<int, Node>();
        Node MakePart(int index) => made.TryGetValue(index, out var known) ? known : made[index] = g.Op(Part, shapes[index],
            new Dictionary<string, object> { ["index"] = (long)index, ["parts"] = parts }, node, backward);
        // A stacked value [N, T, F] as the rows of one product: [N·T, F].
        Node Rows(int index) => g.Reshape(MakePart(index), new Shape(new[] { batch * steps, shapes[index][2] }), node);

        var result = new Node?[node.Inputs.Count];
        for (var j = 0; j < layout.Seqs; j++) result[j] = MakePart(j);
        for (var i = 0; i < layout.StateCount; i++)
            result[layout.Seqs + i] = inits[i].Kind == NodeKind.Const ? null
                : g.Reshape(MakePart(layout.Seqs + i), inits[i].Shape, node);
        for (var q = 0; q < layout.Shared; q++)
        {
            var late = deferred.FirstOrDefault(d => d.Shared == q);
            result[layout.Seqs + layout.StateCount + q] = late switch
            {
                null => MakePart(layout.Seqs + layout.StateCount + q),
                { IsSum: true } => g.SumTo(Rows(late.PartA), shared[q].Shape, node),
                _ => g.MatMul(Rows(late.PartA), Rows(late.PartB), true, false, node),
            };
        }
        return result;
    }

    private sealed class BackwardOp : OpDef
    {
        public BackwardOp() : base("scan_grad", PrimKind.Custom, -1)
        {
        }

        // Backpropagation through time, step by step from the last: the derived body maps (x_t, s_{t-1}, shared,
        // ∂y_t, the carried ∂s_t) to (∂s_{t-1}, ∂x_t, this step's ∂shared). Results packed in part order.
        public override double[] Reference(RefCall call)
        {
            var node = call.Node;
            var body = node.Body!;
            var layout = Layout.Of(node);
            var (k, m) = (layout.Seqs, layout.StateCount);
            var (n, steps) = (call.InputShapes[0][0], call.InputShapes[0][1]);
            var width = layout.Width;
            var trajectory = call.Inputs[k];
            var dtrajectory = call.Inputs[call.Inputs.Length - 1];
            var carries = layout.States.Select(h => new double[n * h]).ToArray();
            var dseqs = Enumerable.Range(0, k).Select(j => new double[call.Inputs[j].Length]).ToArray();
            var dshared = Enumerable.Range(0, layout.Shared)
                .Select(q => new double[call.Inputs[layout.SharedInput(q, true)].Length]).ToArray();
            var first = m + k + layout.Shared;
            var widths = Enumerable.Range(0, layout.Stacked)
                .Select(e => body[body.Outputs[first + e].Value].Shape[1].Eval(call.Symbols)).ToArray();
            var stacks = widths.Select(f => new double[n * steps * f]).ToArray();
            for (var step = 0L; step < steps; step++)
            {
                var t = layout.Reverse ? step : steps - 1 - step;
                var previous = layout.Reverse ? t + 1 : t - 1;
                var leaves = new Dictionary<int, double[]>();
                var at = 0;
                for (var j = 0; j < k; j++)
                    leaves[body.InputIds[at++]] = ReadStep(call.Inputs[j], n, steps, call.InputShapes[j][2], 0, call.InputShapes[j][2], t);
                for (var i = 0; i < m; i++)
                    leaves[body.InputIds[at++]] = previous >= 0 && previous < steps
                        ? ReadStep(trajectory, n, steps, width, layout.Offset(i), layout.States[i], previous)
                        : Full(call.Inputs[layout.InitInput(i, true)], n * layout.States[i]);
                for (var q = 0; q < layout.Shared; q++) leaves[body.InputIds[at++]] = call.Inputs[layout.SharedInput(q, true)];
                for (var i = 0; i < m; i++)
                    leaves[body.InputIds[at++]] = ReadStep(dtrajectory, n, steps, width, layout.Offset(i), layout.States[i], t);
                for (var i = 0; i < m; i++) leaves[body.InputIds[at++]] = carries[i];
                for (var v = 0; v < layout.Saved; v++)
                {
                    var f = call.InputShapes[layout.SavedInput(v)][2];
                    leaves[body.InputIds[at++]] = ReadStep(call.Inputs[layout.SavedInput(v)], n, steps, f, 0, f, t);
                }
                var values = ReferenceInterpreter.Run(body, call.Symbols, leaves);
                for (var i = 0; i < m; i++)
                    carries[i] = layout.Cut(t, steps)
                        ? new double[n * layout.States[i]] : Full(values[body.Outputs[i].Value], n * layout.States[i]);
                for (var j = 0; j < k; j++)
                {
                    var f = call.InputShapes[j][2];
                    WriteStep(dseqs[j], Full(values[body.Outputs[m + j].Value], n * f), n, steps, f, 0, f, t);
                }
                for (var q = 0; q < layout.Shared; q++)
                {
                    var d = Full(values[body.Outputs[m + k + q].Value], dshared[q].Length);
                    for (var e = 0; e < d.Length; e++) dshared[q][e] += d[e];
                }
                for (var e = 0; e < layout.Stacked; e++)
                    WriteStep(stacks[e], Full(values[body.Outputs[first + e].Value], n * widths[e]), n, steps, widths[e], 0, widths[e], t);
            }
            return dseqs.Concat(carries).Concat(dshared).Concat(stacks).SelectMany(a => a).ToArray();
        }

        public override NodeLaunch Lower(KernelCall call) =>
            throw new InvalidOperationException("a scan is planned as a loop of its body's launches (Planner.Scan)");

        public override string Detail(Node node) => "backpropagation through time"
            + (Layout.Of(node).Truncate is var k and > 0 ? ", truncated every " + k + " steps" : "");
    }

    /// <summary>The sizes of a scan_grad's results, in order; a part finds its place among them.</summary>
    internal sealed class PartLayout
    {
        public PartLayout(Dim[] sizes) => Sizes = sizes;

        public Dim[] Sizes { get; }

        public override string ToString() => "[" + string.Join(", ", Sizes) + "]";
    }

    private sealed class PartOp : OpDef
    {
        public PartOp() : base("scan_grad_part", PrimKind.Custom, 1)
        {
        }

        public override double[] Reference(RefCall call)
        {
            var index = (int)call.Node.AttrInt("index");
            var sizes = ((PartLayout)call.Node.Attrs["parts"]).Sizes;
            var offset = sizes.Take(index).Sum(s => s.Eval(call.Symbols));
            var packed = call.Inputs[0];
            var result = new double[sizes[index].Eval(call.Symbols)];
            Array.Copy(packed, offset, result, 0, result.Length);
            return result;
        }

        public override NodeLaunch Lower(KernelCall call) =>
            throw new InvalidOperationException("a scan's result is written by the scan's loop (Planner.Scan)");
    }

    /// <summary>
    /// <c>scan_last</c> and its gradient <c>scan_last_grad</c>: the columns [offset, offset + size) of the step a scan
    /// ends on (t = T − 1, or 0 when reversed), and back. T may be a size symbol, which a slice's bounds cannot be.
    /// </summary>
    private sealed class LastOp : OpDef
    {
        private readonly bool _grad;

        public LastOp(bool grad) : base(grad ? "scan_last_grad" : "scan_last", PrimKind.Custom, 1) => _grad = grad;

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => _grad ? null : new Node?[]
        {
            g.Op(LastGrad, g.In(node, 0).Shape, node.Attrs.ToDictionary(a => a.Key, a => a.Value), node, dy),
        };

        public override double[] Reference(RefCall call)
        {
            var trajectory = _grad ? call.OutShape : call.InputShapes[0];
            var (n, steps, width) = (trajectory[0], trajectory[1], trajectory[2]);
            var (offset, size) = (call.Node.AttrInt("offset"), call.Node.AttrInt("size"));
            var t = call.Node.AttrBool("reverse") ? 0 : steps - 1;
            var result = new double[_grad ? n * steps * width : n * size];
            for (var b = 0L; b < n; b++)
                for (var c = 0L; c < size; c++)
                {
                    var at = (b * steps + t) * width + offset + c;
                    if (_grad) result[at] = call.Inputs[0][b * size + c];
                    else result[b * size + c] = call.Inputs[0][at];
                }
            return result;
        }

        public override NodeLaunch Lower(KernelCall call)
        {
            var node = call.Node;
            var trajectory = _grad ? node.Shape : call.Inputs[0].Shape;
            var (steps, width) = (trajectory[1].ToC(), trajectory[2].ToC());
            var (offset, size) = (node.AttrInt("offset"), node.AttrInt("size"));
            var last = node.AttrBool("reverse") ? "0" : $"({steps} - 1)";
            var (ps, args) = OpenClKernels.Signature(node, call.Inputs);
            var body = _grad
                ? $"    const int b = i / ({steps} * {width});\n    const int t = (i / {width}) % {steps};\n"
                  + $"    const int c = i % {width} - {offset};\n"
                  + $"    out[i] = t == {last} && c >= 0 && c < {size} ? in0[b * {size} + c] : 0.0f;\n"
                : $"    const int b = i / {size};\n    const int c = i % {size};\n"
                  + $"    out[i] = in0[(b * {steps} + {last}) * {width} + {offset} + c];\n";
            var code = $"__kernel void {call.Name}({ps})\n{{\n    const int i = get_global_id(0);\n{body}}}\n";
            return new NodeLaunch(call.Name, args, new[] { node.Shape.Numel }, code);
        }

        public override string Detail(Node node) => node.AttrBool("reverse") ? "after the first step (reversed)" : "after the last step";
    }

    private sealed class LengthMaskOp : OpDef
    {
        public LengthMaskOp() : base("length_mask", PrimKind.Custom, 1)
        {
        }

        // The lengths are integers: nothing to differentiate.
        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => new Node?[] { null };

        public override double[] Reference(RefCall call)
        {
            var (n, steps) = (call.OutShape[0], call.OutShape[1]);
            var result = new double[n * steps];
            for (var b = 0L; b < n; b++)
                for (var t = 0L; t < steps; t++)
                    result[b * steps + t] = t < call.Inputs[0][b] ? 1 : 0;
            return result;
        }

        public override NodeLaunch Lower(KernelCall call)
        {
            var steps = call.Node.Shape[1].ToC();
            var (ps, args) = OpenClKernels.Signature(call.Node, call.Inputs);
            var code = $"__kernel void {call.Name}({ps})\n{{\n    const int i = get_global_id(0);\n"
                + $"    out[i] = i % {steps} < in0[i / {steps}] ? 1.0f : 0.0f;\n}}\n";
            return new NodeLaunch(call.Name, args, new[] { call.Node.Shape.Numel }, code);
        }

        public override string Detail(Node node) => "steps within each sequence's length";
    }

    /// <summary>A value of <paramref name="length"/> elements: itself, or a scalar (the constant 0) repeated.</summary>
    internal static double[] Full(double[] value, long length)
    {
        if (value.Length == length) return value;
        var full = new double[length];
        for (var i = 0; i < length; i++) full[i] = value[0];
        return full;
    }

    /// <summary>Step t of a sequence [n, steps, width]: the columns [offset, offset + count) of every row, as [n, count].</summary>
    private static double[] ReadStep(double[] seq, long n, long steps, long width, long offset, long count, long t)
    {
        var result = new double[n * count];
        for (var b = 0L; b < n; b++)
            Array.Copy(seq, (b * steps + t) * width + offset, result, b * count, count);
        return result;
    }

    private static void WriteStep(double[] seq, double[] value, long n, long steps, long width, long offset, long count, long t)
    {
        for (var b = 0L; b < n; b++)
            Array.Copy(value, b * count, seq, (b * steps + t) * width + offset, count);
    }
}
