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

    private (int Code, string Out, string Err) Neurodsl(params string[] args) => NeurodslWithGemm(null, args);

    // With NEURODSL_GEMM set to gemmShape (cpu or gpu) where not null.
    private (int Code, string Out, string Err) NeurodslWithGemm(string? gemmShape, params string[] args)
    {
        var exe = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "neurodsl.exe" : "neurodsl");
        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["NEURODSL_CACHE"] = _cache;
        if (gemmShape is not null) info.Environment["NEURODSL_GEMM"] = gemmShape;
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

    // NEURODSL_GEMM=gpu on this CPU: devices shows the GPU shape's tile, and tune searches it and stores it beside the
    // CPU shape's parameters (a one-second budget: how many tiles a budget reaches depends on the host; CI's cold PoCL cache
    // on a loaded host timed only the default in 4 s). TuningTests checks the GPU search space itself.
    [Fact]
    public void Tune_InTheGemmsGpuShape_SearchesAndStoresTheGpuTile()
    {
        var before = NeurodslWithGemm("gpu", "devices");
        Assert.Contains("GEMM: GPU shape: 64x64 tile per work-group of 16x16 (4x4 per work-item)", before.Out);
        var cpuBefore = GemmLine(NeurodslWithGemm("cpu", "devices").Out);
        cpuBefore = cpuBefore[..cpuBefore.LastIndexOf(" (default for ", StringComparison.Ordinal)];
        var tune = NeurodslWithGemm("gpu", "tune", CliTests.Model("mlp.nd"), "--batch", "8", "--only", "gemm", "--budget", "1");
        Assert.True(tune.Code == 0, tune.Err);
        Assert.Contains("running now: GPU shape: 64x64 tile", tune.Err);
        Assert.True(tune.Err.Split('\n').Count(l => l.StartsWith("  GPU shape: ", StringComparison.Ordinal)) >= 1, tune.Err);
        Assert.Contains("passed the reference check", tune.Out);
        var file = Assert.Single(Directory.GetFiles(Path.Combine(_cache, "tuning"), "gemm-*.json"));
        Assert.Contains("\"groupRows\"", File.ReadAllText(file));
        Assert.Contains("(tuned ", NeurodslWithGemm("gpu", "devices").Out);
        // The CPU shape's parameters stay what they were: the GPU search leaves them alone.
        Assert.StartsWith(cpuBefore, GemmLine(NeurodslWithGemm("cpu", "devices").Out));
    }

    private static string GemmLine(string devices) => devices.Split('\n').First(l => l.TrimStart().StartsWith("GEMM: ", StringComparison.Ordinal));

    [Fact]
    public void Tune_OnAModelWithoutTiledProducts_SaysSo()
    {
        Assert.Contains("nothing to tune", Neurodsl("tune", CliTests.Model("xor_mlp.nd"), "--batch", "4", "--only", "gemm").Err);
        // Nor do its kernels read a kernel setting: nothing is searched or stored.
        var both = Neurodsl("tune", CliTests.Model("xor_mlp.nd"), "--batch", "4");
        Assert.Equal(0, both.Code);
        Assert.Contains("runs no tiled GEMM at batch 4; tuning its kernel settings alone", both.Err);
        Assert.Contains("XorMlp's kernels read none of the kernel settings (lanes per row or per element, a convolution's pixels per work-item, the GPU group); nothing to tune", both.Err);
        Assert.False(Directory.Exists(Path.Combine(_cache, "tuning")) && Directory.GetFiles(Path.Combine(_cache, "tuning")).Length > 0);
    }

    // A model's kernel settings: the default checked against the float64 reference and timed (a one-second budget is
    // the default alone), stored in a file of their own, shown by devices; a corrupt file is one warning and the default.
    [Fact]
    public void Tune_AModelsKernelSettings_StoresThem_AndDevicesShowsThem()
    {
        var tune = Neurodsl("tune", CliTests.Model("dropout_mlp.nd"), "--batch", "4", "--budget", "1", "--only", "kernels");
        Assert.True(tune.Code == 0, tune.Err);
        Assert.Contains("kernel settings of DropoutMlp at batch 4 (it reads ND_LANES and ND_ROW_LANES)", tune.Err);
        Assert.Contains("passed the check against the float64 reference", tune.Out);
        var file = Assert.Single(Directory.GetFiles(Path.Combine(_cache, "tuning"), "kernels-*.json"));
        Assert.Contains("\"kernels\"", File.ReadAllText(file));
        Assert.Empty(Directory.GetFiles(Path.Combine(_cache, "tuning"), "gemm-*.json"));

        var after = Neurodsl("devices");
        Assert.Matches(@"generated kernels \(CPU shapes\): row lanes \d+, lanes \d+, conv pixels \d+, GPU groups of \d+ \(tuned [^)]*DropoutMlp at batch 4\)", after.Out);
        Assert.Equal("", after.Err);

        File.WriteAllText(file, "{ \"kernels\": ");
        var corrupt = Neurodsl("devices");
        Assert.Equal(0, corrupt.Code);
        Assert.Matches(@"generated kernels \(CPU shapes\): row lanes \d+, lanes \d+, conv pixels \d+, GPU groups of \d+ \(default for ", corrupt.Out);
        var warning = Assert.Single(corrupt.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("neurodsl: ignoring the kernel tuning file ", warning);
    }

    // A model past the float64 interpreter's budget is checked against the default's results: the default passes (its own
    // results), the note says so, and the device is left on the chosen settings.
    [Fact]
    public void KernelTuner_PastTheReferenceBudget_ChecksAgainstTheDefaultsResults()
    {
        var path = CliTests.Model("dropout_mlp.nd");
        var output = Program.PickModel(Program.CompileFile(path)!, "DropoutMlp", path);
        using var device = Runtime.Device.Open();
        var symbols = new System.Collections.Generic.Dictionary<string, long> { ["N"] = 4 };
        var lines = new System.Collections.Generic.List<string>();
        var tuner = new Commands.KernelTuner(output, ModelLoader.Compile(output), device, symbols, lines.Add) { ReferenceMacs = 0 };
        var best = tuner.Run(TimeSpan.FromSeconds(1));
        Assert.Null(best.Refused);
        Assert.Equal("the default's results", tuner.CheckedAgainst);
        Assert.Equal(0, tuner.Tried[0].Error);
        Assert.Equal(best.Settings, device.Settings);

        var reference = new Commands.KernelTuner(output, ModelLoader.Compile(output), device, symbols, lines.Add);
        Assert.Null(reference.Run(TimeSpan.FromSeconds(1)).Refused);
        Assert.Equal("the float64 reference", reference.CheckedAgainst);
        Assert.True(reference.Tried[0].Error > 0, "float32 against float64 differs somewhere");
    }

    [Fact]
    public void Tune_OnlyKernels_WithoutAModel_IsAUsageError()
    {
        var r = Neurodsl("tune", "--only", "kernels");
        Assert.Equal(64, r.Code);
        Assert.StartsWith("neurodsl: --only kernels tunes a model's kernels: give the model file", r.Err);
        Assert.StartsWith("neurodsl: --only takes gemm or kernels, not 'all'", Neurodsl("tune", "--only", "all").Err);
    }

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
