using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;

namespace NeuroDsl.Compiler.Ir;

/// <summary>What a node is: a graph leaf (input, parameter, constant) or an op application.</summary>
public enum NodeKind
{
    Input,
    Param,
    Const,
    Op,
}

/// <summary>How a parameter gets its first values, e.g. <c>glorot_uniform</c> or <c>uniform(-1, 1)</c>.</summary>
public sealed record InitSpec(string Kind, double A = 0, double B = 0)
{
    public override string ToString() => Kind switch
    {
        "uniform" or "normal" => $"{Kind}({A.ToString(CultureInfo.InvariantCulture)}, {B.ToString(CultureInfo.InvariantCulture)})",
        "constant" => $"constant({A.ToString(CultureInfo.InvariantCulture)})",
        _ => Kind,
    };
}

/// <summary>A parameter leaf: its dotted name (as in checkpoints), initializer and fans.</summary>
/// <param name="Mask">For a convolution with a connection table: 1 where output map o reads input map c,
/// one entry per (o, c) pair; masked-out kernels stay zero and are not counted as parameters.</param>
public sealed record ParamInfo(string Name, InitSpec Init, long FanIn, long FanOut, bool Trainable, long[]? Mask = null, long MaskBlock = 1)
{
    /// <summary>Elements that are real parameters (all, unless a connection table masks some).</summary>
    public long Count(long numel) => Mask is null ? numel : Mask.Sum() * MaskBlock;
}

/// <summary>
/// One node of the typed graph IR. Nodes are created in topological order and never change once the
/// graph is built, except for the name the binder settles at the end of a statement.
/// </summary>
public sealed class Node
{
    public Node(int id, NodeKind kind, Ops.OpDef def, IReadOnlyList<int> inputs, Shape shape, DType dtype,
        IReadOnlyDictionary<string, object> attrs, SourceSpan span)
    {
        Id = id;
        Kind = kind;
        Def = def;
        Inputs = inputs;
        Shape = shape;
        DType = dtype;
        Attrs = attrs;
        Span = span;
        Name = "%" + id.ToString(CultureInfo.InvariantCulture);
    }

    public int Id { get; }
    public NodeKind Kind { get; }

    /// <summary>The op's definition: every pass dispatches through it.</summary>
    public Ops.OpDef Def { get; }

    /// <summary>The op's IR name (printers); for leaves, "input", "param" or "const".</summary>
    public string Op => Def.Name;

    /// <summary>A graph this node runs (the body of a loop over time); null for every op that owns none.</summary>
    public Graph? Body { get; internal set; }

    public IReadOnlyList<int> Inputs { get; }
    public Shape Shape { get; }
    public DType DType { get; }
    public IReadOnlyDictionary<string, object> Attrs { get; }
    public SourceSpan Span { get; }

    /// <summary>A stable, readable name: the value's name in the source, or the layer path inside blocks.</summary>
    public string Name { get; internal set; }

    /// <summary>The surface op a user wrote (<c>dense</c>) when this node is a layer's main computation.</summary>
    public string? Layer { get; internal set; }

    public ParamInfo? Param { get; internal set; }
    public bool IsBackward { get; internal set; }

    /// <summary>Multiply-adds per example of this node (dense, matmul, convolution); zero for the rest.</summary>
    public long Macs { get; internal set; }

    /// <summary>Connections per example in LeCun's sense: inputs (and bias) feeding each output, summed.</summary>
    public long Connections { get; internal set; }

    /// <summary>For a parameter: the layer node that owns it (its row in the summary).</summary>
    public int? Owner { get; internal set; }

    public double ConstValue => Attrs.TryGetValue("value", out var v) ? System.Convert.ToDouble(v, CultureInfo.InvariantCulture) : 0;

    public long AttrInt(string name) => System.Convert.ToInt64(Attrs[name], CultureInfo.InvariantCulture);

    public bool AttrBool(string name) => Attrs.TryGetValue(name, out var v) && v is true;

    public Shape AttrShape(string name) => (Shape)Attrs[name];

    public long[] AttrInts(string name) => (long[])Attrs[name];

    public double AttrDouble(string name) => System.Convert.ToDouble(Attrs[name], CultureInfo.InvariantCulture);

    public string AttrString(string name) => (string)Attrs[name];

    public override string ToString()
    {
        var attrs = Attrs.Count == 0 ? "" : " {" + string.Join(", ", Attrs.OrderBy(a => a.Key, System.StringComparer.Ordinal)
            .Select(a => a.Key + "=" + FormatAttr(a.Value))) + "}";
        var ins = string.Join(", ", Inputs.Select(i => "%" + i.ToString(CultureInfo.InvariantCulture)));
        return $"%{Id} = {Op}({ins}){attrs} : {DType.ToString().ToLowerInvariant()}{Shape}  # {Name}";
    }

    private static string FormatAttr(object value) => value switch
    {
        long[] a => "[" + string.Join(", ", a) + "]",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        _ => System.Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };
}
