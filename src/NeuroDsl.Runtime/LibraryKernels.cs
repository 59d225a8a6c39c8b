using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using NeuroDsl.Runtime.Tuning;

namespace NeuroDsl.Runtime;

/// <summary>
/// A library kernel with one shape per kind of device, the same arguments in each (the compiler's plan says which a
/// launch is; generated code names it): <see cref="LibraryKernels.Variant"/> picks the device's shape.
/// </summary>
public enum KernelVariant
{
    /// <summary>The kernel a launch names, with work-groups of one.</summary>
    None,

    /// <summary>The register-tiled GEMM (<see cref="LibraryKernels.TiledGemm(Device, long, long, bool, bool, long)"/>).</summary>
    TiledGemm,

    /// <summary>The batched register-tiled GEMM (the same shapes, over a batch).</summary>
    TiledGemmBatched,

    /// <summary>
    /// The pack of a tiled GEMM's B (not transposed, N a multiple of 16) right before that GEMM, with B kept alive
    /// through it: the runtime skips the pack and binds B itself where the device reads it in place
    /// (<see cref="LibraryKernels.InPlaceGemm"/>).
    /// </summary>
    PackB,
}

/// <summary>The hand-written OpenCL C of kernels/*.cl, embedded in this assembly, in file-name order.</summary>
public static class LibraryKernels
{
    private static readonly Assembly Self = typeof(LibraryKernels).Assembly;

    public static string Source { get; } = string.Concat(
        Self.GetManifestResourceNames()
            .Where(n => n.StartsWith("kernels/", System.StringComparison.Ordinal) && n.EndsWith(".cl", System.StringComparison.Ordinal))
            .OrderBy(n => n, System.StringComparer.Ordinal)
            .Select(Read));

    private static string Read(string resource)
    {
        using var reader = new StreamReader(Self.GetManifestResourceStream(resource)!);
        return "// ---- " + resource + "\n" + reader.ReadToEnd() + "\n";
    }

    /// <summary>Names of the kernels the library defines; models take these from the library program.</summary>
    public static IReadOnlySet<string> Names { get; } =
        Regex.Matches(Source, @"__kernel\s+void\s+(\w+)").Select(m => m.Groups[1].Value).ToHashSet();

    public const string Options = "-cl-std=CL1.2";

    /// <summary>
    /// The tiled GEMM's shape for a device and a product of M×N (a batch of them): the kernel, its work-group's width
    /// and height and the rows and columns of C one work-group computes. Every shape uses the device's
    /// <see cref="GemmConfig"/> (the tuner's choice, or the default table's) over the same packed B panels, with the
    /// same arguments: on a CPU (PoCL runs a work-group as a loop on one core) one work-item holds the whole tile in
    /// registers, and a product with few tiles takes the smaller tile of <see cref="GemmConfig.SmallRows"/> rows so
    /// every core has work; on a GPU a 2-D work-group (<see cref="GemmConfig.Gpu"/>) stages tiles of op(A) and of the
    /// panels in local memory (kernels/gemm_gpu.cl), each work-item a small tile of C in registers. NEURODSL_GEMM=cpu|gpu
    /// overrides the choice of shape (the tests run the GPU shape on PoCL).
    /// </summary>
    public static GemmShape TiledGemm(GemmConfig config, bool gpuShape, bool batched, long m, long n, long batch, int computeUnits,
        bool transposeA)
    {
        var gpu = config.Gpu;
        if (gpuShape)
            return new GemmShape($"nd_gemm_local_{(batched ? "batched_" : "")}f32", gpu.GroupColumns, gpu.Rows, gpu.Columns, gpu.GroupRows);
        if (batched) return new GemmShape("nd_gemm_tiled_batched_f32", 1, config.Rows, config.Panel);
        var (rows, kernel) = config.TileFor(m, n, batch, computeUnits, transposeA);
        return new GemmShape(kernel, 1, rows, config.Panel);
    }

    /// <summary>
    /// The shape of the tiled GEMM that reads a B that is not transposed in place, with no pack before it, where the
    /// device's parameters say so for a product of M×K by K×N (<see cref="GemmConfig.ReadsInPlace"/>): the CPU tile's
    /// kernel of gemm.cl's nd_gemm_direct family. Null where B is packed: on a GPU shape, or when the product is too big.
    /// </summary>
    public static GemmShape? InPlaceGemm(GemmConfig config, bool gpuShape, long m, long n, long k, int computeUnits,
        bool transposeA)
    {
        if (gpuShape || !config.ReadsInPlace(m, n, k)) return null;
        // The stream tile whether or not A is transposed: with B read in place the taller tile of a transposed A lost
        // (PoCL 3.1, 2-core EPYC, AVX-512, quiet: the MLP's weight gradient 256×128 by 128×784 in 8 rows 160 µs, in 12
        // rows 236, packed in 12 rows 260; 256×128 by 128×256 83–93 against 121–134).
        var (rows, kernel) = config.TileFor(m, n, 1, computeUnits, transposeA: false);
        return new GemmShape(GemmConfig.InPlace(kernel), 1, rows, config.Panel);
    }

    /// <summary>The device's shape of the tiled GEMM for a product of M×N (<see cref="TiledGemm(GemmConfig, bool, bool, long, long, long, int, bool)"/>).</summary>
    public static GemmShape TiledGemm(Device device, long m, long n, bool transposeA, bool batched = false, long batch = 1) =>
        TiledGemm(device.Gemm.Config, IsGpuShape(device), batched, m, n, batch, device.Info.ComputeUnits, transposeA);

    /// <summary>
    /// The kernel that runs a launch of <paramref name="kernel"/> on a device: a tiled GEMM (plain or batched, as the
    /// plan's <paramref name="variant"/> says) takes the device's shape for its product of <paramref name="m"/> ×
    /// <paramref name="n"/> (and <paramref name="transposeA"/>); every other kernel is itself, with work-groups of one.
    /// </summary>
    public static GemmShape Variant(string kernel, KernelVariant variant, Device device, long m = 0, long n = 0,
        bool transposeA = false) => variant switch
    {
        KernelVariant.TiledGemm => TiledGemm(device, m, n, transposeA),
        KernelVariant.TiledGemmBatched => TiledGemm(device, m, n, transposeA, batched: true),
        _ => new GemmShape(kernel, 1, 1, 1),
    };

    /// <summary>Whether the tiled GEMMs take their GPU shape on this device (<see cref="Device.GemmGpuShape"/>).</summary>
    public static bool IsGpuShape(Device device) => device.GemmGpuShape;

    /// <summary>Whether the tiled GEMMs take their GPU shape on a device (NEURODSL_GEMM may force either).</summary>
    public static bool IsGpuShape(DeviceInfo info) => GemmOverride ?? info.IsGpu;

    private static readonly bool? GemmOverride = EnvironmentSettings.Shape("NEURODSL_GEMM");

    /// <summary>
    /// The library program for a device: built once per process (and cached on disk: <see cref="OpenCl.ProgramCache"/>), shared by every model, with the device's
    /// GEMM parameters.
    /// </summary>
    public static nint Program(Device device) =>
        OpenCl.ProgramCache.Get(device, Source, Options + device.Gemm.Config.Options, "library");

    /// <summary>kernels/gemm.cl and its GPU shape, gemm_gpu.cl, alone: what the tuner builds once per candidate.</summary>
    public static string GemmSource { get; } = Read("kernels/gemm.cl") + Read("kernels/gemm_gpu.cl");

    /// <summary>The GEMM kernels built with <paramref name="config"/> (a tuner's candidate; the tests' every candidate).</summary>
    public static nint GemmProgram(Device device, GemmConfig config) =>
        OpenCl.ProgramCache.Get(device, GemmSource, Options + config.Options, "gemm " + config);
}

/// <summary>
/// A launch's kernel, its work-group's width (work-items along N, dimension 1) and height (along M, dimension 0), and
/// the rows and columns of C one work-group computes (1 × 1 for a kernel that is not a tiled GEMM): the launch's global
/// size is ceil(M / Rows) × ceil(N / Columns) work-groups.
/// </summary>
public readonly record struct GemmShape(string Kernel, int Width, int Rows, int Columns, int Height = 1);
