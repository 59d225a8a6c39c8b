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
        ["bn_apply"] = BatchNormRule,
        ["dropout"] = (g, n, dy) => new Node?[] { g.Op("dropout_grad", n.Shape, n.Attrs, n, dy) },
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
