using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// Every op's forward and backward kernels, as generated into this assembly from ops.nd, against the float64
/// reference on fresh random inputs: outputs, the loss, and every parameter and input gradient.
/// </summary>
public sealed class KernelTests
{
    public static IEnumerable<object[]> Cases() =>
        ReferenceOps.Compile().SelectMany(m => new[] { 1, 37 }.Select(n => new object[] { m.Name, n }));

    [Theory]
    [MemberData(nameof(Cases))]
    public void GeneratedKernels_MatchReference(string name, int n)
    {
        var compiled = ReferenceOps.Compile().Single(m => m.Name == name);
        var ir = compiled.Ir;
        var graph = ir.Graph;
        var type = typeof(KernelTests).Assembly.GetType("NeuroDsl.Runtime.Tests." + name, throwOnError: true)!;
        var seed = (ulong)Environment.TickCount64;
        using var model = (CompiledModel)Activator.CreateInstance(type, TestDevice.Instance, n, seed)!;
        model.ComputeInputGradients = true;

        var symbols = new Dictionary<string, long> { ["N"] = n };
        var rng = new Random((int)seed);
        var leaves = new Dictionary<int, double[]>();
        foreach (var input in graph.Inputs)
        {
            var values = ReferenceOps.RandomLeaf(ir, input, symbols, rng);
            leaves[input.Id] = values;
            if (input.DType == DType.I32) model.SetInput(input.Name, values.Select(v => (int)v).ToArray());
            else model.SetInput(input.Name, values.Select(v => (float)v).ToArray());
        }
        foreach (var p in graph.Params)
            leaves[p.Id] = model.Read(p.Name).Select(v => (double)v).ToArray(); // as initialized on the device

        model.Forward();
        model.Backward();
        var reference = ReferenceInterpreter.Run(graph, symbols, leaves);

        foreach (var (outName, id) in graph.Outputs)
            AssertClose(reference[id], model.Read(outName), $"{name} N={n} output {outName}");
        AssertClose(reference[graph.LossId!.Value], new[] { model.ReadLoss() }, $"{name} N={n} loss");
        foreach (var (leafId, gradId) in graph.Gradients)
        {
            var leaf = graph[leafId];
            var tensor = leaf.Kind == NodeKind.Param ? "grad." + leaf.Name : "grad." + leaf.Name;
            AssertClose(reference[gradId], model.Read(tensor), $"{name} N={n} {tensor}");
        }
    }

    internal static void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<float> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var tolerance = 2e-5 + 2e-4 * Math.Abs(expected[i]);
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance,
                $"{what}[{i}]: device {actual[i]}, reference {expected[i]}");
        }
    }
}
