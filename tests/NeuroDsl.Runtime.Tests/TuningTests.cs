using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Tuning;
using Xunit;
using static NeuroDsl.Runtime.Tests.TestBuffers;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// The device profile's classification, the GEMM's search space and default table, the tuning cache (round trip,
/// corrupt files, a tuned choice in use) and every candidate of the search space against a float64 product at sizes
/// that are not multiples of any tile. Nothing here times anything.
/// </summary>
public sealed class TuningTests
{
    private static readonly HashSet<string> NoFlags = new();

    [Theory]
    [InlineData("pthread-skylake-avx512-AMD EPYC", 0, "", DeviceClass.Avx512, 32, 16)]
    [InlineData("cpu-znver4-AMD Ryzen 9 7950X", 0, "", DeviceClass.Avx512, 32, 16)]
    [InlineData("pthread-haswell-Intel(R) Xeon(R) CPU E5-2680 v3", 0, "avx512f", DeviceClass.Avx2, 16, 8)]
    [InlineData("pthread-skylake-Intel(R) Core(TM) i7-6700", 0, "", DeviceClass.Avx2, 16, 8)]
    [InlineData("cpu-znver3-AMD EPYC 7B13", 16, "", DeviceClass.Avx2, 16, 8)]
    [InlineData("pthread-generic-AMD EPYC", 4, "fpu avx2 fma sse4_2", DeviceClass.Avx2, 16, 8)]
    [InlineData("pthread-generic-AMD EPYC", 4, "fpu avx2 avx512f fma", DeviceClass.Avx512, 32, 16)]
    [InlineData("pthread-generic-AMD EPYC", 4, "fpu avx2 sse4_2", DeviceClass.GenericCpu, 16, 4)]
    [InlineData("Some OpenCL CPU", 8, "", DeviceClass.Avx2, 16, 8)]
    [InlineData("Some OpenCL CPU", 16, "", DeviceClass.Avx512, 32, 16)]
    [InlineData("Some OpenCL CPU", 4, "", DeviceClass.GenericCpu, 16, 4)]
    [InlineData("pthread-cortex-a72", 4, "fp asimd evtstrm crc32", DeviceClass.GenericCpu, 32, 4)]
    public void Classify_ReadsTheLlvmCpuName_ThenTheCpuFlags_ThenTheVectorWidth(string name, int native, string flags,
        DeviceClass expected, int registers, int floats)
    {
        var set = flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var (cls, r, f, _, source) = DeviceProfile.Classify(false, name, native, set);
        Assert.Equal((expected, registers, floats), (cls, r, f));
        Assert.False(string.IsNullOrWhiteSpace(source));
    }

    [Fact]
    public void Classify_AGpu_IsAGpu_WhateverItsName() =>
        Assert.Equal(DeviceClass.Gpu, DeviceProfile.Classify(true, "pthread-skylake-avx512-x", 1, NoFlags).Class);

    [Fact]
    public void ParseCpuFlags_TakesTheFirstProcessorsFlags_OnX86AndArm()
    {
        var x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme avx2 fma avx512f\nbugs\t\t: sysret_ss_attrs\n\n"
                  + "processor\t: 1\nflags\t\t: fpu\n";
        Assert.True(DeviceProfile.ParseCpuFlags(x86).SetEquals(new[] { "fpu", "vme", "avx2", "fma", "avx512f" }));
        var arm = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm\n";
        Assert.Contains("asimd", DeviceProfile.ParseCpuFlags(arm));
        Assert.Empty(DeviceProfile.ParseCpuFlags("no flags here"));
    }

    [Fact]
    public void TheTestDevicesProfile_IsFilledIn()
    {
        var p = TestDevice.Instance.Info.Profile;
        Assert.True(p.ComputeUnits > 0 && p.MaxWorkGroupSize > 0 && p.PreferredFloatWidth > 0 && p.NativeFloatWidth > 0);
        Assert.Equal(TestDevice.Instance.Info.IsGpu, p.Class == DeviceClass.Gpu);
        Assert.Equal(3, p.Describe().Count());
    }

    [Theory]
    [InlineData(DeviceClass.Avx512)]
    [InlineData(DeviceClass.Avx2)]
    [InlineData(DeviceClass.GenericCpu)]
    [InlineData(DeviceClass.Gpu)]
    public void TheDefaultTable_CoversEveryClass_WithATileThatFitsItsRegisters(DeviceClass cls)
    {
        var profile = Profile(cls);
        var config = GemmConfig.Default(cls);
        Assert.True(config.IsValid, config.ToString());
        Assert.True(config.Fits(profile), $"{config}: {config.Registers(profile.VectorFloats)} registers of {profile.VectorRegisters}");
        Assert.True(config.SmallRows < config.Rows);
        var space = GemmConfig.SearchSpace(profile);
        Assert.Equal(config, space[0]);
        Assert.All(space, c => Assert.True(c.IsValid && c.Fits(profile), c.ToString()));
        Assert.Equal(space.Count, space.Distinct().Count());
    }

    [Fact]
    public void TheAvx512Tile_WouldSpillOnAvx2_AndTheAvx2DefaultDoesNot()
    {
        var avx2 = Profile(DeviceClass.Avx2);
        Assert.Equal(53, GemmConfig.Default(DeviceClass.Avx512).Registers(8)); // 24 float16 = 48 ymm, B's 2 float16 = 4, A's 1
        Assert.False(GemmConfig.Default(DeviceClass.Avx512).Fits(avx2));
        Assert.True(GemmConfig.Default(DeviceClass.Avx2).Registers(8) <= 16);
    }

    [Fact]
    public void RowsFor_TakesTheSmallTile_OnlyWhenFewFullTilesRun()
    {
        var config = new GemmConfig(12, 16, 2, 0, 4, 4);
        Assert.Equal(12, config.RowsFor(256, 256, 1, 2, transposeA: false)); // 22 × 8 tiles
        Assert.Equal(4, config.RowsFor(64, 10, 1, 2, transposeA: false)); // 6 tiles < 4 per compute unit
        Assert.Equal(12, config.RowsFor(64, 10, 8, 2, transposeA: false)); // a batch of 8: 48 tiles
        Assert.Equal(12, (config with { SmallBelow = 0 }).RowsFor(1, 1, 1, 2, transposeA: false));
    }

    [Fact]
    public void TileFor_GivesAnANotTransposed_TheStreamTile_AndTheSmallTileStillWins()
    {
        var config = new GemmConfig(12, 16, 2, 0, 2, 4, StreamRows: 8);
        Assert.Equal((8, "nd_gemm_tiled_stream_f32"), config.TileFor(32, 1024, 1, 2, transposeA: false));
        Assert.Equal((12, "nd_gemm_tiled_f32"), config.TileFor(32, 1024, 1, 2, transposeA: true));
        Assert.Equal((2, "nd_gemm_tiled_small_f32"), config.TileFor(16, 32, 1, 2, transposeA: false)); // 2 tiles of 8
        Assert.Equal((12, "nd_gemm_tiled_f32"), (config with { StreamRows = 0 }).TileFor(32, 1024, 1, 2, transposeA: false));
        Assert.Contains("-D ND_GEMM_STREAM_ROWS=8", config.Options);
        Assert.DoesNotContain("STREAM", (config with { StreamRows = 0 }).Options);
        Assert.False((config with { StreamRows = 14 }).IsValid); // more rows than the tile the registers were sized for
    }

    // Every candidate the tuner may choose on this device, and the defaults and every tile shape (width × vectors, at
    // its tallest) of the other classes' spaces, each built as the tuner builds it: plain (both tile sizes), bias, every
    // transpose, batched with a broadcast operand, and the GPU shape, at sizes no tile divides.
    public static IEnumerable<object[]> Candidates()
    {
        var here = GemmConfig.SearchSpace(TestDevice.Instance.Info.Profile);
        var others = new[] { DeviceClass.Avx512, DeviceClass.Avx2, DeviceClass.GenericCpu, DeviceClass.Gpu }
            .SelectMany(c => GemmConfig.SearchSpace(Profile(c)).GroupBy(x => (x.Width, x.Vectors, x.Unroll)).Select(g => g.MaxBy(x => x.Rows)!)
                .Prepend(GemmConfig.Default(c)));
        return here.Concat(others).Select(c => (c.Rows, c.Width, c.Vectors, c.Unroll, c.SmallRows, c.StreamRows)).Distinct()
            .Select(c => new object[] { c.Rows, c.Width, c.Vectors, c.Unroll, c.SmallRows, c.StreamRows });
    }

    [Theory]
    [MemberData(nameof(Candidates))]
    public void EveryCandidate_MatchesTheFloat64Product_AtOddSizes(int rows, int width, int vectors, int unroll, int smallRows,
        int streamRows)
    {
        var device = TestDevice.Instance;
        var config = new GemmConfig(rows, width, vectors, unroll, smallRows, 4, StreamRows: streamRows);
        var rng = new Random(rows * 100 + width * 10 + vectors);
        // (37, 45, 29): full tiles on the CPU shape; (5, 7, 3): one tile, so the small kernel; (1, 1, 1) the edge.
        foreach (var (m, n, k, ta, tb, bias) in new[] { (37, 45, 29, false, false, true), (37, 45, 29, true, true, false),
                     (5, 7, 3, false, true, true), (5, 7, 3, true, false, false), (1, 1, 1, false, false, false) })
        {
            var a = Random(rng, m * k);
            var b = Random(rng, k * n);
            var c0 = Random(rng, n);
            using var da = Upload(device, a);
            using var db = Upload(device, b);
            using var dbias = Upload(device, c0);
            using var dc = DeviceBuffer.Allocate(device, m * n);
            using var packed = DeviceBuffer.Allocate(device, LibraryOps.PackedSize(k, n));
            foreach (var gpu in new[] { false, true })
            {
                LibraryOps.GemmTiled(device, da, db, dc, packed, m, n, k, ta, tb, bias ? dbias : null, gpuShape: gpu, config: config);
                AssertProduct(a, b, bias ? c0 : null, dc.ReadFloats(), 0, 0, m, n, k, ta, tb, $"{config} {m}x{n}x{k} gpu={gpu}");
            }
        }
        // Batched: 3 products of 11×19×13, B broadcast and not.
        foreach (var broadcastB in new[] { false, true })
        {
            const int batch = 3, m = 11, n = 19, k = 13;
            var a = Random(rng, batch * m * k);
            var b = Random(rng, (broadcastB ? 1 : batch) * k * n);
            using var da = Upload(device, a);
            using var db = Upload(device, b);
            using var dc = DeviceBuffer.Allocate(device, batch * m * n);
            using var packed = DeviceBuffer.Allocate(device, LibraryOps.PackedSize(k, n) * batch);
            LibraryOps.GemmTiledBatched(device, da, db, dc, packed, batch, m, n, k, false, true, broadcastB: broadcastB,
                config: config);
            var c = dc.ReadFloats();
            for (var q = 0; q < batch; q++)
                AssertProduct(a, b, null, c, q * m * k, broadcastB ? 0 : q * k * n, m, n, k, false, true,
                    $"{config} batched {q}", q * m * n);
        }
    }

    [Fact]
    public void TheCache_RoundTrips()
    {
        var dir = TempDir();
        var info = TestDevice.Instance.Info;
        var config = new GemmConfig(5, 16, 1, 4, 2, 8, StreamRows: 4) { Gpu = new GemmGpuTile(8, 16, 4, 8, 8) };
        var path = GemmTuning.Save(info, dir, config, "a test", "a note");
        Assert.Equal(Path.GetDirectoryName(path), dir);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        var warnings = new List<string>();
        var loaded = GemmTuning.Load(info, dir, warnings.Add);
        Assert.Equal(config, loaded.Config);
        Assert.StartsWith("tuned ", loaded.Source);
        Assert.Empty(warnings);
        Directory.Delete(dir, true);
    }

    [Theory]
    [InlineData("{ this is not json")]
    [InlineData("")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\"}")]
    [InlineData("{\"device\": \"another device\", \"driver\": \"DRIVER\", \"gemm\": {\"rows\": 4, \"width\": 16, \"vectors\": 1, \"unroll\": 0, \"smallRows\": 2, \"smallBelow\": 4}}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\", \"gemm\": {\"rows\": 4, \"width\": 5, \"vectors\": 1, \"unroll\": 0, \"smallRows\": 2, \"smallBelow\": 4}}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\", \"gemm\": {\"rows\": \"twelve\"}}")]
    [InlineData("{\"device\": \"DEVICE\", \"driver\": \"DRIVER\", \"gemm\": {\"rows\": 4, \"width\": 16, \"vectors\": 1, \"unroll\": 0, \"smallRows\": 2, \"smallBelow\": 4, \"streamRows\": 6}}")]
    public void ACorruptCache_FallsBackToTheDefault_WithOneLineWarning(string text)
    {
        var dir = TempDir();
        var info = TestDevice.Instance.Info;
        var path = GemmTuning.PathFor(info, dir);
        File.WriteAllText(path, text.Replace("DEVICE", info.Name).Replace("DRIVER", info.DriverVersion));
        var warnings = new List<string>();
        var loaded = GemmTuning.Load(info, dir, warnings.Add);
        Assert.Equal(GemmConfig.Default(info.Profile.Class), loaded.Config);
        Assert.StartsWith("default for ", loaded.Source);
        var warning = Assert.Single(warnings);
        Assert.DoesNotContain('\n', warning);
        Assert.Contains(path, warning);
        Directory.Delete(dir, true);
    }

    // A file written before the GPU shape had a tile of its own holds none: the default tile.
    [Fact]
    public void ACacheWithoutTheGpuTile_RunsTheDefaultGpuTile()
    {
        var dir = TempDir();
        var info = TestDevice.Instance.Info;
        File.WriteAllText(GemmTuning.PathFor(info, dir), $"{{\"device\": \"{info.Name}\", \"driver\": \"{info.DriverVersion}\", "
            + "\"gemm\": {\"rows\": 4, \"width\": 16, \"vectors\": 1, \"unroll\": 0, \"smallRows\": 2, \"smallBelow\": 4}}");
        var warnings = new List<string>();
        var loaded = GemmTuning.Load(info, dir, warnings.Add);
        Assert.Empty(warnings);
        Assert.Equal(new GemmConfig(4, 16, 1, 0, 2, 4), loaded.Config);
        Assert.Equal(GemmGpuTile.Default, loaded.Config.Gpu);
        Directory.Delete(dir, true);
    }

    // The GPU shape's space: its default tile first, every tile within the least local memory and the device's
    // work-group limit, only GPU tiles varied; a device with smaller limits gets a default that fits them.
    [Fact]
    public void TheGpuSpace_VariesTheGpuTile_WithinTheDevicesLimits()
    {
        var profile = Profile(DeviceClass.Gpu);
        var space = GemmConfig.SearchSpace(profile, gpuShape: true);
        Assert.Equal(GemmGpuTile.Default, space[0].Gpu);
        Assert.True(space.Count > 20);
        Assert.All(space, c => Assert.True(c.IsValid && c.Gpu.Fits(profile) && c.Gpu.LocalBytes <= GemmGpuTile.MaxLocalBytes, c.Describe(true)));
        Assert.All(space, c => Assert.Equal(space[0] with { Gpu = c.Gpu }, c));
        Assert.Equal(space.Count, space.Distinct().Count());
        var small = profile with { MaxWorkGroupSize = 128, LocalMemoryBytes = 16384 };
        var fitted = GemmConfig.For(small);
        Assert.True(fitted.Gpu.Fits(small), fitted.Describe(true));
        Assert.All(GemmConfig.SearchSpace(small, gpuShape: true), c => Assert.True(c.Gpu.WorkItems <= 128 && c.Gpu.LocalBytes <= 16384));
        // A CPU's space in the CPU shape leaves the GPU tile at its default.
        Assert.All(GemmConfig.SearchSpace(Profile(DeviceClass.Avx512)), c => Assert.Equal(GemmGpuTile.Default, c.Gpu));
    }

    [Fact]
    public void NoCache_IsTheDefault_Silently()
    {
        var warnings = new List<string>();
        var loaded = GemmTuning.Load(TestDevice.Instance.Info, Path.Combine(Path.GetTempPath(), "nd-none-" + Guid.NewGuid()), warnings.Add);
        Assert.Equal(GemmConfig.Default(TestDevice.Instance.Info.Profile.Class), loaded.Config);
        Assert.Empty(warnings);
    }

    // Accuracy is part of the search: a candidate that adds a weight gradient's K = 16,384 terms in one running sum
    // is refused by the same check that keeps the default (which sums them in blocks of 256), at the product's size.
    [Fact]
    public void TheReferenceCheck_RefusesACandidateThatSumsALongKInOneRun()
    {
        var device = TestDevice.Instance;
        var product = new GemmProduct(24, 64, 16384, TransposeA: true);
        var config = device.Gemm.Config;
        Assert.Null(GemmTuner.Check(device, product, config));
        var refused = GemmTuner.Check(device, product, config with { KBlock = 1 << 20 });
        Assert.NotNull(refused);
        Assert.Contains("blocks of 256", refused);
    }

    // A model built on a device whose tuned choice differs from the default (another panel width, so B's packing and
    // the launch's size must agree) runs its products in the tuned tiles and computes what the default computes.
    [Fact]
    public void ATunedChoice_IsWhatAModelRuns()
    {
        var tuned = new GemmConfig(5, 8, 2, 0, 2, 64);
        Assert.NotEqual(tuned, TestDevice.Instance.Gemm.Config);
        using var device = Device.Open();
        GemmTuning.Use(device, new GemmChoice(tuned, "a test"));
        const int n = 37;
        using var reference = new NeuroDsl.Models.Mlp(TestDevice.Instance, n, 3UL);
        using var model = new NeuroDsl.Models.Mlp(device, n, 3UL);
        var shapes = model.BoundKernels.Where(k => k.Name.StartsWith("nd_gemm_tiled", StringComparison.Ordinal)
            || k.Name.StartsWith("nd_gemm_direct", StringComparison.Ordinal)).Select(k => k.Tile).ToList();
        Assert.NotEmpty(shapes);
        Assert.All(shapes, s => Assert.True(s == (5, 16) || s == (2, 16), s.ToString()));
        Assert.Contains((2, 16), shapes); // 64 tiles per compute unit: the small tile runs somewhere
        foreach (var p in reference.Parameters) model.WriteParameter(p.Name, p.Buffer.ReadFloats());
        var rng = new Random(5);
        var image = Random(rng, n * 784);
        var label = Enumerable.Range(0, n).Select(i => i % 10).ToArray();
        foreach (var m in new[] { reference, (CompiledModel)model })
        {
            m.SetInput("image", image);
            m.SetInput("label", label);
            m.Forward();
            m.Backward();
        }
        KernelTests.AssertClose(reference.Read("logits").Select(v => (double)v).ToArray(), model.Read("logits"), "logits");
        foreach (var p in reference.Parameters)
            KernelTests.AssertClose(reference.Read("grad." + p.Name).Select(v => (double)v).ToArray(), model.Read("grad." + p.Name), "grad." + p.Name);
    }

    private static DeviceProfile Profile(DeviceClass cls)
    {
        var (registers, floats) = cls switch
        {
            DeviceClass.Avx512 => (32, 16),
            DeviceClass.Avx2 => (16, 8),
            DeviceClass.Gpu => (0, 1),
            _ => (16, 4),
        };
        return new DeviceProfile(cls == DeviceClass.Gpu ? "GPU" : "CPU", "v", "d", 2, floats, floats, 65536, true, 1024, cls,
            registers, floats, cls.ToString(), "a test");
    }

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "nd-tuning-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static void AssertProduct(float[] a, float[] b, float[]? bias, float[] c, int oa, int ob, int m, int n, int k,
        bool ta, bool tb, string what, int oc = 0)
    {
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                double sum = bias?[j] ?? 0;
                for (var p = 0; p < k; p++)
                    sum += (double)(ta ? a[oa + p * m + i] : a[oa + i * k + p]) * (tb ? b[ob + j * k + p] : b[ob + p * n + j]);
                var got = c[oc + i * n + j];
                Assert.True(Math.Abs(sum - got) <= 1e-5 + 1e-5 * Math.Abs(sum), $"{what}: C[{i},{j}] = {got}, float64 {sum}");
            }
    }
}
