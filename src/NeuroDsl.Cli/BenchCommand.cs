using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli;

/// <summary>
/// <c>neurodsl bench step FILE [--batch B] [--steps S]</c>: the median time of a training step (upload, forward,
/// backward, Adam, loss read-back) and of a forward pass, on random inputs, after warm-up. Not part of the tests.
/// </summary>
internal static class BenchCommand
{
    public static int Run(Args args)
    {
        if (args.Positional.Count == 0 || args.Positional[0] != "step") return Table(args);
        var batch = args.Int("batch", 64);
        var steps = args.Int("steps", 30);
        var modelName = args.Get("model");
        args.CheckUnknown();
        if (args.Positional.Count != 2) throw new UsageException("usage: neurodsl bench step FILE [--batch B] [--steps S]");
        var path = args.Positional[1];
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var output = Program.PickModel(result, modelName, path);
        using var device = Device.Open();
        var (train, forward, launches, bytes) = StepTimes(output, device, batch, steps);
        Console.Out.WriteLine($"{output.Name} batch {batch} on {device.Info.Name}: training step {train.ToString("F2", CultureInfo.InvariantCulture)} ms " +
                              $"({batch / train * 1000:F0} examples/s, {launches} launches, {bytes / 1024.0 / 1024.0:F1} MiB), forward {forward.ToString("F2", CultureInfo.InvariantCulture)} ms (median of {steps})");
        return ExitCodes.Ok;
    }

    /// <summary>Median training-step and forward times of a model on random inputs; launches per step; device bytes.</summary>
    private static (double Train, double Forward, int Launches, long Bytes) StepTimes(Compiler.ModelOutput output, Device device, int batch, int steps)
    {
        var type = ModelLoader.Compile(output);
        using var model = ModelLoader.Create(type, device, new Dictionary<string, long> { ["N"] = batch }, seed: 1);
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
        void Upload()
        {
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
        model.Training = false;
        var forward = Time(() =>
        {
            Upload();
            model.Forward();
            device.Finish();
        });
        var launches = output.Plan.Forward.Count + output.Plan.Backward.Count(l => !l.InputGradientOnly) + 1;
        model.Training = true;
        model.Step(adam); // make sure the optimizer state is counted
        return (train, forward, launches, model.AllocatedBytes);
    }

    private static double Median(List<double> samples)
    {
        samples.Sort();
        return samples[samples.Count / 2];
    }

    /// <summary><c>neurodsl bench</c>: the whole comparison table, NeuroDsl and the baselines measured in one run.</summary>
    private static int Table(Args args)
    {
        var models = args.Get("models") ?? "models";
        args.CheckUnknown();
        using var device = Device.Open();
        Console.Error.WriteLine($"bench: NeuroDsl on {device.Info.Name} ({device.Info.Platform}); baselines next, with /usr/bin/python3");
        var rows = new List<(string Case, string Ours, string Theirs, string Ratio, string Note)>();

        // sgemm: pack + register-tiled kernel, queued back to back, one finish per repetition.
        var ourGemm = new Dictionary<int, double>();
        foreach (var n in new[] { 256, 512, 1024, 2048 })
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
            ourGemm[n] = Median(samples);
        }

        var cases = new[] { ("mlp", "mlp.nd", 128), ("lenet5", "lenet5.nd", 64) };
        var ourSteps = new Dictionary<string, (double Train, double Forward, int Launches, long Bytes)>();
        foreach (var (key, file, batch) in cases)
        {
            var path = System.IO.Path.Combine(models, file);
            var result = Program.CompileFile(path) ?? throw new UsageException($"{path} does not compile");
            ourSteps[key] = StepTimes(result.Models[0], device, batch, 60);
        }

        var baseline = RunBaselines(out var why);
        string Ms(double v) => v.ToString("F2", CultureInfo.InvariantCulture) + " ms";
        double? Base(string k) => baseline is not null && baseline.RootElement.TryGetProperty(k, out var v) ? v.GetDouble() : null;
        foreach (var n in ourGemm.Keys)
        {
            var flops = 2.0 * n * n * n;
            var theirs = Base($"sgemm_{n}_ms");
            rows.Add(($"sgemm {n}³", $"{Ms(ourGemm[n])} ({flops / ourGemm[n] / 1e6:F0} GFLOP/s)",
                theirs is { } t ? $"{Ms(t)} ({flops / t / 1e6:F0} GFLOP/s)" : "n/a",
                theirs is { } t2 ? (t2 / ourGemm[n]).ToString("F2", CultureInfo.InvariantCulture) + "× OpenBLAS" : "-", "pack + tiled kernel vs numpy (OpenBLAS)"));
        }
        foreach (var (key, file, batch) in cases)
        {
            var ours = ourSteps[key];
            foreach (var (kind, value) in new[] { ("train", ours.Train), ("forward", ours.Forward) })
            {
                var theirs = Base($"{key}_{kind}_ms");
                rows.Add(($"{key} {(kind == "train" ? "training step (Adam)" : "forward")}, batch {batch}", Ms(value), theirs is { } t ? Ms(t) : "n/a",
                    theirs is { } t2 ? (value / t2).ToString("F2", CultureInfo.InvariantCulture) + "× PyTorch's time" : "-",
                    kind == "train" ? $"{ours.Launches} launches per step, {ours.Bytes / 1024.0 / 1024.0:F1} MiB on the device" : "upload + forward + finish"));
            }
        }
        Console.Out.WriteLine($"| case | NeuroDsl ({device.Info.Name}) | baseline | ratio | notes |");
        Console.Out.WriteLine("| --- | --- | --- | --- | --- |");
        foreach (var r in rows) Console.Out.WriteLine($"| {r.Case} | {r.Ours} | {r.Theirs} | {r.Ratio} | {r.Note} |");
        if (baseline is null) Console.Out.WriteLine($"\nbaselines skipped: {why}");
        else Console.Out.WriteLine($"\nbaselines: numpy/OpenBLAS and PyTorch {(baseline.RootElement.TryGetProperty("torch_version", out var tv) ? tv.GetString() : "?")}, 2 threads, OMP_WAIT_POLICY=PASSIVE; medians after warm-up. GEMM ratio > 1 means NeuroDsl is faster; step ratio < 1 means NeuroDsl is faster.");
        return ExitCodes.Ok;
    }

    private static System.Text.Json.JsonDocument? RunBaselines(out string why)
    {
        why = "";
        var script = System.IO.Path.Combine("tests", "Baselines", "bench_baselines.py");
        if (!System.IO.File.Exists("/usr/bin/python3") || !System.IO.File.Exists(script))
        {
            why = $"/usr/bin/python3 or {script} not found (run from the repository root; 'bash .ci/bench-setup' installs the baselines)";
            return null;
        }
        var info = new ProcessStartInfo("/usr/bin/python3", script) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        info.Environment.Remove("OPENBLAS_CORETYPE");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        try
        {
            var doc = System.Text.Json.JsonDocument.Parse(stdout);
            if (doc.RootElement.TryGetProperty("torch_error", out var te)) why = "PyTorch: " + te.GetString() + " (run 'bash .ci/bench-setup')";
            if (doc.RootElement.TryGetProperty("numpy_error", out var ne)) why = "numpy: " + ne.GetString() + " (run 'bash .ci/bench-setup')";
            return doc;
        }
        catch (System.Text.Json.JsonException)
        {
            why = "the baseline script failed: " + stderr.Trim().Split('\n').LastOrDefault();
            return null;
        }
    }
}
