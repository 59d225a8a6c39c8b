using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Fusion;

/// <summary>
/// Finds attention written from primitives — <c>softmax(matmul(q, k, transpose_b: true) / c + mask) @ v</c>, the
/// scale a constant divisor or factor (or none) and the additive mask optional, in either order — and rewrites it into
/// the fused <see cref="Attention"/> op before differentiation, so neither pass stores the Tq×Tk scores. The product
/// with V becomes the <c>attention</c> node and the softmax's slot its log-sum-exp node (same ids: every reader now
/// reads the fused node); the scores, scaled and masked values are left unread, so nothing plans them. A site stays
/// unfused, automatically, when any of those values is read elsewhere (the weights are an output, as in Show, Attend
/// and Tell, or a dropout sits between softmax and the product: the product then does not read a softmax), when the
/// mask needs a gradient (a learned bias such as T5's or Swin's), when the softmax is not along the keys, or when a
/// head is wider than <see cref="AttentionKernels.MaxHead"/>. A <c>causal_mask(t, additive: true)</c> mask becomes a
/// flag: keys after the query are skipped, not added as −∞. Where q, k and v are a model's head split
/// (<c>x |> reshape([-1, H, d]) |> transpose(1, 2)</c> of an [N, T, H·d] value) and the output is only merged back
/// (<c>|> transpose(1, 2) |> reshape([-1, H·d])</c>), the kernels read and write the unsplit [N, T, H·d] values with
/// strides (the <c>heads</c> attribute): the four permutes of the forward pass and the four of the backward pass
/// disappear, and the merge becomes two views of the attention node.
/// </summary>
public static class AttentionFuser
{
    /// <summary>Rewrites every attention site of the graph in place; returns how many it fused.</summary>
    public static int Fuse(Graph graph)
    {
        var readers = GraphRewrites.ReaderCounts(graph);
        var pinned = GraphRewrites.Pinned(graph);
        var needs = NeedsGradient(graph);

        var fused = 0;
        foreach (var root in graph.Nodes.ToList())
        {
            if (Match(graph, root, readers, pinned, needs) is not { } site) continue;
            var (q, k, v, mask, scale, causal, softmax) = site;
            var masked = mask is not null;
            var rows = new Shape(root.Shape.Dims.Take(root.Shape.Rank - 1).ToArray());
            var shape = root.Shape;
            long heads = 0;
            long[]? columns = null;
            if (Merged(graph, root, readers, pinned) is var (permute, stored)
                && Unsplit(graph, q, readers, pinned) is var (qs, hq) && Unsplit(graph, k, readers, pinned) is var (ks, hk)
                && Unsplit(graph, v, readers, pinned) is var (vs, hv) && hq == hk && hq == hv && hq == root.Shape[1].Coef)
            {
                // The attention node writes [N, T, H·d] and the merge's permute becomes a view of it.
                (q, k, v, heads, shape) = (qs, ks, vs, hq, stored);
                if (Packed(graph, new[] { qs, ks, vs }, readers, pinned) is var (qkv, offsets))
                    (q, k, v, columns) = (qkv, qkv, qkv, offsets);
                graph.Replace(permute.Id, Reshaping.Reshape, new[] { root.Id }, permute.Shape, new Dictionary<string, object>());
            }
            var attrs = Attention.Attrs(scale, causal, masked, softmax.Id, heads, columns);
            var inputs = masked ? new[] { q.Id, k.Id, v.Id, mask!.Id } : new[] { q.Id, k.Id, v.Id };
            var lse = graph.Replace(softmax.Id, Attention.LogSumExp, inputs, rows, attrs);
            lse.Layer = null;
            var node = graph.Replace(root.Id, Attention.Forward, inputs, shape, attrs);
            node.Layer = "attention";
            fused++;
        }
        return fused;
    }

    private sealed record Site(Node Q, Node K, Node V, Node? Mask, double Scale, bool Causal, Node Softmax);

    private static Site? Match(Graph graph, Node root, Dictionary<int, int> readers, HashSet<int> pinned, bool[] needs)
    {
        // Only values nothing else reads may disappear into the kernel.
        bool Private(Node n) => n.Kind == NodeKind.Op && !pinned.Contains(n.Id) && readers.TryGetValue(n.Id, out var c) && c == 1;

        if (root.Def != BatchedMatMul.Product || root.AttrBool("ta") || root.AttrBool("tb")) return null;
        var softmax = graph[root.Inputs[0]];
        var v = graph[root.Inputs[1]];
        if (softmax.Def != Softmax.Forward || softmax.Attrs.ContainsKey("axis") || !Private(softmax)) return null;

        var x = graph[softmax.Inputs[0]];
        Node? mask = null;
        if (x.Def == Arithmetic.Add && Private(x))
        {
            // scores + mask or mask + scores: the scores are the operand of the scores' shape that is a product.
            var (a, b) = (graph[x.Inputs[0]], graph[x.Inputs[1]]);
            var (scores, other) = IsScores(graph, a, x.Shape) ? (a, b) : (b, a);
            if (!IsScores(graph, scores, x.Shape) || other.Shape.Rank > x.Shape.Rank) return null;
            mask = other;
            x = scores;
        }
        var scale = 1.0;
        if ((x.Def == Arithmetic.Div || x.Def == Arithmetic.Mul) && Private(x))
        {
            var (a, b) = (graph[x.Inputs[0]], graph[x.Inputs[1]]);
            var constant = b.Kind == NodeKind.Const ? b : x.Def == Arithmetic.Mul && a.Kind == NodeKind.Const ? a : null;
            if (constant is null || constant.ConstValue == 0) return null;
            scale = x.Def == Arithmetic.Div ? 1.0 / constant.ConstValue : constant.ConstValue;
            x = constant == b ? a : b;
        }
        if (x.Def != BatchedMatMul.Product || x.AttrBool("ta") || !x.AttrBool("tb") || !Private(x)) return null;
        var (q, k) = (graph[x.Inputs[0]], graph[x.Inputs[1]]);

        // Q [B…, Tq, dk], K [B…, Tk, dk], V [B…, Tk, dv], one matrix each per batch element.
        var rank = q.Shape.Rank;
        if (rank < 3 || k.Shape.Rank != rank || v.Shape.Rank != rank) return null;
        for (var d = 0; d < rank - 2; d++)
            if (q.Shape[d] != k.Shape[d] || q.Shape[d] != v.Shape[d]) return null;
        if (k.Shape[rank - 2] != v.Shape[rank - 2]) return null;
        var (dk, dv) = (q.Shape[rank - 1], v.Shape[rank - 1]);
        if (!dk.IsConstant || !dv.IsConstant || dk.Coef > AttentionKernels.MaxHead || dv.Coef > AttentionKernels.MaxHead)
            return null;

        var causal = false;
        if (mask is not null)
        {
            // A mask computed from inputs and constants (a padding mask) is read as it is; where it is a float input (or
            // computed from one) and input gradients are asked for, attention_grad_mask gives it the gradient the form
            // as written gives it. One a parameter reaches (a learned bias) keeps the product of scores it needs.
            if (needs[mask.Id] || mask.DType != DType.F32) return null;
            if (mask.Def == ConstantTensors.CausalMask && mask.AttrBool("additive") && q.Shape[rank - 2] == k.Shape[rank - 2])
            {
                causal = true;
                mask = null;
            }
        }
        return new Site(q, k, v, mask, scale, causal, softmax);
    }

    private static bool Private(Node n, Dictionary<int, int> readers, HashSet<int> pinned) =>
        n.Kind == NodeKind.Op && !pinned.Contains(n.Id) && readers.TryGetValue(n.Id, out var c) && c == 1;

    private static bool SwapsHeadsAndRows(Node n) =>
        n.Def == Transposing.Permute && n.Shape.Rank == 4 && n.AttrInts("perm").SequenceEqual(new long[] { 0, 2, 1, 3 });

    /// <summary>
    /// A head split <c>x |> reshape([-1, H, d]) |> transpose(1, 2)</c> that only the attention reads: x, [N, T, H·d],
    /// and H.
    /// </summary>
    private static (Node Source, long Heads)? Unsplit(Graph graph, Node n, Dictionary<int, int> readers, HashSet<int> pinned)
    {
        if (!SwapsHeadsAndRows(n) || !Private(n, readers, pinned)) return null;
        var reshaped = graph[n.Inputs[0]];
        if (reshaped.Def != Reshaping.Reshape || !Private(reshaped, readers, pinned)) return null;
        var x = graph[reshaped.Inputs[0]];
        var r = reshaped.Shape;
        if (x.Shape.Rank != 3 || x.DType != DType.F32 || x.Shape[0] != r[0] || x.Shape[1] != r[1]
            || !r[2].IsConstant || !r[3].IsConstant || x.Shape[2] != r[2] * r[3]) return null;
        return (x, r[2].Coef);
    }

    /// <summary>
    /// q, k and v as three slices of one value along its last axis that cover it (<c>q, k, v = split(qkv, 3)</c>, in
    /// any order) and nothing else reads: that value, and where each starts.
    /// </summary>
    private static (Node Source, long[] Columns)? Packed(Graph graph, Node[] parts, Dictionary<int, int> readers, HashSet<int> pinned)
    {
        var columns = new long[3];
        Node? source = null;
        for (var i = 0; i < 3; i++)
        {
            var p = parts[i];
            if (p.Def != Slicing.StridedSlice || !Private(p, readers, pinned)) return null;
            var s = graph[p.Inputs[0]];
            var (begin, step) = (p.AttrInts("begin"), p.AttrInts("step"));
            if (source is not null && s.Id != source.Id || s.Shape.Rank != 3 || s.Shape[0] != p.Shape[0] || s.Shape[1] != p.Shape[1]
                || begin[0] != 0 || begin[1] != 0 || step.Any(x => x != 1) || !s.Shape[2].IsConstant
                || s.Shape[2].Coef != 3 * p.Shape[2].Coef || !p.Shape[2].Equals(parts[0].Shape[2])) return null;
            source = s;
            columns[i] = begin[2];
        }
        var width = parts[0].Shape[2].Coef;
        return columns.OrderBy(c => c).SequenceEqual(new[] { 0, width, 2 * width }) ? (source!, columns) : null;
    }

    /// <summary>
    /// The head merge <c>o |> transpose(1, 2) |> reshape([-1, H·d])</c> when it is all that reads the output o: the
    /// permute, and the merged shape [N, T, H·d].
    /// </summary>
    private static (Node Permute, Shape Stored)? Merged(Graph graph, Node root, Dictionary<int, int> readers, HashSet<int> pinned)
    {
        if (root.Shape.Rank != 4 || !Private(root, readers, pinned)) return null;
        var permute = graph.Nodes.FirstOrDefault(n => n.Inputs.Contains(root.Id));
        if (permute is null || !SwapsHeadsAndRows(permute) || !Private(permute, readers, pinned)) return null;
        var merged = graph.Nodes.FirstOrDefault(n => n.Inputs.Contains(permute.Id));
        var p = permute.Shape;
        if (merged is null || merged.Def != Reshaping.Reshape || merged.Shape.Rank != 3 || merged.Shape[0] != p[0]
            || merged.Shape[1] != p[1] || !p[2].IsConstant || !p[3].IsConstant || merged.Shape[2] != p[2] * p[3]) return null;
        return (permute, merged.Shape);
    }

    private static bool IsScores(Graph graph, Node n, Shape shape) =>
        n.Shape.Equals(shape) && (n.Def == BatchedMatMul.Product
            || (n.Def == Arithmetic.Div || n.Def == Arithmetic.Mul) && n.Inputs.Any(i => graph[i].Def == BatchedMatMul.Product));

    /// <summary>Whether a trainable parameter lies upstream of each node.</summary>
    private static bool[] NeedsGradient(Graph graph)
    {
        var needs = new bool[graph.Nodes.Count];
        foreach (var node in graph.Nodes)
            needs[node.Id] = node.Kind switch
            {
                NodeKind.Param => node.Param!.Trainable,
                NodeKind.Input or NodeKind.Const => false,
                _ => node.Inputs.Any(i => needs[i]),
            };
        return needs;
    }
}
