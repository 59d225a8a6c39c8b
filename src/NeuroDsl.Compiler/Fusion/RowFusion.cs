using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Fusion;

/// <summary>How a row kernel's head combines the elements of a group.</summary>
public enum Accumulate
{
    Sum,
    Mean,
    Max,
    Min,

    /// <summary>Population variance, two passes over the group (its mean, then the squared deviations).</summary>
    Var,
}

/// <summary>
/// The groups a reduction walks, one output element (a row) per group: the reduced axes of its input
/// (<see cref="Axes"/> set; the rows are the input with those axes of size 1), or a window along one axis
/// (<see cref="WindowAxis"/> ≥ 0: the rows are the input's elements, each summing [c − Before, c + After] of that
/// axis, clipped). Two heads with equal spaces share one kernel's rows.
/// </summary>
public sealed record RowSpace(Shape Input, Shape Rows, long[] Axes, int WindowAxis = -1, long Before = 0, long After = 0)
{
    public bool Equals(RowSpace? other) => other is not null && Input.Equals(other.Input) && Rows.Equals(other.Rows)
        && Axes.SequenceEqual(other.Axes) && WindowAxis == other.WindowAxis && Before == other.Before && After == other.After;

    public override int GetHashCode() => unchecked((Input.GetHashCode() * 31 + Rows.GetHashCode()) * 31 + WindowAxis);
}

/// <summary>An op that may head a row kernel: a reduction over groups of its input, as data the emitter walks.</summary>
public interface IRowHead
{
    /// <summary>The groups it reduces and how, or null when this node cannot head a row kernel.</summary>
    (RowSpace Space, Accumulate Mode)? Head(Node node, Shape input);
}

/// <summary>Where a member of a row kernel is computed.</summary>
public enum RowRole
{
    /// <summary>A reduction: once per row, by a loop over its group.</summary>
    Head,

    /// <summary>An elementwise node of the rows' shape: once per row, after the values it reads.</summary>
    Row,

    /// <summary>An elementwise node of the input's shape the root reads: in the last loop over the group.</summary>
    Loop,

    /// <summary>An elementwise node feeding a head: inside that head's loop, at each element of the group.</summary>
    Producer,
}

/// <summary>
/// A row kernel: heads (reductions over the same groups), the elementwise producers each head reads inside its
/// loop, the elementwise values of a row computed after them, and the elementwise chain over the group that ends in
/// the root. Members other nodes read later are stored as well (<see cref="Stored"/>).
/// </summary>
public sealed record RowPlan(RowSpace Space, IReadOnlyDictionary<int, RowRole> Roles,
    IReadOnlyDictionary<int, IReadOnlyList<int>> ProducersOf, IReadOnlyList<int> LoopMembers, IReadOnlyList<int> Stored)
{
    public IRowHead HeadOf(Node node) => (IRowHead)node.Def;
}

/// <summary>
/// Finds row kernels: a reduction with the elementwise producers of its input fused into its loop, and the
/// elementwise ops after it fused per row (layer norm: mean, variance, the scale and the affine map in one kernel;
/// LRN: the squares, the window sum and the power in one). A member that other kernels read is stored by this one,
/// provided every such reader runs after it; otherwise the member stays outside and is read as an input. A backward
/// row kernel recomputes the forward elementwise values it reads (the scale and power of an LRN) from what the
/// forward pass stored, rather than have the forward pass store them: elementwise work is cheap, memory is not.
/// </summary>
public static class RowFusion
{
    /// <summary>
    /// The row kernels, and the values they read from other kernels: those must keep a buffer (no later pass may
    /// inline them). <paramref name="claimed"/> are nodes other groups compute; <paramref name="unbuffered"/> those of
    /// them with no buffer of their own.
    /// </summary>
    public static (List<FusionGroup> Groups, HashSet<int> Read) Plan(Graph graph, ISet<int> live, ISet<int> pinned,
        ISet<int> claimed, ISet<int> unbuffered)
    {
        var consumers = new Dictionary<int, List<int>>();
        foreach (var node in graph.Nodes.Where(n => live.Contains(n.Id)))
            foreach (var input in node.Inputs.Distinct())
            {
                if (!consumers.TryGetValue(input, out var list)) consumers[input] = list = new List<int>();
                list.Add(node.Id);
            }

        var taken = new HashSet<int>(claimed);
        var read = new HashSet<int>();
        var groupOf = new Dictionary<int, IReadOnlyDictionary<int, RowRole>>();
        var drafts = new List<(Node Root, RowSpace Space, Dictionary<int, RowRole> Roles, Dictionary<int, List<int>> Producers,
            List<int> Own)>();

        // The forward pass first, then the backward pass, each latest root first (a root takes the longest chain that
        // ends in it). A backward kernel may recompute the elementwise values inside forward row kernels — those it
        // would otherwise need stored — but nothing else: a value with a buffer anyway is read, not recomputed.
        var forwardMembers = new HashSet<int>();
        foreach (var backward in new[] { false, true })
            foreach (var root in graph.Nodes.Where(n => live.Contains(n.Id) && n.IsBackward == backward).Reverse())
            {
                if (taken.Contains(root.Id) || root.Kind != NodeKind.Op) continue;
                if (root.Def.Fusion != FusionRole.Elementwise && root.Def is not IRowHead) continue;
                var ctx = new Context(graph, root, live, taken, unbuffered, forwardMembers);
                if (FirstHead(ctx) is not { } space) continue;

                Dictionary<int, RowRole>? roles;
                Dictionary<int, List<int>> producers;
                while (true)
                {
                    (roles, producers) = Collect(ctx, space);
                    if (roles is null) break;
                    // A member read outside the kernel before the kernel runs cannot be computed in it.
                    var early = roles.Keys.Where(id => id != root.Id && !ctx.Recomputed(graph[id])
                        && consumers[id].Any(c => !roles.ContainsKey(c) && c < root.Id)).ToList();
                    if (early.Count == 0) break;
                    ctx.Excluded.UnionWith(early);
                }
                if (roles is null || !roles.ContainsValue(RowRole.Head) || roles.Count < 2) continue;

                var own = roles.Keys.Where(id => !ctx.Recomputed(graph[id])).ToList();
                // A forward member with a buffer anyway (an output, or read by another forward kernel) is read by the
                // backward pass, not recomputed: recomputing it would pull in every earlier value it is computed from
                // (the whole residual stream before a Transformer block's layer norm).
                bool Kept(int id) => pinned.Contains(id)
                    || consumers[id].Any(c => !roles.ContainsKey(c) && !graph[c].IsBackward);
                foreach (var id in own)
                {
                    taken.Add(id);
                    groupOf[id] = roles;
                    if (!backward && id != root.Id && graph[id].Def.Fusion == FusionRole.Elementwise && !Kept(id))
                        forwardMembers.Add(id);
                }
                foreach (var id in roles.Keys)
                    foreach (var u in graph[id].Inputs)
                        if (!roles.ContainsKey(u) && graph[u].Kind != NodeKind.Const) read.Add(u);
                drafts.Add((root, space, roles, producers, own));
            }

        // What each kernel stores: its members read elsewhere, except by kernels that compute them again.
        var groups = new List<FusionGroup>();
        foreach (var (root, space, roles, producers, own) in drafts)
        {
            bool ReadElsewhere(int id) => pinned.Contains(id) || read.Contains(id) || consumers[id].Any(c =>
                !roles.ContainsKey(c) && !(groupOf.TryGetValue(c, out var other) && other.ContainsKey(id)));
            var stored = own.Where(id => id != root.Id && ReadElsewhere(id)).OrderBy(id => id).ToList();
            var loop = roles.Where(r => r.Value == RowRole.Loop).Select(r => r.Key).OrderBy(id => id).ToList();
            var plan = new RowPlan(space, roles,
                producers.ToDictionary(p => p.Key, p => (IReadOnlyList<int>)p.Value.Distinct().OrderBy(id => id).ToList()),
                loop, stored);
            groups.Add(new FusionGroup(root.Id, own.Where(id => id != root.Id).OrderBy(id => id).ToList(), plan));
        }
        return (groups, read);
    }

    /// <summary>The root being grouped, and which nodes may join its kernel.</summary>
    private sealed class Context
    {
        private readonly ISet<int> _live;
        private readonly ISet<int> _taken;
        private readonly ISet<int> _unbuffered;
        private readonly ISet<int> _recomputable;

        public Context(Graph graph, Node root, ISet<int> live, ISet<int> taken, ISet<int> unbuffered, ISet<int> recomputable)
        {
            Graph = graph;
            Root = root;
            _live = live;
            _taken = taken;
            _unbuffered = unbuffered;
            _recomputable = recomputable;
        }

        public Graph Graph { get; }
        public Node Root { get; }
        public HashSet<int> Excluded { get; } = new();

        /// <summary>A forward value a backward kernel computes again rather than read.</summary>
        public bool Recomputed(Node n) => n.IsBackward != Root.IsBackward;

        public bool Open(Node n)
        {
            if (n.Kind != NodeKind.Op || !_live.Contains(n.Id) || n.DType != DType.F32 || Excluded.Contains(n.Id)) return false;
            if (n.IsBackward == Root.IsBackward) return !_taken.Contains(n.Id);
            // Recomputed: an elementwise value inside a forward row kernel, whose inputs all have buffers.
            return Root.IsBackward && _recomputable.Contains(n.Id)
                && n.Inputs.All(i => Graph[i].Kind == NodeKind.Const || !_unbuffered.Contains(i));
        }

        public RowSpace? HeadSpace(Node n) =>
            n.Def is IRowHead head && n.IsBackward == Root.IsBackward && head.Head(n, Graph[n.Inputs[0]].Shape) is { } h
                ? h.Space : null;
    }

    /// <summary>The space of the latest head the root reaches through elementwise nodes, if any.</summary>
    private static RowSpace? FirstHead(Context ctx)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<Node>();
        stack.Push(ctx.Root);
        RowSpace? best = null;
        var bestId = -1;
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (!seen.Add(n.Id)) continue;
            if (ctx.HeadSpace(n) is { } space)
            {
                if (n.Id > bestId) (best, bestId) = (space, n.Id);
                continue;
            }
            if (n.Def.Fusion != FusionRole.Elementwise) continue;
            foreach (var i in n.Inputs.Distinct())
                if (ctx.Open(ctx.Graph[i])) stack.Push(ctx.Graph[i]);
        }
        return best;
    }

    /// <summary>The members reachable from the root in their roles, or null roles when the root cannot root one.</summary>
    private static (Dictionary<int, RowRole>? Roles, Dictionary<int, List<int>> Producers) Collect(Context ctx, RowSpace space)
    {
        var (graph, root) = (ctx.Graph, ctx.Root);
        var roles = new Dictionary<int, RowRole>();
        var producers = new Dictionary<int, List<int>>();
        var window = space.WindowAxis >= 0;
        bool IsHead(Node n) => ctx.Open(n) && ctx.HeadSpace(n) is { } s && s.Equals(space);
        bool Ew(Node n) => ctx.Open(n) && n.Def.Fusion == FusionRole.Elementwise;
        RowRole? RootRole()
        {
            if (ctx.HeadSpace(root) is { } s && s.Equals(space)) return RowRole.Head;
            if (root.Def.Fusion != FusionRole.Elementwise) return null;
            if (root.Shape.Equals(space.Rows)) return RowRole.Row;
            if (!window && root.Shape.Equals(space.Input)) return RowRole.Loop;
            return null;
        }
        // A value computed from the rows of another head (a loss per row, averaged over the rows) belongs to that
        // head's kernel, which computes it once per row: this head reads it from there.
        bool ReadsOtherHead(Node n) => n.Inputs.Any(i =>
            ctx.Open(graph[i]) && ctx.HeadSpace(graph[i]) is { } s && !s.Equals(space));
        if (RootRole() is not { } rootRole) return (null, producers);
        roles[root.Id] = rootRole;

        // (node, the head whose loop computes it, or -1 outside any head's loop)
        var stack = new Stack<(Node Node, int Head)>();
        stack.Push((root, rootRole == RowRole.Head ? root.Id : -1));
        var seen = new HashSet<(int, int)>();
        while (stack.Count > 0)
        {
            var (n, head) = stack.Pop();
            if (!seen.Add((n.Id, head))) continue;
            var level = head >= 0 ? RowRole.Producer : roles[n.Id];
            foreach (var u in n.Inputs.Distinct().Select(i => graph[i]))
            {
                if (window && level == RowRole.Producer && IsHead(u))
                {
                    // A window head read inside another window's loop is needed at the neighbouring elements, which
                    // other work-items of this kernel compute: it takes a kernel of its own, read from its buffer.
                    ctx.Excluded.Add(u.Id);
                    return Collect(ctx, space);
                }
                if (IsHead(u) && u.Shape.Equals(space.Rows))
                {
                    roles[u.Id] = RowRole.Head;
                    stack.Push((u, u.Id));
                }
                else if (level == RowRole.Producer && Ew(u) && u.Shape.Equals(space.Input) && ReadsOtherHead(u))
                {
                    // Computed by the other head's kernel, not here in any role: this kernel reads it from there.
                    ctx.Excluded.Add(u.Id);
                    return Collect(ctx, space);
                }
                else if (level == RowRole.Producer && Ew(u) && u.Shape.Equals(space.Input))
                {
                    // A head's operand (or a value it is computed from): evaluated inside that head's loop.
                    if (!roles.ContainsKey(u.Id)) roles[u.Id] = RowRole.Producer;
                    if (!producers.TryGetValue(head, out var list)) producers[head] = list = new List<int>();
                    list.Add(u.Id);
                    stack.Push((u, head));
                }
                else if (level != RowRole.Producer && Ew(u) && u.Shape.Equals(space.Rows))
                {
                    roles[u.Id] = RowRole.Row;
                    stack.Push((u, -1));
                }
                else if (level == RowRole.Loop && Ew(u) && u.Shape.Equals(space.Input))
                {
                    roles[u.Id] = RowRole.Loop;
                    stack.Push((u, -1));
                }
                else if (level == RowRole.Producer && !window && Ew(u) && u.Shape.Equals(space.Rows)
                         && !u.Shape.Equals(space.Input))
                {
                    // A value of the row a head's operand reads (the mean in a variance written as mean((x − m)²)).
                    roles[u.Id] = RowRole.Row;
                    stack.Push((u, -1));
                }
            }
        }
        // A node both a head's operand and a value over the group keeps its outer role and is computed in both
        // places: elementwise values are pure, so the two agree.
        return (roles, producers);
    }
}
