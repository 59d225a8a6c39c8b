using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// Every op's gradient rule, checked on the float64 reference: the backward graph the differentiator built must
/// agree with central finite differences of the forward graph, for every parameter and float input element (a sample of
/// 400 of a leaf larger than that).
/// </summary>
public sealed class GradientCheckTests
{
    // Truncated backpropagation through time is not the loss's true gradient, by design: ScanTests checks these two
    // (the truncated scan and its definition written out with stop_gradient) against each other instead.
    private static readonly HashSet<string> NotTheTrueGradient = new(StringComparer.Ordinal) { "OpScanTruncated", "OpScanTruncatedChunks" };

    // Cases that exist for the kernels' shapes (tiles of the attention kernels' GPU forms, the convolution's pixel blocks),
    // not for a gradient rule: their ops' rules are checked here on the smaller cases, and the runtime tests check these
    // against the float64 reference's gradients at every shape. Central differences on them took 40 s to 2 min each.
    private static readonly HashSet<string> ShapeCases = new(StringComparer.Ordinal)
    {
        "OpAttentionTileCausal", "OpAttentionTileMasked", "OpAttentionTileHeads", "OpAttentionTileWide",
        "OpConvPixels7", "OpConvPixels12", "OpConvPixels16", "OpConvPixels28", "OpConvPixelsStrided",
    };

    public static IEnumerable<object[]> Models() =>
        ReferenceOps.Compile().Where(m => !NotTheTrueGradient.Contains(m.Name) && !ShapeCases.Contains(m.Name)).SelectMany(m => ReferenceOps.HasModes(m.Ir)
            ? new[] { new object[] { m.Name, true }, new object[] { m.Name, false } }
            : new[] { new object[] { m.Name, true } });

    [Theory]
    [MemberData(nameof(Models))]
    public void Backward_MatchesCentralDifferences(string name, bool training)
    {
        var model = ReferenceOps.Compile().Single(m => m.Name == name).Ir;
        AssertBackwardMatchesCentralDifferences(model, training, new Random(1234 + name.Length));
    }

    /// <summary>d loss / d leaf[i] by central differences (step 1e-6) on the float64 reference; the leaf is restored.</summary>
    internal static double CentralDifference(Ir.Graph graph, IReadOnlyDictionary<string, long> symbols,
        Dictionary<int, double[]> leaves, int leafId, int i)
    {
        const double h = 1e-6;
        var (leaf, lossId) = (leaves[leafId], graph.LossId!.Value);
        var saved = leaf[i];
        leaf[i] = saved + h;
        var up = ReferenceInterpreter.RunForward(graph, symbols, leaves)[lossId][0];
        leaf[i] = saved - h;
        var down = ReferenceInterpreter.RunForward(graph, symbols, leaves)[lossId][0];
        leaf[i] = saved;
        return (up - down) / (2 * h);
    }

    /// <summary>Leaves larger than this are checked at a sample of their elements.</summary>
    private const int MaxCheckedElements = 400;

    /// <summary>
    /// The elements of a leaf of <paramref name="length"/> to check: all of them up to <see cref="MaxCheckedElements"/>;
    /// beyond, the first and last 100 (edges, where tiles and masks begin and end) and 200 drawn at random. Each
    /// check runs the reference forward twice, so checking every element of the 40-key attention case's 11,640 took
    /// five minutes, and a sample of 1,000 a leaf still 2 min 44 s (CI's longest test); a wrong gradient rule shows in
    /// a sample of any real size.
    /// </summary>
    private static IEnumerable<int> Checked(int length, Random rng)
    {
        if (length <= MaxCheckedElements) return Enumerable.Range(0, length);
        var edges = Enumerable.Range(0, 100).Concat(Enumerable.Range(length - 100, 100));
        var drawn = Enumerable.Range(0, 200).Select(_ => rng.Next(100, length - 100));
        return edges.Concat(drawn).Distinct().Order();
    }

    /// <summary>The check itself, also run on the random models of <see cref="RandomModelTests"/>.</summary>
    internal static void AssertBackwardMatchesCentralDifferences(Semantics.ModelIr model, bool training, Random rng)
    {
        var name = model.Name;
        var graph = model.Graph;
        var symbols = new Dictionary<string, long>
        {
            ["N"] = 3, [ReferenceInterpreter.TrainingSymbol] = training ? 1 : 0,
            [ReferenceInterpreter.SeedSymbol] = 77, [ReferenceInterpreter.StepSymbol] = 5,
        };
        var leaves = graph.Inputs.Concat(graph.Params).ToDictionary(l => l.Id, l => ReferenceOps.RandomLeaf(model, l, symbols, rng));
        var values = ReferenceInterpreter.Run(graph, symbols, leaves);
        var lossId = graph.LossId!.Value;

        Assert.NotEmpty(graph.Gradients);
        foreach (var (leafId, gradId) in graph.Gradients)
        {
            var leaf = leaves[leafId];
            var analytic = values[gradId];
            Assert.Equal(leaf.Length, analytic.Length);
            foreach (var i in Checked(leaf.Length, rng))
            {
                var numeric = CentralDifference(graph, symbols, leaves, leafId, i);
                Assert.True(Math.Abs(numeric - analytic[i]) <= 1e-6 + 1e-5 * Math.Abs(numeric),
                    $"{name}: d loss / d {graph[leafId].Name}[{i}] = {analytic[i]} by the backward graph, {numeric} by finite differences");
            }
        }
    }

    [Fact]
    public void EveryRegisteredOp_IsExercisedByOpsNd()
    {
        // The op cases (tests/Shared/Ops/*.nd) drive both this finite-difference check and the kernel-vs-reference check (KernelTests), so an op
        // it exercises has both; the differentiator refuses a forward op without a gradient rule, so every op in
        // a compiled case's forward pass has one.
        var used = ReferenceOps.Compile().SelectMany(m => m.Ir.Graph.Nodes).Select(n => n.Def).ToHashSet();
        var missing = Ops.OpRegistry.All.Where(d => d.Kind != PrimKind.Leaf && !used.Contains(d)).Select(d => d.Name).ToList();
        Assert.True(missing.Count == 0, "not exercised by tests/Shared/Ops/*.nd: " + string.Join(", ", missing));
    }

    [Fact]
    public void EverySurfaceOp_IsCalledByOpsNd()
    {
        var layers = ReferenceOps.Compile().SelectMany(m => m.Ir.Graph.Nodes).Select(n => n.Layer).ToHashSet();
        var missing = Ops.OpRegistry.Surface.Names.Where(name => !layers.Contains(name)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, "surface ops no model of tests/Shared/Ops/*.nd calls: " + string.Join(", ", missing));
    }
}
