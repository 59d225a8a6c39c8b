using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// The recurrent models of the zoo (models/elman.nd, lstm.nd, gru.nd, both forms of each) forward and backward on
/// OpenCL against the float64 reference, at odd sizes with the time axis T a size symbol like the batch.
/// </summary>
public sealed class RecurrentModelTests
{
    [Theory]
    [InlineData("elman.nd", "Elman")]
    [InlineData("lstm.nd", "LSTM")]
    [InlineData("lstm.nd", "LSTMOneBias")]
    [InlineData("gru.nd", "GRU")]
    [InlineData("gru.nd", "GRUOneBias")]
    public void Model_MatchesReference(string file, string name)
    {
        var compiled = ReferenceOps.CompileFile(Path.Combine(AppContext.BaseDirectory, "Models", file)).Single(m => m.Name == name);
        var graph = compiled.Ir.Graph;
        var type = typeof(NeuroDsl.Models.Elman).Assembly.GetType("NeuroDsl.Models." + name, throwOnError: true)!;
        const int n = 3, t = 5;
        using var model = (CompiledModel)Activator.CreateInstance(type, TestDevice.Instance, n, t, 7UL)!;
        model.ComputeInputGradients = true;

        var symbols = new Dictionary<string, long> { ["N"] = n, ["T"] = t, [ReferenceInterpreter.TrainingSymbol] = 1 };
        var rng = new Random(11);
        var leaves = new Dictionary<int, double[]>();
        foreach (var input in graph.Inputs)
        {
            var values = ReferenceOps.RandomLeaf(compiled.Ir, input, symbols, rng);
            leaves[input.Id] = values;
            model.SetInput(input.Name, values.Select(v => (float)v).ToArray());
        }
        foreach (var p in graph.Params)
        {
            // Larger weights than the initializers give, so that the gates saturate and the recurrence matters.
            var values = p.Shape.Eval(symbols).Aggregate(1L, (a, b) => a * b) is var count
                ? Enumerable.Range(0, (int)count).Select(_ => (rng.NextDouble() - 0.5) * 0.5).ToArray() : null!;
            model.WriteParameter(p.Name, values.Select(v => (float)v).ToArray());
            leaves[p.Id] = values.Select(v => (double)(float)v).ToArray();
        }

        model.Forward();
        model.Backward();
        var reference = ReferenceInterpreter.Run(graph, symbols, leaves);
        foreach (var (outName, id) in graph.Outputs)
            KernelTests.AssertClose(reference[id], model.Read(outName), $"{name} output {outName}");
        KernelTests.AssertClose(reference[graph.LossId!.Value], new[] { model.ReadLoss() }, $"{name} loss");
        foreach (var (leafId, gradId) in graph.Gradients)
            KernelTests.AssertClose(reference[gradId], model.Read("grad." + graph[leafId].Name), $"{name} grad.{graph[leafId].Name}");
    }
}
