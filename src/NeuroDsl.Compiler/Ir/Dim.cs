using System;
using System.Collections.Generic;
using System.Linq;

namespace NeuroDsl.Compiler.Ir;

/// <summary>
/// A dimension: a constant, or a constant times a product of size symbols (<c>N</c>, <c>4*N</c>, <c>N*T</c>).
/// Symbols are bound when a model is instantiated (the batch size), so every size is known before a step.
/// </summary>
public readonly struct Dim : IEquatable<Dim>
{
    public Dim(long coef, string symbols = "")
    {
        Coef = coef;
        Symbols = symbols ?? "";
    }

    public long Coef { get; }

    /// <summary>Sorted, '*'-joined symbol names; empty for a constant.</summary>
    public string Symbols { get; }

    public bool IsConstant => Symbols.Length == 0;

    public static Dim Symbol(string name) => new(1, name);

    public static implicit operator Dim(long value) => new(value);

    public static Dim operator *(Dim a, Dim b)
    {
        var symbols = a.SymbolList.Concat(b.SymbolList).OrderBy(s => s, StringComparer.Ordinal);
        return new Dim(a.Coef * b.Coef, string.Join("*", symbols));
    }

    /// <summary>Exact division, or null when the quotient is not a dimension.</summary>
    public Dim? DivideBy(Dim divisor)
    {
        if (divisor.Coef == 0 || Coef % divisor.Coef != 0) return null;
        var mine = SymbolList.ToList();
        foreach (var s in divisor.SymbolList)
            if (!mine.Remove(s)) return null;
        return new Dim(Coef / divisor.Coef, string.Join("*", mine));
    }

    public IEnumerable<string> SymbolList => IsConstant ? Enumerable.Empty<string>() : Symbols.Split('*');

    public long Eval(IReadOnlyDictionary<string, long> symbols)
    {
        var value = Coef;
        foreach (var s in SymbolList) value *= symbols.TryGetValue(s, out var v) ? v : 1;
        return value;
    }

    /// <summary>The value with every symbol set to 1: sizes per example.</summary>
    public long PerExample => Coef;

    /// <summary>OpenCL C form; symbols are <c>ND_&lt;name&gt;</c> macros set when the program is built.</summary>
    public string ToC() => IsConstant
        ? Coef.ToString(System.Globalization.CultureInfo.InvariantCulture)
        : "(" + string.Join("*", (Coef == 1 ? Array.Empty<string>() : new[] { Coef.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            .Concat(SymbolList.Select(s => "ND_" + s))) + ")";

    /// <summary>C# form over the generated class's symbol fields (<c>_N</c>), as a long.</summary>
    public string ToCSharp() => IsConstant
        ? Coef.ToString(System.Globalization.CultureInfo.InvariantCulture) + "L"
        : string.Join(" * ", (Coef == 1 ? Array.Empty<string>() : new[] { Coef.ToString(System.Globalization.CultureInfo.InvariantCulture) + "L" })
            .Concat(SymbolList.Select(s => "(long)_" + s)));

    public bool Equals(Dim other) => Coef == other.Coef && Symbols == other.Symbols;
    public override bool Equals(object? obj) => obj is Dim d && Equals(d);
    public override int GetHashCode() => unchecked((Coef.GetHashCode() * 397) ^ Symbols.GetHashCode());
    public static bool operator ==(Dim a, Dim b) => a.Equals(b);
    public static bool operator !=(Dim a, Dim b) => !a.Equals(b);

    public override string ToString() => IsConstant
        ? Coef.ToString(System.Globalization.CultureInfo.InvariantCulture)
        : Coef == 1 ? Symbols : Coef.ToString(System.Globalization.CultureInfo.InvariantCulture) + "*" + Symbols;
}
