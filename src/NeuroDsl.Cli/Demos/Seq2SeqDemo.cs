using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime;
using static NeuroDsl.Cli.Demos.SequenceDemos;

namespace NeuroDsl.Cli.Demos;

/// <summary>
/// Sutskever et al. 2014 on reversing 8 digits (Demos/seq2seq_reverse.nd), with and without the reversed source:
/// trained with teacher forcing, scored by greedy decoding (each predicted digit fed back) as exact-sequence accuracy.
/// </summary>
internal static class Seq2SeqDemo
{
    private const int Length = 8, Start = 10, TestSize = 1000, Batch = 64;

    public static IReadOnlyDictionary<string, double> Run(DemoSettings s, Device device, TextWriter log)
    {
        log.WriteLine($"seq2seq (Sutskever et al. 2014): reverse {Length} random digits; LSTM encoder and decoder of 128, batch {Batch}, "
            + $"Adam 0.005 (0.0005 from 97% of digits right); greedy decoding of {TestSize} test sequences");
        var results = new Dictionary<string, double>();
        Train(s, device, log, "seq2seq_reverse.nd", new[] { ("Seq2SeqReverse", "plain"), ("Seq2SeqReverseReversedSource", "reversed_source") },
            results, null);
        log.WriteLine("(for reversal the reversed source is the harder form: the first digit to write is the one the encoder read first)");
        return results;
    }

    /// <summary>
    /// Trains each model of <paramref name="file"/> until 99.5% of the test sequences decode exactly (or the step or time
    /// budget ends); <paramref name="after"/> sees the evaluation instance after the last greedy decoding.
    /// </summary>
    internal static void Train(DemoSettings s, Device device, TextWriter log, string file, (string Name, string Key)[] models,
        Dictionary<string, double> results, Action<CompiledModel, int[], int[]>? after)
    {
        var maxSteps = s.Small ? 60 : 6000;
        var minutes = s.Minutes ?? (s.Small ? 2.0 : 4.0);
        log.WriteLine($"at most {maxSteps} steps or {minutes} min per model");
        foreach (var (name, key) in models)
        {
            var rng = new SplitMix64(s.Seed + 5);
            void Fill(int[] source, int[] targetIn, int[] target, int n)
            {
                for (var b = 0; b < n; b++)
                {
                    for (var i = 0; i < Length; i++) source[b * Length + i] = rng.NextInt(10);
                    for (var i = 0; i < Length; i++) target[b * Length + i] = source[b * Length + Length - 1 - i];
                    targetIn[b * Length] = Start;
                    for (var i = 1; i < Length; i++) targetIn[b * Length + i] = target[b * Length + i - 1];
                }
            }
            var m = Load(file, name);
            using var model = Create(m, device, s.Seed, Batch);
            using var eval = Create(m, device, s.Seed, TestSize);
            eval.Training = false;
            var testSource = new int[TestSize * Length];
            var testTarget = new int[TestSize * Length];
            Fill(testSource, new int[TestSize * Length], testTarget, TestSize);
            var optimizer = new Adam(0.005f);
            var (source, targetIn, target) = (new int[Batch * Length], new int[Batch * Length], new int[Batch * Length]);
            var watch = Stopwatch.StartNew();
            var (exact, digits) = (0.0, 0.0);
            var steps = 0;
            while (steps < maxSteps && watch.Elapsed.TotalMinutes < minutes)
            {
                Fill(source, targetIn, target, Batch);
                model.SetInput("source", source);
                model.SetInput("target_in", targetIn);
                model.SetInput("target", target);
                model.Forward();
                model.Backward();
                model.Step(optimizer);
                steps++;
                if (steps % 200 == 0)
                {
                    (exact, digits) = Decode(model, eval, testSource, testTarget);
                    // Near the end the step size, not the model, limits it: a tenth of the rate from 97% of digits on.
                    if (digits >= 0.97 && optimizer.LearningRate > 0.001f) optimizer.LearningRate = 0.0005f;
                    log.WriteLine($"  {name,-29} step {steps,5}  loss {F(model.ReadLoss(), 4)}  exact {F(100 * exact, 1)}%  digits {F(100 * digits, 1)}%");
                    if (exact >= 0.995) break;
                }
            }
            if (steps % 200 != 0) (exact, digits) = Decode(model, eval, testSource, testTarget);
            log.WriteLine($"{name}: {F(100 * exact, 1)}% of {TestSize} sequences exactly right ({F(100 * digits, 1)}% of digits) after {steps} steps, "
                + $"{F(watch.Elapsed.TotalSeconds, 0)} s");
            results[key + "_exact"] = exact;
            results[key + "_steps"] = steps;
            after?.Invoke(eval, testSource, testTarget);
        }
    }

    /// <summary>Greedy decoding: L forward passes, each writing the argmax at position i into the decoder's input i + 1.</summary>
    private static (double Exact, double Digits) Decode(CompiledModel model, CompiledModel eval, int[] source, int[] target)
    {
        eval.CopyParametersFrom(model);
        var n = source.Length / Length;
        var targetIn = new int[source.Length];
        var predicted = new int[source.Length];
        for (var b = 0; b < n; b++) targetIn[b * Length] = Start;
        eval.SetInput("source", source);
        eval.SetInput("target", target);
        for (var i = 0; i < Length; i++)
        {
            eval.SetInput("target_in", targetIn);
            eval.Forward();
            var logits = eval.Read("logits");
            for (var b = 0; b < n; b++)
            {
                var row = logits.AsSpan((b * Length + i) * 10, 10);
                var best = 0;
                for (var c = 1; c < 10; c++) if (row[c] > row[best]) best = c;
                predicted[b * Length + i] = best;
                if (i + 1 < Length) targetIn[b * Length + i + 1] = best;
            }
        }
        var exact = Enumerable.Range(0, n).Count(b => predicted.AsSpan(b * Length, Length).SequenceEqual(target.AsSpan(b * Length, Length)));
        var digits = Enumerable.Range(0, source.Length).Count(i => predicted[i] == target[i]);
        return (exact / (double)n, digits / (double)source.Length);
    }
}
