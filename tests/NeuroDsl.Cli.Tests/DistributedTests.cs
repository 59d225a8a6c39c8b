using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using NeuroDsl.Runtime.Checkpoints;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// <c>train --distributed</c> under Open MPI's mpirun, on LeNet-5 and 256 Fashion-MNIST images: one process, two ranks
/// and four (oversubscribed) take the same steps; a resumed run may use another number of ranks; a rank that hangs
/// or dies stops every rank with a one-line message and leaves the last checkpoint whole. Skipped where mpirun is not
/// installed (<c>.ci/setup</c> installs openmpi-bin). As root, Open MPI wants OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM).
/// </summary>
public sealed class DistributedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli-distributed").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string? Mpirun = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    private static readonly string Neurodsl = Path.Combine(AppContext.BaseDirectory, "neurodsl.dll");

    private string At(string name) => Path.Combine(_dir, name);

    /// <summary>Runs neurodsl under <c>mpirun -np K</c> (K = 0: as a plain process), killing it after 15 minutes (a guard against a hang; a quiet machine takes well under one).</summary>
    private static (int Code, string Out, string Err) Run(int ranks, string? fault, params string[] args)
    {
        var start = new ProcessStartInfo(ranks == 0 ? "dotnet" : Mpirun!) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (ranks > 0)
            foreach (var a in new[] { "--oversubscribe", "-np", ranks.ToString(), "-x", "NEURODSL_TEST_FAULT", "dotnet" })
                start.ArgumentList.Add(a);
        start.ArgumentList.Add(Neurodsl);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        start.Environment["NEURODSL_TEST_FAULT"] = fault ?? "";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(15)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -np {ranks} did not finish in 15 minutes: {stdout.Result}\n{stderr.Result}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private string[] Train(string name, int epochs, params string[] more) =>
        new[] { "train", CliTests.Model("lenet5.nd"), "--data", "fashion-mnist", "--limit", "256", "--batch", "64", "--epochs",
            epochs.ToString(), "--distributed", "--checkpoint", At(name + ".safetensors"), "--metrics", At(name + ".json") }.Concat(more).ToArray();

    private float[][] StepLosses(string name) =>
        JsonDocument.Parse(File.ReadAllText(At(name + ".json"))).RootElement.GetProperty("epochs").EnumerateArray()
            .Select(e => e.GetProperty("step_losses").EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();

    [SkippableFact]
    public void OneTwoAndFourRanks_TakeTheSameSteps_AndAResumeMayChangeTheRanks()
    {
        Skip.If(Mpirun is null, "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)");
        var one = Run(0, null, Train("one", 2));
        Assert.True(one.Code == 0, one.Out + one.Err);
        Assert.Contains("distributed: 1 rank (one process: not started by mpirun)", one.Out);
        var two = Run(2, null, Train("two", 1));
        Assert.True(two.Code == 0, two.Out + two.Err);
        Assert.Contains("distributed: 2 ranks (Open MPI), global batch 64 = 2 × 32", two.Out);
        // Only rank 0 writes: one summary line, not two.
        Assert.Single(two.Out.Split('\n'), l => l.StartsWith("test accuracy after", StringComparison.Ordinal));
        var four = Run(4, null, Train("four", 2, "--resume", At("two.safetensors")));
        Assert.True(four.Code == 0, four.Out + four.Err);

        var single = StepLosses("one");
        Assert.Equal(4, single[0].Length);
        AssertClose(single[0], StepLosses("two")[0], 2e-5f, "epoch 1 on two ranks");
        AssertClose(single[1], StepLosses("four")[0], 2e-5f, "epoch 2 on four ranks, resumed from two");
        var (expected, _) = SafeTensors.Read(At("one.safetensors"));
        var (actual, meta) = SafeTensors.Read(At("four.safetensors"));
        Assert.Equal("8", meta["steps"]);
        Assert.Equal(expected.Keys.OrderBy(k => k), actual.Keys.OrderBy(k => k));
        foreach (var (name, tensor) in expected)
            AssertClose(tensor.AsFloats(), actual[name].AsFloats(), 1e-5f, name);
    }

    private static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a) / Math.Max(1f, Math.Abs(e))).Max();
        Assert.True(worst <= tolerance, $"{what}: largest difference {worst} (tolerance {tolerance})");
    }

    [SkippableFact]
    public void ARankThatHangsOrDies_StopsEveryRank_WithAOneLineMessage_AndTheCheckpointIsWhole()
    {
        Skip.If(Mpirun is null, "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)");
        // Rank 1 stops answering after step 6 (epoch 2 of 4 steps each): rank 0 gives up at step 7 after --timeout (20 s: more than the ranks' evaluations may differ by on a busy host).
        var watch = Stopwatch.StartNew();
        var hang = Run(2, "hang:1:6", Train("hang", 3, "--timeout", "20"));
        Assert.NotEqual(0, hang.Code);
        Assert.Contains("neurodsl: rank 0 of 2: the allreduce of gradient bucket 1 of 1 (step 7) did not finish within 20 s; another "
            + "rank has died or hung (raise --timeout if a step or an evaluation is slower than that)\n", hang.Err.Replace("\r", ""));
        Assert.Contains("neurodsl: rank 1 of 2: stopped by mpirun (another rank failed or exited); the last checkpoint is whole", hang.Err);
        Assert.DoesNotContain("   at ", hang.Err);
        Assert.Equal("1", SafeTensors.Read(At("hang.safetensors")).Metadata["epochs_done"]);

        // Rank 1 exits at step 6: mpirun stops rank 0, which says so.
        var dies = Run(2, "exit:1:6", Train("dies", 3));
        Assert.NotEqual(0, dies.Code);
        Assert.Contains("neurodsl: rank 0 of 2: stopped by mpirun (another rank failed or exited); the last checkpoint is whole", dies.Err);
        Assert.Equal("1", SafeTensors.Read(At("dies.safetensors")).Metadata["epochs_done"]);
        Assert.True(watch.Elapsed < TimeSpan.FromMinutes(20), $"{watch.Elapsed}");
    }
}
