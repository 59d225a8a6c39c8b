using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Planning;

/// <summary>
/// Writes in place at the end of a step. A loop step used to end with copies: the new state into the trajectory and
/// into the carried buffers (<c>store</c>), each value the reverse loop reads into the reserve space (<c>keep</c>), the
/// state's gradient into its carry (<c>carry</c>), a sequence's gradient into its [N, T, F] buffer (<c>write_grad</c>).
/// Where the kernel computing such a value is elementwise, it writes the value there itself (a <see cref="StepWrite"/>),
/// and a new state is computed straight into its carried buffer when no kernel of the step reads the old state after
/// that kernel ran (the kernel itself may, at the element it writes), so those launches go.
/// </summary>
public static partial class Planner
{
    /// <summary>Where a <see cref="StepWrite"/> goes: the trajectory (state i), the reserve space (kept value i), or
    /// sequence i's gradient.</summary>
    private enum WriteTarget
    {
        Trajectory,
        Kept,
        SequenceGradient,
    }

    private sealed record LoopWrite(StepWrite Write, WriteTarget Target, int Index);

    /// <param name="Writes">The values the step's kernels write into sequences.</param>
    /// <param name="Aliased">The states whose new value is computed in their carried buffer (no copy after the step).</param>
    /// <param name="Shared">The values of those states, old and new: a kernel reading and writing one buffer declares
    /// neither pointer <c>restrict</c> (which would let the compiler move the read after the write).</param>
    private sealed record StepWrites(IReadOnlyList<LoopWrite> Writes, IReadOnlyCollection<int> Aliased, ISet<int> Shared)
    {
        public bool Has(WriteTarget target, int index) => Writes.Any(w => w.Target == target && w.Index == index);
    }

    /// <summary>A launch of the step in order: the nodes its kernel computes and the values it writes.</summary>
    private sealed record StepItem(Node Root, HashSet<int> Computed, HashSet<int> Written, FusionGroup? Group, bool View)
    {
        public IEnumerable<int> Reads(Graph body) =>
            Computed.SelectMany(id => body[id].Inputs).Where(i => !Computed.Contains(i)).Distinct();
    }

    private static StepWrites PlanStepWrites(Graph graph, Node node, Graph body, HashSet<int> live, IReadOnlyDictionary<int, FusionGroup> groups)
    {
        var layout = Scan.Layout.Of(node);
        var backward = node.Def == Scan.Backward;
        var input = node.Inputs.Select(i => graph[i]).ToList();
        var steps = input[0].Shape[1];
        var (k, m) = (layout.Seqs, layout.StateCount);
        var items = StepItems(body, live, groups);
        var inputs = new HashSet<int>(body.InputIds);
        var outs = body.Outputs.Select(o => body[o.Value]).ToList();
        var writes = new List<LoopWrite>();
        var aliased = new List<int>();
        var shared = new HashSet<int>();

        // The state i's new value v computed in the buffer that holds the old one, s.
        bool Alias(int i, Node v, Node s) => v.Kind == NodeKind.Op && !inputs.Contains(v.Id)
            && Enumerable.Range(0, m).All(o => o == i || outs[o].Id != v.Id) && CanAlias(body, items, v, s);
        void Share(Node v, Node s)
        {
            shared.Add(v.Id);
            shared.Add(s.Id);
        }

        if (!backward)
        {
            var states = Enumerable.Range(0, m).ToList();
            // All or none: the trajectory is then written by the states' kernels, or by one launch as before.
            if (states.All(i => Alias(i, outs[i], body[body.InputIds[k + i]]) && ElementwiseWriter(body, items, outs[i]) is not null))
            {
                foreach (var i in states)
                    writes.Add(new LoopWrite(new StepWrite(outs[i].Id, new StepView(steps, layout.Width, layout.Offset(i), layout.States[i])),
                        WriteTarget.Trajectory, i));
                aliased.AddRange(states);
                foreach (var i in states) Share(outs[i], body[body.InputIds[k + i]]);
            }
            var kept = Kept(graph, node);
            for (var v = 0; v < kept.Count; v++)
            {
                var cell = body[kept[v].Cell];
                if (ElementwiseWriter(body, items, cell) is null) continue;
                var f = cell.Shape[1];
                writes.Add(new LoopWrite(new StepWrite(cell.Id, new StepView(steps, f, 0, f)), WriteTarget.Kept, v));
            }
            return new StepWrites(writes, aliased, shared);
        }

        // Backward: the state's gradient carried in place (not where truncated BPTT cuts it); the sequences' gradients
        // written into their buffers by the kernels computing them.
        var carriedAt = k + m + layout.Shared + m;
        if (layout.Truncate == 0)
            for (var i = 0; i < m; i++)
                if (Alias(i, outs[i], body[body.InputIds[carriedAt + i]]))
                {
                    aliased.Add(i);
                    Share(outs[i], body[body.InputIds[carriedAt + i]]);
                }
        for (var j = 0; j < k; j++)
        {
            var dx = outs[m + j];
            if (dx.Kind != NodeKind.Op || inputs.Contains(dx.Id) || ElementwiseWriter(body, items, dx) is null) continue;
            var f = input[j].Shape[2];
            writes.Add(new LoopWrite(new StepWrite(dx.Id, new StepView(steps, f, 0, f)), WriteTarget.SequenceGradient, j));
        }
        return new StepWrites(writes, aliased, shared);
    }

    /// <summary>The step's launches in order (graph order of their roots), and its views (no launch).</summary>
    private static List<StepItem> StepItems(Graph body, HashSet<int> live, IReadOnlyDictionary<int, FusionGroup> groups)
    {
        var inlined = new HashSet<int>(groups.Values.SelectMany(g => g.Inlined));
        var items = new List<StepItem>();
        foreach (var n in body.Nodes)
        {
            if (!live.Contains(n.Id) || n.Kind != NodeKind.Op || inlined.Contains(n.Id) || Scan.IsPart(n) || n.Body is not null) continue;
            if (n.Def.Kind == PrimKind.View)
            {
                items.Add(new StepItem(n, new HashSet<int> { n.Id }, new HashSet<int>(), null, true));
                continue;
            }
            groups.TryGetValue(n.Id, out var g);
            var computed = new HashSet<int>((g?.Rows?.Roles.Keys ?? g?.Inlined ?? new List<int>()).Append(n.Id));
            var written = new HashSet<int>((g?.Rows?.Stored ?? g?.Stored ?? new List<int>()).Append(n.Id));
            items.Add(new StepItem(n, computed, written, g, false));
        }
        return items;
    }

    /// <summary>The elementwise kernel (a fused chain of the value's shape [N, F]) that writes <paramref name="v"/>, if one does.</summary>
    private static StepItem? ElementwiseWriter(Graph body, List<StepItem> items, Node v)
    {
        var writer = items.FirstOrDefault(it => !it.View && it.Written.Contains(v.Id));
        return writer?.Group is { } g && IsElementwiseKernel(body, g) && v.Shape.Rank == 2 && v.Shape.Equals(body[g.Root].Shape)
            ? writer : null;
    }

    /// <summary>Whether a group is emitted as one elementwise kernel (FusedElementwise): elementwise members and slices
    /// read in place only, not a row kernel.</summary>
    private static bool IsElementwiseKernel(Graph body, FusionGroup g) =>
        g.Rows is null && g.Inlined.Append(g.Root).All(id => body[id].Def is ElementwiseOp || Slicing.IsRemap(body[id]));

    /// <summary>
    /// Whether state value <paramref name="v"/> can be computed in the buffer of the state <paramref name="s"/> it
    /// replaces: no launch after the one writing v reads s (or a view of it), and that launch, if it reads s, is an
    /// elementwise kernel of s's shape reading it at the element it writes.
    /// </summary>
    private static bool CanAlias(Graph body, List<StepItem> items, Node v, Node s)
    {
        var w = items.FindIndex(it => !it.View && it.Written.Contains(v.Id));
        if (w < 0) return false;
        var old = new HashSet<int> { s.Id };
        foreach (var it in items)
            if (it.View && old.Contains(it.Root.Inputs[0])) old.Add(it.Root.Id);
        for (var r = w + 1; r < items.Count; r++)
            if (!items[r].View && items[r].Reads(body).Any(old.Contains)) return false;
        var writer = items[w];
        if (!writer.Reads(body).Any(old.Contains)) return true;
        if (ElementwiseWriter(body, items, v) is null || !s.Shape.Equals(body[writer.Root.Id].Shape)) return false;
        return writer.Computed.Select(id => body[id]).Where(n => n.Inputs.Any(old.Contains))
            .All(n => n.Def is ElementwiseOp && !Slicing.IsRemap(n) && n.Inputs.Where(old.Contains).All(i => i == s.Id));
    }
}
