using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Fusion;

/// <summary>
/// Multi-output fusion (XLA's name for it): elementwise kernels of one shape in one pass become one kernel that writes
/// each of their values, when no kernel launched between them reads what the earlier ones wrote. A value the merged
/// kernel computes and a later member reads at its own index is a local; a value only the merged kernel read is no
/// longer stored at all. An LSTM's reverse step computed its gates' σ and tanh, the four gate gradients and the cell
/// state's gradient in ten kernels of [N, 256]: now one. Only the launch order changes: the merged kernel runs where
/// the last of them ran, which is why a kernel that reads an earlier member's value in between closes the merge.
/// </summary>
internal static class MultiOutputFusion
{
    private sealed class Cluster
    {
        public Cluster(int first) => First = first;
        public int First { get; }
        public List<int> Roots { get; } = new();
        public HashSet<int> Computed { get; } = new();
        public HashSet<int> Members { get; } = new();
    }

    /// <param name="sameRun">Where given, kernels merge only if both roots are in it or both are not (the launches
    /// that serve only input gradients are skipped when those are not asked for).</param>
    public static IReadOnlyDictionary<int, FusionGroup> Merge(Graph graph, ISet<int> live, ISet<int> pinned,
        IReadOnlyDictionary<int, FusionGroup> groups, ISet<int>? sameRun)
    {
        var inlined = new HashSet<int>(groups.Values.SelectMany(g => g.Inlined));
        // A view shares its input's buffer: reading a view reads the value under it.
        int Base(int id)
        {
            while (graph[id] is { Kind: NodeKind.Op } n && n.Def.Kind == PrimKind.View) id = n.Inputs[0];
            return id;
        }
        var open = new Dictionary<(Shape, bool, bool), Cluster>();
        var done = new List<Cluster>();
        foreach (var node in graph.Nodes)
        {
            if (!live.Contains(node.Id) || node.Kind != NodeKind.Op || inlined.Contains(node.Id) || node.Def.Kind == PrimKind.View)
                continue;
            groups.TryGetValue(node.Id, out var group);
            var members = (group?.Inlined ?? System.Array.Empty<int>()).Append(node.Id).ToList();
            var memberSet = new HashSet<int>(members);
            // What the kernel reads from other kernels: directly (an elementwise member reading the value at its own
            // element) or not (through a view, or a slice reading another element).
            var reads = new List<(int Value, bool Direct)>();
            foreach (var m in members.Select(id => graph[id]))
                foreach (var input in m.Inputs.Distinct().Where(i => !memberSet.Contains(i)))
                    reads.Add((Base(input), Base(input) == input && m.Def is ElementwiseOp));

            Cluster? joined = null;
            if (Mergeable(graph, node, group))
            {
                var key = (node.Shape, node.IsBackward, sameRun?.Contains(node.Id) ?? false);
                if (open.TryGetValue(key, out var cluster) && reads.All(r => r.Direct || !cluster.Computed.Contains(r.Value))
                    && LibraryCalls(graph, cluster.Members.Union(members)) <= MaxLibraryCalls)
                    joined = cluster;
                else
                {
                    if (cluster is not null) done.Add(cluster);
                    joined = open[key] = new Cluster(node.Id);
                }
                joined.Roots.Add(node.Id);
                joined.Members.UnionWith(members);
                joined.Computed.UnionWith(members);
            }
            // A kernel that reads what an open merge computed runs after it: that merge can take no later kernel.
            foreach (var entry in open.ToList())
                if (entry.Value != joined && reads.Any(r => entry.Value.Computed.Contains(r.Value)))
                {
                    done.Add(entry.Value);
                    open.Remove(entry.Key);
                }
            // A loop over time reads its inputs at every step (its body is planned on its own).
        }
        done.AddRange(open.Values);

        var readers = new Dictionary<int, List<int>>();
        foreach (var n in graph.Nodes.Where(n => live.Contains(n.Id)))
            foreach (var input in n.Inputs.Distinct())
            {
                if (!readers.TryGetValue(input, out var list)) readers[input] = list = new List<int>();
                list.Add(n.Id);
            }
        var result = new Dictionary<int, FusionGroup>();
        foreach (var entry in groups) result[entry.Key] = entry.Value;
        foreach (var cluster in done.Where(c => c.Roots.Count > 1))
        {
            var root = cluster.Roots[cluster.Roots.Count - 1];
            // The earlier roots are stored where something outside the kernel reads them (or the caller does).
            var stored = cluster.Roots.Take(cluster.Roots.Count - 1)
                .Where(r => pinned.Contains(r) || readers.TryGetValue(r, out var rs) && rs.Any(x => !cluster.Members.Contains(x)))
                .ToList();
            foreach (var r in cluster.Roots) result.Remove(r);
            result[root] = new FusionGroup(root, cluster.Members.Where(m => m != root).OrderBy(m => m).ToList(), Stored: stored);
        }
        return result;
    }

    /// <summary>
    /// The most calls of the math library a merged kernel makes. Measured on PoCL 3.1 (AVX-512): a kernel with four
    /// tanh calls is no longer vectorized across work-items and ran about 3 times as long per element as the two
    /// kernels it replaced; three calls (an LSTM cell's σ, σ, tanh) still are.
    /// </summary>
    private const int MaxLibraryCalls = 3;

    private static int LibraryCalls(Graph graph, IEnumerable<int> members) =>
        members.Distinct().Sum(m => graph[m].Def is ElementwiseOp e ? e.LibraryCalls : 0);

    /// <summary>An elementwise kernel of float values: a chain (or a lone op or slice) without a product, a
    /// convolution, a row reduction or values stored besides its root.</summary>
    private static bool Mergeable(Graph graph, Node root, FusionGroup? group)
    {
        static bool Elementwise(Node n) => n.DType == DType.F32 && (n.Def is ElementwiseOp || Slicing.IsRemap(n));
        if (!Elementwise(root) || root.Def == Attention.Forward) return false;
        if (group is null) return true;
        return group.Rows is null && (group.Stored is null || group.Stored.Count == 0)
            && group.Inlined.All(m => Elementwise(graph[m]));
    }
}
