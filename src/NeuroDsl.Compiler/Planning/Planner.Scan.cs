using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Planning;

/// <summary>
/// Loops over time. A scan is planned as launches, not as one kernel: before the loop its state buffers are
/// initialized; each step runs the body's own fused kernels (lowered like any graph, on buffers allocated once), which
/// read the step's slices of the sequences in place at t (or from a copy, where a kernel cannot) and write the new
/// state into the carried buffers and the trajectory (Planner.ScanWrites.cs; or a launch copies it out after them);
/// the C# emitter wraps the step's launches in a <c>for</c> over t that passes t to the kernels that take it. Every step
/// is enqueued back to back, with no host synchronisation. The backward scan runs the derived body the other way,
/// carrying the state's gradient and summing the shared weights' gradients across steps in place.
/// </summary>
public static partial class Planner
{
    /// <summary>A scan's body after fusion and lowering, and a maker of kernel names unique in the program.</summary>
    /// <param name="InPlace">The body's inputs its kernels read from their sequences at step t (no copy per step).</param>
    /// <param name="Writes">The values its kernels write into sequences, and the states computed in place.</param>
    private sealed record LoweredLoop(List<Lowered> Items, Func<string, string> Name, IReadOnlyDictionary<int, StepView> InPlace,
        StepWrites Writes);

    private static Lowered LowerLoop(Graph graph, Node node, SourceLines lines, HashSet<string> names)
    {
        var body = node.Body!;
        var live = Liveness(body, Array.Empty<int>());
        // The states, and the values the forward loop keeps for the reverse loop, have buffers of their own.
        var pinned = new HashSet<int>(body.Outputs.Select(o => o.Value).Concat(Kept(graph, node).Select(k => k.Cell)));
        var layout = Scan.Layout.Of(node);
        var groups = FusionPlanner.Plan(body, live, pinned, invariant: Invariant(body,
            new HashSet<int>(body.InputIds.Skip(layout.Seqs + layout.StateCount).Take(layout.Shared))));
        var inPlace = InPlaceReads(graph, node, body, live, groups);
        var writes = PlanStepWrites(graph, node, body, live, groups);
        var items = Lower(body, lines, live, groups, names, inPlace, writes.Writes.Select(w => w.Write).ToList(), writes.Shared);
        string Name(string stem)
        {
            var name = stem;
            for (var k = 2; !names.Add(name); k++) name = stem + "_" + k.ToString(CultureInfo.InvariantCulture);
            return name;
        }
        return new Lowered(node, null, "", "", Array.Empty<int>(), Array.Empty<int>(), Array.Empty<int>(),
            new LoweredLoop(items, Name, inPlace, writes));
    }

    /// <summary>
    /// The step inputs a body's kernels read in place from their sequences (<see cref="StepView"/>): a sequence's step,
    /// the trajectory's gradient at step t, a value the forward loop kept. Only where every reader is an elementwise
    /// kernel (a product, a reduction or a kernel of its own reads a copy, as before). In the reverse loop, the state
    /// the step started from too (the trajectory one step back, the initial state before the first) where that is a
    /// constant and no slice reads it.
    /// </summary>
    private static Dictionary<int, StepView> InPlaceReads(Graph graph, Node node, Graph body, HashSet<int> live,
        IReadOnlyDictionary<int, FusionGroup> groups)
    {
        var layout = Scan.Layout.Of(node);
        var backward = node.Def == Scan.Backward;
        var input = node.Inputs.Select(i => graph[i]).ToList();
        var steps = input[0].Shape[1];
        var (k, m) = (layout.Seqs, layout.StateCount);
        var candidates = new Dictionary<int, StepView>();
        for (var j = 0; j < k; j++)
        {
            var f = input[j].Shape[2];
            candidates[body.InputIds[j]] = new StepView(steps, f, 0, f);
        }
        if (backward)
        {
            var sharedAt = k + m;
            for (var i = 0; i < m; i++)
                candidates[body.InputIds[sharedAt + layout.Shared + i]] =
                    new StepView(steps, layout.Width, layout.Offset(i), layout.States[i]);
            var keptAt = sharedAt + layout.Shared + 2 * m;
            for (var v = 0; v < layout.Saved; v++)
            {
                var f = body[body.InputIds[keptAt + v]].Shape[1];
                candidates[body.InputIds[keptAt + v]] = new StepView(steps, f, 0, f);
            }
            for (var i = 0; i < m; i++)
                if (input[layout.InitInput(i, true)] is { Kind: NodeKind.Const } init)
                    candidates[body.InputIds[k + i]] = new StepView(steps, layout.Width, layout.Offset(i), layout.States[i],
                        layout.Reverse ? 1 : -1, OpenClKernels.Lit(init.ConstValue));
        }
        // The shape of the kernel each node is computed in: elementwise groups only (emitted by FusedElementwise).
        var kernelShape = new Dictionary<int, Shape>();
        foreach (var g in groups.Values)
        {
            if (IsElementwiseKernel(body, g))
                foreach (var id in g.Inlined.Append(g.Root)) kernelShape[id] = body[g.Root].Shape;
        }
        var outputs = new HashSet<int>(body.Outputs.Select(o => o.Value));
        var result = new Dictionary<int, StepView>();
        foreach (var c in candidates)
        {
            // A slice reads it at its own strides; anything else at the coordinates of a kernel of its shape.
            var x = body[c.Key];
            var readers = body.Nodes.Where(n => live.Contains(n.Id) && n.Inputs.Contains(c.Key)).ToList();
            if (readers.Count > 0 && !outputs.Contains(c.Key) && x.Shape.Rank == 2
                && readers.All(r => kernelShape.TryGetValue(r.Id, out var shape)
                    && (Slicing.IsRemap(r) ? c.Value.Lag == 0 : StepView.Fits(x.Shape, shape))))
                result[c.Key] = c.Value;
        }
        return result;
    }

    /// <summary>The values a forward scan keeps for its gradient: each <see cref="Scan.Saved"/> node and its cell node.</summary>
    private static List<(Node Node, int Cell)> Kept(Graph graph, Node scan) => scan.Def != Scan.Forward
        ? new List<(Node, int)>()
        : graph.Nodes.Where(n => n.Def == Scan.Saved && n.Inputs[0] == scan.Id)
            .Select(n => (n, ((Scan.CellValue)n.Attrs["cell"]).Id)).ToList();

    private static void ScheduleLoop(Plan plan, Graph graph, SourceLines lines, Node node, LoweredLoop loop,
        Dictionary<int, int> storage, HashSet<int> paramOnly)
    {
        var body = node.Body!;
        var layout = Scan.Layout.Of(node);
        var backward = node.Def == Scan.Backward;
        var target = node.IsBackward ? plan.Backward : plan.Forward;
        var other = node.IsBackward ? plan.Forward : plan.Backward;
        var gradOnly = node.IsBackward && !paramOnly.Contains(node.Id);
        var line = node.Span.Line;
        var stem = "nd_" + Identifier(node.Name) + (backward ? "_bptt" : "_scan");
        var input = node.Inputs.Select(i => graph[i]).ToList();
        var (batch, steps) = (input[0].Shape[0], input[0].Shape[1]);
        var (k, m) = (layout.Seqs, layout.StateCount);
        var bodyStorage = new Dictionary<int, int>();
        var otherCount = other.Count;
        var loopId = plan.Forward.Concat(plan.Backward).Select(l => l.Loop?.Id ?? -1).DefaultIfEmpty(-1).Max() + 1;
        var scanLoop = new ScanLoop(loopId, steps, layout.Reverse != backward);

        void Add(string kernel, Dim global, params LaunchArg[] args) =>
            target.Add(new Launch(kernel, args, new[] { global }, line, lines[line], new[] { node.Id }, gradOnly));
        LaunchArg Buf(int b) => LaunchArg.Of(b);
        var time = LaunchArg.RuntimeValue(RuntimeScalar.Time);
        int Temp(string name, Dim elements) => AddBuffer(plan, name, elements, DType.F32, StorageKind.Temp, 0);
        Dim Row(long h) => batch * h;
        string Kernel(string what, Func<string, string> code) => Helper(plan, code, () => loop.Name(stem + "_" + what));

        // Step buffers for this step's slice of each sequence.
        var stepInputs = new List<int>();
        for (var j = 0; j < k; j++)
        {
            var x = body[body.InputIds[j]];
            // A step its kernels read in place is the sequence itself (StepView).
            stepInputs.Add(loop.InPlace.ContainsKey(x.Id) ? storage[node.Inputs[j]] : Temp(node.Name + "." + x.Name, x.Shape.Numel));
            bodyStorage[x.Id] = stepInputs[j];
        }
        var sharedAt = k + m;
        var sharedIds = new HashSet<int>(body.InputIds.Skip(sharedAt).Take(layout.Shared));
        for (var q = 0; q < layout.Shared; q++)
            bodyStorage[body.InputIds[sharedAt + q]] = storage[node.Inputs[layout.SharedInput(q, backward)]];

        if (!backward)
        {
            // The state, carried in place; the trajectory is the scan's value.
            if (!storage.ContainsKey(node.Id)) storage[node.Id] = Temp(node.Name, node.Shape.Numel);
            var carries = new List<int>();
            for (var i = 0; i < m; i++)
            {
                var s = body[body.InputIds[k + i]];
                carries.Add(Temp(node.Name + "." + s.Name, s.Shape.Numel));
                bodyStorage[s.Id] = carries[i];
                Initialize(plan, input[layout.InitInput(i, false)], carries[i], Row(layout.States[i]), storage, Kernel, Add);
            }
            var start = target.Count;
            for (var j = 0; j < k; j++)
            {
                if (loop.InPlace.ContainsKey(body.InputIds[j])) continue;
                var f = input[j].Shape[2];
                Add(Kernel("read_" + Identifier(body[body.InputIds[j]].Name), n => ReadStep(n, steps, f, 0, f, 0, null)),
                    batch * f, Buf(storage[node.Inputs[j]]), Buf(stepInputs[j]), time);
            }
            var kept = Kept(graph, node);
            foreach (var (value, _) in kept)
                if (!storage.ContainsKey(value.Id)) storage[value.Id] = Temp(value.Name, value.Shape.Numel);
            var outputs = body.Outputs.Select(o => body[o.Value]).ToList();
            // States computed in their carried buffers, and the values the step's kernels write into sequences.
            foreach (var i in loop.Writes.Aliased) bodyStorage[outputs[i].Id] = carries[i];
            var writeBuffers = loop.Writes.Writes.Select(w => w.Target == WriteTarget.Trajectory ? storage[node.Id] : storage[kept[w.Index].Node.Id]).ToList();
            start += ScheduleBody(plan, body, lines, loop, bodyStorage, target, start, sharedIds, node, gradOnly, writeBuffers);
            // The products the reverse loop reads rather than computes again, written into [N, T, F] at step t (by a
            // launch of their own where the kernel computing them does not).
            for (var v = 0; v < kept.Count; v++)
            {
                if (loop.Writes.Has(WriteTarget.Kept, v)) continue;
                var f = body[kept[v].Cell].Shape[1];
                Add(Kernel("keep", n => WriteStep(n, steps, f, null)), batch * f, Buf(bodyStorage[kept[v].Cell]), Buf(storage[kept[v].Node.Id]), time);
            }
            if (loop.Writes.Aliased.Count == m && m > 0)
            {
                Mark(target, other, otherCount, start, scanLoop, node.Id, gradOnly);
                return;
            }
            var passThrough = outputs.Any(o => o.Kind != NodeKind.Const && carries.Contains(bodyStorage[o.Id]));
            var values = outputs.Select(o => o.Kind == NodeKind.Const ? null : (int?)bodyStorage[o.Id]).ToList();
            var literals = outputs.Select(o => OpenClKernels.Lit(o.ConstValue)).ToList();
            // One launch stores the new state into the trajectory and the carry, unless a state is passed on unchanged
            // (its carry is then read and written by different work-items): then the carries are reloaded after.
            var args = values.Where(v => v is not null).Select(v => Buf(v!.Value)).Append(Buf(storage[node.Id]))
                .Concat(passThrough ? Array.Empty<LaunchArg>() : carries.Select(Buf)).Append(time).ToArray();
            Add(Kernel("store", n => StoreState(n, steps, layout.States, values.Select(v => v is not null).ToList(), literals, !passThrough)),
                batch * layout.Width, args);
            if (passThrough)
                Add(Kernel("reload", n => ReloadState(n, steps, layout.States)), batch * layout.Width,
                    carries.Select(Buf).Prepend(Buf(storage[node.Id])).Append(time).ToArray());
            Mark(target, other, otherCount, start, scanLoop, node.Id, gradOnly);
            return;
        }

        // Backward: the state's gradient carried back in place; the shared weights' gradients summed in place.
        var parts = graph.Nodes.Where(n => Scan.IsPart(n) && n.Inputs[0] == node.Id)
            .ToDictionary(n => (int)n.AttrInt("index"));
        int PartBuffer(int index, string name, Dim elements)
        {
            if (parts.TryGetValue(index, out var part))
                return storage.TryGetValue(part.Id, out var b) ? b : storage[part.Id] = Temp(part.Name, elements);
            return Temp(node.Name + "." + name, elements);
        }
        var trajectory = storage[node.Inputs[k]];
        var dtrajectory = storage[node.Inputs[node.Inputs.Count - 1]];
        var carried = new List<int>();
        for (var i = 0; i < m; i++)
        {
            carried.Add(PartBuffer(k + i, "grad.state" + i.ToString(CultureInfo.InvariantCulture), Row(layout.States[i])));
            bodyStorage[body.InputIds[sharedAt + layout.Shared + m + i]] = carried[i];
            Add(Kernel("zero", n => Fill(n, "0.0f")), Row(layout.States[i]), Buf(carried[i]));
        }
        var outs = body.Outputs.Select(o => body[o.Value]).ToList();
        var sums = new List<int>();
        for (var q = 0; q < layout.Shared; q++)
        {
            var shape = input[layout.SharedInput(q, true)].Shape;
            if (outs[m + k + q] is { Kind: NodeKind.Const, ConstValue: 0 } && !parts.ContainsKey(k + m + q))
            {
                sums.Add(-1); // summed after the loop from stacked values (BodyDifferentiator.Deferred)
                continue;
            }
            sums.Add(PartBuffer(k + m + q, "grad.shared" + q.ToString(CultureInfo.InvariantCulture), shape.Numel));
            Add(Kernel("zero", n => Fill(n, "0.0f")), shape.Numel, Buf(sums[q]));
        }
        var dseqs = Enumerable.Range(0, k).Select(j => PartBuffer(j, "grad.seq" + j.ToString(CultureInfo.InvariantCulture),
            input[j].Shape.Numel)).ToList();
        var stackedAt = m + k + layout.Shared;
        var stacks = Enumerable.Range(0, layout.Stacked).Select(e => PartBuffer(stackedAt + e,
            "stacked" + e.ToString(CultureInfo.InvariantCulture), outs[stackedAt + e].Shape.Numel * steps)).ToList();

        var first = target.Count;
        var read = new HashSet<int>(Liveness(body, Array.Empty<int>()).SelectMany(id => body[id].Inputs));
        for (var j = 0; j < k; j++)
        {
            // A sequence the reverse step does not read (an LSTM's xw, when the forward loop kept z) is not copied.
            if (!read.Contains(body.InputIds[j]) || loop.InPlace.ContainsKey(body.InputIds[j])) continue;
            var f = input[j].Shape[2];
            Add(Kernel("read_" + Identifier(body[body.InputIds[j]].Name), n => ReadStep(n, steps, f, 0, f, 0, null)),
                batch * f, Buf(storage[node.Inputs[j]]), Buf(stepInputs[j]), time);
        }
        var lag = layout.Reverse ? 1 : -1;
        for (var i = 0; i < m; i++)
        {
            var s = body[body.InputIds[k + i]];
            var h = layout.States[i];
            if (loop.InPlace.ContainsKey(s.Id)) bodyStorage[s.Id] = trajectory; // read one step back, in place
            else if (read.Contains(s.Id)) // a previous state no kernel of the step reads (only stacked) is not copied
            {
                var previous = Temp(node.Name + "." + s.Name + ".previous", s.Shape.Numel);
                bodyStorage[s.Id] = previous;
                var init = input[layout.InitInput(i, true)];
                var initLiteral = init.Kind == NodeKind.Const ? OpenClKernels.Lit(init.ConstValue) : null;
                var readArgs = new List<LaunchArg> { Buf(trajectory) };
                if (initLiteral is null) readArgs.Add(Buf(storage[init.Id]));
                readArgs.Add(Buf(previous));
                readArgs.Add(time);
                Add(Kernel("read_previous_" + Identifier(s.Name), n => ReadStep(n, steps, layout.Width, layout.Offset(i), h, lag, initLiteral)),
                    Row(h), readArgs.ToArray());
            }
            var dy = body[body.InputIds[sharedAt + layout.Shared + i]];
            if (loop.InPlace.ContainsKey(dy.Id))
            {
                bodyStorage[dy.Id] = dtrajectory;
                continue;
            }
            var dyBuffer = Temp(node.Name + "." + dy.Name, dy.Shape.Numel);
            bodyStorage[dy.Id] = dyBuffer;
            Add(Kernel("read_" + Identifier(dy.Name), n => ReadStep(n, steps, layout.Width, layout.Offset(i), h, 0, null)),
                Row(h), Buf(dtrajectory), Buf(dyBuffer), time);
        }
        // The products the forward loop kept: step t of each, read where the body recomputed them before.
        var keptAt = sharedAt + layout.Shared + 2 * m;
        for (var v = 0; v < layout.Saved; v++)
        {
            var value = body[body.InputIds[keptAt + v]];
            if (loop.InPlace.ContainsKey(value.Id))
            {
                bodyStorage[value.Id] = storage[node.Inputs[layout.SavedInput(v)]];
                continue;
            }
            var f = value.Shape[1];
            var stepBuffer = Temp(node.Name + "." + value.Name, value.Shape.Numel);
            bodyStorage[value.Id] = stepBuffer;
            Add(Kernel("read_" + Identifier(value.Name), n => ReadStep(n, steps, f, 0, f, 0, null)),
                batch * f, Buf(storage[node.Inputs[layout.SavedInput(v)]]), Buf(stepBuffer), time);
        }
        foreach (var i in loop.Writes.Aliased) bodyStorage[outs[i].Id] = carried[i];
        var gradBuffers = loop.Writes.Writes.Select(w => dseqs[w.Index]).ToList();
        first += ScheduleBody(plan, body, lines, loop, bodyStorage, target, first, sharedIds, node, gradOnly, gradBuffers);
        for (var i = 0; i < m; i++)
        {
            if (loop.Writes.Aliased.Contains(i)) continue;
            var literal = outs[i].Kind == NodeKind.Const ? OpenClKernels.Lit(outs[i].ConstValue) : null;
            var carryArgs = literal is null ? new[] { Buf(bodyStorage[outs[i].Id]), Buf(carried[i]) } : new[] { Buf(carried[i]) };
            if (layout.Truncate > 0)
                Add(Kernel("carry_truncated", n => CarryTruncated(n, steps, layout, literal)), Row(layout.States[i]),
                    carryArgs.Append(time).ToArray());
            else
                Add(Kernel("carry", n => literal is not null ? Fill(n, literal) : Copy(n)), Row(layout.States[i]), carryArgs);
        }
        for (var j = 0; j < k; j++)
        {
            if (loop.Writes.Has(WriteTarget.SequenceGradient, j)) continue;
            var dx = outs[m + j];
            var f = input[j].Shape[2];
            var literal = dx.Kind == NodeKind.Const ? OpenClKernels.Lit(dx.ConstValue) : null;
            Add(Kernel("write_grad", n => WriteStep(n, steps, f, literal)), batch * f,
                literal is null ? new[] { Buf(bodyStorage[dx.Id]), Buf(dseqs[j]), time } : new[] { Buf(dseqs[j]), time });
        }
        // A stacked value that is a previous state (the h_{t-1} of a weight gradient Σ_t ∂z_tᵀ h_{t-1}) is the
        // trajectory shifted by a step, and one that is a sequence's step (the x_t of Σ_t ∂z_tᵀ x_t) the sequence: one
        // launch after the loop writes all of it.
        var shifted = new List<(int Stack, int State)>();
        var whole = new List<(int Stack, int Seq)>();
        for (var e = 0; e < layout.Stacked; e++)
        {
            var value = outs[stackedAt + e];
            var state = Enumerable.Range(0, m).Where(i => body.InputIds[k + i] == value.Id).DefaultIfEmpty(-1).First();
            var seq = Enumerable.Range(0, k).Where(j => body.InputIds[j] == value.Id).DefaultIfEmpty(-1).First();
            if (state >= 0 || seq >= 0)
            {
                if (state >= 0) shifted.Add((e, state));
                else whole.Add((e, seq));
                continue;
            }
            var f = value.Shape[1];
            Add(Kernel("write_stacked", n => WriteStep(n, steps, f, null)), batch * f,
                Buf(bodyStorage[value.Id]), Buf(stacks[e]), time);
        }
        for (var q = 0; q < layout.Shared; q++)
        {
            var dw = outs[m + k + q];
            if (dw.Kind == NodeKind.Const && dw.ConstValue == 0) continue;
            var numel = input[layout.SharedInput(q, true)].Shape.Numel;
            var broadcast = dw.Shape.Numel != numel;
            Add(Kernel("accumulate", n => Accumulate(n, dw.Kind == NodeKind.Const ? OpenClKernels.Lit(dw.ConstValue) : null, broadcast)),
                numel, dw.Kind == NodeKind.Const ? new[] { Buf(sums[q]) } : new[] { Buf(bodyStorage[dw.Id]), Buf(sums[q]) });
        }
        Mark(target, other, otherCount, first, scanLoop, node.Id, gradOnly);
        foreach (var (e, j) in whole)
            Add(Kernel("stack", Copy), input[j].Shape.Numel, Buf(storage[node.Inputs[j]]), Buf(stacks[e]));
        foreach (var (e, i) in shifted)
        {
            var init = input[layout.InitInput(i, true)];
            var h = layout.States[i];
            var initLiteral = init.Kind == NodeKind.Const ? OpenClKernels.Lit(init.ConstValue) : null;
            var args = new List<LaunchArg> { Buf(trajectory) };
            if (initLiteral is null) args.Add(Buf(storage[init.Id]));
            args.Add(Buf(stacks[e]));
            Add(Kernel("stack_previous_" + Identifier(body[body.InputIds[k + i]].Name),
                n => ShiftedStates(n, steps, layout.Width, layout.Offset(i), h, lag, initLiteral)), batch * steps * h, args.ToArray());
        }
    }

    /// <summary>
    /// The body's launches, with the loop-invariant ones (packing the shared weights for the GEMM, anything computed
    /// from the weights alone) moved before the loop, at <paramref name="loopStart"/>: the weights are packed once per
    /// pass, not once per step. Returns how many moved.
    /// </summary>
    private static int ScheduleBody(Plan plan, Graph body, SourceLines lines, LoweredLoop loop, Dictionary<int, int> bodyStorage,
        List<Launch> target, int loopStart, ISet<int> sharedInputs, Node scan, bool gradOnly, IReadOnlyList<int> writeBuffers)
    {
        var (launches, buffers) = (target.Count, plan.Buffers.Count);
        Schedule(plan, body, lines, loop.Items, bodyStorage, new HashSet<int>(), writeBuffers);

        var invariantNodes = Invariant(body, sharedInputs);
        // A buffer is invariant when every value it holds is: a state computed in its carried buffer
        // (Planner.ScanWrites.cs) from the weights alone shares the buffer with the state read at each step.
        var variant = new HashSet<int>(bodyStorage.Where(e => !invariantNodes.Contains(e.Key)).Select(e => e.Value));
        var invariant = new HashSet<int>(invariantNodes.Where(bodyStorage.ContainsKey).Select(id => bodyStorage[id]).Where(b => !variant.Contains(b)));
        var scratch = new HashSet<int>(Enumerable.Range(buffers, plan.Buffers.Count - buffers).Except(bodyStorage.Values));
        bool Hoistable(Launch l) => l.Args.All(a => a.Runtime is null && (a.Buffer < 0 || invariant.Contains(a.Buffer) || scratch.Contains(a.Buffer)));
        // A hoisted pack runs once for every step's product: it is not one a device may skip for reading B in place.
        var hoisted = target.Skip(launches).Where(Hoistable)
            .Select(l => l with
            {
                Nodes = new[] { scan.Id }, InputGradientOnly = gradOnly,
                Variant = l.Variant == KernelVariant.PackB ? KernelVariant.None : l.Variant,
            }).ToList();
        if (hoisted.Count == 0) return 0;
        var kept = target.Skip(launches).Where(l => !Hoistable(l)).ToList();
        target.RemoveRange(launches, target.Count - launches);
        target.AddRange(kept);
        target.InsertRange(loopStart, hoisted);
        return hoisted.Count;
    }

    /// <summary>Values that are the same at every step: the shared tensors, and what the body computes from them alone.</summary>
    private static HashSet<int> Invariant(Graph body, ISet<int> sharedInputs)
    {
        var invariant = new HashSet<int>();
        foreach (var node in body.Nodes)
            if (sharedInputs.Contains(node.Id) || (node.Kind == NodeKind.Op && node.Inputs.All(i => invariant.Contains(i) || body[i].Kind == NodeKind.Const)))
                invariant.Add(node.Id);
        return invariant;
    }

    /// <summary>Puts the launches from <paramref name="start"/> on into the loop; they all serve the scan node.</summary>
    private static void Mark(List<Launch> target, List<Launch> other, int otherCount, int start, ScanLoop loop, int scan, bool gradOnly)
    {
        // A body's nodes are all forward (a scan's) or all backward (a scan_grad's): none lands in the other pass.
        if (other.Count != otherCount) throw new InvalidOperationException("a loop body's launches went to the other pass");
        for (var i = start; i < target.Count; i++)
            target[i] = target[i] with { Loop = loop, InputGradientOnly = gradOnly, Nodes = new[] { scan } };
    }

    private static void Initialize(Plan plan, Node init, int carry, Dim elements, Dictionary<int, int> storage,
        Func<string, Func<string, string>, string> kernel, Action<string, Dim, LaunchArg[]> add)
    {
        if (init.Kind == NodeKind.Const)
            add(kernel("init", n => Fill(n, OpenClKernels.Lit(init.ConstValue))), elements, new[] { LaunchArg.Of(carry) });
        else
            add(kernel("init", Copy), elements, new[] { LaunchArg.Of(storage[init.Id]), LaunchArg.Of(carry) });
    }

    /// <summary>A helper kernel: the one already in the program with the same code, or a new one.</summary>
    private static string Helper(Plan plan, Func<string, string> code, Func<string> freshName)
    {
        foreach (var k in plan.Kernels)
            if (k.Body == code(k.Name)) return k.Name;
        var name = freshName();
        plan.Kernels.Add(new KernelSource(name, "", code(name)));
        return name;
    }

    private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// out[b, c] = seq[b, t + lag, offset + c] for a sequence [N, steps, width]; when t + lag falls outside the sequence
    /// (the state before the first step), the initial state instead: init[b, c], or a literal.
    /// </summary>
    private static string ReadStep(string name, Dim steps, Dim width, long offset, Dim count, int lag, string? initLiteral)
    {
        var sb = new StringBuilder();
        var withInit = lag != 0 && initLiteral is null;
        sb.Append("__kernel void ").Append(name).Append("(__global const float* restrict seq, ")
            .Append(withInit ? "__global const float* restrict init, " : "")
            .Append("__global float* restrict out, const int t)\n{\n")
            .Append("    const int i = get_global_id(0);\n")
            .Append("    const int b = i / ").Append(count.ToC()).Append(";\n")
            .Append("    const int c = i % ").Append(count.ToC()).Append(";\n");
        var read = $"seq[(b * {steps.ToC()} + p) * {width.ToC()} + {I(offset)} + c]";
        if (lag == 0)
            sb.Append("    const int p = t;\n    out[i] = ").Append(read).Append(";\n}\n");
        else
            sb.Append("    const int p = t ").Append(lag > 0 ? "+ 1" : "- 1").Append(";\n")
                .Append("    out[i] = p >= 0 && p < ").Append(steps.ToC()).Append(" ? ").Append(read).Append(" : ")
                .Append(initLiteral ?? "init[i]").Append(";\n}\n");
        return sb.ToString();
    }

    /// <summary>
    /// out[b, t, c] = seq[b, t + lag, offset + c] for every step t of a sequence [N, steps, width] at once (the state
    /// each step started from); the initial state where t + lag falls outside: init[b, c], or a literal.
    /// </summary>
    private static string ShiftedStates(string name, Dim steps, Dim width, long offset, Dim count, int lag, string? initLiteral) =>
        "__kernel void " + name + "(__global const float* restrict seq, "
        + (initLiteral is null ? "__global const float* restrict init, " : "")
        + "__global float* restrict out)\n{\n"
        + "    const int i = get_global_id(0);\n"
        + $"    const int c = i % {count.ToC()};\n"
        + $"    const int t = (i / {count.ToC()}) % {steps.ToC()};\n"
        + $"    const int b = i / ({count.ToC()} * {steps.ToC()});\n"
        + $"    const int p = t {(lag > 0 ? "+ 1" : "- 1")};\n"
        + $"    out[i] = p >= 0 && p < {steps.ToC()} ? seq[(b * {steps.ToC()} + p) * {width.ToC()} + {I(offset)} + c] : "
        + (initLiteral ?? $"init[b * {count.ToC()} + c]") + ";\n}\n";

    /// <summary>
    /// Stores step t's new state (each part from its buffer, or a literal) into the trajectory [N, steps, ΣH], and,
    /// when <paramref name="carry"/>, into the carried state buffers too.
    /// </summary>
    private static string StoreState(string name, Dim steps, long[] sizes, List<bool> fromBuffer, List<string> literals, bool carry)
    {
        var width = sizes.Sum();
        var ps = new List<string>();
        for (var i = 0; i < sizes.Length; i++)
            if (fromBuffer[i]) ps.Add($"__global const float* restrict s{i}");
        ps.Add("__global float* restrict trajectory");
        if (carry) for (var i = 0; i < sizes.Length; i++) ps.Add($"__global float* restrict carry{i}");
        ps.Add("const int t");
        var sb = new StringBuilder();
        sb.Append("__kernel void ").Append(name).Append('(').Append(string.Join(", ", ps)).Append(")\n{\n")
            .Append("    const int i = get_global_id(0);\n")
            .Append("    const int b = i / ").Append(I(width)).Append(";\n")
            .Append("    const int c = i % ").Append(I(width)).Append(";\n")
            .Append("    float v;\n");
        var offset = 0L;
        for (var i = 0; i < sizes.Length; i++)
        {
            var local = $"b * {I(sizes[i])} + c - {I(offset)}";
            var value = fromBuffer[i] ? $"s{i}[{local}]" : literals[i];
            sb.Append("    ").Append(i == 0 ? "" : "else ").Append(i == sizes.Length - 1 ? "" : $"if (c < {I(offset + sizes[i])}) ")
                .Append("{ v = ").Append(value).Append(';').Append(carry ? $" carry{i}[{local}] = v;" : "").Append(" }\n");
            offset += sizes[i];
        }
        sb.Append("    trajectory[(b * ").Append(steps.ToC()).Append(" + t) * ").Append(I(width)).Append(" + c] = v;\n}\n");
        return sb.ToString();
    }

    /// <summary>The carried state buffers from step t of the trajectory.</summary>
    private static string ReloadState(string name, Dim steps, long[] sizes)
    {
        var width = sizes.Sum();
        var sb = new StringBuilder();
        sb.Append("__kernel void ").Append(name).Append("(__global const float* restrict trajectory, ")
            .Append(string.Join(", ", sizes.Select((_, i) => $"__global float* restrict carry{i}")))
            .Append(", const int t)\n{\n")
            .Append("    const int i = get_global_id(0);\n")
            .Append("    const int b = i / ").Append(I(width)).Append(";\n")
            .Append("    const int c = i % ").Append(I(width)).Append(";\n")
            .Append("    const float v = trajectory[(b * ").Append(steps.ToC()).Append(" + t) * ").Append(I(width)).Append(" + c];\n");
        var offset = 0L;
        for (var i = 0; i < sizes.Length; i++)
        {
            sb.Append("    ").Append(i == 0 ? "" : "else ").Append(i == sizes.Length - 1 ? "" : $"if (c < {I(offset + sizes[i])}) ")
                .Append($"carry{i}[b * {I(sizes[i])} + c - {I(offset)}] = v;\n");
            offset += sizes[i];
        }
        return sb.Append("}\n").ToString();
    }

    /// <summary>seq[b, t, f] = value[b, f] (or a literal) for a sequence [N, steps, width].</summary>
    private static string WriteStep(string name, Dim steps, Dim width, string? literal) =>
        "__kernel void " + name + "(" + (literal is null ? "__global const float* restrict value, " : "")
        + "__global float* restrict seq, const int t)\n{\n"
        + "    const int i = get_global_id(0);\n"
        + "    const int b = i / " + width.ToC() + ";\n"
        + "    const int f = i % " + width.ToC() + ";\n"
        + "    seq[(b * " + steps.ToC() + " + t) * " + width.ToC() + " + f] = " + (literal ?? "value[i]") + ";\n}\n";

    /// <summary>The carried state gradient, zero where truncated BPTT cuts it (<see cref="Scan.Layout.Cut"/>).</summary>
    private static string CarryTruncated(string name, Dim steps, Scan.Layout layout, string? literal)
    {
        var s = layout.Reverse ? $"({steps.ToC()} - 1 - t)" : "t";
        return "__kernel void " + name + "(" + (literal is null ? "__global const float* restrict in0, " : "")
            + "__global float* restrict out, const int t)\n{\n    const int i = get_global_id(0);\n"
            + $"    const int s = {s};\n"
            + $"    out[i] = s > 0 && s % {I(layout.Truncate)} == 0 ? 0.0f : {literal ?? "in0[i]"};\n}}\n";
    }

    private static string Fill(string name, string literal) =>
        "__kernel void " + name + "(__global float* restrict out)\n{\n    out[get_global_id(0)] = " + literal + ";\n}\n";

    private static string Copy(string name) =>
        "__kernel void " + name + "(__global const float* restrict in0, __global float* restrict out)\n{\n"
        + "    const int i = get_global_id(0);\n    out[i] = in0[i];\n}\n";

    /// <summary>sum += this step's share (a scalar share, a constant or a one-element buffer, adds to every element).</summary>
    private static string Accumulate(string name, string? literal, bool broadcast) =>
        "__kernel void " + name + "(" + (literal is null ? "__global const float* restrict in0, " : "")
        + "__global float* restrict sum)\n{\n    const int i = get_global_id(0);\n"
        + "    sum[i] += " + (literal ?? (broadcast ? "in0[0]" : "in0[i]")) + ";\n}\n";
}
