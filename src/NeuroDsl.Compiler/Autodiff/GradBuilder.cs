using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Autodiff;

/// <summary>Creates backward nodes for the gradient rules; every node it makes is marked backward.</summary>
public sealed class GradBuilder
{
    private readonly Graph _graph;

    internal GradBuilder(Graph graph) => _graph = graph;

    public Node Of(int id) => _graph[id];

    /// <summary>The node's <paramref name="i"/>-th input.</summary>
    public Node In(Node node, int i) => _graph[node.Inputs[i]];

    public Node Op(OpDef op, Shape shape, IReadOnlyDictionary<string, object>? attrs, Node origin, params Node[] inputs)
    {
        var node = _graph.Add(NodeKind.Op, op, inputs.Select(i => i.Id).ToArray(), shape, DType.F32, attrs, origin.Span);
        node.IsBackward = true;
        node.Name = "grad." + origin.Name + "." + op.Name;
        return node;
    }

    /// <summary>An elementwise node whose output shape is the broadcast of its inputs, or <paramref name="shape"/>.</summary>
    public Node Ew(OpDef op, Node origin, Shape? shape, params Node[] inputs)
    {
        var result = shape ?? inputs.Skip(1).Aggregate(inputs[0].Shape, (s, n) => Shape.Broadcast(s, n.Shape)!);
        return Op(op, result, null, origin, inputs);
    }

    public Node Ew(OpDef op, Node origin, params Node[] inputs) => Ew(op, origin, null, inputs);

    /// <summary>Sums a broadcast gradient back to the shape of the operand it came from.</summary>
    public Node SumTo(Node dy, Shape shape, Node origin) =>
        dy.Shape.Equals(shape) ? dy : Op(Broadcasting.SumTo, shape, null, origin, dy);

    public Node Expand(Node x, Shape shape, Node origin) =>
        x.Shape.Equals(shape) ? x : Op(Broadcasting.Expand, shape, null, origin, x);

    public Node Reshape(Node x, Shape shape, Node origin) =>
        x.Shape.Equals(shape) ? x : Op(Reshaping.Reshape, shape, null, origin, x);

    public Node MatMul(Node a, Node b, bool ta, bool tb, Node origin)
    {
        var m = ta ? a.Shape[1] : a.Shape[0];
        var n = tb ? b.Shape[0] : b.Shape[1];
        return Op(Ops.MatMul.Product, new Shape(new[] { m, n }), new Dictionary<string, object> { ["ta"] = ta, ["tb"] = tb }, origin, a, b);
    }

    public Node Const(double value, Node origin)
    {
        var node = _graph.Add(NodeKind.Const, Leaves.Const, System.Array.Empty<int>(), Shape.Scalar, DType.F32,
            new Dictionary<string, object> { ["value"] = value }, origin.Span);
        node.IsBackward = true;
        node.Name = "const";
        return node;
    }
}
