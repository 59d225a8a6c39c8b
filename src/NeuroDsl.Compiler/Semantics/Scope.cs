using System;
using System.Collections.Generic;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>Lexical scope of names during elaboration. Blocks get a fresh scope with only their arguments.</summary>
internal sealed class Scope
{
    private readonly Dictionary<string, Value> _values = new(StringComparer.Ordinal);
    private readonly Scope? _parent;

    public Scope(Scope? parent) => _parent = parent;

    public void Define(string name, Value value) => _values[name] = value;

    public Value? LookupLocal(string name) => _values.TryGetValue(name, out var v) ? v : null;

    public Value? Lookup(string name) => LookupLocal(name) ?? _parent?.Lookup(name);
}
