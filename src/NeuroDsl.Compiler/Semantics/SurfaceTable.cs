using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>The surface ops a <c>.nd</c> file can call, by name; each op family adds its own.</summary>
public sealed class SurfaceTable
{
    private readonly Dictionary<string, Builtin> _table = new(StringComparer.Ordinal);

    public static readonly Value True = new BoolValue(true);
    public static readonly Value False = new BoolValue(false);
    public static readonly Value None = new NoneValue();
    public static readonly Value GlorotUniform = new InitValue(new InitSpec("glorot_uniform"));
    public static readonly Value Zeros = new InitValue(new InitSpec("zeros"));

    /// <summary>Adds a surface op; two families offering one name is a mistake found when the table is built.</summary>
    internal void Def(string name, Func<OpCall, Value> apply, params ParamSpec[] ps) =>
        Def(name, LayerCategory.Other, apply, ps);

    /// <summary>Adds a surface op that makes a layer of the given kind (the diagram colours it by kind).</summary>
    internal void Def(string name, LayerCategory category, Func<OpCall, Value> apply, params ParamSpec[] ps)
    {
        if (_table.ContainsKey(name)) throw new InvalidOperationException($"two surface ops named '{name}'");
        _table.Add(name, new Builtin(name, ps, apply, category));
    }

    public bool TryGet(string name, out Builtin op) => _table.TryGetValue(name, out op!);

    public IEnumerable<string> Names => _table.Keys;

    /// <summary>A tensor parameter.</summary>
    public static ParamSpec T(string name) => new(name, ArgKind.Tensor);

    /// <summary>A parameter of another kind, required unless it has a default.</summary>
    public static ParamSpec P(string name, ArgKind kind, Value? dflt = null) => new(name, kind, dflt);

    public static Value Int(long value) => new NumberValue(value, true);

    public static Value Number(double value) => new NumberValue(value, false);
}
