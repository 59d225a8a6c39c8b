using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Testing;

/// <summary>Random leaves for the op models of tests/Shared/Ops/*.nd, respecting each op's domain (positive divisors, ±1 labels…).</summary>
public static class ReferenceOps
{
    /// <summary>The op-case files (tests/Shared/Ops/*.nd: one per op family), in name order.</summary>
    public static IReadOnlyList<string> Files =>
        Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Cases", "Ops"), "*.nd").OrderBy(f => f, StringComparer.Ordinal).ToList();

    /// <summary>
    /// Every op model of every case file, compiled once per test process: a compile of all of them takes about 0.8 s,
    /// and the tests ask for it once per case (some 600 times in the runtime tests, 8 minutes of CI).
    /// </summary>
    public static IReadOnlyList<ModelOutput> Compile() => All.Value;

    private static readonly Lazy<IReadOnlyList<ModelOutput>> All = new(() => Files.SelectMany(CompileFile).ToList());

    public static IReadOnlyList<ModelOutput> CompileFile(string path)
    {
        var result = NeuroCompiler.Compile(Path.GetFileName(path), File.ReadAllText(path));
        if (!result.Success) throw new InvalidOperationException(string.Join("\n", result.Diagnostics));
        return result.Models;
    }

    public static double[] RandomLeaf(ModelIr model, Node leaf, IReadOnlyDictionary<string, long> symbols, Random rng)
    {
        var n = ReferenceInterpreter.Numel(leaf.Shape.Eval(symbols));
        var values = new double[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = (model.Name, leaf.Name) switch
            {
                ("OpDiv", "b") or ("OpExpLog", "x") => 0.5 + rng.NextDouble() * 1.5,
                ("OpBce", "t") or ("OpBceLogits", "t") => rng.NextDouble(),
                ("OpPerceptron", "t") => rng.Next(2) * 2 - 1,
                ("OpEwSqrt" or "OpEwRsqrt" or "OpEwPowNumber" or "OpEwPowTensor", "x") => 0.5 + rng.NextDouble() * 1.5,
                ("OpEwLe" or "OpEwGe" or "OpEwEq" or "OpEwNe" or "OpEwMaximumTies", "a" or "b") => rng.Next(3) - 1, // ties
                ("OpCrossEntropyWide", "labels") => rng.Next(21), // every one of its 21 classes
                ("OpAttentionLongMasked" or "OpAttentionCross" or "OpAttentionHeadsInPlace" or "OpAttentionTileMasked", "pad") => rng.Next(4) == 0 ? -1e9 : 0.5 * Gaussian(rng), // padding and a bias
                (_, "labels") => rng.Next(5), // OpCrossEntropy has 5 classes
                (_, "ids") => rng.Next(7), // gather.nd: every gathered axis has 7 rows
                (_, "lengths") => rng.Next(7), // scan_layers.nd: sequences of 5 steps, lengths 0 to 6
                (_, var leafName) when leafName.EndsWith("running_var", StringComparison.Ordinal) => 0.5 + rng.NextDouble(),
                _ => Gaussian(rng),
            };
        }
        return values;
    }

    /// <summary>Whether a model behaves differently in training and evaluation (batch norm, dropout).</summary>
    public static bool HasModes(ModelIr model) =>
        model.Graph.Nodes.Any(n => n.Def == Compiler.Ops.BatchNorm.Stats || n.Def == Compiler.Ops.Dropout.Forward);

    public static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
