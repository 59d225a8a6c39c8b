using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Text;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// Masked-language modelling in the text trainer: BERT's masking rule (<see cref="MaskedBatch"/>), the fixed held-out
/// masking, models/char_bert.nd trained from the command line on a repeating text, and the refusals.
/// </summary>
public sealed class MaskedLanguageModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlm").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A training text where each character tells its place: i mod 96, so a window's targets count up by one.</summary>
    private static TextDataSet Counting(int length = 50_000) =>
        new("counting", Enumerable.Range(0, length).Select(i => i % CharVocabulary.Size).ToArray(), new int[10]);

    [Fact]
    public void Masking_ChoosesFifteenPercentPerWindow_AndSplitsThem80_10_10()
    {
        var data = Counting();
        var batch = new MaskedBatch(32, 64);
        Assert.Equal(10, batch.PerWindow);                     // round(0.15 · 64)
        var rng = new SplitMix64(7);
        long chosen = 0, masked = 0, replaced = 0, kept = 0;
        var perPosition = new long[64];
        const int steps = 300;
        for (var step = 0; step < steps; step++)
        {
            batch.SampleTraining(data, ref rng);
            for (var b = 0; b < 32; b++)
            {
                var row = b * 64;
                Assert.Equal(10, batch.Weights.AsSpan(row, 64).ToArray().Count(w => w == 1));
                for (var i = 0; i < 64; i++)
                {
                    var (token, target, weight) = (batch.Tokens[row + i], batch.Targets[row + i], batch.Weights[row + i]);
                    // The targets are a window of the text, unchanged.
                    if (i > 0) Assert.Equal((batch.Targets[row + i - 1] + 1) % CharVocabulary.Size, target);
                    Assert.True(weight is 0 or 1);
                    if (weight == 0)
                    {
                        Assert.Equal(target, token);                // an unchosen position is shown as it is and weighs 0
                        continue;
                    }
                    chosen++;
                    perPosition[i]++;
                    if (token == MaskedBatch.MaskSymbol) masked++;
                    else if (token == target) kept++;
                    else
                    {
                        Assert.InRange(token, 0, CharVocabulary.Size - 1);   // a random character, never the mask symbol
                        replaced++;
                    }
                }
            }
        }
        Assert.Equal(steps * 32 * 10, chosen);
        // 96,000 draws: a proportion's standard error is below 0.0013. A random replacement equals the original 1 time in 96.
        Assert.InRange(masked / (double)chosen, 0.795, 0.805);
        Assert.InRange(replaced / (double)chosen, 0.1 * 95 / 96 - 0.005, 0.1 * 95 / 96 + 0.005);
        Assert.InRange(kept / (double)chosen, 0.1 + 0.1 / 96 - 0.005, 0.1 + 0.1 / 96 + 0.005);
        // Every position of the window is chosen equally often (15.6% each; ± 6 standard errors).
        Assert.All(perPosition, n => Assert.InRange(n / (double)(steps * 32), 10 / 64.0 - 0.013, 10 / 64.0 + 0.013));
    }

    [Fact]
    public void Masking_IsFreshEachStep_AndReproducedBySeed()
    {
        var data = Counting();
        var a = new MaskedBatch(4, 64);
        var b = new MaskedBatch(4, 64);
        var (ra, rb) = (new SplitMix64(3), new SplitMix64(3));
        a.SampleTraining(data, ref ra);
        b.SampleTraining(data, ref rb);
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(a.Weights, b.Weights);
        var first = a.Weights.ToArray();
        a.SampleTraining(data, ref ra);
        Assert.NotEqual(first, a.Weights);

        // Rates other than BERT's, and short windows: at least one position per window.
        Assert.Equal(1, new MaskedBatch(1, 3).PerWindow);
        Assert.Equal(32, new MaskedBatch(1, 64, 0.5).PerWindow);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskedBatch(1, 64, 0));
    }

    [Fact]
    public void HeldOutMasking_DependsOnTheWindowOnly()
    {
        var text = Enumerable.Range(0, 4 * 64).Select(i => (i * 7) % CharVocabulary.Size).ToArray();
        var four = new MaskedBatch(4, 64);
        var two = new MaskedBatch(2, 64);
        four.FillFixed(text, 0, 11);
        // The same windows in a smaller batch, and again: masked the same way.
        for (var round = 0; round < 2; round++)
        {
            two.FillFixed(text.AsSpan(128, 128), 128, 11);
            Assert.Equal(four.Tokens[128..], two.Tokens);
            Assert.Equal(four.Weights[128..], two.Weights);
            Assert.Equal(text[128..], two.Targets);
        }
        two.FillFixed(text.AsSpan(128, 128), 128, 12);
        Assert.NotEqual(four.Weights[128..], two.Weights);
    }

    /// <summary>char_bert.nd with a window of 16 (a quarter of the work per step) and its expect lines, which hold at 64, dropped.</summary>
    private string SmallCharBert()
    {
        var text = File.ReadAllText(CliTests.Model("char_bert.nd"));
        Assert.Contains("model CharBert(vocab = 97, T = 64,", text);
        text = text.Replace("model CharBert(vocab = 97, T = 64,", "model CharBert(vocab = 97, T = 16,");
        var path = Path.Combine(_dir, "char_bert16.nd");
        File.WriteAllText(path, Regex.Replace(text, @"^\s*expect .*$", "", RegexOptions.Multiline));
        return path;
    }

    private static double Figure(string line, string after) =>
        double.Parse(Regex.Match(line, Regex.Escape(after) + @" ([0-9.]+)").Groups[1].Value, CultureInfo.InvariantCulture);

    [Fact]
    public void CharBert_LearnsARepeatingText_FromTheCommandLine()
    {
        var corpus = Path.Combine(_dir, "abc.txt");
        File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("abcdefgh\n", 2000)));
        var checkpoint = Path.Combine(_dir, "bert.safetensors");
        var (code, stdout, stderr) = CliTests.Run("train", SmallCharBert(), "--data", "text:" + corpus, "--steps", "400", "--batch", "8",
            "--lr", "0.0005", "--eval-batches", "8", "--checkpoint", checkpoint);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("masked-language modelling (the model's input 'weight' weighs the loss): 2 of 16 positions", stdout);
        var lines = stdout.Split('\n');
        // Chance: the most frequent character, or the character frequencies (1 in 9 each: log2 9 = 3.17 bits).
        var baseline = lines.Single(l => l.StartsWith("held-out:", StringComparison.Ordinal));
        Assert.InRange(Figure(baseline, "is right on"), 5, 20);
        Assert.InRange(Figure(baseline, "loss is"), 3.1, 3.3);
        var train = lines.Where(l => l.StartsWith("step", StringComparison.Ordinal)).Select(l => Figure(l, "train")).ToList();
        Assert.Equal(4, train.Count);
        Assert.True(train[^1] < train[0] - 1, stdout);                       // the training loss falls
        var epochs = lines.Where(l => l.StartsWith("epoch", StringComparison.Ordinal)).ToList();
        var done = lines.Single(l => l.StartsWith("done", StringComparison.Ordinal));
        Assert.True(Figure(done, "masked-token accuracy") >= 60, stdout);   // well above chance (at most 20%)
        Assert.True(Figure(done, "held-out") < 1.5, stdout);
        Assert.True(Figure(epochs[0], "masked-token accuracy") < Figure(done, "masked-token accuracy"), stdout);
        Assert.True(File.Exists(checkpoint));
    }

    [Fact]
    public void Refusals_AreOneLine()
    {
        var corpus = Path.Combine(_dir, "abc.txt");
        File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("abcdefgh\n", 2000)));
        // A weight input makes a masked language model, whose logits need the mask symbol's class too.
        var ninetySix = Path.Combine(_dir, "mlm96.nd");
        File.WriteAllText(ninetySix, """
            model Mlm96(vocab = 96, T = 8) {
              input tokens: i32[N, T]
              input target: i32[N, T]
              input weight: f32[N, T]
              param table: f32[vocab, vocab] init: uniform(-1, 1)
              output logits = gather(table, tokens)
              loss sum(-sum(log_softmax(logits) * one_hot(target, vocab), axis: -1) * weight) / maximum(sum(weight), 1)
            }
            """);
        var (code, _, stderr) = CliTests.Run("train", ninetySix, "--data", "text:" + corpus, "--steps", "1",
            "--checkpoint", Path.Combine(_dir, "m.safetensors"));
        Assert.Equal(64, code);
        Assert.Contains("so it trains as a masked language model, whose logits [N, T, 97] cover the 96 characters and the mask symbol 96; "
            + "'logits' has 96 classes", stderr);
        Assert.DoesNotContain("   at ", stderr);

        // The window is the file's: --seq-length can't change it.
        (code, _, stderr) = CliTests.Run("train", CliTests.Model("char_bert.nd"), "--data", "text:" + corpus, "--seq-length", "32",
            "--checkpoint", Path.Combine(_dir, "s.safetensors"));
        Assert.Equal(64, code);
        Assert.Contains("--seq-length 32: CharBert's window is fixed at 64 by its file", stderr);

        // Too little held-out text for one batch of windows.
        var tiny = Path.Combine(_dir, "tiny.txt");
        File.WriteAllText(tiny, string.Concat(Enumerable.Repeat("abcdefgh\n", 100)));
        (code, _, stderr) = CliTests.Run("train", CliTests.Model("char_bert.nd"), "--data", "text:" + tiny, "--steps", "1",
            "--checkpoint", Path.Combine(_dir, "t.safetensors"));
        Assert.Equal(65, code);
        Assert.Contains("the held-out text (90 characters) is shorter than one batch of 32 × 64", stderr);

        // A masked language model does not generate text left to right.
        var checkpoint = Path.Combine(_dir, "none.safetensors");
        File.WriteAllText(checkpoint, "");
        (code, _, stderr) = CliTests.Run("generate", CliTests.Model("char_bert.nd"), "--checkpoint", checkpoint, "--prompt", "The ");
        Assert.Equal(64, code);
        Assert.Contains("CharBert is a masked language model (its input 'weight' weighs masked positions)", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("neurodsl:", StringComparison.Ordinal));
    }
}
