using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using NeuroDsl.Cli;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Runtime.Checkpoints;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>The neurodsl command line as a user runs it: exit codes, output formats, and run's round trip.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    internal static string Model(string name) => Path.Combine(AppContext.BaseDirectory, "Models", name);

    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var oldOut = Console.Out;
        var oldErr = Console.Error;
        var o = new StringWriter();
        var e = new StringWriter();
        Console.SetOut(o);
        Console.SetError(e);
        try
        {
            return (Program.Main(args), o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    [Fact]
    public void Check_ExitCodes_FollowSysexits()
    {
        Assert.Equal(0, Run("check", Model("xor_mlp.nd"), Model("lenet5.nd")).Code);
        var bad = Path.Combine(_dir, "bad.nd");
        File.WriteAllText(bad, "model M {\n  input x: f32[N, 2]\n  output y = x |> dense(2) |> nope\n}\n");
        var (code, _, err) = Run("check", bad);
        Assert.Equal(65, code);
        Assert.Contains("bad.nd(3,31): error ND0102: Use a known op or block instead of 'nope'", err);
        Assert.DoesNotContain("   at ", err);
        Assert.Equal(64, Run("check").Code);
        Assert.Equal(64, Run("frobnicate").Code);
        Assert.Equal(64, Run("summary", Model("xor_mlp.nd"), "--colour").Code);
        Assert.Equal(66, Run("summary", Path.Combine(_dir, "missing.nd")).Code);
        Assert.Contains("check <FILE>", Run("--help").Out);
        var bench = Run("bench", "--help");
        Assert.Equal(0, bench.Code);
        Assert.Contains("step <FILE>", bench.Out);
    }

    [Fact]
    public void SummaryJson_ListsLayersAndParameters()
    {
        var (code, json, _) = Run("summary", Model("lenet5_1998.nd"), "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(json);
        var model = doc.RootElement[0];
        Assert.Equal("LeNet5_1998", model.GetProperty("model").GetString());
        Assert.Equal(60000, model.GetProperty("params").GetInt64());
        Assert.Equal(340908, model.GetProperty("connections").GetInt64());
        var c3 = model.GetProperty("layers").EnumerateArray().First(l => l.GetProperty("name").GetString() == "c3.0");
        Assert.Equal(1516, c3.GetProperty("params").GetInt64());
        Assert.Equal("c3.weight", c3.GetProperty("parameters")[0].GetProperty("name").GetString());
        Assert.Equal(new[] { 16, 6, 5, 5 }, c3.GetProperty("parameters")[0].GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()));
    }

    [Fact]
    public void Run_WithGrads_MatchesTheReference_OnGivenWeightsAndInputs()
    {
        var file = Model("lenet5.nd");
        var compiled = NeuroCompiler.Compile("lenet5.nd", File.ReadAllText(file)).Models.Single();
        var graph = compiled.Ir.Graph;
        var rng = new Random(7);
        const int n = 3;
        var symbols = new Dictionary<string, long> { ["N"] = n, [ReferenceInterpreter.TrainingSymbol] = 0 };
        var leaves = new Dictionary<int, double[]>();
        var weights = new List<SafeTensor>();
        foreach (var p in graph.Params)
        {
            var values = Enumerable.Range(0, (int)p.Shape.Numel.PerExample).Select(_ => (rng.NextDouble() - 0.5) * 0.4).ToArray();
            leaves[p.Id] = values;
            weights.Add(SafeTensor.Of(p.Name, p.Shape.Eval(symbols), values.Select(v => (float)v).ToArray()));
        }
        var image = Enumerable.Range(0, n * 32 * 32).Select(_ => rng.NextDouble()).ToArray();
        var labels = new[] { 3, 0, 9 };
        leaves[graph.Inputs.First(i => i.Name == "image").Id] = image;
        leaves[graph.Inputs.First(i => i.Name == "label").Id] = labels.Select(l => (double)l).ToArray();
        SafeTensors.Write(Path.Combine(_dir, "w.safetensors"), weights);
        SafeTensors.Write(Path.Combine(_dir, "x.safetensors"), new[]
        {
            SafeTensor.Of("image", new long[] { n, 1, 32, 32 }, image.Select(v => (float)v).ToArray()),
            SafeTensor.Of("label", new long[] { n }, labels),
        });

        var (code, stdout, stderr) = Run("run", file, "--weights", Path.Combine(_dir, "w.safetensors"), "--inputs", Path.Combine(_dir, "x.safetensors"),
            "--out", Path.Combine(_dir, "y.safetensors"), "--grads");
        Assert.True(code == 0, stdout + stderr);

        var (outputs, _) = SafeTensors.Read(Path.Combine(_dir, "y.safetensors"));
        var reference = ReferenceInterpreter.Run(graph, symbols, leaves);
        void Close(double[] expected, float[] actual, string what)
        {
            Assert.Equal(expected.Length, actual.Length);
            for (var i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 + 1e-3 * Math.Abs(expected[i]), $"{what}[{i}]: {actual[i]} vs {expected[i]}");
        }
        Close(reference[graph.Outputs[0].Value], outputs["logits"].AsFloats(), "logits");
        Close(reference[graph.LossId!.Value], outputs["loss"].AsFloats(), "loss");
        foreach (var (leaf, grad) in graph.Gradients)
            Close(reference[grad], outputs["grad." + graph[leaf].Name].AsFloats(), "grad." + graph[leaf].Name);
        Assert.Equal(new long[] { n, 1, 32, 32 }, outputs["grad.image"].Shape);

        // A weights file of another model is refused with the reason, not a stack trace.
        SafeTensors.Write(Path.Combine(_dir, "bad.safetensors"), weights.Skip(1));
        var refused = Run("run", file, "--weights", Path.Combine(_dir, "bad.safetensors"), "--inputs", Path.Combine(_dir, "x.safetensors"), "--out", Path.Combine(_dir, "z.safetensors"));
        Assert.Equal(65, refused.Code);
        Assert.Contains("missing 'c1.weight'", refused.Err);
        Assert.False(File.Exists(Path.Combine(_dir, "z.safetensors")));
    }

    [Fact]
    public void Train_OnXor_ReachesAllFourPatterns()
    {
        var (code, stdout, stderr) = Run("train", Model("xor_mlp.nd"), "--data", "xor", "--lr", "2", "--seed", "7");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("accuracy 100.0%", stdout);
    }

    [Fact]
    public void MistakesAboutSizesAndData_AreOneLineWithExit64_NeverAnInternalError()
    {
        // A size symbol the command does not set, one the model does not have, a data set the model cannot take.
        var (code, _, err) = Run("bench", "step", Model("transformer_layer.nd"), "--model", "TransformerEncoderLayer", "--steps", "1");
        Assert.Equal(64, code);
        Assert.Contains("--size T=", err);
        (code, _, err) = Run("bench", "step", Model("mlp.nd"), "--steps", "1", "--size", "T=4");
        Assert.Equal(64, code);
        Assert.Contains("has no size symbol T", err);
        (code, _, err) = Run("train", Model("lenet5.nd"), "--data", "xor");
        Assert.Equal(64, code);
        Assert.Contains("LeNet5 takes image f32[1, 32, 32], label i32[] per example; xor gives x f32[2], target f32[1]", err);
        Assert.DoesNotContain("internal error", err);
    }

    [Fact]
    public void BenchStep_Mlp_CountsTheLaunchesAStepEnqueues()
    {
        // Forward 5 (three GEMMs, the loss's two), backward 9 (5 products, two storing ReLU's gradient; the loss's; 3 bias
        // sums: a CPU's tile reads every B in place), Adam and the one launch that rewrites the three packs: the forward
        // pass after a step packs nothing.
        var (code, stdout, stderr) = Run("bench", "step", Model("mlp.nd"), "--batch", "4", "--steps", "2");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains(", 16 launches,", stdout);
        Assert.Matches(@"\((CPU|GPU) shapes\)", stdout);
    }

    [Fact]
    public void BenchGemm_PrintsOneLinePerSize()
    {
        var (code, stdout, stderr) = Run("bench", "gemm", "--sizes", "64,96");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Matches(@"sgemm 64³ on .*: [0-9.]+ ms, [0-9]+ GFLOP/s", stdout);
        Assert.Contains("sgemm 96³", stdout);
        Assert.Equal(64, Run("bench", "gemm", "--sizes", "64,x").Code);
    }
}
