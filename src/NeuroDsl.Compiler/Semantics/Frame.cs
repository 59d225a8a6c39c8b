using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>
/// Collects the nodes one statement (or one block instance, or one repeat iteration) creates, so they can be
/// named after it: the statement's value gets the statement's name, the other nodes <c>name.k</c>, and a
/// layer's parameters <c>name.weight</c>. Names are relative until the enclosing frame prefixes them, which
/// yields checkpoint names such as <c>stage1.0.conv.weight</c>.
/// </summary>
internal sealed class Frame
{
    public List<Node> Ops { get; } = new();
    public List<(Node Param, Node Owner, string BaseName)> Params { get; } = new();

    /// <summary>Nodes already named relative to this frame by inner statements.</summary>
    public List<Node> Named { get; } = new();

    /// <summary>
    /// The inner nodes of a composite op (layer norm, LRN), by the node that ends it: named after it
    /// (<c>conv1.2.0</c>, <c>conv1.2.1</c>, … for the LRN <c>conv1.2</c>), so a composition counts as one stage.
    /// </summary>
    public Dictionary<Node, List<Node>> Parts { get; } = new();

    /// <summary>Block instances and repeat iterations, named relative to themselves.</summary>
    public List<Frame> Children { get; } = new();

    public List<Node> All { get; } = new();

    /// <summary>How many of this frame's own ops existed when each child was added (creation order).</summary>
    private readonly List<int> _childAt = new();

    public void AddChild(Frame child)
    {
        Children.Add(child);
        _childAt.Add(Ops.Count);
    }

    public void Close(string name, Node? final) =>
        CloseNamed(name, final is null ? NoFinals : new Dictionary<Node, string> { [final] = name });

    private static readonly Dictionary<Node, string> NoFinals = new();

    /// <summary>Names the frame's nodes; each of <paramref name="finals"/> takes its own name (the parts of a split).</summary>
    public void CloseNamed(string name, IReadOnlyDictionary<Node, string> finals)
    {
        // A statement made of blocks only names them name.0, name.1, … (or just name when there is one); when
        // it also has ops of its own, ops and blocks are numbered together in the order they were created, so
        // `s = x |> Block() |> maxpool(2)` gives s.0 (the block) and s (the pooling), never two names alike.
        var mixed = Ops.Count > 0 && Children.Count > 0;
        var prefixes = new string[Children.Count];
        var k = 0;
        var child = 0;
        for (var i = 0; i < Ops.Count; i++)
        {
            var op = Ops[i];
            for (; mixed && child < Children.Count && _childAt[child] <= i; child++)
                prefixes[child] = Join(name, (k++).ToString(CultureInfo.InvariantCulture));
            op.Name = finals.TryGetValue(op, out var own) ? own : Join(name, (k++).ToString(CultureInfo.InvariantCulture));
            All.Add(op);
            if (!Parts.TryGetValue(op, out var parts)) continue;
            for (var j = 0; j < parts.Count; j++)
            {
                parts[j].Name = Join(op.Name, j.ToString(CultureInfo.InvariantCulture));
                All.Add(parts[j]);
            }
        }
        for (; child < Children.Count; child++)
            prefixes[child] = mixed ? Join(name, (k++).ToString(CultureInfo.InvariantCulture))
                : Children.Count == 1 ? name : Join(name, child.ToString(CultureInfo.InvariantCulture));
        var owners = Params.Select(p => p.Owner).Distinct().Count();
        foreach (var (param, owner, baseName) in Params)
        {
            param.Name = Join(owners == 1 ? name : owner.Name, baseName);
            All.Add(param);
        }
        All.AddRange(Named);
        for (var i = 0; i < Children.Count; i++)
            foreach (var node in Children[i].All)
            {
                node.Name = Join(prefixes[i], node.Name);
                All.Add(node);
            }
    }

    public static string Join(string a, string b) => a.Length == 0 ? b : b.Length == 0 ? a : a + "." + b;
}
