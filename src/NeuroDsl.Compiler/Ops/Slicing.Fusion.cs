using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// A slice and a slice's gradient read their input at positions computed from their own coordinates, so an
/// elementwise kernel of the slice's shape reads the input in place instead of a slice kernel storing a copy:
/// an LSTM's four gates are read from the pre-activations by the kernel that applies their nonlinearities, and the
/// four gates' gradients are gathered into the pre-activations' gradient by the kernel that sums them.
/// </summary>
public sealed partial class Slicing
{
    /// <summary>Whether an elementwise kernel can read <paramref name="node"/>'s value from its input in place.</summary>
    internal static bool IsRemap(Node node) => node.Def == StridedSlice || node.Def == StridedSliceGrad;

    /// <summary>
    /// The value of a slice (or a slice's gradient) <paramref name="node"/> at the coordinates c&lt;d&gt; of its
    /// shape, read from <paramref name="tensor"/> holding its input <paramref name="input"/>; the axes whose
    /// coordinates the expression uses. <paramref name="view"/>, where given, is where the input lies in the tensor (an
    /// input read in place from a sequence: its strides there and its first element).
    /// </summary>
    internal static (string Value, IReadOnlyList<int> Axes) RemapRead(Node node, Node input, string tensor,
        (Dim[] Strides, string Start)? view = null)
    {
        var (begin, step) = (node.AttrInts("begin"), node.AttrInts("step"));
        var strides = view?.Strides ?? input.Shape.Strides();
        string at(string index) => view is { } v ? $"{v.Start} + {index}" : index;
        var used = Enumerable.Range(0, node.Shape.Rank).Where(d => node.Shape[d] != (Dim)1).ToList();
        if (node.Def == StridedSlice)
        {
            // x[offset + Σ c_d·step_d·stride_d].
            var terms = Enumerable.Range(0, input.Shape.Rank).Where(d => begin[d] != 0)
                .Select(d => ((Dim)begin[d] * strides[d]).ToC())
                .Concat(used.Select(d => Term($"c{d}", (Dim)step[d] * strides[d]))).ToList();
            return ($"{tensor}[{at(terms.Count == 0 ? "0" : string.Join(" + ", terms))}]", used);
        }

        // dy[(c − begin) / step] where c − begin is a multiple of the step inside the slice, else 0.
        var conditions = new List<string>();
        var reads = new List<string>();
        foreach (var d in used)
        {
            var q = $"c{d}";
            if (input.Shape[d] == (Dim)1)
            {
                conditions.Add($"c{d} == {L(begin[d])}");
                continue;
            }
            if (begin[d] != 0 || step[d] != 1 || input.Shape[d] != node.Shape[d])
            {
                if (begin[d] != 0)
                {
                    q = $"(c{d} - {L(begin[d])})";
                    conditions.Add($"c{d} >= {L(begin[d])}");
                }
                var span = (input.Shape[d].Coef - 1) * step[d] + 1;
                if (begin[d] + span < node.Shape[d].Coef) conditions.Add($"{q} < {L(span)}");
                if (step[d] != 1) conditions.Add($"{q} % {L(step[d])} == 0");
            }
            reads.Add(Term(step[d] == 1 ? q : $"({q} / {L(step[d])})", strides[d]));
        }
        var read = $"{tensor}[{at(reads.Count == 0 ? "0" : string.Join(" + ", reads))}]";
        return (conditions.Count == 0 ? read : $"({string.Join(" && ", conditions)}) ? {read} : 0.0f", used);
    }
}
