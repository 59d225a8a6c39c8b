using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// A loop body's input read in place: step t of a sequence [N, <paramref name="Steps"/>, <paramref name="Width"/>],
/// columns <paramref name="Offset"/> to <paramref name="Offset"/> + <paramref name="Count"/>, where the input is
/// [N, Count] (Count describes the view; the index needs only the rows' stride). The kernel reading it takes the loop's time (the position t, reversed loops included) as its argument
/// <c>t</c>, instead of a launch per step copying the step out of the sequence first. It is a strided view: element
/// (b, c) is at b·Steps·Width + t·Width + Offset + c, an address linear in the kernel's coordinates, so a read of it
/// vectorizes like any other.
/// </summary>
public sealed record StepView(Dim Steps, Dim Width, long Offset, Dim Count)
{
    /// <summary>The input's strides in the sequence (rows Steps·Width apart, columns adjacent).</summary>
    public Dim[] Strides => new[] { Steps * Width, (Dim)1 };

    /// <summary>Where step t's first element is: t·Width + Offset.</summary>
    public string Start => $"t * {Width.ToC()}" + (Offset == 0 ? "" : " + " + Offset.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Whether a kernel of <paramref name="kernel"/>'s shape reads an input of <paramref name="input"/>'s at its
    /// coordinates: both [N, F], or the input [N, 1] (a value per row).</summary>
    public static bool Fits(Shape input, Shape kernel) => input.Rank == 2 && kernel.Rank == 2 && input[0].Equals(kernel[0])
        && (input[1].Equals(kernel[1]) || input[1] == (Dim)1);

    /// <summary>The sequence's index of the element at coordinates c0 (row) and c1 (column).</summary>
    public string At(string row, string column) => $"{row} * {(Steps * Width).ToC()} + {Start} + {column}";
}
