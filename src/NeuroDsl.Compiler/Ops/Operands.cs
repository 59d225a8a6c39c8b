using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Compiler.Ops;

/// <summary>Tensor-or-number arguments (<see cref="ArgKind.Operand"/>): a number becomes a constant.</summary>
internal static class Operands
{
    public static Node Node(OpCall c, string name) => c.Args[name] switch
    {
        TensorValue t => t.Node,
        NumberValue n => c.Binder.Const(n.Number, c.Span),
        var other => throw new System.InvalidOperationException($"{name} is {other.KindName}, not an operand"),
    };

    /// <summary>Fails unless one of the arguments is a tensor: an op on numbers alone would have no shape.</summary>
    public static void RequireTensor(OpCall c, params string[] names)
    {
        foreach (var name in names)
            if (c.Args[name] is TensorValue) return;
        var note = $"{c.Op.Name} takes at least one tensor";
        c.FailAt(names[0], Codes.WrongKind, note, names[0], "a tensor", c.Args[names[0]].KindName);
    }
}
