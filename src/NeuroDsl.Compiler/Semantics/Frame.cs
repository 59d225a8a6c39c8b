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

    /// <summary>Block instances and repeat iterations, named relative to themselves.</summary>
    public List<Frame> Children { get; } = new();

    public List<Node> All { get; } = new();

    public void Close(string name, Node? final)
    {
        var k = 0;
        foreach (var op in Ops)
        {
            op.Name = op == final ? name : Join(name, (k++).ToString(CultureInfo.InvariantCulture));
            All.Add(op);
        }
        var owners = Params.Select(p => p.Owner).Distinct().Count();
        foreach (var (param, owner, baseName) in Params)
        {
            param.Name = Join(owners == 1 ? name : owner.Name, baseName);
            All.Add(param);
        }
        All.AddRange(Named);
        for (var i = 0; i < Children.Count; i++)
        {
            var prefix = Children.Count == 1 ? name : Join(name, i.ToString(CultureInfo.InvariantCulture));
            foreach (var node in Children[i].All)
            {
                node.Name = Join(prefix, node.Name);
                All.Add(node);
            }
        }
    }

    public static string Join(string a, string b) => a.Length == 0 ? b : b.Length == 0 ? a : a + "." + b;
}
