using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>A reviewed summary snapshot of every model in models/, which must also add up.</summary>
public sealed class SummaryTests
{
    public static IEnumerable<object[]> ModelFiles() =>
        Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Models"), "*.nd")
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => new object[] { Path.GetFileNameWithoutExtension(f) });

    [Theory]
    [MemberData(nameof(ModelFiles))]
    public void Summary_MatchesSnapshot_AndLayerParamsSumToTotal(string stem)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Models", stem + ".nd");
        var result = NeuroCompiler.Compile(stem + ".nd", File.ReadAllText(path));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        foreach (var m in result.Models)
        {
            var layers = SummaryWriter.Layers(m.Ir);
            Assert.Equal(m.Ir.Graph.TrainableParameterCount, layers.Sum(l => l.Params));
            Assert.Equal(m.Ir.Graph.MacsPerExample, layers.Sum(l => l.Macs));
            Assert.Equal(m.Ir.Graph.ConnectionsPerExample, layers.Sum(l => l.Connections));
            // Every layer has a name of its own (blocks and ops of one statement never share one).
            Assert.Equal(layers.Count, layers.Select(l => l.Name).Distinct().Count());
            // Every parameter is counted by exactly one layer.
            Assert.Equal(m.Ir.Graph.Params.Select(p => p.Name).OrderBy(n => n), layers.SelectMany(l => l.ParamShapes.Select(p => p.Name)).OrderBy(n => n));
        }
        Snapshot.Verify(string.Join("\n", result.Models.Select(m => SummaryWriter.Text(m.Ir, m.Plan))), stem);
    }
}
