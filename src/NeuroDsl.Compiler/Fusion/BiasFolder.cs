using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Fusion;

/// <summary>
/// Folds a bias added to a product with a weight matrix, <c>matmul(x, W, transpose_b: true) + b</c> (b a vector over
/// the product's columns, as PyTorch's <c>in_proj_bias</c> is added), into the <c>linear</c> op a dense layer binds to,
/// before differentiation: the GEMM adds the bias in its store, so neither pass launches a kernel of its own for it
/// (the Transformer layer's QKV projection: one launch and a pass over [N, T, 3d] each step). The sum's node becomes
/// the <c>linear</c> node (same id); the product is left unread.
/// </summary>
public static class BiasFolder
{
    /// <summary>Rewrites every such sum of the graph in place; returns how many it folded.</summary>
    public static int Fold(Graph graph)
    {
        var readers = GraphRewrites.ReaderCounts(graph);
        var pinned = GraphRewrites.Pinned(graph);

        var folded = 0;
        foreach (var sum in graph.Nodes.ToList())
        {
            if (sum.Def != Arithmetic.Add || sum.DType != DType.F32 || sum.Inputs.Count != 2) continue;
            var (a, b) = (graph[sum.Inputs[0]], graph[sum.Inputs[1]]);
            var (product, bias) = IsProduct(graph, a) ? (a, b) : (b, a);
            if (!IsProduct(graph, product) || pinned.Contains(product.Id) || readers[product.Id] != 1) continue;
            var units = product.Shape[product.Shape.Rank - 1];
            if (bias.Shape.Rank != 1 || bias.Shape[0] != units || bias.DType != DType.F32 || !sum.Shape.Equals(product.Shape))
                continue;
            // The summary's layer table describes the model as written: the product's row keeps its multiply-adds, the
            // sum's row (now the linear node) its own none.
            graph.Replace(sum.Id, MatMul.Linear, new[] { product.Inputs[0], product.Inputs[1], bias.Id }, sum.Shape,
                new Dictionary<string, object>());
            folded++;
        }
        return folded;
    }

    /// <summary>x·Wᵀ with W one [units, in] matrix shared by every row of x (what <c>linear</c> computes).</summary>
    private static bool IsProduct(Graph graph, Node n) =>
        (n.Def == MatMul.Product || n.Def == BatchedMatMul.Product) && n.Kind == NodeKind.Op && !n.AttrBool("ta")
        && n.AttrBool("tb") && graph[n.Inputs[1]].Shape.Rank == 2 && graph[n.Inputs[0]].DType == DType.F32;
}
