using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;

namespace NeuroDsl.Runtime;

/// <summary>
/// A library kernel with one shape per kind of device, the same arguments in each (the compiler's plan says which a
/// launch is; generated code names it): <see cref="LibraryKernels.Variant"/> picks the device's shape.
/// </summary>
public enum KernelVariant
{
    /// <summary>The kernel a launch names, with work-groups of one.</summary>
    None,

    /// <summary>The register-tiled GEMM (<see cref="LibraryKernels.TiledGemm(bool)"/>).</summary>
    TiledGemm,

    /// <summary>The batched register-tiled GEMM (<see cref="LibraryKernels.TiledGemmBatched"/>).</summary>
    TiledGemmBatched,
}

/// <summary>The hand-written OpenCL C of kernels/*.cl, embedded in this assembly, in file-name order.</summary>
public static class LibraryKernels
{
    private static readonly Assembly Self = typeof(LibraryKernels).Assembly;

    public static string Source { get; } = string.Concat(
        Self.GetManifestResourceNames()
            .Where(n => n.StartsWith("kernels/", System.StringComparison.Ordinal) && n.EndsWith(".cl", System.StringComparison.Ordinal))
            .OrderBy(n => n, System.StringComparer.Ordinal)
            .Select(n =>
            {
                using var reader = new StreamReader(Self.GetManifestResourceStream(n)!);
                return "// ---- " + n + "\n" + reader.ReadToEnd() + "\n";
            }));

    /// <summary>Names of the kernels the library defines; models take these from the library program.</summary>
    public static IReadOnlySet<string> Names { get; } =
        Regex.Matches(Source, @"__kernel\s+void\s+(\w+)").Select(m => m.Groups[1].Value).ToHashSet();

    public const string Options = "-cl-std=CL1.2";

    /// <summary>
    /// The tiled GEMM's shape for a device — the small tuning table of this library. Both variants compute a 12×32
    /// tile of C per work-group over the same packed B panels, with the same arguments: on a CPU (PoCL runs a
    /// work-group as a loop on one core) one work-item holds the whole tile in 24 float16 registers; on a GPU a
    /// work-group of 32 work-items holds one column each, reading the panel coalesced and A as a broadcast.
    /// NEURODSL_GEMM=cpu|gpu overrides the choice (the tests run the GPU shape on PoCL for correctness).
    /// </summary>
    public static (string Kernel, int Width) TiledGemm(Device device) => TiledGemm(IsGpuShape(device));

    /// <summary>The tiled GEMM's GPU shape (32 work-items per tile) or its CPU shape (one).</summary>
    public static (string Kernel, int Width) TiledGemm(bool gpuShape) =>
        gpuShape ? ("nd_gemm_tiled_f32_wg", 32) : ("nd_gemm_tiled_f32", 1);

    /// <summary>The batched tiled GEMM's GPU or CPU shape (the same choice as <see cref="TiledGemm(bool)"/>).</summary>
    public static (string Kernel, int Width) TiledGemmBatched(bool gpuShape) =>
        gpuShape ? ("nd_gemm_tiled_batched_f32_wg", 32) : ("nd_gemm_tiled_batched_f32", 1);

    /// <summary>
    /// The kernel that runs a launch of <paramref name="kernel"/> on a device: a tiled GEMM (plain or batched, as the
    /// plan's <paramref name="variant"/> says) takes the device's shape; every other kernel is itself, with
    /// work-groups of one.
    /// </summary>
    public static (string Kernel, int Width) Variant(string kernel, KernelVariant variant, Device device) => variant switch
    {
        KernelVariant.TiledGemm => TiledGemm(IsGpuShape(device)),
        KernelVariant.TiledGemmBatched => TiledGemmBatched(IsGpuShape(device)),
        _ => (kernel, 1),
    };

    /// <summary>Whether the tiled GEMMs take their GPU shape on this device (NEURODSL_GEMM may force either).</summary>
    public static bool IsGpuShape(Device device) => GemmOverride ?? device.Info.IsGpu;

    private static readonly bool? GemmOverride = System.Environment.GetEnvironmentVariable("NEURODSL_GEMM") switch
    {
        "gpu" => true,
        "cpu" => false,
        _ => null,
    };

    /// <summary>The library program for a device: built once (and cached on disk), shared by every model.</summary>
    public static nint Program(Device device) => OpenCl.ProgramCache.Get(device, Source, Options, "library");
}
