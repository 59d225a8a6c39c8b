using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Runtime.Checkpoints;

namespace NeuroDsl.Cli.Cards;

/// <summary>
/// Every intermediate value of one forward pass, by the name the model gives it (<c>c1</c>, <c>s2</c>, <c>hidden</c>):
/// the float64 reference interpreter run on trained weights. The device's plan reuses the buffers of intermediates, so
/// a card reads them here, where every node keeps its value; the reference is the oracle the kernels are tested against.
/// </summary>
public sealed class Intermediates
{
    private readonly Graph _graph;
    private readonly double[][] _values;
    private readonly Dictionary<string, long> _symbols;

    private Intermediates(Graph graph, double[][] values, Dictionary<string, long> symbols)
    {
        _graph = graph;
        _values = values;
        _symbols = symbols;
    }

    /// <summary>Runs the forward pass of <paramref name="model"/> on the given weights and inputs (batch N = 1 unless the inputs say more).</summary>
    public static Intermediates Run(ModelOutput model, IReadOnlyDictionary<string, float[]> weights,
        IReadOnlyDictionary<string, float[]> inputs, long batch = 1)
    {
        var graph = model.Ir.Graph;
        var symbols = new Dictionary<string, long> { ["N"] = batch, [ReferenceInterpreter.TrainingSymbol] = 0 };
        var leaves = new Dictionary<int, double[]>();
        foreach (var p in graph.Params)
            leaves[p.Id] = weights.TryGetValue(p.Name, out var w) ? Array.ConvertAll(w, v => (double)v)
                : throw new InvalidDataException($"the weights have no '{p.Name}'");
        foreach (var i in graph.Inputs)
            leaves[i.Id] = inputs.TryGetValue(i.Name, out var x) ? Array.ConvertAll(x, v => (double)v)
                : new double[ReferenceInterpreter.Numel(i.Shape.Eval(symbols))];
        return new Intermediates(graph, ReferenceInterpreter.RunForward(graph, symbols, leaves), symbols);
    }

    /// <summary>Reads the weights of a checkpoint (safetensors) by parameter name.</summary>
    public static Dictionary<string, float[]> Weights(string checkpoint) =>
        SafeTensors.Read(checkpoint).Tensors.Where(t => !t.Key.StartsWith("optimizer.", StringComparison.Ordinal))
            .ToDictionary(t => t.Key, t => t.Value.AsFloats());

    /// <summary>The value named <paramref name="name"/> and its shape.</summary>
    public (double[] Values, long[] Shape) this[string name]
    {
        get
        {
            var node = _graph.Forward.LastOrDefault(n => n.Name == name)
                       ?? throw new KeyNotFoundException($"the model has no value named '{name}'");
            return (_values[node.Id], node.Shape.Eval(_symbols));
        }
    }

    /// <summary>Channel <paramref name="c"/> of example 0 of an [N, C, H, W] value, as a 2-D array.</summary>
    public static double[,] Map(double[] values, long[] shape, int c)
    {
        var (h, w) = ((int)shape[2], (int)shape[3]);
        var map = new double[h, w];
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
                map[y, x] = values[(c * h + y) * w + x];
        return map;
    }
}
