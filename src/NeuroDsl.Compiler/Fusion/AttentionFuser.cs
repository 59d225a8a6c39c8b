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
/// flag: keys after the query are skipped, not added as −∞.
/// </summary>
public static class AttentionFuser
{
    /// <summary>Rewrites every attention site of the graph in place; returns how many it fused.</summary>
    public static int Fuse(Graph graph)
    {
        var readers = new Dictionary<int, int>();
        foreach (var node in graph.Nodes)
            foreach (var input in node.Inputs.Distinct())
                readers[input] = readers.TryGetValue(input, out var c) ? c + 1 : 1;
        var pinned = new HashSet<int>(graph.Outputs.Select(o => o.Value));
        if (graph.LossId is { } loss) pinned.Add(loss);
        var needs = NeedsGradient(graph);

        var fused = 0;
        foreach (var root in graph.Nodes.ToList())
        {
            if (Match(graph, root, readers, pinned, needs) is not { } site) continue;
            var (q, k, v, mask, scale, causal, softmax) = site;
            var masked = mask is not null;
            var attrs = Attention.Attrs(scale, causal, masked, softmax.Id);
            var inputs = masked ? new[] { q.Id, k.Id, v.Id, mask!.Id } : new[] { q.Id, k.Id, v.Id };
            var rows = new Shape(root.Shape.Dims.Take(root.Shape.Rank - 1).ToArray());
            var lse = graph.Replace(softmax.Id, Attention.LogSumExp, inputs, rows, attrs);
            lse.Layer = null;
            var node = graph.Replace(root.Id, Attention.Forward, inputs, root.Shape, attrs);
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
