using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.CommandLine;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>neurodsl bench step FILE [--batch B] [--steps S] [--size T=128,…]</c>: the median time of a training step
/// (upload, forward, backward, Adam, loss read-back) and of a forward pass, on random inputs, after warm-up; --size
/// gives the size symbols other than the batch (a Transformer's sequence length T). Not part of the tests.
/// </summary>
internal static partial class BenchCommand
{
    public static Command Build()
    {
        var models = new Option<string?>("--models") { Description = "the directory of the zoo's model files (default: models)", HelpName = "DIR" };
        var rounds = CommandLine.PositiveInt("--rounds", "alternating rounds of ours and the baselines' (default 3)", "R");
        var cases = new Option<string?>("--cases")
        {
            Description = "only these rows, comma-separated: " + string.Join(", ", CaseNames) + " (default: all)", HelpName = "CASE,...",
        };
        var command = new Command("bench", "The comparison table: sgemm against OpenBLAS; MLP, LeNet-5, Transformer-layer, "
            + "layer-norm and LSTM training steps against PyTorch (run 'bash .ci/bench-setup' first).") { models, rounds, cases, Step(), GemmCommand(), AttentionBench.Build(), DistributedBench.Build() }
            .WithExamples("neurodsl bench", "neurodsl bench --rounds 5", "neurodsl bench --cases transformer,lstm");
        command.SetAction(r => Table(r.GetValue(models) ?? "models", r.GetValue(rounds) ?? 3, Cases(r.GetValue(cases))));
        return command;
    }

    private static Command Step()
    {
        var file = CommandLine.FileArgument();
        var model = CommandLine.ModelOption();
        var batch = CommandLine.PositiveInt("--batch", "the batch size N (default 64)", "B");
        var steps = CommandLine.PositiveInt("--steps", "timed steps after warm-up (default 30)", "S");
        var size = SizeOption();
        var command = new Command("step", "Median training-step and forward (outputs only, no loss) times of one model, "
                + "on random inputs, in the device's CPU or GPU shapes.") { file, model, batch, steps, size }
            .WithExamples("neurodsl bench step models/lenet5.nd --batch 64", "neurodsl bench step models/transformer_layer.nd --batch 8 --size T=128");
        command.SetAction(r => RunStep(r.GetValue(file)!, r.GetValue(model), r.GetValue(batch) ?? 64, r.GetValue(steps) ?? 30,
            Sizes(r.GetValue(size) ?? Array.Empty<string>())));
        return command;
    }

    /// <summary><c>--size T=128 [--size S=64]</c> (or <c>T=128,S=64</c>): the values of size symbols other than N.</summary>
    internal static Option<string[]> SizeOption() => new("--size")
    {
        Description = "a size symbol's value, SYMBOL=N (T=128); repeat it or separate with commas for several; "
            + "the same symbol twice is an error",
        HelpName = "SYMBOL=N",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };

    private static Command GemmCommand()
    {
        var sizes = new Option<string?>("--sizes") { Description = "matrix sizes, comma-separated (default 256,512,1024,2048)", HelpName = "N,N,..." };
        var command = new Command("gemm", "The library sgemm alone (GFLOP/s), for tuning: squares, and without --sizes the MLP's training products.") { sizes }
            .WithExamples("neurodsl bench gemm --sizes 512,1024");
        command.SetAction(r => Gemm(r.GetValue(sizes)));
        return command;
    }

    public static int RunStep(string path, string? modelName, int batch, int steps, Dictionary<string, long> symbols)
    {
        if (symbols.ContainsKey("N")) throw new UsageException("the batch size N is --batch, not --size N=…");
        symbols["N"] = batch;
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var output = Program.PickModel(result, modelName, path);
        using var device = Device.Open();
        var (train, forward, launches, bytes) = StepTimes(output, device, symbols, steps);
        var shapes = device.GpuShapes ? "GPU" : "CPU";
        Console.Out.WriteLine($"{output.Name} batch {batch} on {device.Info.Name} ({shapes} shapes): training step {train.ToString("F2", CultureInfo.InvariantCulture)} ms " +
                              $"({batch / train * 1000:F0} examples/s, {launches} launches, {bytes / 1024.0 / 1024.0:F1} MiB), forward {forward.ToString("F2", CultureInfo.InvariantCulture)} ms (median of {steps})");
        return ExitCodes.Ok;
    }

    /// <summary><c>--size T=128,S=64</c>: values of size symbols.</summary>
    internal static Dictionary<string, long> Sizes(IEnumerable<string> values)
    {
        var sizes = new Dictionary<string, long>();
        foreach (var item in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries)))
        {
            var parts = item.Split('=');
            if (parts.Length != 2 || parts[0].Length == 0 || !char.IsUpper(parts[0][0])
                || !long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v <= 0)
                throw new UsageException($"--size takes SYMBOL=positive size pairs such as T=128, not '{item}'");
            if (!sizes.TryAdd(parts[0], v))
                throw new UsageException($"--size gives {parts[0]} twice ({sizes[parts[0]]} and {v}); give each symbol once");
        }
        return sizes;
    }

    /// <summary><c>bench gemm [--sizes 256,512,…]</c>: our sgemm alone, for tuning the kernel without the baselines.</summary>
    private static int Gemm(string? text)
    {
        var sizes = (text ?? "256,512,1024,2048").Split(',').Select(s =>
            int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new UsageException($"--sizes takes positive integers, not '{s}'")).ToArray();
        using var device = Device.Open();
        foreach (var (key, ms) in OurGemm(device, sizes))
        {
            var n = sizes.First(s => key == $"sgemm_{s}_ms");
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sgemm {n}³ on {device.Info.Name}: {ms:F2} ms, {2.0 * n * n * n / ms / 1e6:F0} GFLOP/s (median)"));
        }
        // Without --sizes, the MLP's training products too (M×K×N: batch × in × out, and the two backward forms).
        if (text is null)
            foreach (var p in TrainingProducts)
            {
                var ms = TrainingGemm(device, p);
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"sgemm {p} on {device.Info.Name}: {ms:F3} ms, {2.0 * p.M * p.N * p.K / ms / 1e6:F0} GFLOP/s (median)"));
            }
        Console.Out.WriteLine($"GEMM: {device.Gemm.Config.Describe(LibraryKernels.IsGpuShape(device))} ({device.Gemm.Source})");
        return ExitCodes.Ok;
    }

    /// <summary>sgemm at 256…2048: pack + register-tiled kernel, queued back to back, one finish per repetition.</summary>
    private static IEnumerable<(string Key, double Ms)> OurGemm(Device device, IEnumerable<int>? sizes = null)
    {
        foreach (var n in sizes ?? new[] { 256, 512, 1024, 2048 })
        {
            var rng = new Random(n);
            using var a = DeviceBuffer.Allocate(device, (long)n * n);
            using var b = DeviceBuffer.Allocate(device, (long)n * n);
            using var c = DeviceBuffer.Allocate(device, (long)n * n);
            using var packed = DeviceBuffer.Allocate(device, LibraryOps.PackedSize(n, n));
            a.Write<float>(Enumerable.Range(0, n * n).Select(_ => (float)rng.NextDouble()).ToArray());
            b.Write<float>(Enumerable.Range(0, n * n).Select(_ => (float)rng.NextDouble()).ToArray());
            var reps = Math.Max(5, (int)(2e10 / (2.0 * n * n * n)));
            var samples = new List<double>();
            for (var r = 0; r < reps + 3; r++)
            {
                var start = Stopwatch.GetTimestamp();
                LibraryOps.GemmTiled(device, a, b, c, packed, n, n, n, false, false);
                device.Finish();
                if (r >= 3) samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            yield return ($"sgemm_{n}_ms", Median(samples));
        }
    }

    /// <summary>The MLP's training products (batch × in × out and its two backward forms), rows of the table.</summary>
    private static readonly Runtime.Tuning.GemmProduct[] TrainingProducts =
        Runtime.Tuning.GemmProduct.BenchShapes.Where(p => p.M != p.N || p.N != p.K).ToArray();

    /// <summary>The baseline script's key of a training product: <c>sgemm_128x784x256_tb_ms</c>.</summary>
    private static string TrainingKey(Runtime.Tuning.GemmProduct p) =>
        $"sgemm_{p.M}x{p.K}x{p.N}{(p.TransposeA ? "_ta" : "")}{(p.TransposeB ? "_tb" : "")}_ms";

    /// <summary>One product of <see cref="Runtime.Tuning.GemmProduct.BenchShapes"/>: pack + tiles, the median of 200 after warm-up.</summary>
    private static double TrainingGemm(Device device, Runtime.Tuning.GemmProduct p)
    {
        using var a = DeviceBuffer.Allocate(device, (long)p.M * p.K);
        using var b = DeviceBuffer.Allocate(device, (long)p.K * p.N);
        using var c = DeviceBuffer.Allocate(device, (long)p.M * p.N);
        using var packed = DeviceBuffer.Allocate(device, LibraryOps.PackedSize(p.K, p.N));
        var rng = new Random(p.M);
        a.Write<float>(Enumerable.Range(0, p.M * p.K).Select(_ => (float)rng.NextDouble()).ToArray());
        b.Write<float>(Enumerable.Range(0, p.K * p.N).Select(_ => (float)rng.NextDouble()).ToArray());
        var samples = new List<double>();
        for (var r = 0; r < 203; r++)
        {
            var start = Stopwatch.GetTimestamp();
            LibraryOps.GemmTiled(device, a, b, c, packed, p.M, p.N, p.K, p.TransposeA, p.TransposeB);
            device.Finish();
            if (r >= 3) samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return Median(samples);
    }

    /// <summary>
    /// Median training-step and forward times of a model on random inputs; launches per step; device bytes. With
    /// <paramref name="resident"/> the inputs are uploaded once, not every step (an op's microbenchmark, where a
    /// copy of the inputs would cost more than the op).
    /// </summary>
    internal static (double Train, double Forward, int Launches, long Bytes) StepTimes(Compiler.ModelOutput output,
        Device device, IReadOnlyDictionary<string, long> symbols, int steps, bool resident = false)
    {
        var type = ModelLoader.Compile(output);
        using var model = ModelLoader.Create(output, type, device, symbols, seed: 1);
        var rng = new Random(1);
        var inputs = model.Inputs.Select(i => (i, i.Buffer.IsInt
            ? (object)Enumerable.Range(0, (int)i.Buffer.Elements).Select(_ => rng.Next(2)).ToArray()
            : Enumerable.Range(0, (int)i.Buffer.Elements).Select(_ => (float)rng.NextDouble()).ToArray())).ToList();
        var adam = new Adam();
        double Time(Action action)
        {
            var samples = new List<double>();
            for (var s = 0; s < steps + 3; s++)
            {
                var start = Stopwatch.GetTimestamp();
                action();
                if (s >= 3) samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            samples.Sort();
            return samples[samples.Count / 2];
        }
        var uploaded = false;
        void Upload()
        {
            if (resident && uploaded) return;
            uploaded = true;
            foreach (var (t, data) in inputs)
                if (data is int[] ints) model.SetInput(t.Name, ints);
                else model.SetInput(t.Name, (float[])data);
        }
        var train = Time(() =>
        {
            Upload();
            model.Forward();
            model.Backward();
            model.Step(adam);
            model.ReadLoss();
        });
        // The forward pass as an inference pass runs it, as PyTorch's baseline (model(x) under no_grad) does: outputs
        // only, not the loss.
        model.Training = false;
        model.ComputeLoss = false;
        var forward = Time(() =>
        {
            Upload();
            model.Forward();
            device.Finish();
        });
        // The launches of one more step as the timed ones ran (a loop over time's each time; no pack the optimizer wrote).
        model.Training = true;
        model.ComputeLoss = true;
        var (modelLaunches, optimizerLaunches) = (model.LaunchCount, adam.LaunchCount);
        model.Forward();
        model.Backward();
        model.Step(adam);
        model.ReadLoss();
        var launches = (int)(model.LaunchCount - modelLaunches + adam.LaunchCount - optimizerLaunches);
        return (train, forward, launches, model.AllocatedBytes);
    }

    private static double Median(List<double> samples)
    {
        samples.Sort();
        return samples[samples.Count / 2];
    }

    private static readonly string[] CaseNames = { "sgemm", "mlp", "lenet5", "transformer", "lstm", "layer_norm" };

    /// <summary>The cases <c>--cases</c> names (all when it is absent); an unknown name is a usage error naming the known ones.</summary>
    private static HashSet<string> Cases(string? text)
    {
        if (text is null) return new HashSet<string>(CaseNames);
        var chosen = new HashSet<string>();
        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            chosen.Add(CaseNames.Contains(name) ? name
                : throw new UsageException($"--cases: no case '{name}'; the cases are {string.Join(", ", CaseNames)}"));
        return chosen.Count > 0 ? chosen : throw new UsageException("--cases: name at least one case: " + string.Join(", ", CaseNames));
    }

    /// <summary>
    /// <c>neurodsl bench</c>: the whole comparison table. NeuroDsl and the baselines are measured in alternating
    /// rounds (ours, theirs, ours, theirs, …) so that a drift of the machine's speed during the run — common on
    /// shared hosts — falls on both sides; each cell is the median over rounds of per-round medians.
    /// </summary>
    private static int Table(string models, int rounds, HashSet<string> wanted)
    {
        if (!System.IO.Directory.Exists(models)) throw new System.IO.DirectoryNotFoundException($"--models {models}: no such directory");
        using var device = Device.Open();
        Console.Error.WriteLine($"bench: NeuroDsl on {device.Info.Name} ({device.Info.Platform}) and the baselines (/usr/bin/python3), {rounds} alternating rounds");
        var rows = new List<(string Case, string Ours, string Theirs, string Ratio, string Note)>();

        // The Transformer encoder layer (d_model 256, 4 heads, d_ff 1024, post-LN) at sequence 128 and batch 8;
        // fewer steps per round, since one step does about 70 times the MLP's work.
        var cases = new[]
        {
            new BenchCase("mlp", "mlp.nd", "mlp", 128, 60),
            new BenchCase("lenet5", "lenet5.nd", "lenet5", 64, 60),
            new BenchCase("transformer", "transformer_layer.nd",
                "transformer layer (d 256, 4 heads, d_ff 1024, T 128, post-LN)", 8, 20, "TransformerEncoderLayer", 128),
            new BenchCase("lstm", "lstm.nd", "LSTM layer (input 64, hidden 256, T 100)", 32, 20, "LSTM", 100),
        }.Where(c => wanted.Contains(c.Key)).ToArray();
        var compiled = cases.ToDictionary(c => c.Key, c =>
        {
            var path = System.IO.Path.Combine(models, c.File);
            var result = Program.CompileFile(path) ?? throw new UsageException($"{path} does not compile");
            return c.Model is null ? result.Models[0] : Program.PickModel(result, c.Model, path);
        });
        // Layer norm over rows of 768 (a BERT-base/GPT-2 width), 8 × 128 rows: the composition against PyTorch's fused
        // layer_norm, inputs resident on the device as PyTorch's are in memory.
        var layerNorm = Compiler.NeuroCompiler.Compile("layer_norm_bench.nd", LayerNormBench).Models.Single();
        var ours = new Dictionary<string, List<double>>();
        var theirs = new Dictionary<string, List<double>>();
        var launches = new Dictionary<string, (int Launches, long Bytes)>();
        void Add(Dictionary<string, List<double>> into, string key, double value)
        {
            if (!into.TryGetValue(key, out var list)) into[key] = list = new List<double>();
            list.Add(value);
        }
        string? why = null;
        string? torchVersion = null;
        for (var round = 0; round < rounds; round++)
        {
            if (wanted.Contains("sgemm"))
            {
                foreach (var (key, value) in OurGemm(device)) Add(ours, key, value);
                foreach (var p in TrainingProducts) Add(ours, TrainingKey(p), TrainingGemm(device, p));
            }
            foreach (var c in cases)
            {
                var symbols = new Dictionary<string, long> { ["N"] = c.Batch };
                if (c.T > 0) symbols["T"] = c.T;
                var step = StepTimes(compiled[c.Key], device, symbols, c.Steps);
                Add(ours, $"{c.Key}_train_ms", step.Train);
                Add(ours, $"{c.Key}_forward_ms", step.Forward);
                launches[c.Key] = (step.Launches, step.Bytes);
            }
            if (wanted.Contains("layer_norm"))
            {
                var ln = StepTimes(layerNorm, device, new Dictionary<string, long> { ["N"] = 8 }, 60, resident: true);
                Add(ours, "layer_norm_train_ms", ln.Train);
                Add(ours, "layer_norm_forward_ms", ln.Forward);
                launches["layer_norm"] = (ln.Launches, ln.Bytes);
            }
            using var baseline = RunBaselines(wanted.Count == CaseNames.Length ? null : string.Join(",", wanted), out why);
            if (baseline is null) continue;
            foreach (var p in baseline.RootElement.EnumerateObject())
                if (p.Value.ValueKind == System.Text.Json.JsonValueKind.Number) Add(theirs, p.Name, p.Value.GetDouble());
                else if (p.Name == "torch_version") torchVersion = p.Value.GetString();
            Console.Error.WriteLine($"bench: round {round + 1} of {rounds} done");
        }

        string Ms(double v) => v.ToString("F2", CultureInfo.InvariantCulture) + " ms";
        double Ours(string k) => Median(new List<double>(ours[k]));
        double? Base(string k) => theirs.TryGetValue(k, out var v) ? Median(new List<double>(v)) : null;
        // The spread of the per-round ratios, when there is more than one round.
        string Spread(string k, bool gemm)
        {
            if (!theirs.TryGetValue(k, out var t) || t.Count < 2 || ours[k].Count != t.Count) return "";
            var ratios = ours[k].Zip(t, (o, b) => gemm ? b / o : o / b).OrderBy(r => r).ToList();
            return $" (rounds {ratios[0].ToString("F2", CultureInfo.InvariantCulture)}–{ratios[^1].ToString("F2", CultureInfo.InvariantCulture)})";
        }
        foreach (var n in wanted.Contains("sgemm") ? new[] { 256, 512, 1024, 2048 } : Array.Empty<int>())
        {
            var key = $"sgemm_{n}_ms";
            var flops = 2.0 * n * n * n;
            var mine = Ours(key);
            var base0 = Base(key);
            rows.Add(($"sgemm {n}³", $"{Ms(mine)} ({flops / mine / 1e6:F0} GFLOP/s)",
                base0 is { } t ? $"{Ms(t)} ({flops / t / 1e6:F0} GFLOP/s)" : "n/a",
                base0 is { } t2 ? (t2 / mine).ToString("F2", CultureInfo.InvariantCulture) + "× OpenBLAS" + Spread(key, true) : "-",
                LibraryKernels.InPlaceGemm(device.Gemm.Config, LibraryKernels.IsGpuShape(device), n, n, n, device.Info.ComputeUnits, false) is not null
                    ? "tiled kernel reading B in place vs numpy (OpenBLAS)" : "pack + tiled kernel vs numpy (OpenBLAS)"));
        }
        foreach (var p in wanted.Contains("sgemm") ? TrainingProducts : Array.Empty<Runtime.Tuning.GemmProduct>())
        {
            var key = TrainingKey(p);
            var flops = 2.0 * p.M * p.N * p.K;
            var mine = Ours(key);
            var base0 = Base(key);
            rows.Add(($"sgemm {p}", $"{Ms(mine)} ({flops / mine / 1e6:F0} GFLOP/s)",
                base0 is { } t ? $"{Ms(t)} ({flops / t / 1e6:F0} GFLOP/s)" : "n/a",
                base0 is { } t2 ? (t2 / mine).ToString("F2", CultureInfo.InvariantCulture) + "× OpenBLAS" + Spread(key, true) : "-",
                "the MLP's training product at batch 128 vs numpy (OpenBLAS, transposes as flags)"));
        }
        var layerNormCase = new BenchCase("layer_norm", "", "layer norm [8, 128, 768]", 8, 60);
        foreach (var (key, _, title, batch, _, _, _) in wanted.Contains("layer_norm") ? cases.Append(layerNormCase) : cases)
            foreach (var kind in new[] { "train", "forward" })
            {
                var k = $"{key}_{kind}_ms";
                var mine = Ours(k);
                var base0 = Base(k);
                var shape = key == "layer_norm" ? "" : $", batch {batch}";
                rows.Add(($"{title} {(kind == "train" ? "training step (Adam)" : "forward")}{shape}", Ms(mine), base0 is { } t ? Ms(t) : "n/a",
                    base0 is { } t2 ? (mine / t2).ToString("F2", CultureInfo.InvariantCulture) + "× PyTorch's time" + Spread(k, false) : "-",
                    kind == "train" ? $"{launches[key].Launches} launches per step, {launches[key].Bytes / 1024.0 / 1024.0:F1} MiB on the device"
                    : key == "layer_norm" ? "forward + finish, inputs resident (one row kernel), no loss"
                    : "upload + forward (outputs, no loss) + finish"));
            }
        Console.Out.WriteLine($"| case | NeuroDsl ({device.Info.Name}) | baseline | ratio | notes |");
        Console.Out.WriteLine("| --- | --- | --- | --- | --- |");
        foreach (var r in rows) Console.Out.WriteLine($"| {r.Case} | {r.Ours} | {r.Theirs} | {r.Ratio} | {r.Note} |");
        if (theirs.Count == 0) Console.Out.WriteLine($"\nbaselines skipped: {why}");
        else Console.Out.WriteLine($"\nbaselines: numpy/OpenBLAS and PyTorch {torchVersion ?? "?"}, 2 threads, OMP_WAIT_POLICY=PASSIVE; {rounds} alternating rounds, each a median after warm-up; cells are medians over rounds, with the range of the per-round ratios. GEMM ratio > 1 means NeuroDsl is faster; step ratio < 1 means NeuroDsl is faster.");
        return ExitCodes.Ok;
    }

    /// <summary>The layer-norm microbenchmark: PyTorch's <c>F.layer_norm</c> with weight and bias, loss mean(y · r).</summary>
    private const string LayerNormBench = @"model LayerNormBench {
  input x: f32[N, 128, 768]
  input r: f32[N, 128, 768]
  output y = x |> layer_norm
  loss mean(y * r)
}
";

    /// <summary>One model row pair of the table: a training step and a forward pass; <c>T</c> the sequence length, if any.</summary>
    private sealed record BenchCase(string Key, string File, string Title, int Batch, int Steps, string? Model = null, int T = 0);
}
