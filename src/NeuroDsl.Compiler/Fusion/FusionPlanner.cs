using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Fusion;

/// <summary>
/// A fused kernel: the root node whose value it writes and the producers computed inline before it; for a row kernel,
/// the roles of its members and the members it stores as well (<see cref="RowPlan"/>).
/// </summary>
/// <param name="Stored">Members the root's kernel writes besides the root (fused attention's log-sum-exp).</param>
public sealed record FusionGroup(int Root, IReadOnlyList<int> Inlined, RowPlan? Rows = null, IReadOnlyList<int>? Stored = null);

/// <summary>
/// Decides which nodes share a kernel, from a small classification: an elementwise node absorbs a producer of
/// the same shape that nothing else reads — another elementwise node (chains become one kernel) or a
/// convolution (the chain becomes its epilogue) — and an elementwise producer of a shape that broadcasts to its own
/// (computed again at every element it reaches, never stored; with several readers, once all of them are in the
/// group). A value the caller or a later pass reads (an output, the loss, a gradient, a value of its own shape read
/// by a second consumer) is never inlined, so no such value is computed twice. Reductions and what surrounds them
/// form row kernels first (<see cref="RowFusion"/>).
/// </summary>
public static class FusionPlanner
{

    /// <param name="sameRun">Where given, the nodes that serve parameter gradients (the others run only when input
    /// gradients are asked for): a merged kernel (<see cref="MultiOutputFusion"/>) takes only kernels on one side.</param>
    /// <param name="invariant">In a loop's body, the values the same at every step: merged only with each other.</param>
    public static IReadOnlyDictionary<int, FusionGroup> Plan(Graph graph, ISet<int> live, ISet<int> pinned, ISet<int>? sameRun = null,
        ISet<int>? invariant = null)
    {
        // Cheap values read by several kernels are computed again in each (recomputed, below), as XLA's fusion
        // does; where a reader's kernel turns out not to compute one (a group of another shape), that value is
        // stored after all, and the groups are formed again.
        var recomputed = Recomputable(graph, live, pinned);
        while (true)
        {
            var groups = Group(graph, live, pinned, recomputed);
            var unmet = Unmet(graph, live, groups, recomputed);
            if (unmet.Count == 0) return MultiOutputFusion.Merge(graph, live, pinned, groups, sameRun, invariant);
            recomputed.ExceptWith(unmet);
        }
    }

    /// <summary>
    /// The elementwise values worth computing again in every kernel that reads them rather than storing them: cheap
    /// arithmetic (no transcendental: on a CPU, five kernels each computing an LSTM's four gates took 5 times as long
    /// as one kernel per gate storing them) whose every reader is an elementwise node of the same shape in the same
    /// pass, and nothing else (an output, a gradient, a row kernel, a matrix product, the other pass) reads it; with
    /// the slices such a value reads in place and the values only it reads. An LSTM's backward step reads the
    /// state's total gradients ∂h = ∂y + carried and ∂c in several kernels: each adds them up itself. Not in a pass
    /// with a convolution, whose epilogue computes no slices.
    /// </summary>
    private static HashSet<int> Recomputable(Graph graph, ISet<int> live, ISet<int> pinned)
    {
        var readers = new Dictionary<int, List<Node>>();
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id)))
            foreach (var input in node.Inputs.Distinct())
            {
                if (!readers.TryGetValue(input, out var list)) readers[input] = list = new List<Node>();
                list.Add(node);
            }
        var convPasses = new HashSet<bool>(graph.Nodes.Where(n => live.Contains(n.Id) && n.Def.Fusion == FusionRole.EpilogueHead)
            .Select(n => n.IsBackward));
        bool Eligible(Node x) => live.Contains(x.Id) && !pinned.Contains(x.Id) && x.Kind == NodeKind.Op && x.DType == DType.F32
            && !convPasses.Contains(x.IsBackward)
            && (x.Def is ElementwiseOp { UsesIndex: false, IsCheap: true } && x.Def.Fusion == FusionRole.Elementwise || Slicing.IsRemap(x))
            && readers.TryGetValue(x.Id, out var rs)
            && rs.All(r => r.Def.Fusion == FusionRole.Elementwise && r.Shape.Equals(x.Shape) && r.IsBackward == x.IsBackward);
        // From the last node back: a value read once is recomputed with its reader, one read several times on its own.
        var result = new HashSet<int>();
        foreach (var node in graph.Nodes.Reverse())
            if (Eligible(node) && (readers[node.Id].Count > 1 || result.Contains(readers[node.Id][0].Id))) result.Add(node.Id);
        return result;
    }

    /// <summary>
    /// Recomputed values that some reader's kernel does not compute (a reader in a row kernel, in a group of another
    /// shape, or on its own: such a value is better stored once, and fused by the usual rules), and recomputed members
    /// that read a value no kernel stores.
    /// </summary>
    private static HashSet<int> Unmet(Graph graph, ISet<int> live, IReadOnlyDictionary<int, FusionGroup> groups, ISet<int> recomputed)
    {
        var unmet = new HashSet<int>();
        var unstored = new HashSet<int>(groups.Values.SelectMany(g => g.Inlined
            .Except(g.Stored ?? System.Array.Empty<int>()).Except(g.Rows?.Stored ?? System.Array.Empty<int>())));
        // The kernels computing each node: the groups it is in, or its own.
        var kernelsOf = new Dictionary<int, List<(HashSet<int> Members, bool Rows)>>();
        foreach (var group in groups.Values)
        {
            var members = new HashSet<int>(group.Inlined) { group.Root };
            foreach (var m in members)
            {
                if (!kernelsOf.TryGetValue(m, out var list)) kernelsOf[m] = list = new();
                list.Add((members, group.Rows is not null));
            }
        }
        List<(HashSet<int> Members, bool Rows)> KernelsOf(int id) =>
            kernelsOf.TryGetValue(id, out var list) ? list : new() { (new HashSet<int> { id }, false) };

        foreach (var reader in graph.Nodes.Where(n => live.Contains(n.Id) && n.Kind == NodeKind.Op))
            foreach (var input in reader.Inputs.Distinct())
                foreach (var (members, rows) in KernelsOf(reader.Id))
                {
                    // What a member reads from outside its kernel (a slice: its input, always).
                    if (!Slicing.IsRemap(reader) && members.Contains(input)) continue;
                    if (recomputed.Contains(input)) unmet.Add(input);
                    else if (recomputed.Contains(reader.Id) && !rows && unstored.Contains(input)) unmet.Add(reader.Id);
                }
        return unmet;
    }

    private static IReadOnlyDictionary<int, FusionGroup> Group(Graph graph, ISet<int> live, ISet<int> pinned, ISet<int> recomputed)
    {
        var consumers = new Dictionary<int, int>();
        var readers = new Dictionary<int, List<int>>();
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id)))
            foreach (var input in node.Inputs.Distinct())
            {
                consumers[input] = consumers.TryGetValue(input, out var c) ? c + 1 : 1;
                if (!readers.TryGetValue(input, out var list)) readers[input] = list = new List<int>();
                list.Add(node.Id);
            }

        var read = new HashSet<int>();
        bool Absorbable(Node producer, Node consumer) =>
            live.Contains(producer.Id) && !pinned.Contains(producer.Id) && !read.Contains(producer.Id) && producer.Kind == NodeKind.Op
            && consumers.TryGetValue(producer.Id, out var c) && c == 1
            && (producer.Shape.Equals(consumer.Shape) || BroadcastsTo(producer, consumer))
            && producer.IsBackward == consumer.IsBackward && producer.Def.Fusion != FusionRole.None;

        var groups = new Dictionary<int, FusionGroup>();
        var inlinedInto = new Dictionary<int, int>();

        // A matrix product followed (through at most one view) by an activation the GEMM kernel applies in its
        // store: the product writes the activation's value and keeps no buffer of its own. The activation
        // roots its group and is not inlined into a later elementwise chain.
        var claimedRoots = new HashSet<int>();

        // Fused attention writes its output and its log-sum-exp in one kernel (the backward pass reads the latter).
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id) && n.Def == Attention.Forward))
        {
            var lse = (int)node.AttrInt("lse");
            inlinedInto[lse] = node.Id;
            groups[node.Id] = new FusionGroup(node.Id, new[] { lse }, Stored: new[] { lse });
            claimedRoots.Add(node.Id);
        }
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id) && n.Def is ElementwiseOp { GemmEpilogue: > 0 }))
        {
            var (producer, path) = ThroughView(graph[node.Inputs[0]]);
            if (producer.Def.Kind != PrimKind.Gemm || !Single(producer) || producer.IsBackward != node.IsBackward) continue;
            path.Add(producer.Id);
            foreach (var m in path) inlinedInto[m] = node.Id;
            groups[node.Id] = new FusionGroup(node.Id, path.OrderBy(m => m).ToList());
            claimedRoots.Add(node.Id);
        }

        // An activation's gradient from its output, g(y, dy), whose dy is a plain product's value (through at most one
        // view) with no bias: the GEMM applies it in its store, reading y (which keeps its buffer) as it writes.
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id) && !claimedRoots.Contains(n.Id)
                     && n.Def is ElementwiseOp { GemmGateEpilogue: > 0 }))
        {
            var gate = graph[node.Inputs[0]];
            if (node.Inputs[0] == node.Inputs[1] || !gate.Shape.Equals(node.Shape) || gate.DType != DType.F32
                || inlinedInto.ContainsKey(gate.Id) || recomputed.Contains(gate.Id)) continue;
            var (producer, path) = ThroughView(graph[node.Inputs[1]]);
            if (producer.Def != MatMul.Product || !Single(producer) || producer.IsBackward != node.IsBackward
                || producer.Id == gate.Id || producer.Shape.Numel != node.Shape.Numel) continue;
            path.Add(producer.Id);
            foreach (var m in path) inlinedInto[m] = node.Id;
            groups[node.Id] = new FusionGroup(node.Id, path.OrderBy(m => m).ToList());
            claimedRoots.Add(node.Id);
            read.Add(gate.Id);
        }

        // Row kernels: reductions with their producers and the elementwise ops after them. What they read from other
        // kernels keeps its buffer.
        var (rowGroups, rowReads) = RowFusion.Plan(graph, live, pinned,
            new HashSet<int>(inlinedInto.Keys.Concat(claimedRoots)), new HashSet<int>(inlinedInto.Keys));
        read.UnionWith(rowReads);
        foreach (var group in rowGroups)
        {
            groups[group.Root] = group;
            foreach (var m in group.Inlined) inlinedInto[m] = group.Root;
            claimedRoots.Add(group.Root);
        }

        // An elementwise producer of fewer elements that broadcasts to the consumer (a row's scale in a gradient):
        // computed again at each element it reaches rather than stored and read back, as XLA's loop fusion does.
        static bool BroadcastsTo(Node producer, Node consumer) => producer.Def.Fusion == FusionRole.Elementwise
            && Shape.Broadcast(producer.Shape, consumer.Shape) is { } b && b.Equals(consumer.Shape);

        bool Single(Node n) => live.Contains(n.Id) && !pinned.Contains(n.Id) && n.Kind == NodeKind.Op
            && consumers.TryGetValue(n.Id, out var c) && c == 1;
        // A value, or what the view it is (read once) is of, and the view's id for the group.
        (Node Value, List<int> Path) ThroughView(Node value) => value.Def.Kind == PrimKind.View && Single(value)
            ? (graph[value.Inputs[0]], new List<int> { value.Id })
            : (value, new List<int>());
        // Walk in reverse so each root collects its whole chain of producers.
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id)).Reverse())
        {
            if (inlinedInto.ContainsKey(node.Id) || claimedRoots.Contains(node.Id) || node.Def.Fusion != FusionRole.Elementwise
                || recomputed.Contains(node.Id)) continue;
            var members = new List<int>();
            var frontier = new Stack<Node>();
            frontier.Push(node);
            var hasConv = false;
            var hasBroadcast = node.Def is ElementwiseOp { UsesIndex: true };
            while (frontier.Count > 0)
            {
                var current = frontier.Pop();
                foreach (var input in current.Inputs.Distinct().Select(i => graph[i]))
                {
                    // A recomputed value joins every group that reads it; what it reads joins only if recomputed too
                    // (anything else it reads is stored).
                    if (recomputed.Contains(input.Id) && !hasConv && input.Shape.Equals(node.Shape)
                        && !claimedRoots.Contains(input.Id) && !inlinedInto.ContainsKey(input.Id) && !read.Contains(input.Id))
                    {
                        if (members.Contains(input.Id)) continue;
                        members.Add(input.Id);
                        hasBroadcast |= Slicing.IsRemap(input);
                        if (!Slicing.IsRemap(input)) frontier.Push(input);
                        continue;
                    }
                    if (recomputed.Contains(current.Id)) continue;
                    if (Slicing.IsRemap(input))
                    {
                        // A slice (or its gradient) of the group's shape reads its input in place; that input
                        // keeps its buffer. Not with a convolution, whose epilogue has no coordinates.
                        if (!hasConv && input.DType == DType.F32 && input.Shape.Equals(node.Shape) && Single(input)
                            && !read.Contains(input.Id) && input.IsBackward == node.IsBackward
                            && !claimedRoots.Contains(input.Id) && !inlinedInto.ContainsKey(input.Id))
                        {
                            members.Add(input.Id);
                            hasBroadcast = true;
                        }
                        continue;
                    }
                    if (!Absorbable(input, node) || claimedRoots.Contains(input.Id) || inlinedInto.ContainsKey(input.Id)) continue;
                    // A convolution's epilogue computes values of its own shape only: a group takes a convolution
                    // or broadcast producers, not both.
                    var broadcast = !input.Shape.Equals(node.Shape) || input.Def is ElementwiseOp { UsesIndex: true };
                    if (broadcast && hasConv || input.Def.Fusion == FusionRole.EpilogueHead && hasBroadcast) continue;
                    hasBroadcast |= broadcast;
                    if (input.Def.Fusion == FusionRole.EpilogueHead)
                    {
                        // One convolution per group, and only at the head of the chain.
                        if (hasConv) continue;
                        hasConv = true;
                        members.Add(input.Id);
                        continue;
                    }
                    members.Add(input.Id);
                    frontier.Push(input);
                }
            }
            // A broadcast producer that several members read (a row's scale used twice) joins once all its readers
            // are in the group: it is computed at each element either way.
            for (var grown = true; grown;)
            {
                grown = false;
                var inside = new HashSet<int>(members) { node.Id };
                // (A slice's input is read in place, never computed in the group.)
                foreach (var input in members.Append(node.Id).Where(m => !Slicing.IsRemap(graph[m]) && !recomputed.Contains(m))
                             .SelectMany(m => graph[m].Inputs).Distinct().Select(i => graph[i]).ToList())
                {
                    if (inside.Contains(input.Id) || !BroadcastsTo(input, node) || hasConv || !live.Contains(input.Id)
                        || pinned.Contains(input.Id) || read.Contains(input.Id) || input.Kind != NodeKind.Op
                        || input.IsBackward != node.IsBackward || claimedRoots.Contains(input.Id)
                        || inlinedInto.ContainsKey(input.Id) || !readers[input.Id].All(inside.Contains)) continue;
                    members.Add(input.Id);
                    hasBroadcast = grown = true;
                    break;
                }
            }
            if (members.Count == 0) continue;
            var ordered = members.OrderBy(m => m).ToList();
            foreach (var m in ordered.Where(m => !recomputed.Contains(m))) inlinedInto[m] = node.Id;
            groups[node.Id] = new FusionGroup(node.Id, ordered);
        }
        return groups;
    }
}
