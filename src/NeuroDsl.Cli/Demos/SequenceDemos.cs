using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli.Demos;

/// <summary>
/// <c>neurodsl demo NAME [--small] [--seed S] [--out DIR]</c> for the sequence papers: each demonstration trains a model
/// from <c>Demos/*.nd</c> (beside the tool) on its task and prints what the paper shows. <c>--small</c> is the size the
/// tests run (seconds).
/// </summary>
public static class SequenceDemos
{
    public static readonly IReadOnlyList<string> Names = new[]
    {
        "elman-xor", "elman-letters", "bengio-gradients", "long-lag", "seq2seq-reverse", "attention-reverse", "word2vec",
    };

    /// <summary>True when this dispatcher owns the demonstration <paramref name="name"/>.</summary>
    public static bool Owns(string name) => Names.Contains(name);

    /// <summary>Runs one demonstration; returns its headline figures by name (what the tests check).</summary>
    public static IReadOnlyDictionary<string, double> Run(string name, DemoSettings settings, Device device, TextWriter log) => name switch
    {
        "elman-xor" => ElmanDemos.Xor(settings, device, log),
        "elman-letters" => ElmanDemos.Letters(settings, device, log),
        "bengio-gradients" => GradientFlowDemo.Run(settings, device, log),
        "long-lag" => LongLagDemo.Run(settings, device, log),
        "seq2seq-reverse" => Seq2SeqDemo.Run(settings, device, log),
        "attention-reverse" => AttentionDemo.Run(settings, device, log),
        "word2vec" => Word2VecDemo.Run(settings, device, log),
        _ => throw new UsageException($"no demonstration '{name}' (demos: {string.Join(", ", Names)})"),
    };

    /// <summary>Compiles one model of a demonstration's file (Demos/FILE beside the tool) and loads its C#.</summary>
    internal static (ModelOutput Output, Type Type) Load(string file, string model)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Demos", file);
        if (!File.Exists(path)) throw new FileNotFoundException($"the demonstration's model is missing: {path}");
        var result = NeuroCompiler.Compile(file, File.ReadAllText(path), options: AttentionSetting.FromEnvironment());
        if (!result.Success) throw new InvalidDataException(string.Join("\n", result.Diagnostics));
        var output = result.Models.Single(m => m.Name == model);
        return (output, ModelLoader.Compile(output));
    }

    internal static CompiledModel Create((ModelOutput Output, Type Type) m, Device device, ulong seed, int batch, int? length = null)
    {
        var symbols = new Dictionary<string, long> { ["N"] = batch };
        if (length is { } t) symbols["T"] = t;
        return ModelLoader.Create(m.Output, m.Type, device, symbols, seed);
    }

    internal static string F(double value, int digits = 3) => value.ToString("F" + digits, CultureInfo.InvariantCulture);

    /// <summary>A bar of <paramref name="value"/> / <paramref name="max"/> × width characters.</summary>
    internal static string Bar(double value, double max, int width = 40) =>
        new('#', (int)Math.Round(Math.Clamp(value / max, 0, 1) * width));
}

/// <summary>
/// How a demonstration runs: <see cref="Small"/> for the tests' size, the seed, where files go, and a time budget per
/// model that replaces the demonstration's own (long-lag, seq2seq-reverse, attention-reverse, word2vec).
/// </summary>
public sealed record DemoSettings(bool Small, ulong Seed, string OutDir, double? Minutes = null);
