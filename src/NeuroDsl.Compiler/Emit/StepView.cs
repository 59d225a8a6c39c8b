using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// A loop body's input read in place: step t (or, <paramref name="Lag"/> ±1, the step before in the loop's order, with
/// the initial state <paramref name="Outside"/> before the first) of a sequence [N, <paramref name="Steps"/>, <paramref name="Width"/>],
/// columns <paramref name="Offset"/> to <paramref name="Offset"/> + <paramref name="Count"/>, where the input is
/// [N, Count] (Count describes the view; the index needs only the rows' stride). The kernel reading it takes the loop's time (the position t, reversed loops included) as its argument
/// <c>t</c>, instead of a launch per step copying the step out of the sequence first. It is a strided view: element
/// (b, c) is at b·Steps·Width + t·Width + Offset + c, an address linear in the kernel's coordinates, so a read of it
/// vectorizes like any other.
/// </summary>
public sealed record StepView(Dim Steps, Dim Width, long Offset, Dim Count, int Lag = 0, string? Outside = null)
{
    /// <summary>The input's strides in the sequence (rows Steps·Width apart, columns adjacent).</summary>
    public Dim[] Strides => new[] { Steps * Width, (Dim)1 };

    /// <summary>The step read: t, or for a state the step before (t ∓ 1, <see cref="Lag"/>).</summary>
    private string Step => Lag == 0 ? "t" : Lag > 0 ? "(t + 1)" : "(t - 1)";

    /// <summary>Where step t's first element is: t·Width + Offset.</summary>
    public string Start => $"{Step} * {Width.ToC()}" + (Offset == 0 ? "" : " + " + Offset.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Whether a kernel of <paramref name="kernel"/>'s shape reads an input of <paramref name="input"/>'s at its
    /// coordinates: both [N, F], or the input [N, 1] (a value per row).</summary>
    public static bool Fits(Shape input, Shape kernel) => input.Rank == 2 && kernel.Rank == 2 && input[0].Equals(kernel[0])
        && (input[1].Equals(kernel[1]) || input[1] == (Dim)1);

    /// <summary>The sequence's index of the element at coordinates c0 (row) and c1 (column).</summary>
    public string At(string row, string column) => $"{row} * {(Steps * Width).ToC()} + {Start} + {column}";

    /// <summary>
    /// The element of <paramref name="array"/> at the coordinates; with a <see cref="Lag"/>, the literal
    /// <see cref="Outside"/> (the initial state) where the step before falls outside the sequence.
    /// </summary>
    public string Read(string array, string row, string column) => Lag == 0
        ? $"{array}[{At(row, column)}]"
        : $"({Step} >= 0 && {Step} < {Steps.ToC()} ? {array}[{At(row, column)}] : {Outside})";
}

/// <summary>
/// A loop body's value that its kernel also writes into a sequence at step t through <paramref name="View"/>: a state
/// into the trajectory, a value the forward loop keeps into the reserve space, a sequence's gradient into its
/// [N, T, F] buffer, instead of a launch per step copying it there.
/// </summary>
public sealed record StepWrite(int Value, StepView View);
