using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace NeuroDsl.Generator.Tests;

/// <summary>The compile step is cached: unchanged files are not recompiled, and an edit recompiles only its file.</summary>
public sealed class IncrementalityTests
{
    private static IncrementalStepRunReason[] Reasons(GeneratorDriver driver) =>
        driver.GetRunResult().Results[0].TrackedSteps[NeuroDslGenerator.CompileStep]
            .SelectMany(step => step.Outputs.Select(o => o.Reason)).ToArray();

    [Fact]
    public void RerunWithUnchangedFiles_IsCached()
    {
        var xor = new InMemoryText("/m/xor_mlp.nd", GeneratorHarness.ModelFile("xor_mlp.nd"));
        var perceptron = new InMemoryText("/m/perceptron.nd", GeneratorHarness.ModelFile("perceptron.nd"));
        var compilation = GeneratorHarness.EmptyCompilation();
        var driver = GeneratorHarness.Driver(xor, perceptron).RunGenerators(compilation);
        Assert.All(Reasons(driver), r => Assert.Equal(IncrementalStepRunReason.New, r));

        driver = driver.RunGenerators(compilation.AddSyntaxTrees(Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText("class Unrelated {}")));
        Assert.All(Reasons(driver), r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
    }

    [Fact]
    public void EditingOneFile_RegeneratesOnlyThatModel()
    {
        var xor = new InMemoryText("/m/xor_mlp.nd", GeneratorHarness.ModelFile("xor_mlp.nd"));
        var perceptron = new InMemoryText("/m/perceptron.nd", GeneratorHarness.ModelFile("perceptron.nd"));
        var compilation = GeneratorHarness.EmptyCompilation();
        var driver = GeneratorHarness.Driver(xor, perceptron).RunGenerators(compilation);

        var edited = new InMemoryText("/m/perceptron.nd", GeneratorHarness.ModelFile("perceptron.nd").Replace("features = 2", "features = 3").Replace("params == 3", "params == 4"));
        driver = driver.ReplaceAdditionalText(perceptron, edited).RunGenerators(compilation);
        var reasons = Reasons(driver);
        Assert.Equal(1, reasons.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.Equal(1, reasons.Count(r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
        var regenerated = driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith("Perceptron.g.cs"));
        Assert.Contains("new long[] { 1L, 3L }", regenerated.GetText().ToString());
    }
}
