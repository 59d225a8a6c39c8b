using System;
using System.Linq;
using NeuroDsl.Runtime.Tuning;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// The library GEMM in all four transpose combinations, with and without bias, and batched with either operand
/// broadcast, against a float64 product.
/// </summary>
public sealed class GemmTests
{
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    [InlineData(false, false, true)]
    public void Gemm_MatchesReference(bool ta, bool tb, bool bias) => Check(ta, tb, bias, tiled: false);

    [Fact]
    public void TheDeviceShape_IsChosenByTheLaunchesVariant_NotByTheKernelsName()
    {
        var device = TestDevice.Instance;
        Assert.Equal(LibraryKernels.TiledGemm(device, 100, 70, false), LibraryKernels.Variant("nd_gemm_tiled_f32", KernelVariant.TiledGemm, device, 100, 70));
        Assert.Equal(LibraryKernels.TiledGemm(device, 100, 70, false, batched: true),
            LibraryKernels.Variant("nd_gemm_tiled_batched_f32", KernelVariant.TiledGemmBatched, device, 100, 70));
        Assert.Equal(new GemmShape("nd_gemm_tiled_f32", 1, 1, 1), LibraryKernels.Variant("nd_gemm_tiled_f32", KernelVariant.None, device));
    }

    [Fact]
    public void TheCompilersVariants_AreTheRuntimes() =>
        Assert.Equal(Enum.GetNames(typeof(Compiler.Planning.KernelVariant)), Enum.GetNames(typeof(KernelVariant)));

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    public void TiledGemm_MatchesReference_OnEdgeShapes(bool ta, bool tb, bool bias)
    {
        Check(ta, tb, bias, tiled: true);
        Check(ta, tb, bias, tiled: true, inPlace: false);
    }

    // B read in place (not transposed, N a multiple of the vector width) in each of the three CPU tiles: the small one,
    // the stream tile (A not transposed) and the full one (A transposed), with a last panel part-filled too.
    [Fact]
    public void InPlaceGemm_IsChosenForSmallProducts_AndEachTileMatchesReference()
    {
        var config = TestDevice.Instance.Gemm.Config;
        Assert.Null(LibraryKernels.InPlaceGemm(config, gpuShape: true, 64, 128, 96, 2, false));
        Assert.Null(LibraryKernels.InPlaceGemm(config, false, GemmConfig.InPlaceRows + 1, 128, 96, 2, false));
        Assert.Null(LibraryKernels.InPlaceGemm(config, false, 64, 1024, 1024, 2, false));
        Assert.Null(LibraryKernels.InPlaceGemm(config, false, 64, config.Panel + 1, 96, 2, false));
        Assert.NotNull(LibraryKernels.InPlaceGemm(config, false, 64, config.Panel + config.Width, 96, 2, false));
        var kernels = new[] { (12, 32, 8, false), (130, 128, 300, false), (130, 128, 300, true) }
            .Select(s => LibraryKernels.InPlaceGemm(config, false, s.Item1, s.Item2, s.Item3, TestDevice.Instance.Info.ComputeUnits, s.Item4)!.Value.Kernel)
            .ToList();
        Assert.All(kernels, k => Assert.StartsWith("nd_gemm_direct_", k));
        Assert.Contains(kernels, k => k.Contains("small"));
        // In place the stream tile runs whether A is transposed or not; the full tile's kernel where the parameters have
        // no stream tile of their own (StreamRows 0, an AVX2 host's default).
        var full = config with { StreamRows = 0 };
        Assert.Equal("nd_gemm_direct_f32", LibraryKernels.InPlaceGemm(full, false, 130, 128, 300, 2, true)!.Value.Kernel);
        var shapes = new[] { (12, 32, 8), (130, 128, 300), (7, 64, 1), (20, config.Panel + config.Width, 40),
            (130, 3 * config.Panel + config.Width, 300) };
        foreach (var ta in new[] { false, true })
        {
            Check(ta, false, bias: ta, tiled: true, gpuShape: false, shapes: shapes);
            Check(ta, false, bias: !ta, tiled: true, gpuShape: false, shapes: shapes, config: full);
        }
    }

    // The GPU shape of the tiled GEMM (32 work-items per tile), run on whatever device the tests have.
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    public void TiledGemm_GpuShape_MatchesReference_OnEdgeShapes(bool ta, bool tb, bool bias) => Check(ta, tb, bias, tiled: true, gpuShape: true);

    // Batched products in one launch: every transpose, each operand broadcast (stride 0), on every kernel shape.
    [Theory]
    [InlineData(false, false, false, false)]
    [InlineData(true, false, false, false)]
    [InlineData(false, true, false, false)]
    [InlineData(true, true, true, false)]
    [InlineData(false, true, false, true)]
    [InlineData(true, false, true, false)]
    public void BatchedGemm_MatchesReference(bool ta, bool tb, bool broadcastA, bool broadcastB)
    {
        CheckBatched(ta, tb, broadcastA, broadcastB, tiled: false);
        CheckBatched(ta, tb, broadcastA, broadcastB, tiled: true);
        CheckBatched(ta, tb, broadcastA, broadcastB, tiled: true, gpuShape: true);
    }

    private static void CheckBatched(bool ta, bool tb, bool broadcastA, bool broadcastB, bool tiled, bool gpuShape = false)
    {
        var device = TestDevice.Instance;
        var rng = new Random(7);
        foreach (var (batch, m, n, k) in new[] { (1, 1, 1, 1), (3, 5, 7, 3), (4, 33, 17, 65), (2, 25, 70, 31) })
        {
            var (ba, bb) = (broadcastA ? 1 : batch, broadcastB ? 1 : batch);
            var a = Enumerable.Range(0, ba * m * k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var b = Enumerable.Range(0, bb * k * n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            using var da = DeviceBuffer.Allocate(device, a.Length);
            using var db = DeviceBuffer.Allocate(device, b.Length);
            using var dc = DeviceBuffer.Allocate(device, batch * m * n);
            using var packed = DeviceBuffer.Allocate(device, LibraryOps.PackedSize(k, n) * bb);
            da.Write<float>(a);
            db.Write<float>(b);
            if (tiled)
                LibraryOps.GemmTiledBatched(device, da, db, dc, packed, batch, m, n, k, ta, tb, broadcastA, broadcastB,
                    gpuShape: gpuShape);
            else LibraryOps.GemmBatched(device, da, db, dc, batch, m, n, k, ta, tb, broadcastA, broadcastB);
            var c = dc.ReadFloats();
            for (var q = 0; q < batch; q++)
            {
                var (oa, ob) = (broadcastA ? 0 : q * m * k, broadcastB ? 0 : q * k * n);
                for (var i = 0; i < m; i++)
                    for (var j = 0; j < n; j++)
                    {
                        double sum = 0;
                        for (var p = 0; p < k; p++)
                            sum += (double)(ta ? a[oa + p * m + i] : a[oa + i * k + p]) * (tb ? b[ob + j * k + p] : b[ob + p * n + j]);
                        var got = c[q * m * n + i * n + j];
                        Assert.True(Math.Abs(sum - got) <= 1e-4 + 1e-4 * Math.Abs(sum),
                            $"C[{q},{i},{j}] {batch}x{m}x{n}x{k} tiled={tiled} gpu={gpuShape}: {got} vs {sum}");
                    }
            }
        }
    }

    private static void Check(bool ta, bool tb, bool bias, bool tiled, bool? gpuShape = null, bool inPlace = true,
        (int, int, int)[]? shapes = null, GemmConfig? config = null)
    {
        var device = TestDevice.Instance;
        var rng = new Random(42);
        foreach (var (m, n, k) in shapes ?? new[] { (1, 1, 1), (5, 7, 3), (33, 17, 65), (64, 128, 96), (25, 70, 31), (12, 32, 8) })
        {
            var a = Enumerable.Range(0, m * k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var b = Enumerable.Range(0, k * n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var c0 = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            using var da = DeviceBuffer.Allocate(device, a.Length);
            using var db = DeviceBuffer.Allocate(device, b.Length);
            using var dbias = DeviceBuffer.Allocate(device, n);
            using var dc = DeviceBuffer.Allocate(device, m * n);
            da.Write<float>(a);
            db.Write<float>(b);
            dbias.Write<float>(c0);
            using var packed = DeviceBuffer.Allocate(device, LibraryOps.PackedSize(k, n));
            if (tiled) LibraryOps.GemmTiled(device, da, db, dc, packed, m, n, k, ta, tb, bias ? dbias : null, gpuShape: gpuShape,
                inPlace: inPlace, config: config);
            else LibraryOps.Gemm(device, da, db, dc, m, n, k, ta, tb, bias ? dbias : null);
            var c = dc.ReadFloats();
            for (var i = 0; i < m; i++)
                for (var j = 0; j < n; j++)
                {
                    double sum = bias ? c0[j] : 0;
                    for (var p = 0; p < k; p++)
                        sum += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                    Assert.True(Math.Abs(sum - c[i * n + j]) <= 1e-4 + 1e-4 * Math.Abs(sum), $"C[{i},{j}] {m}x{n}x{k}: {c[i * n + j]} vs {sum}");
                }
        }
    }
}
