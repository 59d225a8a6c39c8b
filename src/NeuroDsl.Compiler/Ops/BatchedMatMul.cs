using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Batched matrix products, <c>matmul</c> (or <c>@</c>) on operands of rank 3 or more: the last two axes of each
/// operand are its matrices, the leading axes a batch broadcast with NumPy's rule, and C[b] = op(A[b])·op(B[b])
/// for every b of the batch in one launch of the library GEMM (kernels/gemm.cl, the <c>_batched</c> kernels).
/// </summary>
public sealed class BatchedMatMul : OpFamily
{
    public static readonly OpDef Product = new BatchedOp();

    /// <summary>An operand's batch axes: all but its last two.</summary>
    private static Shape BatchOf(Shape s) => new(s.Dims.Take(s.Rank - 2).ToArray());

    /// <summary>The product's sizes and transposes: C[b][m, n] = op(A[b])[m, k]·op(B[b])[k, n].</summary>
    private static (Dim M, Dim K, Dim N, bool Ta, bool Tb) Sizes(Node node, Shape a, Shape b)
    {
        var ta = node.AttrBool("ta");
        var tb = node.AttrBool("tb");
        var (ra, ca) = (a[a.Rank - 2], a[a.Rank - 1]);
        var (rb, cb) = (b[b.Rank - 2], b[b.Rank - 1]);
        return (ta ? ca : ra, ta ? ra : ca, tb ? rb : cb, ta, tb);
    }

    /// <summary>Whether every product of the batch shares the operand's one matrix (a batch of one element).</summary>
    private static bool Shared(Shape operand) => BatchOf(operand).Numel == (Dim)1;

    private sealed class BatchedOp : OpDef
    {
        public BatchedOp() : base("batched_matmul", PrimKind.Gemm, 2)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) => Rule(g, node, dy);

        // NumPy's broadcasting over the batch axes, in full: the definition does not rely on the binder having
        // written out partial broadcasts, nor on the strides the kernel takes.
        public override double[] Reference(RefCall call)
        {
            var node = call.Node;
            var (a, b) = (call.Inputs[0], call.Inputs[1]);
            var (sa, sb) = (call.InputShapes[0], call.InputShapes[1]);
            var ta = node.AttrBool("ta");
            var tb = node.AttrBool("tb");
            long m = ta ? sa[sa.Length - 1] : sa[sa.Length - 2];
            long k = ta ? sa[sa.Length - 2] : sa[sa.Length - 1];
            long n = tb ? sb[sb.Length - 2] : sb[sb.Length - 1];
            var outBatch = call.OutShape.Take(call.OutShape.Length - 2).ToArray();
            var mapA = ReferenceInterpreter.BroadcastMap(sa.Take(sa.Length - 2).ToArray(), outBatch);
            var mapB = ReferenceInterpreter.BroadcastMap(sb.Take(sb.Length - 2).ToArray(), outBatch);
            var batch = ReferenceInterpreter.Numel(outBatch);
            var c = new double[batch * m * n];
            for (var q = 0; q < batch; q++)
            {
                long oa = mapA((int)q) * m * k, ob = mapB((int)q) * k * n, oc = q * m * n;
                for (var i = 0; i < m; i++)
                    for (var j = 0; j < n; j++)
                    {
                        var sum = 0.0;
                        for (var p = 0; p < k; p++)
                            sum += (ta ? a[oa + p * m + i] : a[oa + i * k + p])
                                * (tb ? b[ob + j * k + p] : b[ob + p * n + j]);
                        c[oc + i * n + j] = sum;
                    }
            }
            return c;
        }

        public override NodeLaunch Lower(KernelCall call) => MatMul.Launch(call.Node, call.Inputs, null);

        public override string Detail(Node node) => (node.AttrBool("ta"), node.AttrBool("tb")) switch
        {
            (true, true) => "a and b transposed",
            (true, false) => "a transposed",
            (false, true) => "b transposed",
            _ => "",
        };
    }

    /// <summary>
    /// The launches of a batched product into buffer <paramref name="output"/>, with activation epilogue
    /// <paramref name="act"/>. A B shared by the whole batch under an untransposed A is one plain product of
    /// batch·M rows; otherwise one launch of the batched GEMM covers the batch, a shared operand read with stride 0.
    /// </summary>
    internal static NodeLaunch Launch(Node node, Node[] inputs, int output, Dim act)
    {
        var (a, b) = (inputs[0], inputs[1]);
        var (m, k, n, ta, tb) = Sizes(node, a.Shape, b.Shape);
        var batch = BatchOf(node.Shape).Numel;
        var (sharedA, sharedB) = (Shared(a.Shape), Shared(b.Shape));
        if (sharedB && !ta) return MatMul.Gemm(batch * m, k, n, false, tb, a, b, null, output, act);
        var strideA = sharedA ? (Dim)0 : m * k;
        var strideB = sharedB ? (Dim)0 : k * n;
        if (!MatMul.Tiles(m, k, n))
        {
            // nd_gemm_batched_f32(M, N, K, ta, tb, A, B, C, act, stride_a, stride_b), global (N, M, batch).
            var args = new List<ArgSpec>
            {
                ArgSpec.Size(m), ArgSpec.Size(n), ArgSpec.Size(k), ArgSpec.Flag(ta), ArgSpec.Flag(tb),
                ArgSpec.Node(a.Id), ArgSpec.Node(b.Id), ArgSpec.Node(output), ArgSpec.Size(act), ArgSpec.Size(strideA),
                ArgSpec.Size(strideB),
            };
            return new NodeLaunch("nd_gemm_batched_f32", args, new[] { n, m, batch }, null);
        }
        // B's matrices packed into panels (one matrix when it is shared), then the tiles of every product.
        var panels = (Dim)((n.Coef + 31) / 32);
        var packed = panels * 32 * k;
        var packs = sharedB ? (Dim)1 : batch;
        var pack = new NodeLaunch("nd_gemm_pack_b_batched_f32",
            new List<ArgSpec>
            {
                ArgSpec.Size(k), ArgSpec.Size(n), ArgSpec.Flag(tb), ArgSpec.Node(b.Id), ArgSpec.Scratch,
                ArgSpec.Size(strideB),
            },
            new[] { panels * k, packs }, null);
        var tiled = new List<ArgSpec>
        {
            ArgSpec.Size(m), ArgSpec.Size(n), ArgSpec.Size(k), ArgSpec.Flag(ta), ArgSpec.Node(a.Id), ArgSpec.Scratch,
            ArgSpec.Node(output), ArgSpec.Size(act), ArgSpec.Size(strideA), ArgSpec.Size(sharedB ? (Dim)0 : packed),
        };
        return new NodeLaunch("nd_gemm_tiled_batched_f32", tiled, new[] { m, n, batch }, null, packed * packs, pack,
            Variant: Planning.KernelVariant.TiledGemmBatched);
    }

    // C = op(A)·op(B) per batch element: dA = dC·op(B)ᵀ, dB = op(A)ᵀ·dC (with the transposes folded into the
    // products as in the plain rule), summed over the batch axes along which the operand was broadcast.
    private static Node?[] Rule(GradBuilder g, Node node, Node dy)
    {
        var a = g.In(node, 0);
        var b = g.In(node, 1);
        var ta = node.AttrBool("ta");
        var tb = node.AttrBool("tb");
        var da = ta ? Make(g, b, dy, tb, true, node) : Make(g, dy, b, false, !tb, node);
        Node db;
        if (Shared(b.Shape) && !ta)
        {
            // Σ_b A[b]ᵀ·dC[b] is one plain product over the batch·M rows of A and dC (the dense layer's dW).
            var rows = dy.Shape.Numel.DivideBy(dy.Shape[dy.Shape.Rank - 1])
                ?? throw new InvalidOperationException("batched matmul rows");
            var k = a.Shape[a.Shape.Rank - 1];
            var a2 = g.Reshape(a, new Shape(new[] { rows, k }), node);
            var dy2 = g.Reshape(dy, new Shape(new[] { rows, dy.Shape[dy.Shape.Rank - 1] }), node);
            db = tb ? g.MatMul(dy2, a2, true, false, node) : g.MatMul(a2, dy2, true, false, node);
        }
        else db = tb ? Make(g, dy, a, true, ta, node) : Make(g, a, dy, !ta, false, node);
        return new Node?[] { Reduce(g, da, a.Shape, node), Reduce(g, db, b.Shape, node) };
    }

    /// <summary>A gradient back to its operand's shape: the same elements (a view), or summed over broadcasts.</summary>
    private static Node Reduce(GradBuilder g, Node grad, Shape shape, Node origin) =>
        grad.Shape.Numel == shape.Numel ? g.Reshape(grad, shape, origin) : g.SumTo(grad, shape, origin);

    /// <summary>A batched product of two backward values, its batch the broadcast of theirs.</summary>
    private static Node Make(GradBuilder g, Node x, Node y, bool tx, bool ty, Node origin)
    {
        var batch = Shape.Broadcast(BatchOf(x.Shape), BatchOf(y.Shape)) ?? throw new InvalidOperationException("batch");
        var rows = tx ? x.Shape[x.Shape.Rank - 1] : x.Shape[x.Shape.Rank - 2];
        var cols = ty ? y.Shape[y.Shape.Rank - 2] : y.Shape[y.Shape.Rank - 1];
        var attrs = new Dictionary<string, object> { ["ta"] = tx, ["tb"] = ty };
        return g.Op(Product, new Shape(batch.Dims.Append(rows).Append(cols).ToArray()), attrs, origin, x, y);
    }

    /// <summary>
    /// <c>a @ b</c> or <c>matmul(a, b, transpose_a:, transpose_b:)</c> with a batch: [..., M, K] @ [..., K, N] with
    /// the leading axes broadcast. Both operands have rank 2 or more and one of them 3 or more.
    /// </summary>
    internal static Value Bind(Binder binder, Node a, Node b, bool ta, bool tb, SourceSpan span)
    {
        var (ra, ca) = (a.Shape[a.Shape.Rank - 2], a.Shape[a.Shape.Rank - 1]);
        var (rb, cb) = (b.Shape[b.Shape.Rank - 2], b.Shape[b.Shape.Rank - 1]);
        var (m, ka) = ta ? (ca, ra) : (ra, ca);
        var (kb, n) = tb ? (cb, rb) : (rb, cb);
        if (ka != kb)
            binder.Fail(Codes.ShapeMismatch, span,
                $"matmul takes [..., M, K] @ [..., K, N]; got {MatMul.Written(a.Shape, ta)} @ "
                + $"{MatMul.Written(b.Shape, tb)} ({ka} ≠ {kb})",
                "matmul");
        var batch = Shape.Broadcast(BatchOf(a.Shape), BatchOf(b.Shape));
        if (batch is null)
            binder.Fail(Codes.ShapeMismatch, span,
                $"matmul broadcasts the batch axes {BatchOf(a.Shape)} of {a.Shape} with {BatchOf(b.Shape)} of "
                + $"{b.Shape}: aligned from the right, each pair of dimensions must be equal or 1", "matmul");
        var attrs = new Dictionary<string, object> { ["ta"] = ta, ["tb"] = tb };
        var inputs = new[] { Whole(binder, a, batch!, span).Id, Whole(binder, b, batch!, span).Id };
        var shape = new Shape(batch!.Dims.Append(m).Append(n).ToArray());
        var node = binder.AddOp(Product, inputs, shape, DType.F32, attrs, span, "matmul");
        if (ka.IsConstant && n.IsConstant) node.Macs = (batch.Numel * m).PerExample * ka.Coef * n.Coef;
        return new TensorValue(node);
    }

    /// <summary>
    /// The operand as the kernel reads it: its own batch of matrices, or one matrix shared by the whole batch. An
    /// operand broadcast along some batch axes but not others ([H, K, N] against a batch [N, H]) is written out to
    /// the whole batch first; its gradient sums back through the expand.
    /// </summary>
    private static Node Whole(Binder binder, Node x, Shape batch, SourceSpan span)
    {
        var own = BatchOf(x.Shape).Numel;
        if (own == (Dim)1 || own == batch.Numel) return x;
        var shape = new Shape(batch.Dims.Append(x.Shape[x.Shape.Rank - 2]).Append(x.Shape[x.Shape.Rank - 1]).ToArray());
        return binder.AddOp(Broadcasting.Expand, new[] { x.Id }, shape, DType.F32, null, span);
    }
}
