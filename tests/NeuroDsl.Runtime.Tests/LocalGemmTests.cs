using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Runtime.Tuning;
using Xunit;
using static NeuroDsl.Runtime.Tests.TestBuffers;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// The tiled GEMM's GPU shape (kernels/gemm_gpu.cl: 2-D work-groups staging tiles of op(A) and of B's panels in local
/// memory), run on whatever device the tests have, PoCL included, against a float64 product of fresh random operands:
/// shapes no tile divides, every transpose, every epilogue, batched with B broadcast, and tiles other than the default.
/// </summary>
public sealed class LocalGemmTests
{
    // (70, 31, 600): K crosses two blocks of 256 in steps of 16 that end past it.
    public static IEnumerable<object[]> Shapes() =>
        from s in new[] { (1, 1, 1), (7, 13, 5), (33, 65, 129), (128, 784, 256), (70, 31, 600) }
        from ta in new[] { false, true }
        from tb in new[] { false, true }
        select new object[] { s.Item1, s.Item2, s.Item3, ta, tb };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LocalGemm_MatchesFloat64_OnOddShapes(int m, int n, int k, bool ta, bool tb) =>
        Check(TestDevice.Instance.Gemm.Config, m, n, k, ta, tb, activation: 0, bias: (m + n) % 2 == 0);

    // 1–4 after the bias; 5–7 the gradient gates, reading the activation's output [M, N] where the bias points.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    public void LocalGemm_AppliesEveryEpilogue(int activation) =>
        Check(TestDevice.Instance.Gemm.Config, 33, 65, 129, activation % 2 == 0, false, activation, bias: activation < 5);

    [Fact]
    public void TheGpuShape_IsTheLocalKernel_InItsTilesWorkGroup_WithinTheLeastLocalMemory()
    {
        var config = TestDevice.Instance.Gemm.Config with { Gpu = new GemmGpuTile(8, 16, 4, 2, 16) };
        Assert.Equal(new GemmShape("nd_gemm_local_f32", 16, 32, 32, 8), LibraryKernels.TiledGemm(config, true, false, 100, 70, 1, 2, false));
        Assert.Equal("nd_gemm_local_batched_f32", LibraryKernels.TiledGemm(config, true, true, 100, 70, 3, 2, true).Kernel);
        Assert.True(GemmGpuTile.Default.IsValid);
        Assert.True(GemmGpuTile.Default.LocalBytes <= GemmGpuTile.MaxLocalBytes);
        Assert.Equal("", GemmGpuTile.Default.Options);
        Assert.Contains("-D ND_GEMM_GPU_WM=8 -D ND_GEMM_GPU_WN=16", config.Options);
        // 128×128 tiles of 32 values of k need (129 + 128)·32·4 bytes: past 32 KiB.
        Assert.False(new GemmGpuTile(16, 16, 8, 8, 32).IsValid);
        Assert.False((config with { Gpu = new GemmGpuTile(16, 16, 9, 4, 8) }).IsValid);
    }

    // Batched products in one launch, B broadcast (packed once, stride 0) and not, A transposed and not.
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void LocalGemm_Batched_MatchesFloat64(bool ta, bool broadcastB)
    {
        var device = TestDevice.Instance;
        var rng = new Random(11);
        const int batch = 3, m = 33, n = 65, k = 129;
        var a = Random(rng, batch * m * k);
        var b = Random(rng, (broadcastB ? 1 : batch) * k * n);
        using var da = Upload(device, a);
        using var db = Upload(device, b);
        using var dc = DeviceBuffer.Allocate(device, batch * m * n);
        using var packed = DeviceBuffer.Allocate(device, LibraryOps.PackedSize(k, n) * (broadcastB ? 1 : batch));
        LibraryOps.GemmTiledBatched(device, da, db, dc, packed, batch, m, n, k, ta, false, broadcastB: broadcastB, gpuShape: true);
        var c = dc.ReadFloats();
        for (var q = 0; q < batch; q++)
            AssertProduct(a.AsSpan(q * m * k, m * k).ToArray(), b.AsSpan(broadcastB ? 0 : q * k * n, k * n).ToArray(), null,
                c.AsSpan(q * m * n, m * n).ToArray(), m, n, k, ta, false, 0, $"batch {q}");
    }

    // Tiles other than the default, each its own program: a 2-D group of 8×16 with 8×2 per work-item, B in panels of
    // 16 and K in blocks of 20 (a block ends inside a step of 8); and 16×8 with 2×8, steps of 32.
    [Fact]
    public void OtherTiles_MatchFloat64()
    {
        var config = TestDevice.Instance.Gemm.Config;
        var narrow = config with { Width = 8, Vectors = 2, Gpu = new GemmGpuTile(8, 16, 8, 2, 8), KBlock = 20, StreamRows = 0 };
        var wide = config with { Gpu = new GemmGpuTile(16, 8, 2, 8, 32) };
        foreach (var c in new[] { narrow, wide })
        {
            Assert.True(c.IsValid, c.ToString());
            Check(c, 37, 45, 91, false, true, activation: 1, bias: true);
            Check(c, 70, 31, 300, true, false, activation: 0, bias: false);
        }
    }

    private static void Check(GemmConfig config, int m, int n, int k, bool ta, bool tb, int activation, bool bias)
    {
        var device = TestDevice.Instance;
        var rng = new Random(m * 1000 + n * 10 + k);
        var a = Random(rng, m * k);
        var b = Random(rng, k * n);
        // The bias, or for a gate the activation's output: in (-1, 1) (relu's both ways, tanh's), sigmoid's in (0, 1), so
        // every gate's factor is at most 1.
        var extra = activation == 7 ? Enumerable.Range(0, m * n).Select(_ => (float)rng.NextDouble()).ToArray()
            : Random(rng, activation >= 5 ? m * n : n);
        using var da = Upload(device, a);
        using var db = Upload(device, b);
        using var dextra = Upload(device, extra);
        using var dc = DeviceBuffer.Allocate(device, m * n);
        using var packed = DeviceBuffer.Allocate(device, LibraryOps.PackedSize(k, n));
        LibraryOps.GemmTiled(device, da, db, dc, packed, m, n, k, ta, tb, bias || activation >= 5 ? dextra : null,
            gpuShape: true, config: config, activation: activation);
        AssertProduct(a, b, extra, dc.ReadFloats(), m, n, k, ta, tb, activation, $"{config.Describe(true)} bias={bias}",
            bias || activation >= 5);
    }

    // Each entry within twice the bound of any float32 order of summation (K·2⁻²⁴·Σ|a·b|, every epilogue's factor at
    // most 1.15) plus the activation's own rounding.
    private static void AssertProduct(float[] a, float[] b, float[]? extra, float[] c, int m, int n, int k, bool ta, bool tb,
        int activation, string what, bool useExtra = false)
    {
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                double sum = useExtra && activation < 5 ? extra![j] : 0, magnitude = Math.Abs(sum);
                for (var p = 0; p < k; p++)
                {
                    var term = (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                    sum += term;
                    magnitude += Math.Abs(term);
                }
                var g = activation >= 5 ? extra![i * n + j] : 0;
                var want = activation switch
                {
                    1 => Math.Max(sum, 0),
                    2 => Math.Tanh(sum),
                    3 => 1 / (1 + Math.Exp(-sum)),
                    4 => 1.7159 * Math.Tanh(2.0 / 3 * sum),
                    5 => g > 0 ? sum : 0,
                    6 => sum * (1 - (double)g * g),
                    7 => sum * g * (1 - (double)g),
                    _ => sum,
                };
                var got = c[i * n + j];
                var bound = 2 * (k + 1) * Math.Pow(2, -24) * magnitude * 1.15 + 1e-6 + 4e-7 * Math.Abs(want);
                Assert.True(Math.Abs(got - want) <= bound, $"{what} {m}x{n}x{k} ta={ta} tb={tb} act={activation}: C[{i},{j}] = {got}, float64 {want}");
            }
    }
}
