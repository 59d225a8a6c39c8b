using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Axis arguments as the tensor ops read them: negative axes count from the end (-1 is the last), and a bad axis is
/// reported at the argument that named it. Also the coordinates of a work-item's element in their kernels.
/// </summary>
internal static class Axes
{
    /// <summary>One axis of a tensor of rank <paramref name="rank"/>, from argument <paramref name="arg"/>.</summary>
    public static int One(OpCall c, string arg, long axis, Shape shape)
    {
        var rank = shape.Rank;
        if (axis < -rank || axis >= rank)
            c.FailAt(arg, Codes.BadValue, $"x has shape {shape}",
                rank == 0 ? $"{c.Op.Name} takes no axis of a scalar"
                    : $"Give {c.Op.Name} an axis in -{rank}..{rank - 1}, not {axis}");
        return (int)(axis < 0 ? axis + rank : axis);
    }

    /// <summary>The integers of an int-or-list argument, as written.</summary>
    public static long[] Written(OpCall c, string arg) => c.Args[arg] switch
    {
        NumberValue n => new[] { (long)n.Number },
        ListValue l => l.Items.Select(i => (long)((NumberValue)i).Number).ToArray(),
        _ => new long[0],
    };

    /// <summary>Distinct axes of an int-or-list argument, each normalized, in increasing order.</summary>
    public static long[] Set(OpCall c, string arg, Shape shape)
    {
        var written = Written(c, arg);
        if (written.Length == 0) c.FailAt(arg, Codes.BadValue, null, $"Give {c.Op.Name} at least one axis");
        var axes = written.Select(a => (long)One(c, arg, a, shape)).ToArray();
        var seen = new HashSet<long>();
        foreach (var a in axes)
            if (!seen.Add(a))
                c.FailAt(arg, Codes.BadValue, $"x has shape {shape}", $"Name axis {a} once in {c.Op.Name}'s '{arg}'");
        return axes.OrderBy(a => a).ToArray();
    }

    /// <summary>
    /// Declares <c>c&lt;axis&gt;</c> for each of <paramref name="axes"/> (increasing) from the flat index <c>i</c> of
    /// <paramref name="shape"/>, whose other axes have size 1: no division by the sizes that are 1.
    /// </summary>
    public static void Coordinates(StringBuilder sb, Shape shape, IReadOnlyList<int> axes)
    {
        if (axes.Count == 0) return;
        if (axes.Count == 1)
        {
            sb.AppendLine($"    const int c{axes[0]} = i;");
            return;
        }
        sb.AppendLine("    int r = i;");
        for (var k = axes.Count - 1; k > 0; k--)
        {
            var size = shape[axes[k]].ToC();
            sb.AppendLine($"    const int c{axes[k]} = r % {size};");
            sb.AppendLine($"    r /= {size};");
        }
        sb.AppendLine($"    const int c{axes[0]} = r;");
    }
}
