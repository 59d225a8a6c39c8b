using System;
using System.IO;
using System.Linq;
using NeuroDsl.Cli.Cards;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary><c>neurodsl demo</c> at toy sizes: each writes the figures the paper's card shows, and they say what the paper says.</summary>
public sealed class DemoTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("demo").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private DemoFigures Demo(params string[] args)
    {
        var models = Path.GetDirectoryName(CliTests.Model("adam_mlp.nd"))!;
        var (code, stdout, err) = CliTests.Run(new[] { "demo" }.Concat(args).Concat(new[] { "--models", models, "-o", _dir }).ToArray());
        Assert.True(code == 0, err);
        var file = Directory.GetFiles(_dir, "*.metrics.json").Single(f => stdout.Contains("wrote " + f, StringComparison.Ordinal));
        return MetricsFiles.Read(file);
    }

    [Fact]
    public void Xavier_KeepsTheVarianceWhereTheStandardInitShrinksItAndNormalSaturates()
    {
        var f = Demo("xavier", "--batch", "16");
        var log10 = f.Plots[0].Series;
        Assert.Equal(3, log10.Count);
        Assert.All(log10, s => Assert.Equal(10, s.Y.Length));
        var (xavier, standard, normal) = (log10[0].Y, log10[1].Y, log10[2].Y);
        // Standard U[±1/√n] loses about a factor 3 per layer; Xavier less than one decade over ten layers; N(0, 1) stays near 1.
        Assert.True(standard[0] - standard[9] > 3, $"standard: {standard[0]} → {standard[9]}");
        Assert.True(xavier[0] - xavier[9] < 1, $"xavier: {xavier[0]} → {xavier[9]}");
        Assert.True(normal[9] > Math.Log10(0.8), $"normal: {normal[9]}");
        Assert.True(f.Plots[1].Series[2].Y[9] > 50, "N(0, 1) saturates most units");
    }

    [Fact]
    public void Dropout_RecordsTrainingAndTestAccuracyPerEpoch_WithAndWithout()
    {
        var f = Demo("dropout", "--epochs", "2", "--limit", "200", "--test-limit", "100", "--batch", "50");
        Assert.Equal(4, f.Plots[0].Series.Count);
        Assert.All(f.Plots[0].Series, s => Assert.Equal(new[] { 1.0, 2.0 }, s.X));
        Assert.All(f.Plots[0].Series, s => Assert.All(s.Y, y => Assert.InRange(y, 5, 100)));
        Assert.Contains(f.Facts, x => x.Name.StartsWith("without dropout: training / test accuracy", StringComparison.Ordinal));
    }

    [Fact]
    public void BatchNorm_MeasuresAccuracyAndSigmoidInputsAlongTraining()
    {
        var f = Demo("batchnorm", "--steps", "20", "--batch", "20", "--limit", "400", "--test-limit", "100");
        Assert.Equal(2, f.Plots[0].Series.Count);
        var withBn = f.Plots[0].Series[0];
        Assert.Equal(0, withBn.X[0]);
        Assert.Equal(20, withBn.X[^1]);
        Assert.Equal(6, f.Plots[1].Series.Count);
        // Percentiles in order at every measurement.
        for (var m = 0; m < 2; m++)
            for (var i = 0; i < withBn.X.Length; i++)
                Assert.True(f.Plots[1].Series[3 * m].Y[i] <= f.Plots[1].Series[3 * m + 1].Y[i] && f.Plots[1].Series[3 * m + 1].Y[i] <= f.Plots[1].Series[3 * m + 2].Y[i]);
    }

    [Fact]
    public void Adam_AndSgdWithMomentum_GiveLossCurvesOverTheSameSteps()
    {
        var f = Demo("adam", "--epochs", "1", "--limit", "320", "--test-limit", "100", "--batch", "16");
        var (adam, sgd) = (f.Plots[0].Series[0], f.Plots[0].Series[1]);
        Assert.Equal(adam.X, sgd.X);
        Assert.True(adam.Y.All(double.IsFinite) && sgd.Y.All(double.IsFinite));
        Assert.Equal(64, CliTests.Run("demo", "rmsprop").Code);
        Assert.Equal(64, CliTests.Run("demo", "adam", "--epochs", "0").Code);
    }
}
