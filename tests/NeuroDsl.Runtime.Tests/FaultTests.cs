using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using NeuroDsl.Runtime.OpenCl;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// The runtime under faults: numbers that go wrong are named, bad indices are refused on upload, a model too large
/// for the device is refused before it is allocated, failed builds name the kernel and line, the cache survives
/// concurrent writers.
/// </summary>
public sealed class FaultTests
{
    /// <summary>Assert.Contains, showing the whole message when it fails.</summary>
    private static void Has(string message, string part) => Assert.True(message.Contains(part, StringComparison.Ordinal), message);

    private static float[] Fill(int n, Func<int, float> f) => Enumerable.Range(0, n).Select(f).ToArray();

    [Fact]
    public void CheckNumerics_NamesTheFirstLayer_WithItsNdLine_FromTheKernelComments()
    {
        // sqrt of a negative input: NaN in the forward pass at elementwise.nd:8 (no compiler at hand: the runtime reads
        // the line from the kernel's comment, as it does for a generated model in a user's program).
        using var model = new OpEwSqrt(TestDevice.Instance, N: 3, seed: 1) { CheckNumerics = true };
        model.SetInput("x", Fill(21, i => i == 9 ? -4f : 1f + i));
        model.SetInput("r", Fill(21, _ => 1f));
        var e = Assert.Throws<NumericsException>(() => model.Forward());
        // One kernel computes y and y·r (multi-output fusion): both lines are named, and the output by its name.
        Has(e.Message, "OpEwSqrt: the first non-finite value (NaN) appears in the forward pass at "
            + "elementwise.nd:8  output y = sqrt(x); elementwise.nd:9  loss mean(y * r): kernel nd_fused_loss_0_mul wrote it to output 'y', element 9");
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void CheckNumerics_NamesAGradient_ThatGoesInfinite()
    {
        // sqrt(0) is 0, but its gradient 1 / (2·sqrt(0)) is infinite: the forward pass passes, the backward one fails.
        using var model = new OpEwSqrt(TestDevice.Instance, N: 2, seed: 1)
        {
            CheckNumerics = true, ComputeInputGradients = true,
        };
        model.SetInput("x", Fill(14, i => i == 3 ? 0f : 1f));
        model.SetInput("r", Fill(14, _ => 1f));
        model.Forward();
        var e = Assert.Throws<NumericsException>(() => model.Backward());
        Has(e.Message, "appears in a gradient at elementwise.nd:8  output y = sqrt(x)");
        Has(e.Message, "input gradient 'grad.x', element 3");

        // Without the check the same step runs through and leaves the infinity for the caller to find.
        model.CheckNumerics = false;
        model.Forward();
        model.Backward();
        Assert.True(float.IsInfinity(model.Read("grad.x")[3]));
    }

    [Fact]
    public void CheckNumerics_NamesANonFiniteInput_BeforeTheLayerThatReadsIt()
    {
        using var model = new OpEwSqrt(TestDevice.Instance, N: 1, seed: 1) { CheckNumerics = true };
        model.SetInput("x", Fill(7, i => i == 2 ? float.PositiveInfinity : 1f));
        model.SetInput("r", Fill(7, _ => 1f));
        var e = Assert.Throws<NumericsException>(() => model.Forward());
        Has(e.Message, "input 'x' holds +inf at element 2 before the forward pass at elementwise.nd:8");
    }

    [Fact]
    public void Training_StopsAtTheFirstNonFiniteLoss_AndRefusesLabelsPastTheClasses()
    {
        var device = TestDevice.Instance;
        static Data.ImageDataSet Set(int count, int badLabelAt = -1) => new("t", Fill(count * 1024, i => i % 7 / 7f),
            Enumerable.Range(0, count).Select(i => i == badLabelAt ? 10 : i % 10).ToArray(), 32, 32, 10);
        using var train = new NeuroDsl.Models.LeNet5(device, N: 4, seed: 1);
        using var eval = new NeuroDsl.Models.LeNet5(device, N: 4, seed: 1);
        var trainer = new Training.Trainer(train, eval, new Sgd(0.01f), Set(8), Set(4), seed: 1);
        Assert.True(double.IsFinite(trainer.RunEpoch(1, 0.01f).TrainLoss));

        // A parameter gone NaN (as a diverging run leaves it): the next step's loss is NaN, and the epoch stops there.
        var w = train.Parameters[0];
        train.WriteParameter(w.Name, Fill((int)w.Buffer.Elements, _ => float.NaN));
        var e = Assert.Throws<NumericsException>(() => trainer.RunEpoch(2, 0.01f));
        Assert.Equal("LeNet5: the loss became NaN at step 3 (epoch 2, batch 1 of 2); training stopped. Lower the learning rate, "
            + "or find the first layer that goes wrong with --check-numerics", e.Message);

        // The trainer declares the labels' range from the scores: label 10 of ten classes is refused on upload.
        using var fresh = new NeuroDsl.Models.LeNet5(device, N: 4, seed: 1);
        var bad = new Training.Trainer(fresh, eval, new Sgd(0.01f), Set(8, badLabelAt: 5), Set(4), seed: 1);
        var refused = Assert.Throws<InvalidDataException>(() => bad.RunEpoch(1, 0.01f));
        Assert.Matches(@"^LeNet5: input 'label' holds 10 at \[\d\] of \[4\]; LeNet5's logits of 10 classes takes 0\.\.9$", refused.Message);
    }

    [Fact]
    public void AnIndexOutOfItsRange_IsRefusedOnUpload_NamingValuePositionAndRange()
    {
        using var model = new NeuroDsl.Models.XorMlp(TestDevice.Instance, N: 4, seed: 1);
        // XorMlp has no i32 input: declaring a range on a float input is a mistake of the caller.
        Assert.Throws<ArgumentException>(() => model.SetInputRange("x", 2, "nothing"));

        using var lenet = new NeuroDsl.Models.LeNet5(TestDevice.Instance, N: 4, seed: 1);
        lenet.SetInputRange("label", 10, "cross_entropy (line 30)");
        lenet.SetInput("label", new[] { 1, 2, 3, 9 });
        var e = Assert.Throws<InvalidDataException>(() => lenet.SetInput("label", new[] { 1, 2, 10, 3 }));
        Assert.Equal("LeNet5: input 'label' holds 10 at [2] of [4]; cross_entropy (line 30) takes 0..9", e.Message);
        e = Assert.Throws<InvalidDataException>(() => lenet.SetInput("label", new[] { -1, 2, 3, 3 }));
        Has(e.Message, "holds -1 at [0] of [4]");
    }

    [Fact]
    public void AModelLargerThanTheDevice_IsRefusedBeforeAllocating_NamingModelBatchAndBytes()
    {
        var device = TestDevice.Instance;
        // Slot 0 holds 2·N floats: 17 GB at the largest N, more than PoCL's (and most GPUs') largest buffer.
        if (device.MaxAllocationBytes >= 8L * int.MaxValue) return;
        var e = Assert.Throws<DeviceMemoryException>(() => new NeuroDsl.Models.XorMlp(device, N: int.MaxValue, seed: 1));
        Assert.StartsWith("XorMlp at N=2147483647 needs 17,179,869,176 bytes for temporaries (slot 0), more than the largest buffer", e.Message);
        Has(e.Message, "planned so far. Use a smaller batch");
        // The device is still usable afterwards.
        using var ok = new NeuroDsl.Models.XorMlp(device, N: 4, seed: 1);
        Assert.True(ok.AllocatedBytes > 0);
    }

    [Fact]
    public void KernelsWithGpuAndCpuForms_KeepTheirNdLines()
    {
        // A convolution's two forms under #if ND_GPU: the .nd comment above the #if belongs to the kernel, in both.
        var source = "// m.nd:3  y = x |> conv2d(4, kernel: 3)\n#if ND_GPU\n__kernel void nd_y_conv(__global float* x) { }\n"
            + "#else\n__kernel void nd_y_conv(__global float* x) { }\n#endif\n\n__kernel void nd_after(__global float* x) { }\n";
        var lines = Numerics.KernelLines(source);
        Assert.Equal(new[] { "m.nd:3  y = x |> conv2d(4, kernel: 3)" }, lines["nd_y_conv"].Lines);
        Assert.Empty(lines["nd_after"].Lines);
        var at = Numerics.KernelAt(source, 5)!.Value; // a line of the CPU form
        Assert.Equal("nd_y_conv", at.Kernel);
        Assert.Equal(new[] { "m.nd:3  y = x |> conv2d(4, kernel: 3)" }, at.Lines);
    }

    [Fact]
    public void AFailedBuild_NamesTheKernel_TheNdLine_AndKeepsTheLog()
    {
        var source = "// m.nd:3  y = x |> fine\n__kernel void nd_y_fine(__global float* x) { x[0] = 1.0f; }\n\n"
            + "// m.nd:4  z = y |> broken\n__kernel void nd_z_broken(__global float* x)\n{\n    x[0] = undefined_thing;\n}\n";
        var e = Assert.Throws<ClException>(() => ProgramCache.Get(TestDevice.Instance, source, "", "M"));
        var first = e.Message.Split('\n')[0];
        Has(first, "program 'M' did not build on");
        Has(first, "in kernel nd_z_broken (m.nd:4  z = y |> broken), program line 7:");
        Has(first, "undefined_thing");
        Assert.Contains("error", e.Message.Split('\n', 2)[1]); // the build log follows
        Assert.Equal("program 'M' did not build on dev in kernel nd_z_broken (m.nd:4  z = y |> broken), program line 7: use of "
            + "undeclared identifier 'x'\nerror: /tmp/pocl/tempfile_1.cl:7:12: use of undeclared identifier 'x'",
            ProgramCache.DescribeBuildFailure("M", "dev", source, "error: /tmp/pocl/tempfile_1.cl:7:12: use of undeclared identifier 'x'"));

        // The message's form, for drivers whose log has clang's "<source>:LINE:COLUMN: error: ..." lines.
        var message = ProgramCache.DescribeBuildFailure("M", "dev", source, "<stdin>:1:5: warning: meh\n<stdin>:2:50: error: bad thing\nmore");
        Assert.Equal("program 'M' did not build on dev in kernel nd_y_fine (m.nd:3  y = x |> fine), program line 2: bad thing\n"
            + "<stdin>:1:5: warning: meh\n<stdin>:2:50: error: bad thing\nmore", message);
        Assert.Equal("program 'M' did not build on dev\nno line here", ProgramCache.DescribeBuildFailure("M", "dev", source, "no line here"));
    }

    [Fact]
    public async Task ConcurrentBuildsOfOneProgram_NeverCorruptTheCache()
    {
        var dir = Path.Combine(Path.GetTempPath(), "neurodsl-cache-race-" + Guid.NewGuid().ToString("N"));
        var old = Environment.GetEnvironmentVariable("NEURODSL_CACHE");
        Environment.SetEnvironmentVariable("NEURODSL_CACHE", dir);
        try
        {
            var device = TestDevice.Instance;
            var source = "__kernel void k_" + Guid.NewGuid().ToString("N") + "(__global float* x) { x[get_global_id(0)] = 3.0f; }";
            var key = ProgramCache.Key(device, source, "");
            // As many writers and readers of one entry at once as a shared cache meets (each call is what another
            // process does: read the entry, else build and write it), several rounds.
            for (var round = 0; round < 4; round++)
            {
                if (round == 2) File.Delete(ProgramCache.PathFor(key));
                var programs = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ =>
                    Task.Run(() => ProgramCache.LoadUncached(device, source, "", "race", key))));
                Assert.All(programs, p => Assert.NotEqual(0, p));
                foreach (var p in programs) Cl.ReleaseProgram(p);
            }
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
            var program = ProgramCache.LoadUncached(device, source, "", "race", key);
            Assert.Equal("cache hit", ProgramCache.LastOutcome);
            Cl.ReleaseProgram(program);
        }
        finally
        {
            Environment.SetEnvironmentVariable("NEURODSL_CACHE", old);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
