using System;
using System.IO;
using NeuroDsl.Runtime.OpenCl;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>Device selection, OpenCL error reporting and the on-disk program cache.</summary>
public sealed class DeviceAndCacheTests
{
    [Fact]
    public void UnknownDeviceName_IsRefused_WithTheDeviceList()
    {
        var e = Assert.Throws<DeviceUnavailableException>(() => Device.Open("no-such-device-xyz"));
        Assert.Contains("no device or platform name contains it", e.Message);
        Assert.Contains("0: ", e.Message);
        var e2 = Assert.Throws<DeviceUnavailableException>(() => Device.Open("99"));
        Assert.Contains("there are", e2.Message);
    }

    [Fact]
    public void ModelsOnASecondDevice_GetProgramsOfTheirOwnContext()
    {
        // Two devices (contexts) in one process, the first disposed before the second is used.
        for (var round = 0; round < 2; round++)
        {
            using var device = Device.Open();
            using var model = new NeuroDsl.Models.XorMlp(device, N: 4, seed: 1);
            var data = NeuroDsl.Runtime.Training.SmallDataSet.Xor();
            var loss = model.TrainStep(new Sgd(0.5f), data.X, data.Y);
            Assert.True(float.IsFinite(loss));
        }
    }

    [Fact]
    public void BuildErrors_ShowTheLogAndTheProgramName()
    {
        var e = Assert.Throws<ClException>(() =>
            ProgramCache.Get(TestDevice.Instance, "__kernel void broken(__global float* x) { x[0] = undefined_thing; }", "", "my_model"));
        Assert.Contains("clBuildProgram", e.Message);
        Assert.Contains("CL_BUILD_PROGRAM_FAILURE", e.Message);
        Assert.Contains("my_model", e.Message);
        Assert.Contains("undefined_thing", e.Message);
    }

    [Fact]
    public void FailedCalls_NameTheCallAndTheError()
    {
        var program = ProgramCache.Get(TestDevice.Instance, LibraryKernels.Source, "-cl-std=CL1.2", "library");
        var e = Assert.Throws<ClException>(() => new Kernel(TestDevice.Instance, program, "nd_no_such_kernel"));
        Assert.Contains("clCreateKernel(nd_no_such_kernel)", e.Message);
        Assert.Contains("CL_INVALID_KERNEL_NAME", e.Message);
    }

    [Fact]
    public void OnPoclWithItsKernelCache_NoBinaryIsWritten_AndEachBuildIsReported()
    {
        var device = TestDevice.Instance;
        var dir = Path.Combine(Path.GetTempPath(), "neurodsl-cache-pocl-" + Guid.NewGuid().ToString("N"));
        var names = new[] { "NEURODSL_CACHE", "NEURODSL_PROGRAM_BINARIES", "POCL_KERNEL_CACHE" };
        var old = Array.ConvertAll(names, Environment.GetEnvironmentVariable);
        var builds = new System.Collections.Generic.List<ProgramBuild>();
        try
        {
            Environment.SetEnvironmentVariable("NEURODSL_CACHE", dir);
            Environment.SetEnvironmentVariable("NEURODSL_PROGRAM_BINARIES", null);
            Environment.SetEnvironmentVariable("POCL_KERNEL_CACHE", null);
            var pocl = ProgramCache.IsPocl(device.Info);
            Assert.Equal(!pocl, ProgramCache.KeepsBinaries(device.Info));
            Environment.SetEnvironmentVariable("POCL_KERNEL_CACHE", "0");
            Assert.True(ProgramCache.KeepsBinaries(device.Info)); // PoCL's cache off: ours is all there is
            Environment.SetEnvironmentVariable("POCL_KERNEL_CACHE", null);
            Environment.SetEnvironmentVariable("NEURODSL_PROGRAM_BINARIES", "1");
            Assert.True(ProgramCache.KeepsBinaries(device.Info));
            Environment.SetEnvironmentVariable("NEURODSL_PROGRAM_BINARIES", "0");
            Assert.False(ProgramCache.KeepsBinaries(device.Info));
            Environment.SetEnvironmentVariable("NEURODSL_PROGRAM_BINARIES", null);

            ProgramCache.Building = builds.Add;
            var source = "__kernel void k_" + Guid.NewGuid().ToString("N") + "(__global float* x) { x[get_global_id(0)] = 4.0f; }";
            var program = ProgramCache.Get(device, source, "-D ND_N=3", "m", "N=3");
            Assert.NotEqual(0, program);
            Assert.Equal(program, ProgramCache.Get(device, source, "-D ND_N=3", "m", "N=3")); // this process's table: built once
            Assert.Equal(2, builds.Count);
            Assert.Equal(("m", "N=3", source.Length), (builds[0].Label, builds[0].Sizes, builds[0].SourceChars));
            Assert.Null(builds[0].Elapsed);
            Assert.NotNull(builds[1].Elapsed);
            Assert.Equal(pocl ? 0 : 1, Directory.Exists(dir) ? Directory.GetFiles(dir, "*.bin").Length : 0);
            if (pocl) Assert.Equal("built (the driver caches it)", ProgramCache.LastOutcome);
        }
        finally
        {
            ProgramCache.Building = null;
            for (var i = 0; i < names.Length; i++) Environment.SetEnvironmentVariable(names[i], old[i]);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ShapeAndLaneSettings_TakeTheirValues_AndABadOneIsIgnoredWithOneLine()
    {
        const string name = "NEURODSL_TEST_SETTING";
        var old = Console.Error;
        var err = new StringWriter();
        Console.SetError(err);
        try
        {
            Environment.SetEnvironmentVariable(name, "GPU");
            Assert.True(EnvironmentSettings.Shape(name));
            Environment.SetEnvironmentVariable(name, " cpu ");
            Assert.False(EnvironmentSettings.Shape(name));
            Environment.SetEnvironmentVariable(name, "64");
            Assert.Equal(64, EnvironmentSettings.PowerOfTwo(name, 1024));
            Environment.SetEnvironmentVariable(name, "0");
            Assert.False(EnvironmentSettings.Switch(name));
            Environment.SetEnvironmentVariable(name, null);
            Assert.Null(EnvironmentSettings.Shape(name));
            Assert.Equal("", err.ToString());

            Environment.SetEnvironmentVariable(name, "gpus");
            Assert.Null(EnvironmentSettings.Shape(name));
            Assert.Null(EnvironmentSettings.Shape(name)); // warned once
            Environment.SetEnvironmentVariable(name, "3");
            Assert.Null(EnvironmentSettings.PowerOfTwo(name, 16));
            Environment.SetEnvironmentVariable(name, "yes");
            Assert.Null(EnvironmentSettings.Switch(name));
            Assert.Equal(new[]
            {
                $"neurodsl: ignoring {name}=gpus: give gpu or cpu",
                $"neurodsl: ignoring {name}=3: give a power of two from 1 to 16",
                $"neurodsl: ignoring {name}=yes: give 1 or 0",
            }, err.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            Console.SetError(old);
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void CorruptOrTruncatedCacheEntries_AreRebuilt_NotTrusted()
    {
        var dir = Path.Combine(Path.GetTempPath(), "neurodsl-cache-test-" + Guid.NewGuid().ToString("N"));
        var old = Environment.GetEnvironmentVariable("NEURODSL_CACHE");
        Environment.SetEnvironmentVariable("NEURODSL_CACHE", dir);
        try
        {
            var device = TestDevice.Instance;
            var source = "__kernel void k_" + Guid.NewGuid().ToString("N") + "(__global float* x) { x[get_global_id(0)] = 2.0f; }";
            var key = ProgramCache.Key(device, source, "");
            var path = ProgramCache.PathFor(key);

            ProgramCache.LoadUncached(device, source, "", "t", key);
            Assert.Equal("built", ProgramCache.LastOutcome);
            Assert.True(File.Exists(path));

            ProgramCache.LoadUncached(device, source, "", "t", key);
            Assert.Equal("cache hit", ProgramCache.LastOutcome);

            var bytes = File.ReadAllBytes(path);
            bytes[^1] ^= 0xFF;
            File.WriteAllBytes(path, bytes);
            ProgramCache.LoadUncached(device, source, "", "t", key);
            Assert.Equal("cache entry corrupt, rebuilt", ProgramCache.LastOutcome);

            File.WriteAllBytes(path, bytes.AsSpan(0, 20).ToArray());
            ProgramCache.LoadUncached(device, source, "", "t", key);
            Assert.Equal("cache entry corrupt, rebuilt", ProgramCache.LastOutcome);

            ProgramCache.LoadUncached(device, source, "", "t", key);
            Assert.Equal("cache hit", ProgramCache.LastOutcome);
        }
        finally
        {
            Environment.SetEnvironmentVariable("NEURODSL_CACHE", old);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
