using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

public enum ArgKind
{
    Tensor,
    Int,
    Number,
    Bool,
    Init,
    String,

    /// <summary>An integer or a list of integers (a kernel size: 5 or [5, 3]).</summary>
    Ints,

    /// <summary>A list of tensors (concat).</summary>
    TensorList,

    /// <summary>A list of lists of integers (a connection table).</summary>
    Table,

    /// <summary>A tensor or a number (a number becomes a constant that broadcasts: <c>pow(x, 2)</c>).</summary>
    Operand,
}

/// <summary>One parameter of a builtin: its name, kind and default (null default = required).</summary>
public sealed record ParamSpec(string Name, ArgKind Kind, Value? Default = null);

/// <summary>What kind of layer a surface op makes, for the architecture diagram's colours.</summary>
public enum LayerCategory
{
    /// <summary>Everything else: activations, arithmetic, views, losses.</summary>
    Other,

    /// <summary>A layer of learned connections: dense, convolutions, RBF units.</summary>
    Weighted,

    /// <summary>Downsampling over windows: pooling, LeCun's trainable subsampling.</summary>
    Pooling,

    /// <summary>Normalization and regularization: batch, instance and local response norm, dropout.</summary>
    Normalization,
}

/// <summary>A surface op the language offers: its signature, how it elaborates into IR nodes, and its kind of layer.</summary>
public sealed record Builtin(string Name, IReadOnlyList<ParamSpec> Params, Func<OpCall, Value> Apply,
    LayerCategory Category = LayerCategory.Other)
{
    public int Required => Params.Count(p => p.Default is null);
}

/// <summary>A call being elaborated: bound arguments plus the graph-building services of the binder.</summary>
public sealed class OpCall
{
    // Where each argument was written (the value, or the name of a named one), for errors about one argument.
    private readonly IReadOnlyDictionary<string, SourceSpan>? _where;

    internal OpCall(Binder binder, Builtin op, SourceSpan span, IReadOnlyDictionary<string, Value> args,
        IReadOnlyDictionary<string, SourceSpan>? where = null)
    {
        Binder = binder;
        Op = op;
        Span = span;
        Args = args;
        _where = where;
    }

    internal Binder Binder { get; }
    public Builtin Op { get; }
    public SourceSpan Span { get; }
    public IReadOnlyDictionary<string, Value> Args { get; }

    public Node Tensor(string name) => ((TensorValue)Args[name]).Node;
    public long Int(string name) => (long)((NumberValue)Args[name]).Number;
    public double Number(string name) => ((NumberValue)Args[name]).Number;
    public bool Bool(string name) => ((BoolValue)Args[name]).Flag;
    public InitSpec Init(string name) => ((InitValue)Args[name]).Spec;

    /// <summary>An int-or-list argument as exactly <paramref name="count"/> values (5 → [5, 5]).</summary>
    public long[] Ints(string name, int count)
    {
        var v = Args[name];
        if (v is NumberValue n) return Enumerable.Repeat((long)n.Number, count).ToArray();
        var items = ((ListValue)v).Items.Select(i => (long)((NumberValue)i).Number).ToArray();
        if (items.Length != count) Fail(Codes.BadValue, null, $"Give '{name}' one value or {count}, not {items.Length}");
        return items;
    }

    public IReadOnlyList<Node> Tensors(string name) => ((ListValue)Args[name]).Items.Select(i => ((TensorValue)i).Node).ToList();

    public bool Has(string name) => Args[name] is not NoneValue;

    public void Fail(DiagnosticCode code, string? note, params object[] args)
    {
        Binder.Diagnostics.Error(code, Span, note, args);
        throw new ReportedException();
    }

    /// <summary>Where argument <paramref name="name"/> was written; the call's span when it took its default.</summary>
    public SourceSpan SpanOf(string name) => _where is not null && _where.TryGetValue(name, out var at) ? at : Span;

    /// <summary>Reports a bad argument at the argument itself (<c>transpose(x, 1, 7)</c> points at the 7).</summary>
    public void FailAt(string name, DiagnosticCode code, string? note, params object[] args)
    {
        Binder.Diagnostics.Error(code, SpanOf(name), note, args);
        throw new ReportedException();
    }
}

/// <summary>
/// Every name a call can use: the initializers (values an <c>init:</c> argument takes), held here, and the op
/// families' surface ops (<see cref="Ops.OpRegistry.Surface"/>).
/// </summary>
public static partial class Builtins
{
    internal static readonly Dictionary<string, Builtin> Table = new(StringComparer.Ordinal);

    static Builtins() => Initializers();

    public static bool TryGet(string name, out Builtin op) =>
        Table.TryGetValue(name, out op!) || Ops.OpRegistry.Surface.TryGet(name, out op);

    public static IEnumerable<string> Names => Table.Keys.Concat(Ops.OpRegistry.Surface.Names).OrderBy(k => k, StringComparer.Ordinal);

    internal static ParamSpec P(string name, ArgKind kind, Value? dflt = null) => new(name, kind, dflt);

    internal static void Def(string name, Func<OpCall, Value> apply, params ParamSpec[] ps) =>
        Table.Add(name, new Builtin(name, ps, apply));

    /// <summary>Initializers are values: <c>init: he_normal</c>, <c>init: uniform(-1, 1)</c>.</summary>
    internal static void Initializers()
    {
        foreach (var name in new[] { "glorot_uniform", "glorot_normal", "xavier_uniform", "xavier_normal",
                     "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "lecun98_uniform", "bipolar", "zeros", "ones" })
            Def(name, _ => new InitValue(new InitSpec(name.Replace("xavier", "glorot"))));
        Def("uniform", c => new InitValue(new InitSpec("uniform", c.Number("low"), c.Number("high"))),
            P("low", ArgKind.Number), P("high", ArgKind.Number));
        Def("normal", c => new InitValue(new InitSpec("normal", c.Number("mean"), c.Number("std"))),
            P("mean", ArgKind.Number), P("std", ArgKind.Number));
        Def("constant", c => new InitValue(new InitSpec("constant", c.Number("value"))), P("value", ArgKind.Number));
    }
}
