using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace NeuroDsl.Runtime.Tuning;

/// <summary>
/// The register-tiled GEMM's parameters (kernels/gemm.cl's <c>ND_GEMM_*</c> build options): a tile of
/// <paramref name="Rows"/> rows by <paramref name="Vectors"/> vectors of <paramref name="Width"/> floats (the panel
/// width <see cref="Panel"/> B is packed in), the K loop unrolled <paramref name="Unroll"/> times (0: as the OpenCL compiler likes), and the rows of the
/// tile for products too small to keep every compute unit busy (<paramref name="SmallRows"/>, same panel), used when
/// the full tiles would number fewer than <paramref name="SmallBelow"/> per compute unit. The GPU shape has a tile of its
/// own, <see cref="Gpu"/> (kernels/gemm_gpu.cl: work-groups staging tiles in local memory), over the same panels. Every kernel sums K in blocks of
/// <paramref name="KBlock"/> values added into the totals (the accuracy of a long K: a weight gradient's K is the
/// batch); not searched, so every candidate rounds alike, but the tuner's reference check refuses a block too long.
/// A plain (not batched) product whose A is not transposed takes tiles of <paramref name="StreamRows"/> rows (0: <paramref name="Rows"/>):
/// each row of its tile is a stream of loads of its own, where a transposed A gives the tile's rows as one contiguous
/// run per k (<see cref="Default"/> says what that measured).
/// </summary>
public sealed record GemmConfig(int Rows, int Width, int Vectors, int Unroll, int SmallRows, int SmallBelow,
    int KBlock = GemmConfig.DefaultKBlock, int StreamRows = 0)
{
    /// <summary>
    /// The GPU shape's tile (<see cref="GemmGpuTile"/>); the CPU shapes ignore it and the GPU shape ignores every
    /// other parameter but the panel width B is packed in and <see cref="KBlock"/>.
    /// </summary>
    public GemmGpuTile Gpu { get; init; } = GemmGpuTile.Default;

    /// <summary>kernels/gemm.cl's <c>ND_GEMM_KBLOCK</c>, about what a BLAS's K panel holds.</summary>
    public const int DefaultKBlock = 256;

    public static readonly int[] Widths = { 4, 8, 16 };

    /// <summary>Columns of a tile and of a packed panel of B; it divides 32, the panel the compiler sizes scratch for.</summary>
    public int Panel => Width * Vectors;

    /// <summary>Whether gemm.cl accepts these parameters.</summary>
    public bool IsValid => Widths.Contains(Width) && Vectors is >= 1 and <= 4 && 32 % Panel == 0 && Rows is >= 1 and <= 16
                           && SmallRows is >= 1 and <= 16 && Unroll is 0 or 1 or 2 or 4 or 8 && SmallBelow is >= 0 and <= 64
                           && KBlock >= 1 && StreamRows is >= 0 and <= 16 && StreamRows <= Rows && Gpu.IsValid;

    /// <summary>The build options that select these parameters in kernels/gemm.cl and kernels/gemm_gpu.cl.</summary>
    public string Options => string.Create(CultureInfo.InvariantCulture,
        $" -D ND_GEMM_ROWS={Rows} -D ND_GEMM_WIDTH={Width} -D ND_GEMM_VECS={Vectors} -D ND_GEMM_UNROLL={Unroll} -D ND_GEMM_SMALL_ROWS={SmallRows}{(StreamRows == 0 ? "" : $" -D ND_GEMM_STREAM_ROWS={StreamRows}")}{(KBlock == DefaultKBlock ? "" : $" -D ND_GEMM_KBLOCK={KBlock}")}{Gpu.Options}");

    /// <summary>
    /// Vector registers the tile's loop keeps live on a CPU with registers of <paramref name="floats"/> floats: the
    /// accumulators, one row of B and the broadcast of A. More than the device has, and the accumulators spill.
    /// </summary>
    public int Registers(int floats)
    {
        var perVector = (Width + floats - 1) / Math.Max(1, floats);
        return Rows * Vectors * perVector + Vectors * perVector + 1;
    }

    /// <summary>
    /// Whether the tile's loop fits the device's registers (on a GPU, whether its work-group and local tiles fit the
    /// device: the GPU shape's registers are per work-item).
    /// </summary>
    public bool Fits(DeviceProfile profile) =>
        profile.Class == DeviceClass.Gpu ? Gpu.Fits(profile) : Registers(profile.VectorFloats) <= profile.VectorRegisters;

    /// <summary>The rows of the tile for a product whose A is not transposed.</summary>
    public int RowsOfStreamTile => StreamRows == 0 ? Rows : StreamRows;

    /// <summary>
    /// The tile for a product of M×N (a batch counts as more rows): its rows and the kernel of gemm.cl that computes
    /// it. The small tile when few full tiles run; else <see cref="RowsOfStreamTile"/> rows for an A that is not
    /// transposed, <see cref="Rows"/> for one that is.
    /// </summary>
    public (int Rows, string Kernel) TileFor(long m, long n, long batch, int computeUnits, bool transposeA)
    {
        var (rows, kernel) = transposeA || RowsOfStreamTile == Rows ? (Rows, "nd_gemm_tiled_f32")
            : (RowsOfStreamTile, "nd_gemm_tiled_stream_f32");
        var tiles = (m + rows - 1) / rows * ((n + Panel - 1) / Panel) * Math.Max(1, batch);
        return tiles < (long)SmallBelow * Math.Max(1, computeUnits) ? (SmallRows, "nd_gemm_tiled_small_f32") : (rows, kernel);
    }

    /// <summary>
    /// Whether a product of M×K by K×N whose B is not transposed reads B in place (gemm.cl's nd_gemm_direct kernels)
    /// instead of packing it first: N a multiple of the vector width (a last panel part-filled reads whole vectors), at most <see cref="InPlaceRows"/> rows of C (few row
    /// tiles reuse each panel, so a pack is not paid back) and a B of at most <see cref="InPlaceElements"/> values (it
    /// stays in the caches; a larger one with rows 4 KiB apart aliases). On PoCL 3.1 (2-core EPYC, AVX-512): 128×784 by
    /// 784×256 in place 123 µs against a pack of 27 and 197 µs packed; 512³ 689 against 58 + 655; 256×1024 by 1024×1024
    /// (4 MiB of B) 1979 against 210 + 1430; 1024×1024 by 1024×256 1500 against 74 + 1340.
    /// </summary>
    public bool ReadsInPlace(long m, long n, long k) => m <= InPlaceRows && k * n <= InPlaceElements && n % Width == 0;

    /// <summary>The most rows of C for which <see cref="ReadsInPlace"/> reads B in place.</summary>
    public const int InPlaceRows = 512;

    /// <summary>The most values of B (1 MiB) that <see cref="ReadsInPlace"/> reads in place.</summary>
    public const int InPlaceElements = 1 << 18;

    /// <summary><see cref="TileFor"/>'s kernel reading B in place (<see cref="ReadsInPlace"/>): the same tile.</summary>
    public static string InPlace(string kernel) => kernel.Replace("nd_gemm_tiled_", "nd_gemm_direct_", StringComparison.Ordinal);

    /// <summary>The rows of <see cref="TileFor"/>'s tile.</summary>
    public int RowsFor(long m, long n, long batch, int computeUnits, bool transposeA) =>
        TileFor(m, n, batch, computeUnits, transposeA).Rows;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Rows}x{Panel} tile ({Vectors} x float{Width}), {(Unroll == 0 ? "K loop as compiled" : $"K unrolled {Unroll}x")}, small {SmallRows}x{Panel} below {SmallBelow} tiles per compute unit{(StreamRows == 0 ? "" : $", {StreamRows}x{Panel} for an A not transposed")}{(KBlock == DefaultKBlock ? "" : $", K in blocks of {KBlock}")}{(Gpu == GemmGpuTile.Default ? "" : $"; GPU shape: {Gpu}")}");

    /// <summary>What a shape runs with: the GPU shape's tile (over panels of <see cref="Panel"/>), or <see cref="ToString"/>.</summary>
    public string Describe(bool gpuShape) => !gpuShape ? ToString() : string.Create(CultureInfo.InvariantCulture,
        $"GPU shape: {Gpu}, B in panels of {Panel}{(KBlock == DefaultKBlock ? "" : $", K in blocks of {KBlock}")}");

    /// <summary>
    /// The default table, by class: tiles that fit the class's registers, so an untuned run is already good. AVX-512:
    /// 12×32 in 24 float16 accumulators (27 of 32 registers). AVX2: 6×16 in 12 float8 accumulators (15 of 16; the
    /// 12×32 tile needs 53 and spills). A generic CPU (SSE, NEON): 6×8 in 12 float4 (15). On every CPU, a product
    /// with fewer than 8 full tiles per compute unit (the MLP's 128×256×10 output layer: 11 tiles on 2 cores) runs in
    /// tiles of 2 rows, so no core waits on a few long tiles. A GPU: B in panels of 32 columns (a warp's coalesced
    /// row), no small tile; the GPU shape's tile is <see cref="Gpu"/>, <see cref="GemmGpuTile.Default"/> in every
    /// class (NEURODSL_GEMM=gpu runs it on a CPU; <see cref="For"/> fits it to a device's limits). On AVX-512 a product
    /// whose A is not transposed takes 8 rows: on
    /// PoCL 3.1 (a 2-core EPYC) 12 rows each streaming A ran 11–40% slower than 8 (an LSTM step's 32×256 by 256×1024:
    /// 90 against 80 µs; its backward 32×1024 by 1024×256: 85 against 76; 3200×64 by 64×1024: 1.7 against 1.2 ms),
    /// while with A transposed 12 stayed faster (1024×3200 by 3200×256: 7.3 against 9.1 ms).
    /// </summary>
    public static GemmConfig Default(DeviceClass cls) => cls switch
    {
        DeviceClass.Avx512 => new GemmConfig(12, 16, 2, 0, 2, 8, StreamRows: 8),
        DeviceClass.Avx2 => new GemmConfig(6, 8, 2, 0, 2, 8),
        DeviceClass.Gpu => new GemmConfig(12, 16, 2, 0, 4, 0),
        _ => new GemmConfig(6, 4, 2, 0, 2, 8),
    };

    /// <summary>
    /// The default for a device: its class's (<see cref="Default"/>) with a GPU tile its work-group limit and local
    /// memory hold (the default tile, else the first of <see cref="GemmGpuTile.SearchSpace"/> that does).
    /// </summary>
    public static GemmConfig For(DeviceProfile profile)
    {
        var config = Default(profile.Class);
        return config.Gpu.Fits(profile) ? config
            : config with { Gpu = GemmGpuTile.SearchSpace(profile).FirstOrDefault() ?? config.Gpu };
    }

    /// <summary>
    /// The search space for a device, the default first, then by reuse: every tile of vectors at least a register wide whose loop
    /// fits the registers (on a CPU, only the tallest of each width below 6 rows: a tile that leaves two rows'
    /// registers unused does less work per load of B than one that uses them), then the default with its K loop
    /// unrolled 4 times (measured slower with PoCL 3.1 on AVX-512 for every tile; kept so a driver that gains from it is
    /// found). In the GPU shape (<paramref name="gpuShape"/>, default: on a GPU) the GPU tiles
    /// (<see cref="GemmGpuTile.SearchSpace"/>) over the device's default panel.
    /// </summary>
    public static IReadOnlyList<GemmConfig> SearchSpace(DeviceProfile profile, bool? gpuShape = null)
    {
        var start = For(profile);
        if (gpuShape ?? profile.Class == DeviceClass.Gpu)
            return GemmGpuTile.SearchSpace(profile).Select(t => start with { Gpu = t }).Prepend(start).Distinct().ToList();
        var all = new List<GemmConfig> { start };
        var widths = profile.Class == DeviceClass.Gpu ? new[] { 16 } : Widths.Where(w => w >= profile.VectorFloats).ToArray();
        if (widths.Length == 0) widths = new[] { Widths[^1] };
        foreach (var width in widths)
            foreach (var vectors in new[] { 1, 2, 4 })
                foreach (var rows in new[] { 2, 3, 4, 6, 8, 10, 12, 14, 16 })
                {
                    var c = start with { Rows = rows, Width = width, Vectors = vectors, StreamRows = Math.Min(start.StreamRows, rows) };
                    if (!c.IsValid || !c.Fits(profile)) continue;
                    if (profile.Class != DeviceClass.Gpu && rows < 6 && (c with { Rows = rows + 2 }).Fits(profile)) continue;
                    if (c.SmallRows >= c.Rows) c = c with { SmallRows = Math.Max(1, c.Rows / 2) };
                    if (!all.Contains(c)) all.Add(c);
                }
        all.Add(start with { Unroll = 4 });
        // The likeliest first, for a search cut short: the most multiply-adds per value loaded (R·P / (R + P)).
        return all.Take(1).Concat(all.Skip(1).OrderByDescending(c => c.Rows * c.Panel / (double)(c.Rows + c.Panel))).ToList();
    }
}
