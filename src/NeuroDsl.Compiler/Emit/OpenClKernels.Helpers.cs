using System.Globalization;
using System.Linq;
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
}
