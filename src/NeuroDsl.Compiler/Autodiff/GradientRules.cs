using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Autodiff;

/// <summary>Given a node and the gradient of its output, the gradient of each input (null: none flows).</summary>
public delegate Node?[] GradientRule(GradBuilder g, Node node, Node dy);

/// <summary>
/// Reverse-mode rules, one per primitive (tinygrad's table). Rules build ordinary IR nodes, so the
/// backward pass is compiled, fused and planned like the forward one.
/// </summary>
public static class GradientRules
{
    private static readonly Dictionary<string, GradientRule> Table = new(StringComparer.Ordinal)
    {
        ["add"] = (g, n, dy) => new Node?[] { g.SumTo(dy, In(g, n, 0).Shape, n), g.SumTo(dy, In(g, n, 1).Shape, n) },
        ["sub"] = (g, n, dy) => new Node?[] { g.SumTo(dy, In(g, n, 0).Shape, n), g.SumTo(g.Ew("neg", n, dy), In(g, n, 1).Shape, n) },
        ["mul"] = (g, n, dy) => new Node?[]
        {
            g.SumTo(g.Ew("mul", n, dy, In(g, n, 1)), In(g, n, 0).Shape, n),
            g.SumTo(g.Ew("mul", n, dy, In(g, n, 0)), In(g, n, 1).Shape, n),
        },
        ["div"] = (g, n, dy) => new Node?[]
        {
            g.SumTo(g.Ew("div", n, dy, In(g, n, 1)), In(g, n, 0).Shape, n),
            g.SumTo(g.Ew("div_grad_b", n, dy, In(g, n, 0), In(g, n, 1)), In(g, n, 1).Shape, n),
        },
        ["neg"] = (g, n, dy) => new Node?[] { g.Ew("neg", n, dy) },
        // From the output (y > 0 exactly where x > 0), so the producer of x can be fused away.
        ["relu"] = (g, n, dy) => new Node?[] { g.Ew("relu_grad", n, n, dy) },
        ["tanh"] = (g, n, dy) => new Node?[] { g.Ew("tanh_grad", n, n, dy) },
        ["sigmoid"] = (g, n, dy) => new Node?[] { g.Ew("sigmoid_grad", n, n, dy) },
        ["sign"] = (g, n, dy) => new Node?[] { null },
        ["step"] = (g, n, dy) => new Node?[] { null },
        ["exp"] = (g, n, dy) => new Node?[] { g.Ew("mul", n, dy, n) },
        ["log"] = (g, n, dy) => new Node?[] { g.Ew("div", n, dy, In(g, n, 0)) },
        ["expand"] = (g, n, dy) => new Node?[] { g.SumTo(dy, In(g, n, 0).Shape, n) },
        ["copy"] = (g, n, dy) => new Node?[] { dy },
        ["sum_to"] = (g, n, dy) => new Node?[] { g.Expand(dy, In(g, n, 0).Shape, n) },
        ["reshape"] = (g, n, dy) => new Node?[] { g.Reshape(dy, In(g, n, 0).Shape, n) },
        ["sum"] = (g, n, dy) => new Node?[] { g.Expand(dy, In(g, n, 0).Shape, n) },
        ["leaky_relu"] = (g, n, dy) => new Node?[] { g.Ew("leaky_relu_grad", n, n.Shape, n, dy, In(g, n, 1)), null },
        ["mean"] = (g, n, dy) => new Node?[] { g.Ew("mean_grad", n, In(g, n, 0).Shape, dy) },
        ["mse"] = LossRule("mse_grad"),
        ["bce"] = LossRule("bce_grad"),
        ["bce_logits"] = LossRule("bce_logits_grad"),
        ["perceptron"] = LossRule("perceptron_grad"),
        ["softmax"] = (g, n, dy) => new Node?[] { g.Op("softmax_grad", n.Shape, null, n, n, dy) },
        ["cross_entropy"] = (g, n, dy) => new Node?[]
        {
            g.Op("cross_entropy_grad", In(g, n, 0).Shape, n.Attrs, n, In(g, n, 0), In(g, n, 1), dy), null,
        },
        ["matmul"] = MatMulRule,
        ["linear"] = LinearRule,
        ["scaled_tanh"] = (g, n, dy) => new Node?[] { g.Ew("scaled_tanh_grad", n, n, dy) },
        ["conv2d"] = ConvRule,
        ["pool2d"] = (g, n, dy) => new Node?[] { g.Op("pool2d_grad", In(g, n, 0).Shape, n.Attrs, n, In(g, n, 0), dy) },
        ["concat"] = ConcatRule,
        ["bn_apply"] = BatchNormRule,
        ["dropout"] = (g, n, dy) => new Node?[] { g.Op("dropout_grad", n.Shape, n.Attrs, n, dy) },
        ["conv_transpose2d"] = ConvTransposeRule,
        ["pad2d"] = (g, n, dy) => new Node?[] { g.Op("pad2d_grad", In(g, n, 0).Shape, n.Attrs, n, dy) },
        // Zero padding along one axis: the gradient is the slice the input occupies.
        ["pad_axis"] = (g, n, dy) => new Node?[]
        {
            g.Op("slice", In(g, n, 0).Shape, new Dictionary<string, object> { ["axis"] = n.AttrInt("axis"), ["start"] = n.AttrInt("before") }, n, dy),
        },
        ["instance_norm"] = (g, n, dy) => new Node?[] { g.Op("instance_norm_grad", n.Shape, n.Attrs, n, In(g, n, 0), dy) },
        ["lrn"] = (g, n, dy) => new Node?[] { g.Op("lrn_grad", n.Shape, n.Attrs, n, In(g, n, 0), dy) },
        ["rbf"] = (g, n, dy) => new Node?[]
        {
            g.Op("rbf_grad_input", In(g, n, 0).Shape, null, n, In(g, n, 0), In(g, n, 1), dy),
            g.Op("rbf_grad_weight", In(g, n, 1).Shape, null, n, In(g, n, 0), In(g, n, 1), dy),
        },
    };

    public static bool TryGet(string prim, out GradientRule rule) => Table.TryGetValue(prim, out rule!);

    public static IEnumerable<string> Covered => Table.Keys;

    private static Node In(GradBuilder g, Node n, int i) => g.Of(n.Inputs[i]);

    private static GradientRule LossRule(string gradPrim) => (g, n, dy) =>
        new Node?[] { g.Ew(gradPrim, n, In(g, n, 0).Shape, In(g, n, 0), In(g, n, 1), dy), null };

    // dx by the transposed convolution, dw by correlating x with dy, db by summing dy over N, H and W.
    private static Node?[] ConvRule(GradBuilder g, Node n, Node dy)
    {
        var x = In(g, n, 0);
        var w = In(g, n, 1);
        var grads = new List<Node?>
        {
            g.Op("conv2d_grad_input", x.Shape, n.Attrs, n, dy, w),
            g.Op("conv2d_grad_weight", w.Shape, n.Attrs, n, dy, x),
        };
        if (n.Inputs.Count > 2)
        {
            var oc = n.Shape[1];
            grads.Add(g.Reshape(g.SumTo(dy, new Shape(new[] { oc, (Dim)1, (Dim)1 }), n), new Shape(new[] { oc }), n));
        }
        return grads.ToArray();
    }

    // The transposed convolution is the input gradient of a convolution from its output to its input, so
    // dx is that convolution applied to dy, and dw correlates dy (the convolution's input) with x (its output gradient).
    private static Node?[] ConvTransposeRule(GradBuilder g, Node n, Node dy)
    {
        var x = In(g, n, 0);
        var w = In(g, n, 1);
        return new Node?[]
        {
            g.Op("conv2d", x.Shape, n.Attrs, n, dy, w),
            g.Op("conv2d_grad_weight", w.Shape, n.Attrs, n, x, dy),
        };
    }

    private static Node?[] ConcatRule(GradBuilder g, Node n, Node dy)
    {
        var axis = n.AttrInt("axis");
        var start = 0L;
        var grads = new Node?[n.Inputs.Count];
        for (var i = 0; i < grads.Length; i++)
        {
            var shape = In(g, n, i).Shape;
            grads[i] = g.Op("slice", shape, new Dictionary<string, object> { ["axis"] = axis, ["start"] = start }, n, dy);
            start += shape[(int)axis].Coef;
        }
        return grads;
    }

    // y = x̂·γ + β with x̂ = (x − μ)·σ⁻¹ over the batch: the full batch-norm backward, through μ and σ.
    private static Node?[] BatchNormRule(GradBuilder g, Node n, Node dy)
    {
        var x = In(g, n, 0);
        var stats = In(g, n, 1);
        var gamma = In(g, n, 2);
        var c = gamma.Shape;
        var sums = g.Op("bn_grad_params", stats.Shape, n.Attrs, n, x, stats, dy);
        var row = new Shape(new[] { (Dim)1, c[0] });
        var dgamma = g.Reshape(g.Op("slice", row, new Dictionary<string, object> { ["axis"] = 0L, ["start"] = 0L }, n, sums), c, n);
        var dbeta = g.Reshape(g.Op("slice", row, new Dictionary<string, object> { ["axis"] = 0L, ["start"] = 1L }, n, sums), c, n);
        var dx = g.Op("bn_grad_input", x.Shape, n.Attrs, n, x, stats, gamma, dy, sums);
        return new Node?[] { dx, null, dgamma, dbeta };
    }

    // C = op(A)·op(B):  dA = dC·op(B)ᵀ (or its transpose), dB = op(A)ᵀ·dC (or its transpose).
    private static Node?[] MatMulRule(GradBuilder g, Node n, Node dy)
    {
        var a = In(g, n, 0);
        var b = In(g, n, 1);
        var ta = n.AttrBool("ta");
        var tb = n.AttrBool("tb");
        var da = ta ? g.MatMul(b, dy, tb, true, n) : g.MatMul(dy, b, false, !tb, n);
        var db = tb ? g.MatMul(dy, a, true, ta, n) : g.MatMul(a, dy, !ta, false, n);
        return new Node?[] { da, db };
    }

    // y = x·Wᵀ + b over the last axis of x:  dx = dy·W,  dW = dyᵀ·x,  db = Σ_rows dy.
    private static Node?[] LinearRule(GradBuilder g, Node n, Node dy)
    {
        var x = In(g, n, 0);
        var w = In(g, n, 1);
        var rows = x.Shape.Dims.Take(x.Shape.Rank - 1).Aggregate((Dim)1, (p, d) => p * d);
        var x2 = g.Reshape(x, new Shape(new[] { rows, x.Shape[x.Shape.Rank - 1] }), n);
        var dy2 = g.Reshape(dy, new Shape(new[] { rows, n.Shape[n.Shape.Rank - 1] }), n);
        var dx = g.Reshape(g.MatMul(dy2, w, false, false, n), x.Shape, n);
        var dw = g.MatMul(dy2, x2, true, false, n);
        var grads = new List<Node?> { dx, dw };
        if (n.Inputs.Count > 2) grads.Add(g.SumTo(dy2, g.Of(n.Inputs[2]).Shape, n));
        return grads.ToArray();
    }
}
