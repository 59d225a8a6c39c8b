using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Diagnostics;

namespace NeuroDsl.Compiler.Ir;

/// <summary>
/// The typed graph of one model: forward nodes, then (after differentiation) backward nodes, all in
/// topological order. Leaves are inputs, parameters and constants.
/// </summary>
public sealed class Graph
{
    private readonly List<Node> _nodes = new();

    public IReadOnlyList<Node> Nodes => _nodes;
    public List<int> InputIds { get; } = new();
    public List<int> ParamIds { get; } = new();

    /// <summary>Named outputs in declaration order.</summary>
    public List<KeyValuePair<string, int>> Outputs { get; } = new();

    public int? LossId { get; set; }

    /// <summary>Gradient node of each parameter and input the loss reaches, after differentiation.</summary>
    public Dictionary<int, int> Gradients { get; } = new();

    /// <summary>Index of the first backward node in <see cref="Nodes"/>; equals the count before differentiation.</summary>
    public int BackwardStart { get; set; } = -1;

    public Node this[int id] => _nodes[id];

    public IEnumerable<Node> Forward => BackwardStart < 0 ? _nodes : _nodes.Take(BackwardStart);
    public IEnumerable<Node> Backward => BackwardStart < 0 ? Enumerable.Empty<Node>() : _nodes.Skip(BackwardStart);

    /// <summary>Adds a node; inputs must already exist, which keeps the list topologically ordered.</summary>
    public Node Add(NodeKind kind, Ops.OpDef op, IReadOnlyList<int> inputs, Shape shape, DType dtype,
        IReadOnlyDictionary<string, object>? attrs, SourceSpan span)
    {
        var node = new Node(_nodes.Count, kind, op, inputs, shape, dtype,
            attrs ?? new Dictionary<string, object>(), span);
        _nodes.Add(node);
        return node;
    }

    /// <summary>
    /// Puts a new node in place of node <paramref name="id"/> (a rewrite before differentiation): same id, name,
    /// layer and source line, so every reader now reads the new node. Its inputs must precede it.
    /// </summary>
    internal Node Replace(int id, Ops.OpDef op, IReadOnlyList<int> inputs, Shape shape, IReadOnlyDictionary<string, object> attrs)
    {
        var old = _nodes[id];
        var node = new Node(id, NodeKind.Op, op, inputs, shape, old.DType, attrs, old.Span)
        {
            Name = old.Name,
            Layer = old.Layer,
            Macs = old.Macs,
            Connections = old.Connections,
        };
        _nodes[id] = node;
        return node;
    }

    public IEnumerable<Node> Params => ParamIds.Select(i => _nodes[i]);
    public IEnumerable<Node> Inputs => InputIds.Select(i => _nodes[i]);

    public long TrainableParameterCount =>
        Params.Where(p => p.Param!.Trainable).Sum(p => p.Param!.Count(p.Shape.Numel.PerExample));

    public long ConnectionsPerExample => Forward.Sum(n => n.Connections);

    public long ParameterCount => Params.Sum(p => p.Shape.Numel.PerExample);

    public long MacsPerExample => Forward.Sum(n => n.Macs);

    /// <summary>The printer for this stage (<c>neurodsl ir</c>).</summary>
    public string Print()
    {
        var sb = new StringBuilder();
        Print(sb, "");
        return sb.ToString();
    }

    private void Print(StringBuilder sb, string indent)
    {
        foreach (var node in _nodes)
        {
            if (node.Id == BackwardStart) sb.Append(indent).AppendLine("# backward");
            sb.Append(indent).AppendLine(node.ToString());
            if (node.Body is { } body)
            {
                // A node that owns a graph (a loop body) prints it nested under itself.
                sb.Append(indent).AppendLine("{");
                body.Print(sb, indent + "  ");
                sb.Append(indent).AppendLine("}");
            }
        }
        foreach (var o in Outputs) sb.Append(indent).AppendLine($"output {o.Key} = %{o.Value}");
        if (LossId is { } l) sb.Append(indent).AppendLine($"loss %{l}");
        foreach (var g in Gradients.OrderBy(g => g.Key)) sb.Append(indent).AppendLine($"grad {_nodes[g.Key].Name} = %{g.Value}");
    }
}
