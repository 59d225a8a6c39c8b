using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Reference;

/// <summary>
/// The living definition of every primitive: evaluates a graph (forward and backward nodes) in float64 on
/// the host, in plain loops. Kernels are tested against it, and it against finite differences.
/// </summary>
public static partial class ReferenceInterpreter
{
    /// <summary>Symbols the reference reads besides sizes: training mode (1/0), dropout seed and step.</summary>
    public const string TrainingSymbol = "__training";
    public const string SeedSymbol = "__seed";
    public const string StepSymbol = "__step";

    /// <summary>Evaluates every node; leaves come from <paramref name="leaves"/> by node id (inputs and parameters).</summary>
    public static double[][] Run(Graph graph, IReadOnlyDictionary<string, long> symbols, IReadOnlyDictionary<int, double[]> leaves) =>
        Evaluate(graph, graph.Nodes, symbols, leaves);

    /// <summary>
    /// Evaluates the forward nodes only (the backward ones stay null): every intermediate value of a forward pass,
    /// by node id, for tools that show what a layer computed (model cards' feature maps).
    /// </summary>
    public static double[][] RunForward(Graph graph, IReadOnlyDictionary<string, long> symbols, IReadOnlyDictionary<int, double[]> leaves) =>
        Evaluate(graph, graph.Forward, symbols, leaves);

    private static double[][] Evaluate(Graph graph, IEnumerable<Node> nodes, IReadOnlyDictionary<string, long> symbols,
        IReadOnlyDictionary<int, double[]> leaves)
    {
        var values = new double[graph.Nodes.Count][];
        foreach (var node in nodes)
        {
            values[node.Id] = node.Kind switch
            {
                NodeKind.Const => new[] { node.ConstValue },
                NodeKind.Input or NodeKind.Param => leaves.TryGetValue(node.Id, out var v) ? v
                    : throw new ArgumentException("no value for leaf " + node.Name),
                _ => Eval(graph, node, symbols, values),
            };
        }
        return values;
    }

    internal static double[] Eval(Graph graph, Node node, IReadOnlyDictionary<string, long> symbols, double[][] values) =>
        node.Def.Reference(new Ops.RefCall(node, node.Inputs.Select(i => values[i]).ToArray(),
            node.Inputs.Select(i => graph[i].Shape.Eval(symbols)).ToArray(), node.Shape.Eval(symbols), symbols));

    public static long Numel(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Maps a flat index of <paramref name="to"/> to the flat index of a broadcast operand of shape <paramref name="from"/>.</summary>
    public static Func<int, int> BroadcastMap(long[] from, long[] to)
    {
        if (from.SequenceEqual(to)) return i => i;
        var pad = to.Length - from.Length;
        return i =>
        {
            long index = 0, stride = 1, rest = i;
            var coords = new long[to.Length];
            for (var d = to.Length - 1; d >= 0; d--)
            {
                coords[d] = rest % to[d];
                rest /= to[d];
            }
            for (var d = from.Length - 1; d >= 0; d--)
            {
                if (from[d] != 1) index += coords[d + pad] * stride;
                stride *= from[d];
            }
            return (int)index;
        };
    }
}
