using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Autodiff;


/// <summary>
/// Reverse-mode rules, one per primitive (tinygrad's table). Rules build ordinary IR nodes, so the
/// backward pass is compiled, fused and planned like the forward one.
/// </summary>
public static class GradientRules
{
    private static readonly Dictionary<string, GradientRule> Table = new(StringComparer.Ordinal)
    {
        ["conv2d"] = ConvRule,
        ["bn_apply"] = BatchNormRule,
        ["dropout"] = (g, n, dy) => new Node?[] { g.Op("dropout_grad", n.Shape, n.Attrs, n, dy) },
        ["conv_transpose2d"] = ConvTransposeRule,
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
}
