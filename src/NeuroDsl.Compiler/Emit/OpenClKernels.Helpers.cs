using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// Kernel-text helpers the structured op families share. Every size is a literal or an ND_ macro, so loops
/// over kernel windows have constant bounds.
/// </summary>
public static partial class OpenClKernels
{
    internal static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Stores a vector accumulator lane by lane where <paramref name="cond"/> holds (lane v, value lanes[v]).</summary>
    internal static string StoreLanes(int lanes, string acc, string cond, string target) => $@"    float lanes[{lanes}];
    vstore{lanes}({acc}, 0, lanes);
    for (int v = 0; v < {lanes}; v++)
        if ({cond}) {target};
";

    /// <summary>
    /// outer × axis × inner decomposition of a shape around one (constant) axis; the outer and inner parts may hold a
    /// size symbol (N moved behind the axis by a permute), so they stay <see cref="Dim"/>s and render as macros.
    /// </summary>
    internal static (Dim Outer, long Axis, Dim Inner) Around(Shape s, int axis) =>
        (s.Dims.Take(axis).Aggregate((Dim)1, (a, b) => a * b), s[axis].Coef, s.Dims.Skip(axis + 1).Aggregate((Dim)1, (a, b) => a * b));

    /// <summary>The most elements of a work-item's loop (<see cref="Laned"/>); the device's ND_LANES divides it.</summary>
    public const int MaxLanes = 16;

    /// <summary>
    /// Whether an elementwise kernel of this shape (a fused chain, a lone op, a slice or its gradient) runs ND_LANES
    /// consecutive elements per work-item in a loop of its own (the device's vector width on a CPU, 1 on a GPU): where
    /// the innermost axis is a constant multiple of <see cref="MaxLanes"/>. The OpenCL compiler vectorizes that loop
    /// first. Left to PoCL 3.1's vectorizer across work-items, a kernel in which its scalar optimizer had first paired
    /// two alike expressions (an LSTM cell's σ(f)·c + σ(i)·tanh(g): two σ) ran scalar, 4 times as long, and a slice's
    /// copy read with gathers (4.5 times as long as in lanes); with the loop they run in vectors.
    /// </summary>
    internal static bool Laned(Shape shape) =>
        shape.Rank >= 1 && shape[shape.Rank - 1].IsConstant && shape[shape.Rank - 1].Coef % MaxLanes == 0;

    /// <summary>
    /// The start of an elementwise kernel's body over <paramref name="shape"/>, after its signature: the element i and
    /// the coordinates c&lt;axis&gt; of <paramref name="axes"/>; with <paramref name="laned"/>, the ND_LANES consecutive
    /// elements of the innermost axis (it divides the axis): the coordinates of the first, then a loop whose element l
    /// is the first's with the innermost coordinate l further on. Returns the indent of the body.
    /// </summary>
    internal static string ElementStart(StringBuilder sb, Shape shape, ISet<int> axes, bool laned)
    {
        if (!laned)
        {
            sb.AppendLine("    const int i = get_global_id(0);");
            Coordinates(sb, shape, "i", "    ", axes);
            return "    ";
        }
        var inner = shape.Rank - 1;
        sb.AppendLine("    const int i0 = get_global_id(0) * ND_LANES;");
        Coordinates(sb, shape, "i0", "    ", axes, innerSuffix: "_0");
        // The lanes are independent, as work-items are (a value computed in place is read at its own element only),
        // which the vectorizer cannot see through pointers that may alias.
        sb.AppendLine("    #pragma clang loop vectorize(assume_safety)");
        sb.AppendLine("    for (int l = 0; l < ND_LANES; l++)\n    {");
        sb.AppendLine("        const int i = i0 + l;");
        if (axes.Contains(inner)) sb.AppendLine($"        const int c{inner} = c{inner}_0 + l;");
        return "        ";
    }

    /// <summary>Closes what <see cref="ElementStart"/> opened, and the kernel.</summary>
    internal static void ElementEnd(StringBuilder sb, bool laned) => sb.Append(laned ? "    }\n}\n" : "}\n");
}
