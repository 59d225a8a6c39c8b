using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Autodiff;

/// <summary>
/// Builds the backward graph ahead of time: reverse mode from the loss over the forward nodes, one rule per
/// primitive, summing the contributions of values used more than once. Appends to the same graph.
/// </summary>
public static class Differentiator
{
    public static void Differentiate(Graph graph, DiagnosticBag diagnostics)
    {
        graph.BackwardStart = graph.Nodes.Count;
        if (graph.LossId is not { } lossId) return;

        // A node needs a gradient when a trainable parameter or a float input lies upstream of it.
        var needs = new bool[graph.Nodes.Count];
        foreach (var node in graph.Nodes)
            needs[node.Id] = node.Kind switch
            {
                NodeKind.Param => node.Param!.Trainable,
                NodeKind.Input => node.DType == DType.F32,
                NodeKind.Const => false,
                _ => node.Inputs.Any(i => needs[i]),
            };

        var g = new GradBuilder(graph);
        var loss = graph[lossId];
        var grads = new Dictionary<int, Node> { [lossId] = g.Const(1.0, loss) };
        for (var id = lossId; id >= 0; id--)
        {
            var node = graph[id];
            if (node.Kind != NodeKind.Op || !needs[id] || !grads.TryGetValue(id, out var dy)) continue;
            var firstNew = graph.Nodes.Count;
            if (node.Def.Gradient(g, node, dy) is not { } inputGrads)
            {
                diagnostics.Error(Codes.Internal, node.Span, null, $"no gradient rule for '{node.Op}'");
                return;
            }
            for (var i = 0; i < node.Inputs.Count; i++)
            {
                var input = node.Inputs[i];
                if (inputGrads[i] is not { } gi || !needs[input]) continue;
                // Name a gradient after the value it is the gradient of: grad.hidden, grad.x.
                if (gi.Id >= firstNew && graph[input].Kind != NodeKind.Const) gi.Name = "grad." + graph[input].Name;
                grads[input] = grads.TryGetValue(input, out var sum) ? g.Ew(Ops.Arithmetic.Add, graph[input], sum, gi) : gi;
            }
        }
        foreach (var leaf in graph.Params.Concat(graph.Inputs))
            if (grads.TryGetValue(leaf.Id, out var grad))
                graph.Gradients[leaf.Id] = grad.Id;
    }
}
