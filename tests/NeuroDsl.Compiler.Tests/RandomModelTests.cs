using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using CsCheck;
using Xunit;
using Xunit.Abstractions;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// A property of the whole compiler: every model the grammar-based generator writes — a random graph of dense
/// layers, activations, elementwise arithmetic with broadcasting, reductions, concatenation, reshapes, softmax and
/// layer norm over [N, d] values — compiles front to back (planner and emitters included) without a diagnostic, and
/// its backward graph agrees with central finite differences on the float64 reference. CsCheck shrinks a failure to
/// a smallest model and prints its text. NEURODSL_PROPERTY_COUNT sets how many models (CI: 300).
/// </summary>
public sealed class RandomModelTests(ITestOutputHelper output)
{
    /// <summary>One step of a model: what it does, and three numbers that pick its operands and sizes.</summary>
    public readonly record struct Step(int Kind, int A, int B, int C);

    /// <summary>A generated model: the input width and the steps; <see cref="Text"/> is its `.nd` source.</summary>
    public sealed record Spec(int Width, Step[] Steps)
    {
        public override string ToString() => Text;

        public string Text => Write(this).Text;
    }

    private static readonly string[] Activations = { "tanh", "sigmoid", "silu", "softplus", "gelu", "relu", "square", "erf" };

    private static readonly Gen<Spec> Models =
        Gen.Select(Gen.Int[1, 5],
            Gen.Select(Gen.Int[0, 10], Gen.Int[0, 99], Gen.Int[0, 99], Gen.Int[0, 99], (k, a, b, c) => new Step(k, a, b, c))
                .Array[1, 7],
            (width, steps) => new Spec(width, steps));

    /// <summary>Writes a spec as a model. Every value is [N, d]; a step that does not fit its operands is skipped.</summary>
    internal static (string Text, int Values) Write(Spec spec)
    {
        var widths = new List<int> { spec.Width };
        var names = new List<string> { "x" };
        var body = new StringBuilder();
        string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        foreach (var (kind, a, b, c) in spec.Steps)
        {
            var i = a % names.Count;
            var (src, d) = (names[i], widths[i]);
            var j = Enumerable.Range(0, names.Count).FirstOrDefault(k => k != i && (widths[k] == d || widths[k] == 1), i);
            string? expr;
            int width;
            switch (kind)
            {
                case 0:
                    width = 1 + b % 5;
                    expr = $"{src} |> dense({width}{(c % 3 == 0 ? ", bias: false" : "")})";
                    break;
                case 1:
                    (expr, width) = ($"{src} |> {Activations[b % Activations.Length]}", d);
                    break;
                case 2:
                    // A value of the same width, or one of width 1 broadcast across it.
                    (expr, width) = ($"{src} {"+-*"[b % 3]} {names[j]}", d);
                    break;
                case 3:
                    (expr, width) = ($"{src} * {Num(new[] { 0.5, 2, -1.5 }[b % 3])} + {Num(new[] { 1, -0.25 }[c % 2])}", d);
                    break;
                case 4:
                    (expr, width) = ($"{(b % 2 == 0 ? "sum" : "mean")}({src}, axis: 1, keepdims: true)", 1);
                    break;
                case 5:
                    (expr, width) = d + widths[j] <= 8 ? ($"concat([{src}, {names[j]}], axis: 1)", d + widths[j]) : (null, 0);
                    break;
                case 6:
                {
                    // [N, d] → [N, p, q] → transpose → [N, q, p] → [N, d]: a real permutation when p, q ≥ 2.
                    var p = Enumerable.Range(2, Math.Max(0, d - 2)).FirstOrDefault(f => d % f == 0 && d / f >= 2);
                    // reshape's target shape is per example: the batch axis N stays in front.
                    (expr, width) = p == 0 ? ($"{src} |> reshape([{d}])", d)
                        : ($"{src} |> reshape([-1, {d / p}]) |> transpose(1, 2) |> reshape([-1])", d);
                    break;
                }
                case 7:
                    (expr, width) = ($"softmax({src})", d);
                    break;
                case 8:
                    (expr, width) = d >= 2 ? ($"{src} |> layer_norm{(b % 2 == 0 ? "" : "(affine: false)")}", d) : (null, 0);
                    break;
                case 9:
                    (expr, width) = ($"({src} |> dense({d}) |> tanh |> dense({d})) + {src}", d); // a residual block
                    break;
                default:
                    (expr, width) = ($"where({src} > 0, {src}, {Num(0.1)} * {src})", d);
                    break;
            }
            if (expr is null) continue;
            var name = "h" + names.Count;
            body.Append("  ").Append(name).Append(" = ").Append(expr).Append('\n');
            names.Add(name);
            widths.Add(width);
        }
        var text = new StringBuilder()
            .Append("model Random {\n")
            .Append($"  input x: f32[N, {spec.Width}]\n")
            .Append($"  input r: f32[N, {widths[^1]}]\n")
            .Append(body)
            .Append($"  output y = {names[^1]}\n")
            .Append("  loss mean(y * r)\n}\n");
        return (text.ToString(), names.Count);
    }

    private static long Count() =>
        long.TryParse(Environment.GetEnvironmentVariable("NEURODSL_PROPERTY_COUNT"), out var n) && n > 0 ? n : 300;

    [Fact]
    public void RandomValidModels_Compile_AndTheirGradientsMatchFiniteDifferences()
    {
        var watch = Stopwatch.StartNew();
        long models = 0, values = 0;
        Models.Sample(spec =>
        {
            var (text, count) = Write(spec);
            var result = NeuroCompiler.Compile("random.nd", text);
            Assert.True(result.Success, string.Join("\n", result.Diagnostics) + "\n---\n" + text);
            var model = Assert.Single(result.Models);
            Assert.NotEmpty(model.CSharp);
            GradientCheckTests.AssertBackwardMatchesCentralDifferences(model.Ir, training: true, new Random(text.Length));
            Interlocked.Increment(ref models);
            Interlocked.Add(ref values, count);
        }, iter: Count());
        output.WriteLine($"{models} random models ({values} values) compiled and gradient-checked in {watch.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(Count(), models);
    }

    [Fact]
    public void Generator_ReachesEveryKindOfStep()
    {
        // Each kind of step appears in the models written, so the property covers what the generator claims.
        var seen = new HashSet<string>();
        Models.Sample(spec =>
        {
            var text = Write(spec).Text;
            foreach (var word in new[] { "dense", "tanh", "+", "sum(", "mean(", "concat", "transpose", "softmax", "layer_norm", "where" })
                if (text.Contains(word, StringComparison.Ordinal)) lock (seen) seen.Add(word);
        }, iter: 500, threads: 1);
        Assert.Equal(10, seen.Count);
    }
}
