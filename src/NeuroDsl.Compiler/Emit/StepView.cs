using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// A loop body's input read in place: step t of a sequence [N, <paramref name="Steps"/>, <paramref name="Width"/>],
/// columns <paramref name="Offset"/> to <paramref name="Offset"/> + <paramref name="Count"/>, where the input is
/// [N, Count]. The kernel reading it takes the loop's time (the position t, reversed loops included) as its argument
/// <c>t</c>, instead of a launch per step copying the step out of the sequence first.
/// </summary>
public sealed record StepView(Dim Steps, Dim Width, long Offset, Dim Count)
{
    /// <summary>The sequence's index of the input's element at flat index <paramref name="flat"/>.</summary>
    public string Index(string flat)
    {
        var x = flat == "i" ? "i" : $"({flat})";
        var offset = Offset == 0 ? "" : " + " + Offset.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return $"({x} / {Count.ToC()} * {Steps.ToC()} + t) * {Width.ToC()}{offset} + {x} % {Count.ToC()}";
    }
}
