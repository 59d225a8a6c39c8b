using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace NeuroDsl.Runtime.Tuning;

/// <summary>
/// The settings of a model's generated kernels: the work-items that share a row of a row kernel (ND_ROW_LANES) and the
/// elements each work-item of an elementwise kernel takes (ND_LANES), the most output pixels a work-item of the direct
/// convolution computes (ND_CONV_PIXELS, CPU shapes), program build options all three, and the work-group size the
/// GPU forms are launched in (called ND_GPU_GROUP here, a launch setting rather than a build option; GPU shapes). They
/// change how the work is spread, never what is computed, so the tuner may pick any that passes the reference check.
/// </summary>
public sealed record KernelSettings(int RowLanes, int ElementLanes, int GpuGroup = KernelSettings.DefaultGpuGroup, int ConvPixels = 8)
{
    /// <summary>The GPU forms' work-group: two warps of 32, one AMD wavefront of 64.</summary>
    public const int DefaultGpuGroup = 64;

    /// <summary>
    /// The default for a device in the given shapes. CPU shapes: rows of 1 lane (PoCL runs a work-group's work-items as
    /// a loop it vectorizes, so neighbouring rows fill the vector; lanes inside a row put a barrier-split loop around the
    /// row's loop instead: layer norm over [1024, 768] took 5.1 ms with 16 lanes, 2.3 ms with 1, AVX-512, PoCL 3.1) and
    /// the vector width in floats per elementwise work-item (16 with AVX-512, 8 with AVX2: the OpenCL compiler
    /// vectorizes that loop whatever the kernel computes). GPU shapes: 128 lanes a row (four warps) and one element a
    /// work-item (neighbouring work-items are the vector).
    /// </summary>
    public static KernelSettings Default(DeviceProfile profile, bool gpuShapes)
    {
        var group = (int)Math.Clamp(profile.MaxWorkGroupSize, 1, DefaultGpuGroup);
        group = 1 << (31 - System.Numerics.BitOperations.LeadingZeroCount((uint)group)); // a power of two
        return gpuShapes ? new KernelSettings(128, 1, group, profile.ConvPixels)
            : new KernelSettings(1, Math.Clamp(profile.VectorFloats, 1, 16), group, profile.ConvPixels);
    }

    /// <summary>Whether the generated kernels accept these: powers of two, row lanes and GPU groups up to 1024, lanes up to 16.</summary>
    public bool IsValid => IsPowerOfTwo(RowLanes, 1024) && IsPowerOfTwo(ElementLanes, 16) && IsPowerOfTwo(GpuGroup, 1024)
        && IsPowerOfTwo(ConvPixels, 16);

    /// <summary>The values the tuner tries for each setting on a device (the first axis searched first).</summary>
    public static IReadOnlyList<(string Setting, int[] Values)> Axes(DeviceProfile profile, bool gpuShapes) => new[]
    {
        ("ND_LANES", gpuShapes ? new[] { 1, 2, 4 } : new[] { 1, 2, 4, 8, 16 }),
        ("ND_ROW_LANES", gpuShapes
            ? new[] { 32, 64, 128, 256, 512 }.Where(l => l <= Math.Max(32, profile.MaxWorkGroupSize)).ToArray()
            : new[] { 1, 2, 4, 8, 16 }),
        ("ND_CONV_PIXELS", gpuShapes ? Array.Empty<int>() : new[] { 1, 2, 4, 8, 16 }),
        ("ND_GPU_GROUP", gpuShapes
            ? new[] { 32, 64, 128, 256 }.Where(l => l <= profile.MaxWorkGroupSize).ToArray()
            : Array.Empty<int>()),
    };

    /// <summary>The value of one setting (an <see cref="Axes"/> name).</summary>
    public int Value(string setting) => setting switch
    {
        "ND_LANES" => ElementLanes,
        "ND_ROW_LANES" => RowLanes,
        "ND_GPU_GROUP" => GpuGroup,
        "ND_CONV_PIXELS" => ConvPixels,
        _ => throw new ArgumentOutOfRangeException(nameof(setting), setting, "not a kernel setting"),
    };

    /// <summary>These settings with one of them (an <see cref="Axes"/> name) changed.</summary>
    public KernelSettings With(string setting, int value) => setting switch
    {
        "ND_LANES" => this with { ElementLanes = value },
        "ND_ROW_LANES" => this with { RowLanes = value },
        "ND_GPU_GROUP" => this with { GpuGroup = value },
        "ND_CONV_PIXELS" => this with { ConvPixels = value },
        _ => throw new ArgumentOutOfRangeException(nameof(setting), setting, "not a kernel setting"),
    };

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"row lanes {RowLanes}, lanes {ElementLanes}, conv pixels {ConvPixels}, GPU groups of {GpuGroup}");

    private static bool IsPowerOfTwo(int value, int max) => value > 0 && value <= max && (value & (value - 1)) == 0;
}

/// <summary>The kernel settings a device runs with in the given shapes, and where they came from ("tuned …" or "default for …").</summary>
public sealed record KernelChoice(KernelSettings Settings, bool GpuShapes, string Source);

/// <summary>
/// Where a device's kernel settings come from: the tuner's choice (<c>tuning/kernels-HASH.json</c> for CPU shapes,
/// <c>kernels-gpu-HASH.json</c> for GPU shapes, beside the GEMM's), else <see cref="KernelSettings.Default"/>. A bad file is one warning and the
/// default; the NEURODSL_ROW_LANES, NEURODSL_LANES, NEURODSL_CONV_PIXELS and NEURODSL_GPU_GROUP variables still
/// override either (<see cref="Device.RowLanes"/>).
/// </summary>
public static class KernelTuning
{
    private static readonly ConcurrentDictionary<(string, bool), KernelChoice?> Tuned = new();

    /// <summary>The device's tuning file for the given shapes in <paramref name="directory"/> (one each: tuning one keeps the other).</summary>
    public static string PathFor(DeviceInfo info, string directory, bool gpuShapes) =>
        TuningStore.PathFor(Kind(gpuShapes), info, directory);

    private static string Kind(bool gpuShapes) => gpuShapes ? "kernels-gpu" : "kernels";

    /// <summary>The settings the device runs with in <paramref name="gpuShapes"/>; the stored file is read once per process.</summary>
    public static KernelChoice For(Device device, bool gpuShapes) =>
        Tuned.GetOrAdd((TuningStore.Key(device.Info), gpuShapes), _ => Stored(device.Info, TuningStore.Directory, gpuShapes, Console.Error.WriteLine))
        ?? Default(device.Info, gpuShapes);

    /// <summary>The default of the device's class in the given shapes.</summary>
    public static KernelChoice Default(DeviceInfo info, bool gpuShapes) =>
        new(KernelSettings.Default(info.Profile, gpuShapes), gpuShapes, $"default for {info.Profile.Class}{(gpuShapes ? " in GPU shapes" : "")}");

    /// <summary>
    /// The stored choice for the given shapes in <paramref name="directory"/>, or null without one; a bad file is reported
    /// through <paramref name="warn"/> in one line (once per file and process) and ignored.
    /// </summary>
    public static KernelChoice? Stored(DeviceInfo info, string directory, bool gpuShapes, Action<string> warn)
    {
        var (file, why) = TuningStore.Read(Kind(gpuShapes), info, directory);
        if (why is null && file is null) return null;
        if (why is null && file!.Kernels is null) why = "no \"kernels\" entry";
        if (why is null && file!.Kernels!.GpuShapes != gpuShapes) why = "it holds settings for the other shapes";
        if (why is null)
        {
            var k = file!.Kernels!;
            var defaults = KernelSettings.Default(info.Profile, k.GpuShapes);
            var settings = new KernelSettings(k.RowLanes, k.Lanes, k.GpuGroup == 0 ? defaults.GpuGroup : k.GpuGroup,
                k.ConvPixels == 0 ? defaults.ConvPixels : k.ConvPixels);
            if (settings.IsValid) return new KernelChoice(settings, k.GpuShapes, TuningStore.Source(file));
            why = $"its settings ({settings}) are not powers of two the kernels accept";
        }
        TuningStore.Refuse(PathFor(info, directory, gpuShapes), "kernel", why, "defaults", warn);
        return null;
    }

    /// <summary>Stores a tuned choice for the given shapes: a temporary file, then a rename; returns its path.</summary>
    public static string Save(DeviceInfo info, string directory, KernelSettings settings, bool gpuShapes, string shapes, string note)
    {
        var file = TuningStore.NewFile(info, shapes, note);
        file.Kernels = new TuningFile.KernelsEntry
        {
            GpuShapes = gpuShapes, RowLanes = settings.RowLanes, Lanes = settings.ElementLanes, GpuGroup = settings.GpuGroup,
            ConvPixels = settings.ConvPixels,
        };
        return TuningStore.Write(Kind(gpuShapes), info, directory, file);
    }

    /// <summary>Stores a tuned choice for the device in the tuning folder; models built after it in this process use it.</summary>
    public static string Store(Device device, KernelSettings settings, bool gpuShapes, string shapes, string note)
    {
        var path = Save(device.Info, TuningStore.Directory, settings, gpuShapes, shapes, note);
        Tuned[(TuningStore.Key(device.Info), gpuShapes)] = new KernelChoice(settings, gpuShapes, "tuned just now");
        return path;
    }
}
