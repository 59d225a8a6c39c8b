using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace NeuroDsl.Runtime.Tuning;

/// <summary>
/// The GPU shape's tile (kernels/gemm_gpu.cl's <c>ND_GEMM_GPU_*</c> build options): a work-group of
/// <paramref name="GroupRows"/> × <paramref name="GroupColumns"/> work-items, each computing <paramref name="ItemRows"/>
/// × <paramref name="ItemColumns"/> values of C in registers, so a work-group computes <see cref="Rows"/> ×
/// <see cref="Columns"/> of C; the tiles of op(A) and of B's panels it shares are staged in local memory
/// <paramref name="TileK"/> values of k at a time (<see cref="LocalBytes"/>).
/// </summary>
public sealed record GemmGpuTile(int GroupRows, int GroupColumns, int ItemRows, int ItemColumns, int TileK)
{
    /// <summary>
    /// gemm_gpu.cl's defaults: 16×16 work-items of 4×4 values (a 64×64 tile of C, 256 work-items, 8 KiB of local
    /// tiles at TK 16), the middle of CLBlast's tuned xgemm parameters for NVIDIA and AMD GPUs (MWG/NWG 64, 16×16
    /// threads); not yet measured on a GPU, which the tuner's GPU space is for.
    /// </summary>
    public static GemmGpuTile Default { get; } = new(16, 16, 4, 4, 16);

    /// <summary>The least local memory an OpenCL GPU offers, and what the tiles may take.</summary>
    public const int MaxLocalBytes = 32 * 1024;

    /// <summary>Rows of C one work-group computes.</summary>
    public int Rows => GroupRows * ItemRows;

    /// <summary>Columns of C one work-group computes.</summary>
    public int Columns => GroupColumns * ItemColumns;

    /// <summary>Work-items per work-group.</summary>
    public int WorkItems => GroupRows * GroupColumns;

    /// <summary>The local memory of the two tiles: op(A)'s (its rows one float longer: gemm_gpu.cl's ND_G_ASTRIDE) and B's.</summary>
    public int LocalBytes => (Rows + 1 + Columns) * TileK * sizeof(float);

    /// <summary>Whether gemm_gpu.cl accepts these parameters (and any GPU's local memory holds the tiles).</summary>
    public bool IsValid => GroupRows is >= 1 and <= 64 && GroupColumns is >= 1 and <= 64 && WorkItems <= 1024
                           && ItemRows is >= 1 and <= 8 && ItemColumns is >= 1 and <= 8 && TileK is >= 1 and <= 64
                           && LocalBytes <= MaxLocalBytes;

    /// <summary>Whether a device with this profile runs it: its work-group limit and local memory.</summary>
    public bool Fits(DeviceProfile profile) => WorkItems <= profile.MaxWorkGroupSize
                                               && (profile.LocalMemoryBytes <= 0 || LocalBytes <= profile.LocalMemoryBytes);

    /// <summary>The build options that select these parameters in gemm_gpu.cl (none for its defaults).</summary>
    public string Options => this == Default ? "" : string.Create(CultureInfo.InvariantCulture,
        $" -D ND_GEMM_GPU_WM={GroupRows} -D ND_GEMM_GPU_WN={GroupColumns} -D ND_GEMM_GPU_TM={ItemRows}"
        + $" -D ND_GEMM_GPU_TN={ItemColumns} -D ND_GEMM_GPU_TK={TileK}");

    /// <summary>
    /// The GPU search space, the default first: work-groups of 64 to 256 work-items (8×8, 8×16, 16×8, 16×16), register
    /// tiles of 2×2 to 8×8 and K steps of 8, 16 and 32, within the device's limits; by multiply-adds per value read
    /// from local memory (TM·TN / (TM + TN)), then by the fewest work-items idle at an edge (the smaller tile).
    /// </summary>
    public static IReadOnlyList<GemmGpuTile> SearchSpace(DeviceProfile profile)
    {
        var all = new List<GemmGpuTile>();
        foreach (var (wm, wn) in new[] { (16, 16), (8, 16), (16, 8), (8, 8) })
            foreach (var (tm, tn) in new[] { (4, 4), (8, 8), (8, 4), (4, 8), (2, 4), (4, 2), (2, 2) })
                foreach (var tk in new[] { 16, 8, 32 })
                {
                    var t = new GemmGpuTile(wm, wn, tm, tn, tk);
                    if (t.IsValid && t.Fits(profile) && t != Default) all.Add(t);
                }
        var first = Default.Fits(profile) ? new[] { Default } : System.Array.Empty<GemmGpuTile>();
        return first.Concat(all.OrderByDescending(t => t.ItemRows * t.ItemColumns / (double)(t.ItemRows + t.ItemColumns))
            .ThenBy(t => t.Rows * t.Columns)).ToList();
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Rows}x{Columns} tile per work-group of {GroupRows}x{GroupColumns} ({ItemRows}x{ItemColumns} per work-item), K in local tiles of {TileK}");
}
