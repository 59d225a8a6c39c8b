using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace NeuroDsl.Compiler.Ir;

/// <summary>An i32 input whose values pick something: valid values are 0 ≤ v &lt; <paramref name="Limit"/>.</summary>
/// <param name="Use">What takes it, for messages: "cross_entropy (line 30)".</param>
public sealed record InputRange(string Input, long Limit, string Use);

/// <summary>
/// The valid range of each i32 input of a model, from the ops that read it as an index (the smallest bound when
/// several do). The runtime checks uploads against these, so a label past the classes is an error naming the value,
/// not a NaN loss.
/// </summary>
public static class InputRanges
{
    public static IReadOnlyList<InputRange> Of(Graph graph)
    {
        var result = new List<InputRange>();
        foreach (var input in graph.Inputs.Where(i => i.DType == DType.I32))
        {
            InputRange? best = null;
            // The input and its views (labels seen as [N, 1] by one_hot) are read as the same values.
            var values = new List<int> { input.Id };
            for (var v = 0; v < values.Count; v++)
                foreach (var node in graph.Nodes)
                    for (var j = 0; j < node.Inputs.Count; j++)
                    {
                        if (node.Inputs[j] != values[v]) continue;
                        if (node.Def.Kind == PrimKind.View)
                        {
                            if (!values.Contains(node.Id)) values.Add(node.Id);
                            continue;
                        }
                        var inputs = node.Inputs.Select(k => graph[k]).ToArray();
                        if (node.Def.IndexLimit(node, inputs, j) is { } limit && (best is null || limit < best.Limit))
                            best = new InputRange(input.Name, limit,
                                node.Op + " (line " + node.Span.Line.ToString(CultureInfo.InvariantCulture) + ")");
                    }
            if (best is not null) result.Add(best);
        }
        return result;
    }
}
