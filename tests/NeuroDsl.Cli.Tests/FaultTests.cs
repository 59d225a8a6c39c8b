using System;
using System.Collections.Generic;
using System.IO;
using System.Diagnostics;
using System.Linq;
using System.Security.Cryptography;
using NeuroDsl.Runtime.Checkpoints;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>Numbers that go wrong, bad labels and models too large, as a user of the command line meets them.</summary>
public sealed class FaultTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli-faults").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Run(args);

    // log of a dense layer's output: some of it is negative, so the loss is NaN from the first step.
    private const string LogOfNegatives = """
        model Bad {
          input x: f32[N, 2]
          input target: f32[N, 1]
          h = x |> dense(2, init: uniform(-1, 1), bias_init: uniform(-1, 1))
          z = h |> log
          output y = z |> dense(1)
          loss mse(y, target)
        }
        """;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text + "\n");
        return path;
    }

    [Fact]
    public void Train_StopsAtTheFirstNonFiniteLoss_NamingTheStep_WithExit65()
    {
        var (code, stdout, stderr) = Run("train", Write("bad.nd", LogOfNegatives), "--data", "xor");
        Assert.Equal(65, code);
        Assert.Equal("neurodsl: Bad: the loss became NaN at step 1 (epoch 1, batch 1 of 1); training stopped. Lower the learning "
            + "rate, or find the first layer that goes wrong with --check-numerics\n", stderr.Replace("\r", ""));
        Assert.DoesNotContain("epoch    1  loss", stdout);
    }

    [Fact]
    public void CheckNumerics_NamesTheFirstLayer_AndItsLine()
    {
        var path = Write("bad.nd", LogOfNegatives);
        var (code, _, stderr) = Run("train", path, "--data", "xor", "--check-numerics");
        Assert.Equal(65, code);
        Assert.Contains("Bad: the first non-finite value (NaN) appears in the forward output 'z' (log at bad.nd:5  z = h |> log): "
            + "kernel nd_z_log wrote it", stderr);

        // A gradient that goes wrong while the forward pass is finite: sqrt at 0 has an infinite slope, times 0 is NaN.
        var sqrt = Write("sqrt.nd", """
            model Root {
              input x: f32[N, 2]
              input target: f32[N, 1]
              h = x |> dense(2, init: uniform(-1, 1), bias_init: uniform(-1, 1))
              z = sqrt(h * 0)
              output y = z |> dense(1, init: uniform(1, 2))
              loss mse(y, target)
            }
            """);
        (code, _, stderr) = Run("train", sqrt, "--data", "xor", "--check-numerics");
        Assert.Equal(65, code);
        Assert.Contains("Root: the first non-finite value (NaN) appears in the gradient 'grad.h' (mul at sqrt.nd:5  z = sqrt(h * 0); "
            + "one fused kernel computes sqrt_grad -> mul and stores only its end: any of them may have made it): ", stderr);

        // Without the check the run stops at the loss: the step after the NaN gradient reached the parameters.
        (code, _, stderr) = Run("train", sqrt, "--data", "xor");
        Assert.Equal(65, code);
        Assert.Contains("Root: the loss became NaN at step 2 (epoch 2, batch 1 of 1)", stderr);
    }

    [Fact]
    public void Run_WithALabelOutOfRange_IsRefused_NamingInputValuePositionAndRange()
    {
        var file = CliTests.Model("lenet5.nd");
        var weights = Path.Combine(_dir, "w.safetensors");
        var compiled = NeuroDsl.Compiler.NeuroCompiler.Compile("lenet5.nd", File.ReadAllText(file)).Models.Single();
        SafeTensors.Write(weights, compiled.Ir.Graph.Params.Select(p => SafeTensor.Of(p.Name,
            p.Shape.Dims.Select(d => d.Coef).ToArray(), new float[(int)p.Shape.Numel.PerExample])));
        var (code, _, stderr) = Run("run", file, "--weights", weights, "--inputs", Inputs(new[] { 3, 12, 9 }), "--out",
            Path.Combine(_dir, "y.safetensors"));
        Assert.Equal(65, code);
        Assert.Equal("neurodsl: LeNet5: input 'label' holds 12 at [1] of [3]; pick_class (line 18) takes 0..9\n", stderr.Replace("\r", ""));
        Assert.False(File.Exists(Path.Combine(_dir, "y.safetensors")));

        (code, _, stderr) = Run("run", file, "--weights", weights, "--inputs", Inputs(new[] { 3, 1, 9 }), "--out",
            Path.Combine(_dir, "y.safetensors"));
        Assert.True(code == 0, stderr);
    }

    private string Inputs(int[] labels)
    {
        var path = Path.Combine(_dir, "x" + string.Join("_", labels) + ".safetensors");
        SafeTensors.Write(path, new[]
        {
            SafeTensor.Of("image", new long[] { labels.Length, 1, 32, 32 }, new float[labels.Length * 32 * 32]),
            SafeTensor.Of("label", new long[] { labels.Length }, labels),
        });
        return path;
    }

    [SkippableFact]
    public void FashionMnist_FitsEveryImageModelOfTheZoo_MadePerExample_NotAnOverflow()
    {
        // VGG-16 and AlexNet (3×224×224) once ended in an OverflowException, ResNet-20 could not take grey images: now each gets Fashion-MNIST fitted to its input, one example at a time.
        Skip.IfNot(Directory.Exists(NeuroDsl.Runtime.Data.FashionMnist.DebianDirectory), "Debian's dataset-fashion-mnist is not installed");
        foreach (var (file, shape) in new[] { ("vgg16.nd", "3×224×224"), ("alexnet_2012.nd", "3×227×227"), ("resnet20_cifar.nd", "3×32×32"),
                     ("lenet5.nd", "1×32×32"), ("mlp.nd", "1×28×28") })
        {
            var path = CliTests.Model(file);
            var compiled = Program.CompileFile(path)!;
            var options = new Commands.TrainOptions(path, null, "fashion-mnist", null, null, 1, 1, null, null, 0.9, "constant", 1, null,
                null, null, null, null, false, false);
            var sets = Commands.TrainImages.LoadFor(options, compiled.Models[0]);
            Assert.Equal(shape, sets.Train.Shape.ToString());
            Assert.Equal(60_000, sets.Train.Count);
            var image = new float[sets.Train.ImageSize];
            sets.Train.CopyExample(59_999, image);
            Assert.All(image, v => Assert.InRange(v, 0f, 1f));
            Assert.Contains(image, v => v > 0.1f);
        }
    }

    [Fact]
    public void ProcessesSharingAColdProgramCache_AllSucceed_AndLeaveEveryEntryWhole()
    {
        // Three processes build the same programs (the model's and the library's) into one empty cache at once.
        var cache = Path.Combine(_dir, "cache");
        var exe = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "neurodsl.exe" : "neurodsl");
        var processes = Enumerable.Range(0, 3).Select(_ =>
        {
            var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "bench", "step", CliTests.Model("xor_mlp.nd"), "--batch", "4", "--steps", "1" }) info.ArgumentList.Add(a);
            info.Environment["NEURODSL_CACHE"] = cache;
            // NeuroDsl's own binaries, also on PoCL (whose kernel cache otherwise stands in for them: ProgramCache.KeepsBinaries).
            info.Environment["NEURODSL_PROGRAM_BINARIES"] = "1";
            return Process.Start(info)!;
        }).ToList();
        foreach (var p in processes)
        {
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, output);
            p.Dispose();
        }
        var entries = Directory.GetFiles(cache, "*.bin");
        Assert.True(entries.Length >= 2, string.Join(", ", entries));
        Assert.Empty(Directory.GetFiles(cache, "*.tmp"));
        // Each entry is whole: the magic, then the SHA-256 of the binary that follows it.
        foreach (var entry in entries)
        {
            var bytes = File.ReadAllBytes(entry);
            Assert.Equal("NDPB1\n"u8.ToArray(), bytes.AsSpan(0, 6).ToArray());
            Assert.Equal(bytes.AsSpan(6, 32).ToArray(), SHA256.HashData(bytes.AsSpan(38)));
        }
    }

    [Fact]
    public void AModelTooLargeForTheDevice_IsRefusedBeforeAllocating_WithExit69()
    {
        var (code, _, stderr) = Run("bench", "step", CliTests.Model("xor_mlp.nd"), "--batch", "1000000000", "--steps", "1");
        Assert.Equal(69, code);
        Assert.Matches(@"^neurodsl: XorMlp at N=1000000000 (plans [\d,]+ bytes of device memory; .* has [\d,]+ bytes|needs [\d,]+ bytes for )", stderr);
        Assert.Contains("Use a smaller batch", stderr);
    }
}
