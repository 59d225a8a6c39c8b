using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace NeuroDsl.Runtime.Tuning;

/// <summary>The classes of device the GEMM's default table knows; a tuned choice overrides the class's entry.</summary>
public enum DeviceClass
{
    /// <summary>A CPU whose vector unit is not known (SSE, NEON, or a driver that says nothing).</summary>
    GenericCpu,

    /// <summary>An x86 CPU with AVX2 and FMA: 16 vector registers of 8 floats.</summary>
    Avx2,

    /// <summary>An x86 CPU with AVX-512: 32 vector registers of 16 floats.</summary>
    Avx512,

    /// <summary>A GPU: the kernels take their work-group shapes.</summary>
    Gpu,
}

/// <summary>
/// What the kernels' parameters depend on, recorded once per device: the driver's facts (type, vendor, driver, compute
/// units, vector widths, local memory, work-group limit) and an estimate of the register budget — how many vector
/// registers of how many floats one work-item can keep its tile in — with where the estimate came from.
/// </summary>
public sealed record DeviceProfile(string Type, string Vendor, string Driver, int ComputeUnits, int PreferredFloatWidth,
    int NativeFloatWidth, long LocalMemoryBytes, bool LocalMemoryIsDedicated, long MaxWorkGroupSize, DeviceClass Class,
    int VectorRegisters, int VectorFloats, string Isa, string IsaSource)
{
    /// <summary>The lines <c>neurodsl devices</c> shows under a device.</summary>
    public IEnumerable<string> Describe()
    {
        yield return $"type {Type}, vendor {Vendor}, driver {Driver}, {ComputeUnits} compute units, max work-group {MaxWorkGroupSize}";
        yield return $"float vectors: preferred {PreferredFloatWidth}, native {NativeFloatWidth}; local memory "
            + $"{LocalMemoryBytes / 1024} KiB ({(LocalMemoryIsDedicated ? "dedicated" : "in global memory")})";
        yield return Class == DeviceClass.Gpu
            ? $"class {Class}: {Isa} (from {IsaSource})"
            : $"class {Class}: {Isa}, {VectorRegisters} vector registers of {VectorFloats} floats (from {IsaSource})";
    }

    /// <summary>
    /// The direct convolution's default output pixels per work-item (<see cref="Device.ConvPixels"/>): the most, a power of
    /// two, whose accumulators fit the vector registers with about 4 to spare (the weights' vector, the broadcast input,
    /// addresses). A pixel's accumulator is a float16 of channels, 16 / <see cref="VectorFloats"/> registers: AVX2 holds 4
    /// (8 registers of 16), a generic CPU of 4-float vectors 2. At most 8, the block the kernels were tuned at on AVX-512
    /// (16 fits there too; the tuner may take it). A GPU runs the convolutions' GPU forms, which do not use it: 8.
    /// </summary>
    public int ConvPixels
    {
        get
        {
            if (Class == DeviceClass.Gpu || VectorFloats <= 0) return 8;
            var perPixel = (16 + VectorFloats - 1) / VectorFloats;
            var pixels = 8;
            while (pixels > 1 && pixels * perPixel + 4 > VectorRegisters) pixels /= 2;
            return pixels;
        }
    }

    // LLVM CPU names (as PoCL puts them in a CPU device's name) by vector unit. AVX-512 first: "skylake-avx512" starts
    // with the AVX2 "skylake".
    private static readonly string[] Avx512Cpus =
    {
        "skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake-client", "icelake-server", "tigerlake",
        "rocketlake", "sapphirerapids", "emeraldrapids", "graniterapids", "diamondrapids", "znver4", "znver5", "knl",
        "knm", "x86-64-v4",
    };

    private static readonly string[] Avx2Cpus =
    {
        "haswell", "broadwell", "skylake", "kabylake", "coffeelake", "cometlake", "alderlake", "raptorlake", "meteorlake",
        "arrowlake", "lunarlake", "gracemont", "sierraforest", "grandridge", "znver1", "znver2", "znver3", "bdver4",
        "x86-64-v3",
    };

    // PoCL's CPU drivers name a device "<driver>-<llvm cpu>-<model name>".
    private static readonly string[] PoclPrefixes = { "pthread-", "cpu-minimal-", "cpu-", "basic-", "tbb-" };

    /// <summary>
    /// The vector unit of a device: a GPU is a GPU; a CPU's comes from the LLVM CPU name in a PoCL device name, else
    /// from the host's CPU flags (<c>/proc/cpuinfo</c>, a micro-probe where the driver says nothing), else from the
    /// driver's native float vector width, else it is a generic CPU with 16 registers of 4 floats.
    /// </summary>
    public static (DeviceClass Class, int Registers, int Floats, string Isa, string Source) Classify(bool isGpu,
        string name, int nativeFloatWidth, IReadOnlySet<string>? cpuFlags)
    {
        if (isGpu) return (DeviceClass.Gpu, 0, 1, "GPU", "the device type");
        if (LlvmCpu(name) is { } cpu)
        {
            if (Avx512Cpus.FirstOrDefault(c => cpu.StartsWith(c, StringComparison.OrdinalIgnoreCase)) is { } avx512)
                return (DeviceClass.Avx512, 32, 16, "AVX-512", $"the device name's LLVM CPU '{avx512}'");
            if (Avx2Cpus.FirstOrDefault(c => cpu.StartsWith(c, StringComparison.OrdinalIgnoreCase)) is { } avx2)
                return (DeviceClass.Avx2, 16, 8, "AVX2+FMA", $"the device name's LLVM CPU '{avx2}'");
        }
        if (cpuFlags is { Count: > 0 })
        {
            if (cpuFlags.Contains("avx512f")) return (DeviceClass.Avx512, 32, 16, "AVX-512", "/proc/cpuinfo flags");
            if (cpuFlags.Contains("avx2") && cpuFlags.Contains("fma"))
                return (DeviceClass.Avx2, 16, 8, "AVX2+FMA", "/proc/cpuinfo flags");
            if (cpuFlags.Contains("asimd")) return (DeviceClass.GenericCpu, 32, 4, "NEON", "/proc/cpuinfo features");
        }
        return nativeFloatWidth switch
        {
            >= 16 => (DeviceClass.Avx512, 32, 16, "16-float vectors", "the driver's native float width"),
            8 => (DeviceClass.Avx2, 16, 8, "8-float vectors", "the driver's native float width"),
            _ => (DeviceClass.GenericCpu, 16, 4, "4-float vectors", "a generic CPU's defaults"),
        };
    }

    /// <summary>The LLVM CPU name a PoCL CPU device carries ("skylake-avx512-AMD EPYC" after "pthread-"), if any.</summary>
    internal static string? LlvmCpu(string name)
    {
        foreach (var prefix in PoclPrefixes)
            if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                return name[prefix.Length..];
        return null;
    }

    /// <summary>The flags of the first processor in a <c>/proc/cpuinfo</c> text ("flags" on x86, "Features" on Arm).</summary>
    public static IReadOnlySet<string> ParseCpuFlags(string cpuinfo)
    {
        foreach (var line in cpuinfo.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon < 0) continue;
            var key = line[..colon].Trim();
            if (key is "flags" or "Features")
                return line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        }
        return new HashSet<string>();
    }

    /// <summary>This host's CPU flags (empty where /proc/cpuinfo cannot be read).</summary>
    public static IReadOnlySet<string> HostCpuFlags => LazyHostFlags.Value;

    private static readonly Lazy<IReadOnlySet<string>> LazyHostFlags = new(() =>
    {
        try
        {
            return ParseCpuFlags(File.ReadAllText("/proc/cpuinfo"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new HashSet<string>();
        }
    });
}
