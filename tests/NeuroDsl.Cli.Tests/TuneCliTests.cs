using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// <c>neurodsl tune</c> and the profile in <c>neurodsl devices</c>, as processes with a cache folder of their own: the
/// tuner stores its choice there, <c>devices</c> shows it, and a corrupt tuning file is one warning and the default.
/// </summary>
public sealed class TuneCliTests : IDisposable
{
    private readonly string _cache = Directory.CreateTempSubdirectory("tune").FullName;

    public void Dispose() => Directory.Delete(_cache, true);

    private (int Code, string Out, string Err) Neurodsl(params string[] args)
    {
        var exe = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "neurodsl.exe" : "neurodsl");
        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["NEURODSL_CACHE"] = _cache;
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output.Result, error);
    }

    [Fact]
    public void Tune_StoresItsChoice_AndDevicesShowsIt_WithTheProfile()
    {
        var before = Neurodsl("devices");
        Assert.Equal(0, before.Code);
        Assert.Contains("vector registers of", before.Out);
        Assert.Contains("(default for ", before.Out);
        // PoCL here: its own kernel cache, not NeuroDsl's binaries (ProgramCache.KeepsBinaries).
        Assert.Contains("programs cached by PoCL's kernel cache", before.Out);

        // A budget of one second times the default alone: the search machinery end to end, not a search.
        var tune = Neurodsl("tune", CliTests.Model("mlp.nd"), "--batch", "8", "--budget", "1");
        Assert.True(tune.Code == 0, tune.Err);
        Assert.Contains("Mlp at batch 8", tune.Err);
        Assert.Contains("passed the reference check", tune.Out);
        var file = Assert.Single(Directory.GetFiles(Path.Combine(_cache, "tuning"), "gemm-*.json"));
        Assert.Contains("\"gemm\"", File.ReadAllText(file));
        Assert.Empty(Directory.GetFiles(Path.Combine(_cache, "tuning"), "*.tmp"));

        var after = Neurodsl("devices");
        Assert.Contains("(tuned ", after.Out);
        Assert.Equal("", after.Err);

        File.WriteAllText(file, "{ \"gemm\": ");
        var corrupt = Neurodsl("devices");
        Assert.Equal(0, corrupt.Code);
        Assert.Contains("(default for ", corrupt.Out);
        var warning = Assert.Single(corrupt.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("neurodsl: ignoring the GEMM tuning file ", warning);
    }

    [Fact]
    public void Tune_OnAModelWithoutTiledProducts_SaysSo() =>
        Assert.Contains("nothing to tune", Neurodsl("tune", CliTests.Model("xor_mlp.nd"), "--batch", "4").Err);

    [Fact]
    public void Tune_RefusesASizeSymbolTheModelDoesNotHave_AsBenchStepDoes()
    {
        // Found by a new user: tune took --size T=5 for LeNet-5 (sizes: N) and stored a file.
        var r = Neurodsl("tune", CliTests.Model("lenet5.nd"), "--size", "T=5", "--budget", "1");
        Assert.Equal(64, r.Code);
        Assert.StartsWith("neurodsl: LeNet5 has no size symbol T (its sizes: N)", r.Err);
        Assert.False(Directory.Exists(Path.Combine(_cache, "tuning")) && Directory.GetFiles(Path.Combine(_cache, "tuning")).Length > 0);
    }
}
