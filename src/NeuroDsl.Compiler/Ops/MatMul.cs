using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Matrix products on the library GEMM (kernels/gemm.cl): <c>matmul</c> with either operand transposed (a batch of
/// them is <see cref="BatchedMatMul"/>), and <c>linear</c> (y = x·Wᵀ + b over the last axis of x), the <c>dense</c>
/// layer's op.
/// </summary>
public sealed class MatMul : OpFamily
{
    public static readonly OpDef Product = new GemmOp("matmul", 2);
    public static readonly OpDef Linear = new GemmOp("linear", 3);

    /// <summary>The product's sizes and transposes: C[m, n] = op(A)[m, k]·op(B)[k, n].</summary>
    private static (Dim M, Dim K, Dim N, bool Ta, bool Tb) Sizes(Node node, Shape a, Shape b)
    {
        if (node.Def == Linear)
        {
            var k = a[a.Rank - 1];
            return (a.Numel.DivideBy(k) ?? throw new InvalidOperationException("linear rows"), k, b[0], false, true);
        }
        var ta = node.AttrBool("ta");
        var tb = node.AttrBool("tb");
        return (ta ? a[1] : a[0], ta ? a[0] : a[1], tb ? b[0] : b[1], ta, tb);
    }

    private sealed class GemmOp : OpDef
    {
        public GemmOp(string name, int arity) : base(name, PrimKind.Gemm, arity)
        {
        }

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy) =>
            node.Def == Linear ? LinearRule(g, node, dy) : ProductRule(g, node, dy);

        public override double[] Reference(RefCall call)
        {
            var node = call.Node;
            var (a, b) = (call.Inputs[0], call.Inputs[1]);
            var shapes = call.InputShapes;
            long m, k, n;
            bool ta, tb;
            if (node.Def == Linear)
            {
                k = shapes[0][shapes[0].Length - 1];
                m = ReferenceInterpreter.Numel(shapes[0]) / k;
                n = shapes[1][0];
                (ta, tb) = (false, true);
            }
            else
            {
                ta = node.AttrBool("ta");
                tb = node.AttrBool("tb");
                m = ta ? shapes[0][1] : shapes[0][0];
                k = ta ? shapes[0][0] : shapes[0][1];
                n = tb ? shapes[1][0] : shapes[1][1];
            }
            var c = new double[m * n];
            for (var i = 0; i < m; i++)
                for (var j = 0; j < n; j++)
                {
                    var sum = call.Inputs.Length > 2 ? call.Inputs[2][j] : 0.0;
                    for (var p = 0; p < k; p++)
                        sum += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                    c[i * n + j] = sum;
                }
            return c;
        }

        public override NodeLaunch Lower(KernelCall call) => Launch(call.Node, call.Inputs, null);
    }

    /// <summary>
    /// The launch of a product, writing <paramref name="activation"/>'s value when the GEMM applies that activation
    /// in its store (a fusion group rooted at the activation).
    /// </summary>
    public static NodeLaunch Launch(Node node, Node[] inputs, Node? activation)
    {
        var output = activation?.Id ?? node.Id;
        // An activation's gradient (relu_grad(y, product)) reads its first input, y, as the store's gate.
        var gate = activation?.Def is ElementwiseOp { GemmGateEpilogue: > 0 } ? activation.Inputs[0] : (int?)null;
        var act = (Dim)(activation?.Def switch
        {
            ElementwiseOp { GemmEpilogue: > 0 and var code } => code,
            ElementwiseOp { GemmGateEpilogue: > 0 and var gated } => gated,
            _ => 0,
        });
        if (node.Def == BatchedMatMul.Product)
            return gate is null ? BatchedMatMul.Launch(node, inputs, output, act)
                : throw new InvalidOperationException("the batched GEMM has no gradient epilogue");
        var (m, k, n, ta, tb) = Sizes(node, inputs[0].Shape, inputs[1].Shape);
        return Gemm(m, k, n, ta, tb, inputs[0], inputs[1], inputs.Length > 2 ? inputs[2] : null, output, act, gate);
    }

    /// <summary>
    /// Whether a product of these sizes runs on the register-tiled GEMM. Small products (XOR, the perceptron) stay
    /// on the simple kernel; real layers use the tiled one over B packed into 32-column panels by a launch before it.
    /// </summary>
    internal static bool Tiles(Dim m, Dim k, Dim n)
    {
        static long Estimate(Dim d) => d.PerExample * (d.IsConstant ? 1 : 32); // a symbol counts as a batch of 32
        return n.IsConstant && Estimate(m) * Estimate(n) * Estimate(k) >= 32768;
    }

    /// <summary>
    /// The launches of C[m, n] = act(op(A)·op(B) (+ bias)) into buffer <paramref name="output"/>; with a
    /// <paramref name="gate"/> (no bias), act is a gradient epilogue reading it (kernels/gemm.cl's act 5–7).
    /// </summary>
    internal static NodeLaunch Gemm(Dim m, Dim k, Dim n, bool ta, bool tb, Node a, Node b, Node? bias, int output,
        Dim act, int? gate = null)
    {
        if (gate is not null && bias is not null) throw new InvalidOperationException("a product with a bias has no gate");
        var aux = bias?.Id ?? gate ?? output;
        // Library kernel nd_gemm_f32(M, N, K, ta, tb, A, B, bias, has_bias, C, act): C[M,N] = act(op(A)·op(B) (+ bias)).
        var hasBias = bias is not null;
        if (!Tiles(m, k, n))
        {
            var args = new List<ArgSpec>
            {
                ArgSpec.Size(m), ArgSpec.Size(n), ArgSpec.Size(k), ArgSpec.Flag(ta), ArgSpec.Flag(tb),
                ArgSpec.Node(a.Id), ArgSpec.Node(b.Id), ArgSpec.Node(aux), ArgSpec.Flag(hasBias),
                ArgSpec.Node(output), ArgSpec.Size(act),
            };
            return new NodeLaunch("nd_gemm_f32", args, new[] { n, m }, null);
        }
        var panels = (Dim)((n.Coef + 31) / 32 * 32) * k;
        // One work-item per 32-value row of a panel.
        var packArgs = new List<ArgSpec>
            { ArgSpec.Size(k), ArgSpec.Size(n), ArgSpec.Flag(tb), ArgSpec.Node(b.Id), ArgSpec.Scratch };
        // A B not transposed whose rows are whole vectors (16 floats: every device's vector width divides it) may be read in
        // place by the GEMM (the device decides).
        var pack = new NodeLaunch("nd_gemm_pack_b_f32", packArgs, new Dim[] { (Dim)((n.Coef + 31) / 32) * k }, null,
            Variant: !tb && n.IsConstant && n.Coef % 16 == 0 ? Planning.KernelVariant.PackB : Planning.KernelVariant.None);
        var tiled = new List<ArgSpec>
        {
            ArgSpec.Size(m), ArgSpec.Size(n), ArgSpec.Size(k), ArgSpec.Flag(ta), ArgSpec.Node(a.Id), ArgSpec.Scratch,
            ArgSpec.Node(aux), ArgSpec.Flag(hasBias), ArgSpec.Node(output), ArgSpec.Size(act),
        };
        return new NodeLaunch("nd_gemm_tiled_f32", tiled, new[] { m, n }, null, panels, pack,
            Variant: Planning.KernelVariant.TiledGemm);
    }

    // C = op(A)·op(B):  dA = dC·op(B)ᵀ (or its transpose), dB = op(A)ᵀ·dC (or its transpose).
    private static Node?[] ProductRule(GradBuilder g, Node n, Node dy)
    {
        var a = g.In(n, 0);
        var b = g.In(n, 1);
        var ta = n.AttrBool("ta");
        var tb = n.AttrBool("tb");
        var da = ta ? g.MatMul(b, dy, tb, true, n) : g.MatMul(dy, b, false, !tb, n);
        var db = tb ? g.MatMul(dy, a, true, ta, n) : g.MatMul(a, dy, !ta, false, n);
        return new Node?[] { da, db };
    }

    // y = x·Wᵀ + b over the last axis of x:  dx = dy·W,  dW = dyᵀ·x,  db = Σ_rows dy.
    private static Node?[] LinearRule(GradBuilder g, Node n, Node dy)
    {
        var x = g.In(n, 0);
        var w = g.In(n, 1);
        var rows = x.Shape.Dims.Take(x.Shape.Rank - 1).Aggregate((Dim)1, (p, d) => p * d);
        var x2 = g.Reshape(x, new Shape(new[] { rows, x.Shape[x.Shape.Rank - 1] }), n);
        var dy2 = g.Reshape(dy, new Shape(new[] { rows, n.Shape[n.Shape.Rank - 1] }), n);
        var dx = g.Reshape(g.MatMul(dy2, w, false, false, n), x.Shape, n);
        var dw = g.MatMul(dy2, x2, true, false, n);
        var grads = new List<Node?> { dx, dw };
        if (n.Inputs.Count > 2) grads.Add(g.SumTo(dy2, g.In(n, 2).Shape, n));
        return grads.ToArray();
    }

    public override void Surface(SurfaceTable table)
    {
        // dense(x, units, bias: true, init: glorot_uniform, bias_init: zeros): y = x·Wᵀ + b over the last axis.
        table.Def("dense", LayerCategory.Weighted, Dense, T("x"), P("units", ArgKind.Int), P("bias", ArgKind.Bool, True),
            P("init", ArgKind.Init, GlorotUniform), P("bias_init", ArgKind.Init, Zeros), P("trainable", ArgKind.Bool, True));
        // matmul(a, b, transpose_a: false, transpose_b: false): op(a) @ op(b), op swapping the last two axes; `a @ b`
        // is matmul(a, b). Rank 2 is the plain product; rank 3 or more a batch of them (BatchedMatMul).
        table.Def("matmul",
            c => Bind(c.Binder, c.Tensor("a"), c.Tensor("b"), c.Bool("transpose_a"), c.Bool("transpose_b"), c.Span),
            T("a"), T("b"), P("transpose_a", ArgKind.Bool, False), P("transpose_b", ArgKind.Bool, False));
    }

    /// <summary>The <c>@</c> operator and <c>matmul(a, b)</c>: [M, K] @ [K, N], or a batch of them.</summary>
    internal static Value Bind(Binder binder, Node a, Node b, SourceSpan span) =>
        Bind(binder, a, b, false, false, span);

    /// <summary><c>matmul(a, b, transpose_a:, transpose_b:)</c>: op(a)[M, K] @ op(b)[K, N], or a batch.</summary>
    internal static Value Bind(Binder binder, Node a, Node b, bool ta, bool tb, SourceSpan span)
    {
        binder.RequireFloat("matmul", span, a, b);
        if (a.Shape.Rank < 2 || b.Shape.Rank < 2)
            binder.Fail(Codes.RankMismatch, span,
                $"matmul takes [M, K] @ [K, N] or batches [..., M, K] @ [..., K, N]; got {a.Shape} @ {b.Shape}",
                "matmul", "2 or more");
        if (a.Shape.Rank > 2 || b.Shape.Rank > 2) return BatchedMatMul.Bind(binder, a, b, ta, tb, span);
        var (m, ka) = ta ? (a.Shape[1], a.Shape[0]) : (a.Shape[0], a.Shape[1]);
        var (kb, n) = tb ? (b.Shape[1], b.Shape[0]) : (b.Shape[0], b.Shape[1]);
        if (ka != kb)
            binder.Fail(Codes.ShapeMismatch, span,
                $"matmul takes [M, K] @ [K, N]; got {Written(a.Shape, ta)} @ {Written(b.Shape, tb)} ({ka} ≠ {kb})",
                "matmul");
        var attrs = new Dictionary<string, object> { ["ta"] = ta, ["tb"] = tb };
        var node = binder.AddOp(Product, new[] { a.Id, b.Id }, new Shape(new[] { m, n }), DType.F32, attrs, span,
            "matmul");
        if (ka.IsConstant && n.IsConstant) node.Macs = m.PerExample * ka.Coef * n.Coef;
        return new TensorValue(node);
    }

    /// <summary>An operand's shape as a note shows it: with ᵀ when matmul transposes it.</summary>
    internal static string Written(Shape shape, bool transposed) => shape + (transposed ? "ᵀ" : "");

    private static Value Dense(OpCall c)
    {
        var x = c.Tensor("x");
        var units = c.Int("units");
        if (units <= 0) c.Fail(Codes.BadValue, null, $"Give dense a positive number of units, not {units}");
        if (x.Shape.Rank < 1) c.Fail(Codes.RankMismatch, $"dense expects [..., features]; got {x.Shape}", "dense", "1 or more");
        var inDim = x.Shape[x.Shape.Rank - 1];
        if (!inDim.IsConstant)
            c.Fail(Codes.BadDimension, $"dense expects a constant feature axis; got {x.Shape}",
                "Give dense a constant last dimension");
        var trainable = c.Bool("trainable");
        var weight = c.Binder.Param("weight", new Shape(units, inDim.Coef), c.Init("init"), inDim.Coef, units, c.Span, trainable);
        var inputs = new List<int> { x.Id, weight.Id };
        if (c.Bool("bias"))
            inputs.Add(c.Binder.Param("bias", new Shape(units), c.Init("bias_init"), inDim.Coef, units, c.Span, trainable).Id);
        var dims = x.Shape.Dims.Take(x.Shape.Rank - 1).Concat(new[] { (Dim)units }).ToArray();
        var node = c.Binder.AddOp(Linear, inputs, new Shape(dims), DType.F32, null, c.Span, "dense");
        node.Macs = (x.Shape.Numel.PerExample / inDim.Coef) * inDim.Coef * units;
        node.Connections = (x.Shape.Numel.PerExample / inDim.Coef) * units * (inDim.Coef + (c.Bool("bias") ? 1 : 0));
        c.Binder.OwnParams(node);
        return new TensorValue(node);
    }
}
