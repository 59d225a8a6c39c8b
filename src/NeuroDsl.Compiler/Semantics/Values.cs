using System.Collections.Generic;
using System.Globalization;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Syntax;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>What an expression evaluates to during elaboration: a tensor in the graph, or a constant.</summary>
public abstract record Value
{
    public abstract string KindName { get; }
}

public sealed record TensorValue(Node Node) : Value
{
    public override string KindName => "a tensor";
}

public sealed record NumberValue(double Number, bool IsInteger) : Value
{
    public override string KindName => IsInteger ? "an integer" : "a number";
    public override string ToString() => Number.ToString("R", CultureInfo.InvariantCulture);
}

public sealed record StringValue(string Text) : Value
{
    public override string KindName => "a string";
}

public sealed record BoolValue(bool Flag) : Value
{
    public override string KindName => "a boolean";
}

public sealed record ListValue(IReadOnlyList<Value> Items) : Value
{
    public override string KindName => "a list";
}

public sealed record InitValue(InitSpec Spec) : Value
{
    public override string KindName => "an initializer";
}

/// <summary>A block or op named without being called, e.g. <c>tanh</c> as a pipe stage.</summary>
public sealed record CallableValue(string Name, BlockDecl? Block, Builtin? Op) : Value
{
    public override string KindName => "an op or block";
}

/// <summary>A block given its parameters but not yet its inputs: <c>Residual(64)</c>.</summary>
public sealed record BoundBlockValue(BlockDecl Block, IReadOnlyDictionary<string, Value> Params) : Value
{
    public override string KindName => "a block";
}

/// <summary>The value of a name whose definition failed: using it fails silently, so one error is reported once.</summary>
public sealed record ErrorValue : Value
{
    public override string KindName => "an erroneous value";
}

/// <summary>An optional argument that was not given.</summary>
public sealed record NoneValue : Value
{
    public override string KindName => "nothing";
}
