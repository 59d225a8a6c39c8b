using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Cli;
using NeuroDsl.Cli.Commands;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Checkpoints;
using NeuroDsl.Runtime.Generation;
using NeuroDsl.Runtime.Text;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// Decode-one-step: a model whose state is an input (X_0) and an output (X_n), run at T = 1 with the state carried on the
/// device, gives at every step the logits the whole sequence gives in one pass; a stateless causal model decodes over a
/// window. The sampler, the character vocabulary and the fortunes data set.
/// </summary>
public sealed class GenerationTests : IDisposable
{
    private static readonly Lazy<Device> SharedDevice = new(() => Device.Open());
    private readonly string _dir = Directory.CreateTempSubdirectory("gen").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static ModelOutput Compile(string path, string? name = null)
    {
        var result = NeuroCompiler.Compile(path, File.ReadAllText(path));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return name is null ? result.Models.Single() : result.Models.Single(m => m.Name == name);
    }

    [Fact]
    public void CarriedState_StepByStep_EqualsWholeSequence()
    {
        var output = Compile(CliTests.Model("char_lstm.nd"));
        var type = ModelLoader.Compile(output);
        var device = SharedDevice.Value;
        const int length = 9;
        using var whole = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = 1, ["T"] = length }, 5);
        using var step = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = 1, ["T"] = 1 }, 5);
        // Larger weights than the initializer's, so that the state matters.
        var rng = new SplitMix64(3);
        foreach (var p in whole.Parameters)
        {
            var values = new float[p.Buffer.Elements];
            for (var i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() - 0.5);
            whole.WriteParameter(p.Name, values);
            step.WriteParameter(p.Name, values);
        }
        var tokens = Enumerable.Range(0, length).Select(i => (int)(rng.Next() % CharVocabulary.Size)).ToArray();
        whole.Training = false;
        whole.SetInput("tokens", tokens);
        whole.Forward();
        var expected = whole.Read("logits");

        var generator = new TokenGenerator(step);
        Assert.True(generator.CarriesState);
        Assert.Equal(new[] { "c_0", "h_0" }, generator.StateNames.OrderBy(s => s, StringComparer.Ordinal));
        for (var round = 0; round < 2; round++)   // Reset starts the same sequence again
        {
            generator.Reset();
            for (var t = 0; t < length; t++)
            {
                var row = generator.Feed(tokens[t]);
                for (var v = 0; v < CharVocabulary.Size; v++)
                    Assert.True(Math.Abs(row[v] - expected[t * CharVocabulary.Size + v]) < 1e-4,
                        $"round {round} step {t} logit {v}: {row[v]} vs {expected[t * CharVocabulary.Size + v]}");
            }
        }
        Assert.Equal(2 * length, generator.Passes);
    }

    [Fact]
    public void Window_StatelessModel_ReadsLastFilledPosition()
    {
        // A causal model without state: the logits at position t depend on tokens t - 1 and t only.
        var path = Path.Combine(_dir, "bigram.nd");
        File.WriteAllText(path, """
            model Bigram(vocab = 96, T = 4) {
              input tokens: i32[N, T]
              input target: i32[N, T]
              param table: f32[vocab, vocab] init: uniform(-1, 1)
              param previous: f32[vocab, vocab] init: uniform(-1, 1)
              shifted = concat([gather(previous, tokens)[:, 0:1, :] * 0, gather(previous, tokens)[:, 0:-1, :]], axis: 1)
              output logits = gather(table, tokens) + shifted
              loss cross_entropy(logits, target)
            }
            """);
        var output = Compile(path);
        var type = ModelLoader.Compile(output);
        using var model = ModelLoader.Create(output, type, SharedDevice.Value, new Dictionary<string, long> { ["N"] = 1 }, 2);
        var table = model.Read("table");
        var previous = model.Read("previous");
        var generator = new TokenGenerator(model);
        Assert.False(generator.CarriesState);
        Assert.Equal(4, generator.Window);
        var fed = new[] { 5, 17, 3, 40, 9, 2 };
        for (var i = 0; i < fed.Length; i++)
        {
            var row = generator.Feed(fed[i]);
            // Past the window the tokens shift left: the last position's predecessor is still inside it.
            var hasPrevious = i > 0;
            for (var v = 0; v < 96; v++)
            {
                var want = table[fed[i] * 96 + v] + (hasPrevious ? previous[fed[i - 1] * 96 + v] : 0);
                Assert.True(Math.Abs(row[v] - want) < 1e-5, $"token {i} logit {v}: {row[v]} vs {want}");
            }
        }
    }

    [Fact]
    public void Sampler_GreedyTopKAndTemperature()
    {
        var logits = new float[] { 0.5f, 2f, 1f, -1f, 1.5f };
        var rng = new SplitMix64(1);
        Assert.Equal(1, Sampler.Pick(logits, 0, 0, ref rng));
        Assert.Equal(1, Sampler.Pick(logits, 1.0, 1, ref rng));
        var counts = new int[5];
        const int draws = 40_000;
        for (var i = 0; i < draws; i++) counts[Sampler.Pick(logits, 0.7, 0, ref rng)]++;
        var weights = logits.Select(l => Math.Exp(l / 0.7)).ToArray();
        for (var v = 0; v < 5; v++)
            Assert.InRange(counts[v] / (double)draws, weights[v] / weights.Sum() - 0.01, weights[v] / weights.Sum() + 0.01);
        Array.Clear(counts);
        for (var i = 0; i < draws; i++) counts[Sampler.Pick(logits, 1.0, 2, ref rng)]++;
        Assert.Equal(0, counts[0] + counts[2] + counts[3]);
        Assert.InRange(counts[1] / (double)draws, 1 / (1 + Math.Exp(-0.5)) - 0.01, 1 / (1 + Math.Exp(-0.5)) + 0.01);
    }

    [Fact]
    public void Text_VocabularyAndFortunesSplit()
    {
        Assert.Equal("Hello,\nwrld~", CharVocabulary.Decode(CharVocabulary.Encode("Hello,\nwörld~")));
        Assert.Equal(CharVocabulary.Encode(" "), CharVocabulary.Encode("\t"));
        Assert.Equal(new[] { "a\nb\n", "c\n" }, TextDataSet.SplitFortunes("a\nb\n%\nc\n%\n").ToArray());

        var dir = Directory.CreateDirectory(Path.Combine(_dir, "fortunes")).FullName;
        File.WriteAllText(Path.Combine(dir, "one"), string.Join("%\n", Enumerable.Range(0, 20).Select(i => $"fortune {i}\n")) + "%\n");
        File.WriteAllText(Path.Combine(dir, "one.dat"), "binary index");
        var data = TextDataSet.Fortunes(dir);
        var heldOut = CharVocabulary.Decode(data.HeldOut);
        Assert.Equal("fortune 9\n%\nfortune 19\n%\n", heldOut);
        Assert.DoesNotContain("fortune 9\n", CharVocabulary.Decode(data.Train));
        Assert.Contains("fortune 18\n%\n", CharVocabulary.Decode(data.Train));

        var rng = new SplitMix64(4);
        var tokens = new int[3 * 5];
        var targets = new int[3 * 5];
        data.SampleBatch(ref rng, 3, 5, tokens, targets);
        for (var b = 0; b < 3; b++)
            Assert.Equal(tokens.AsSpan(b * 5 + 1, 4).ToArray(), targets.AsSpan(b * 5, 4).ToArray());
        var batch = data.HeldOutBatches(1, 4).First();
        Assert.Equal(data.HeldOut[1..5], batch.Targets);
    }

    [Fact]
    public void TrainThenGenerate_FromTheCommandLine()
    {
        var corpus = Path.Combine(_dir, "abc.txt");
        File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("abcdefgh\n", 400)));
        var checkpoint = Path.Combine(_dir, "c.safetensors");
        var (code, stdout, stderr) = CliTests.Run("train", CliTests.Model("char_lstm.nd"), "--data", "text:" + corpus, "--steps", "60",
            "--batch", "8", "--seq-length", "16", "--lr", "0.01", "--eval-batches", "4", "--checkpoint", checkpoint);
        Assert.True(code == 0, stdout + stderr);
        var heldOut = stdout.Split('\n').Last(l => l.StartsWith("done", StringComparison.Ordinal));
        // A repeating text is learnt to well under one bit per character (uniform would be log2 96 = 6.6).
        var bits = double.Parse(heldOut.Split("held-out ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(bits < 1.0, stdout);
        (code, stdout, stderr) = CliTests.Run("generate", CliTests.Model("char_lstm.nd"), "--checkpoint", checkpoint,
            "--prompt", "abc", "--length", "12", "--temperature", "0");
        Assert.True(code == 0, stdout + stderr);
        Assert.Equal("abcdefgh\nabcdef", stdout.TrimEnd('\n'));
        Assert.Contains("state h_0, c_0 carried on the device, T = 1", stderr);
        Assert.Equal(64, CliTests.Run("generate", CliTests.Model("char_lstm.nd"), "--prompt", "x").Code);
        Assert.Equal(66, CliTests.Run("generate", CliTests.Model("char_lstm.nd"), "--checkpoint", Path.Combine(_dir, "none")).Code);
    }

    [Fact]
    public void CharGpt_TrainsAndGenerates_OverAWindow()
    {
        // The Transformer form of the character model: no carried state, the window slides (models/char_gpt.nd, T = 64).
        var corpus = Path.Combine(_dir, "abc.txt");
        File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("abcdefgh\n", 2000)));   // a held-out tenth of 1,800 ≥ 8 × 64
        var checkpoint = Path.Combine(_dir, "gpt.safetensors");
        var (code, stdout, stderr) = CliTests.Run("train", CliTests.Model("char_gpt.nd"), "--data", "text:" + corpus, "--steps", "80",
            "--batch", "8", "--lr", "0.003", "--eval-batches", "2", "--checkpoint", checkpoint);
        Assert.True(code == 0, stdout + stderr);
        var heldOut = stdout.Split('\n').Last(l => l.StartsWith("done", StringComparison.Ordinal));
        var bits = double.Parse(heldOut.Split("held-out ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(bits < 1.0, stdout);
        (code, stdout, stderr) = CliTests.Run("generate", CliTests.Model("char_gpt.nd"), "--checkpoint", checkpoint,
            "--prompt", "abc", "--length", "12", "--temperature", "0");
        Assert.True(code == 0, stdout + stderr);
        Assert.Equal("abcdefgh\nabcdef", stdout.TrimEnd('\n'));
        Assert.Contains("a window of 64", stderr);
    }
}
