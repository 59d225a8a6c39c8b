using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;
using static NeuroDsl.Compiler.Semantics.SurfaceTable;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Constant tensors of constant shape: <c>iota(n)</c>, <c>sinusoidal(positions, dims)</c> and
/// <c>causal_mask(t)</c>. Each is an op with no inputs whose kernel computes every element from its
/// coordinates: no host data, no upload path, no runtime change. The launch is part of the forward pass
/// (a few thousand work-items, next to nothing beside the layers that read it), and nothing flows back.
/// </summary>
public sealed class ConstantTensors : OpFamily
{
    /// <summary>[n]: 0, 1, …, n − 1.</summary>
    public static readonly OpDef Iota = new GeneratorOp("iota", (_, c) => c[0], _ => "    out[i] = (float)c0;\n");

    /// <summary>
    /// [positions, dims], Vaswani et al. 2017 (section 3.5): PE(p, 2k) = sin(p / 10000^(2k/d)),
    /// PE(p, 2k + 1) = cos(p / 10000^(2k/d)).
    /// </summary>
    public static readonly OpDef Sinusoidal = new GeneratorOp("sinusoidal",
        (node, c) =>
        {
            var angle = c[0] * Math.Exp((c[1] & ~1L) * -Math.Log(10000.0) / node.Shape[1].Coef);
            return (c[1] & 1) == 0 ? Math.Sin(angle) : Math.Cos(angle);
        },
        node => $"    const float angle = (float)c0 * exp((float)(c1 & ~1) * {OpenClKernels.Lit(-Math.Log(10000.0) / node.Shape[1].Coef)});\n"
            + "    out[i] = (c1 & 1) ? cos(angle) : sin(angle);\n");

    /// <summary>[t, t]: 1 where the key j ≤ the query i, else 0; with <c>additive</c>, 0 and −∞ (added to scores).</summary>
    public static readonly OpDef CausalMask = new GeneratorOp("causal_mask",
        (node, c) => c[1] <= c[0] ? (node.AttrBool("additive") ? 0 : 1) : (node.AttrBool("additive") ? double.NegativeInfinity : 0),
        node => node.AttrBool("additive")
            ? "    out[i] = (c1 <= c0) ? 0.0f : -INFINITY;\n"
            : "    out[i] = (c1 <= c0) ? 1.0f : 0.0f;\n");

    public override void Surface(SurfaceTable table)
    {
        table.Def("iota", c => Generate(c, Iota, new Shape(Size(c, "n"))), P("n", ArgKind.Int));
        table.Def("sinusoidal", c => Generate(c, Sinusoidal, new Shape(Size(c, "positions"), Size(c, "dims"))),
            P("positions", ArgKind.Int), P("dims", ArgKind.Int));
        table.Def("causal_mask", c =>
        {
            var t = Size(c, "t");
            var attrs = c.Bool("additive") ? new Dictionary<string, object> { ["additive"] = true } : null;
            return Generate(c, CausalMask, new Shape(t, t), attrs);
        }, P("t", ArgKind.Int), P("additive", ArgKind.Bool, False));
    }

    private static long Size(OpCall c, string name)
    {
        var n = c.Int(name);
        if (n <= 0) c.Fail(Codes.BadValue, $"{c.Op.Name} builds a tensor of constant shape", $"Give '{name}' a positive size, not {n}");
        return n;
    }

    private static Value Generate(OpCall c, OpDef op, Shape shape, Dictionary<string, object>? attrs = null) =>
        new TensorValue(c.Binder.AddOp(op, Array.Empty<int>(), shape, DType.F32, attrs, c.Span, op.Name));

    /// <summary>An op with no inputs: each element a function of its coordinates, in float64 and in OpenCL C.</summary>
    private sealed class GeneratorOp : OpDef
    {
        private readonly Func<Node, long[], double> _value;
        private readonly Func<Node, string> _code;

        /// <param name="code">Statements that set <c>out[i]</c> from the coordinates <c>c0</c>, <c>c1</c>.</param>
        public GeneratorOp(string name, Func<Node, long[], double> value, Func<Node, string> code) : base(name, PrimKind.Custom, 0)
        {
            _value = value;
            _code = code;
        }

        public override double[] Reference(RefCall call)
        {
            var shape = call.OutShape;
            var y = new double[call.Numel];
            var c = new long[shape.Length];
            for (long i = 0; i < y.Length; i++)
            {
                var rest = i;
                for (var d = shape.Length - 1; d >= 0; d--)
                {
                    c[d] = rest % shape[d];
                    rest /= shape[d];
                }
                y[i] = _value(call.Node, c);
            }
            return y;
        }

        public override NodeLaunch Lower(KernelCall call)
        {
            var node = call.Node;
            var sb = new StringBuilder();
            sb.Append("__kernel void ").Append(call.Name).AppendLine("(__global float* restrict out)\n{");
            sb.AppendLine("    const int i = get_global_id(0);");
            Slicing.Coordinates(sb, node.Shape, Enumerable.Range(0, node.Shape.Rank).ToList());
            sb.Append(_code(node)).AppendLine("}");
            return new NodeLaunch(call.Name, ArgSpec.Nodes(node), new[] { node.Shape.Numel }, sb.ToString());
        }

        public override string Detail(Node node) =>
            node.AttrBool("additive") ? " additive" : "";
    }
}
