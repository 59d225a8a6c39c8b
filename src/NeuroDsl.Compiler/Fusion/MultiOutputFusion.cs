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
        public List<int> Roots { get; } = new();

        /// <summary>Every node the merged kernel computes (all of them of its shape, or broadcast into it).</summary>
        public HashSet<int> Members { get; } = new();
    }

    /// <param name="sameRun">Where given, kernels merge only if both roots are in it or both are not (the nodes that
    /// serve parameter gradients: the launches serving only input gradients are skipped when those are not asked for).</param>
    /// <param name="invariant">In a loop's body, the values the same at every step (computed from the shared tensors
    /// alone): their kernels run once before the loop, so they merge only with each other.</param>
    public static IReadOnlyDictionary<int, FusionGroup> Merge(Graph graph, ISet<int> live, ISet<int> pinned,
        IReadOnlyDictionary<int, FusionGroup> groups, ISet<int>? sameRun, ISet<int>? invariant)
    {
        var inlined = new HashSet<int>(groups.Values.SelectMany(g => g.Inlined));
        // A view shares its input's buffer: reading a view reads the value under it.
        int Base(int id)
        {
            while (graph[id] is { Kind: NodeKind.Op } n && n.Def.Kind == PrimKind.View) id = n.Inputs[0];
            return id;
        }
        var open = new Dictionary<(Shape, bool, bool, bool), Cluster>();
        var done = new List<Cluster>();
        foreach (var node in graph.Nodes)
        {
            if (!live.Contains(node.Id) || node.Kind != NodeKind.Op || inlined.Contains(node.Id) || node.Def.Kind == PrimKind.View)
                continue;
            groups.TryGetValue(node.Id, out var group);
            var members = (group?.Inlined ?? System.Array.Empty<int>()).Append(node.Id).ToList();
            var memberSet = new HashSet<int>(members);
            // What the kernel reads from other kernels: directly (an elementwise member reading the value at its own
            // element: every value a merged kernel computes has its shape or broadcasts into it, so it is a local there)
            // or not (through a view, or a slice reading another element).
            var reads = new List<(int Value, bool Direct)>();
            foreach (var m in members.Select(id => graph[id]))
                foreach (var input in m.Inputs.Distinct().Where(i => !memberSet.Contains(i)))
                    reads.Add((Base(input), Base(input) == input && m.Def is ElementwiseOp));

            Cluster? joined = null;
            if (Mergeable(graph, node, group))
            {
                var key = (node.Shape, node.IsBackward, sameRun?.Contains(node.Id) ?? false,
                    invariant is not null && members.All(invariant.Contains));
                if (open.TryGetValue(key, out var cluster) && reads.All(r => r.Direct || !cluster.Members.Contains(r.Value))
                    && LibraryCalls(graph, cluster.Members.Union(members)) <= (Emit.OpenClKernels.Laned(node.Shape) ? MaxLanedLibraryCalls : MaxLibraryCalls))
                    joined = cluster;
                else
                {
                    if (cluster is not null) done.Add(cluster);
                    joined = open[key] = new Cluster();
                }
                joined.Roots.Add(node.Id);
                joined.Members.UnionWith(members);
            }
            // A kernel that reads what an open merge computed runs after it: that merge can take no later kernel.
            foreach (var entry in open.ToList())
                if (entry.Value != joined && reads.Any(r => entry.Value.Members.Contains(r.Value)))
                {
                    done.Add(entry.Value);
                    open.Remove(entry.Key);
                }
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
        var merged = done.Where(c => c.Roots.Count > 1).ToList();
        foreach (var cluster in merged)
        {
            var root = cluster.Roots[cluster.Roots.Count - 1];
            // Nodes some other kernel computes as well (a cheap value recomputed in each of its readers' kernels).
            var elsewhere = new HashSet<int>(groups.Where(g => !cluster.Roots.Contains(g.Key)).SelectMany(g => g.Value.Inlined));
            // The earlier roots are stored where something outside the kernel reads them (or the caller does, or a
            // recomputed value another kernel computes too).
            var stored = cluster.Roots.Take(cluster.Roots.Count - 1)
                .Where(r => pinned.Contains(r) || readers.TryGetValue(r, out var rs)
                    && rs.Any(x => !cluster.Members.Contains(x) || elsewhere.Contains(x)))
                .ToList();
            foreach (var r in cluster.Roots) result.Remove(r);
            result[root] = new FusionGroup(root, cluster.Members.Where(m => m != root).OrderBy(m => m).ToList(), Stored: stored);
        }
        return result;
    }

    /// <summary>
    /// The most calls of the math library a merged kernel makes unless its work-items loop over lanes of their own
    /// (<see cref="Emit.OpenClKernels.Laned"/>, which vectorize whatever they compute). Measured on PoCL 3.1 (AVX-512):
    /// a kernel with four tanh calls was no longer vectorized across work-items and ran about 3 times as long per
    /// element as the two kernels it replaced; three calls (an LSTM cell's σ, σ, tanh) still were. The cause, found
    /// later: PoCL's scalar optimizer pairs two alike expressions (σ(f)·c + σ(i)·g) into a vector of two, and its
    /// vectorizer across work-items then gives up on the kernel.
    /// </summary>
    private const int MaxLibraryCalls = 3;

    /// <summary>
    /// The most for a kernel looping over lanes: vectorized whatever it calls, but every call is a vector of lanes'
    /// polynomial in registers, and an unbounded merge would spill them and slow the build (an LSTM's reverse step needs
    /// five: σ of three gates, tanh of g and of c').
    /// </summary>
    private const int MaxLanedLibraryCalls = 8;

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
