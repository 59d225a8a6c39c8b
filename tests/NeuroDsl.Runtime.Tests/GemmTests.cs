using System;
using System.Linq;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>The library GEMM in all four transpose combinations, with and without bias, against a float64 product.</summary>
public sealed class GemmTests
{
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    [InlineData(false, false, true)]
    public void Gemm_MatchesReference(bool ta, bool tb, bool bias) => Check(ta, tb, bias, tiled: false);

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    public void TiledGemm_MatchesReference_OnEdgeShapes(bool ta, bool tb, bool bias) => Check(ta, tb, bias, tiled: true);

    // The GPU shape of the tiled GEMM (32 work-items per tile), run on whatever device the tests have.
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    public void TiledGemm_GpuShape_MatchesReference_OnEdgeShapes(bool ta, bool tb, bool bias) => Check(ta, tb, bias, tiled: true, gpuShape: true);

    private static void Check(bool ta, bool tb, bool bias, bool tiled, bool gpuShape = false)
    {
        var device = TestDevice.Instance;
        var rng = new Random(42);
        foreach (var (m, n, k) in new[] { (1, 1, 1), (5, 7, 3), (33, 17, 65), (64, 128, 96), (25, 70, 31), (12, 32, 8) })
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
            if (tiled) LibraryOps.GemmTiled(device, da, db, dc, packed, m, n, k, ta, tb, bias ? dbias : null, gpuShape: gpuShape ? true : null);
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
