using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Fusion;

/// <summary>
/// A fused kernel: the root node whose value it writes and the producers computed inline before it; for a row kernel,
/// the roles of its members and the members it stores as well (<see cref="RowPlan"/>).
/// </summary>
public sealed record FusionGroup(int Root, IReadOnlyList<int> Inlined, RowPlan? Rows = null);

/// <summary>
/// Decides which nodes share a kernel, from a small classification: an elementwise node absorbs a producer of
/// the same shape that nothing else reads — another elementwise node (chains become one kernel) or a
/// convolution (the chain becomes its epilogue). A value the caller or a later pass reads (an output, the loss,
/// a gradient, anything with a second consumer) is never inlined, so no value is computed twice. Reductions and
/// what surrounds them form row kernels first (<see cref="RowFusion"/>).
/// </summary>
public static class FusionPlanner
{

    public static IReadOnlyDictionary<int, FusionGroup> Plan(Graph graph, ISet<int> live, ISet<int> pinned)
    {
        var consumers = new Dictionary<int, int>();
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id)))
            foreach (var input in node.Inputs.Distinct())
                consumers[input] = consumers.TryGetValue(input, out var c) ? c + 1 : 1;

        var read = new HashSet<int>();
        bool Absorbable(Node producer, Node consumer) =>
            live.Contains(producer.Id) && !pinned.Contains(producer.Id) && !read.Contains(producer.Id) && producer.Kind == NodeKind.Op
            && consumers.TryGetValue(producer.Id, out var c) && c == 1
            && producer.Shape.Equals(consumer.Shape) && producer.IsBackward == consumer.IsBackward
            && producer.Def.Fusion != FusionRole.None;

        var groups = new Dictionary<int, FusionGroup>();
        var inlinedInto = new Dictionary<int, int>();

        // A matrix product followed (through at most one view) by an activation the GEMM kernel applies in its
        // store: the product writes the activation's value and keeps no buffer of its own. The activation
        // roots its group and is not inlined into a later elementwise chain.
        var claimedRoots = new HashSet<int>();
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id) && n.Def is ElementwiseOp { GemmEpilogue: > 0 }))
        {
            var producer = graph[node.Inputs[0]];
            var path = new List<int>();
            if (producer.Def.Kind == PrimKind.View && Single(producer))
            {
                path.Add(producer.Id);
                producer = graph[producer.Inputs[0]];
            }
            if (producer.Def.Kind != PrimKind.Gemm || !Single(producer) || producer.IsBackward != node.IsBackward) continue;
            path.Add(producer.Id);
            foreach (var m in path) inlinedInto[m] = node.Id;
            groups[node.Id] = new FusionGroup(node.Id, path.OrderBy(m => m).ToList());
            claimedRoots.Add(node.Id);
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

        bool Single(Node n) => live.Contains(n.Id) && !pinned.Contains(n.Id) && n.Kind == NodeKind.Op
            && consumers.TryGetValue(n.Id, out var c) && c == 1;
        // Walk in reverse so each root collects its whole chain of producers.
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id)).Reverse())
        {
            if (inlinedInto.ContainsKey(node.Id) || claimedRoots.Contains(node.Id) || node.Def.Fusion != FusionRole.Elementwise) continue;
            var members = new List<int>();
            var frontier = new Stack<Node>();
            frontier.Push(node);
            var hasConv = false;
            while (frontier.Count > 0)
            {
                var current = frontier.Pop();
                foreach (var input in current.Inputs.Distinct().Select(i => graph[i]))
                {
                    if (!Absorbable(input, node) || claimedRoots.Contains(input.Id) || inlinedInto.ContainsKey(input.Id)) continue;
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
            if (members.Count == 0) continue;
            var ordered = members.OrderBy(m => m).ToList();
            foreach (var m in ordered) inlinedInto[m] = node.Id;
            groups[node.Id] = new FusionGroup(node.Id, ordered);
        }
        return groups;
    }
}
