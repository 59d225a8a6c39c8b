using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Tuning;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// The generated kernels' tunable settings (ND_LANES, ND_ROW_LANES, ND_CONV_PIXELS, the GPU group): the default table by device class and shapes, the
/// search's axes, the tuning file (round trip, corrupt files, another device's) and a stored choice in use, for the
/// shapes it was tuned in only. The search itself runs in the command-line tests (<c>neurodsl tune</c>).
/// </summary>
public sealed class KernelTuningTests
{
    private static DeviceProfile Profile(DeviceClass cls, int floats, long group = 1024) =>
        new("CPU", "test", "1", 2, floats, floats, 32768, false, group, cls, 32, floats, "test", "test");

    [Theory]
    [InlineData(DeviceClass.Avx512, 16, 16)]
    [InlineData(DeviceClass.Avx2, 8, 8)]
    [InlineData(DeviceClass.GenericCpu, 4, 4)]
    public void TheDefault_OnACpu_IsOneLaneARow_AndTheVectorWidthAnElement(DeviceClass cls, int floats, int lanes)
    {
        var profile = Profile(cls, floats);
        Assert.Equal(new KernelSettings(1, lanes, 64, profile.ConvPixels), KernelSettings.Default(profile, gpuShapes: false));
        Assert.Equal(new KernelSettings(128, 1, 64, profile.ConvPixels), KernelSettings.Default(profile, gpuShapes: true));
    }

    [Fact]
    public void EveryValueOfTheSearch_IsOneTheKernelsAccept_AndTheGpuRowsFitTheWorkGroup()
    {
        foreach (var gpu in new[] { false, true })
            foreach (var (setting, values) in KernelSettings.Axes(Profile(DeviceClass.Avx512, 16, group: 256), gpu))
            {
                // The GPU group is searched in GPU shapes only (the CPU forms' launches do not use it), the convolution's
                // pixels per work-item in CPU shapes only (the GPU forms compute one pixel a work-item).
                Assert.True(values.Length > 0 || (!gpu && setting == "ND_GPU_GROUP") || (gpu && setting == "ND_CONV_PIXELS"), setting);
                var start = KernelSettings.Default(Profile(DeviceClass.Avx512, 16), gpu);
                Assert.All(values, v => Assert.True(start.With(setting, v).IsValid, $"{setting}={v}"));
                if (gpu && setting is "ND_ROW_LANES" or "ND_GPU_GROUP") Assert.True(values.Max() <= 256);
            }
        Assert.Throws<ArgumentOutOfRangeException>(() => new KernelSettings(1, 1).With("ND_SOMETHING", 2));
        Assert.False(new KernelSettings(3, 16).IsValid);
        Assert.False(new KernelSettings(1, 32).IsValid);
        Assert.False(new KernelSettings(1, 16, 48).IsValid);
        Assert.False(new KernelSettings(1, 16, 64, 3).IsValid);
        // A device whose work-groups hold fewer than 64 work-items gets the largest power of two it holds.
        Assert.Equal(16, KernelSettings.Default(Profile(DeviceClass.Gpu, 1, group: 24), gpuShapes: true).GpuGroup);
    }

    [Fact]
    public void TheFile_RoundTrips_ForTheShapesItWasTunedIn()
    {
        var dir = TempDir();
        var info = TestDevice.Instance.Info;
        var path = KernelTuning.Save(info, dir, new KernelSettings(4, 2, 128, 2), gpuShapes: false, "a test", "a note");
        Assert.StartsWith("kernels-", Path.GetFileName(path));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        var warnings = new List<string>();
        var stored = KernelTuning.Stored(info, dir, false, warnings.Add);
        Assert.NotNull(stored);
        Assert.Equal(new KernelSettings(4, 2, 128, 2), stored!.Settings);
        Assert.False(stored.GpuShapes);
        Assert.StartsWith("tuned ", stored.Source);
        Assert.Empty(warnings);
        // The GEMM's file is another file in the same folder: storing one leaves the other.
        GemmTuning.Save(info, dir, GemmConfig.Default(info.Profile.Class), "a test", "a note");
        Assert.Equal(new KernelSettings(4, 2, 128, 2), KernelTuning.Stored(info, dir, false, warnings.Add)!.Settings);
        // The GPU shapes' choice is a file of its own: tuning in one shape keeps the other's.
        Assert.Null(KernelTuning.Stored(info, dir, true, warnings.Add));
        KernelTuning.Save(info, dir, new KernelSettings(32, 1, 128, 8), gpuShapes: true, "a test", "a note");
        Assert.Equal(new KernelSettings(32, 1, 128, 8), KernelTuning.Stored(info, dir, true, warnings.Add)!.Settings);
        Assert.Equal(new KernelSettings(4, 2, 128, 2), KernelTuning.Stored(info, dir, false, warnings.Add)!.Settings);
        Assert.Equal(3, Directory.GetFiles(dir, "*.json").Length);
        Assert.Empty(warnings);
        Directory.Delete(dir, true);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\"}")]
    [InlineData("{}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\", \"kernels\": {\"gpuShapes\": true, \"rowLanes\": 1, \"lanes\": 8}}")]
    [InlineData("{\"device\": \"another device\", \"driver\": \"DRIVER\", \"kernels\": {\"rowLanes\": 1, \"lanes\": 8}}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"another driver\", \"kernels\": {\"rowLanes\": 1, \"lanes\": 8}}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\", \"kernels\": {\"rowLanes\": 3, \"lanes\": 8}}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\", \"kernels\": {\"rowLanes\": 1, \"lanes\": 0}}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\", \"kernels\": {\"rowLanes\": 1, \"lanes\": 8, \"gpuGroup\": 96}}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\", \"kernels\": {\"rowLanes\": 1, \"lanes\": 8, \"convPixels\": 32}}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\", \"kernels\": {\"rowLanes\": \"one\", \"lanes\": 8}}")]
    public void ACorruptFile_IsIgnored_WithOneLineWarning(string text)
    {
        var dir = TempDir();
        var info = TestDevice.Instance.Info;
        var path = KernelTuning.PathFor(info, dir, false);
        File.WriteAllText(path, text.Replace("DEVICE", info.Name).Replace("DRIVER", info.DriverVersion));
        var warnings = new List<string>();
        Assert.Null(KernelTuning.Stored(info, dir, false, warnings.Add));
        var warning = Assert.Single(warnings);
        Assert.DoesNotContain('\n', warning);
        Assert.Contains(path, warning);
        Assert.StartsWith("neurodsl: ignoring the kernel tuning file ", warning);
        // Once per file and process: the next read is silent.
        Assert.Null(KernelTuning.Stored(info, dir, false, warnings.Add));
        Assert.Single(warnings);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void NoFile_IsNoChoice_Silently()
    {
        var warnings = new List<string>();
        Assert.Null(KernelTuning.Stored(TestDevice.Instance.Info, Path.Combine(Path.GetTempPath(), "nd-none-" + Guid.NewGuid()), false, warnings.Add));
        Assert.Empty(warnings);
    }

    // A stored choice is what the device builds models with in the shapes it was tuned in; in the other shapes the
    // default of those applies, and a value set on the device (a test's, the tuner's candidate) wins over both.
    [Fact]
    public void ATunedChoice_IsWhatAModelIsBuiltWith_InItsShapesOnly()
    {
        if (new[] { "NEURODSL_ROW_LANES", "NEURODSL_LANES", "NEURODSL_GPU_GROUP", "NEURODSL_CONV_PIXELS" }.Any(v => Environment.GetEnvironmentVariable(v) is not null))
            return; // the environment overrides every choice: nothing here to see
        using var device = Device.Open();
        device.GpuShapes = false;
        device.UseKernels(new KernelChoice(new KernelSettings(4, 2, 32, 2), GpuShapes: false, "a test"));
        Assert.Equal(4, device.RowLanes);
        Assert.Equal(2, device.ElementLanes);
        Assert.Equal(32, device.GpuGroup);
        Assert.Equal(2, device.ConvPixels);
        Assert.Equal("a test", device.Kernels.Source);
        using (var model = new NeuroDsl.Models.Mlp(device, 3, 1UL))
            Assert.Contains("-D ND_ROW_LANES=4 -D ND_LANES=2 ", model.BuildOptions + " ");
        using (var lenet = new NeuroDsl.Models.LeNet5(device, 2, 1UL))
            Assert.Equal(2, lenet.ConvPixels);
        device.GpuShapes = true;
        Assert.Equal(KernelSettings.Default(device.Info.Profile, gpuShapes: true), device.Settings);
        device.GpuShapes = false;
        device.ElementLanes = 8;
        Assert.Equal(new KernelSettings(4, 8, 32, 2), device.Settings);
    }

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "nd-kernel-tuning-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
