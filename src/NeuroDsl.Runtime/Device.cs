using System;
using Silk.NET.OpenCL;
using ClDeviceInfo = Silk.NET.OpenCL.DeviceInfo;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Runtime.OpenCl;
using NeuroDsl.Runtime.Tuning;

namespace NeuroDsl.Runtime;

/// <summary>Facts about one OpenCL device, for listing and selection; <paramref name="Profile"/> what its kernels are tuned by.</summary>
public sealed record DeviceInfo(int Index, string Name, string Vendor, string Platform, string DriverVersion,
    string Version, bool IsGpu, int ComputeUnits, long GlobalMemory, DeviceProfile Profile);

/// <summary>
/// An OpenCL device with its context and in-order queue. Choose with <see cref="Open"/>: <c>NEURODSL_DEVICE</c>
/// (an index or a name substring), else the first GPU, else the first device.
/// </summary>
public sealed class Device : IDisposable
{
    private const string InstallHint =
        "Install an OpenCL driver: on Debian/Ubuntu 'apt-get install pocl-opencl-icd ocl-icd-libopencl1' for the CPU, " +
        "or your GPU vendor's OpenCL ICD (NVIDIA, AMD ROCm, Intel compute-runtime).";

    private Device(nint platform, nint id, DeviceInfo info)
    {
        Info = info;
        Id = id;
        Platform = platform;
        unsafe
        {
            var device = id;
            Context = Cl.CreateContext(&device, 1, out var status);
            ClException.Check(status, "clCreateContext");
        }
        Queue = Cl.CreateCommandQueue(Context, id, out var qs);
        ClException.Check(qs, "clCreateCommandQueue");
        BaseAddressAlignBytes = (int)(GetUInt(id, ClDeviceInfo.MemBaseAddrAlign) / 8);
        MaxAllocationBytes = (long)Math.Min(GetULong(id, ClDeviceInfo.MaxMemAllocSize), long.MaxValue);
    }

    /// <summary>The largest single buffer the device allows (<c>CL_DEVICE_MAX_MEM_ALLOC_SIZE</c>), in bytes.</summary>
    public long MaxAllocationBytes { get; }

    public DeviceInfo Info { get; }
    internal nint Id { get; }
    internal nint Platform { get; }
    internal nint Context { get; }
    internal nint Queue { get; }

    /// <summary>
    /// Whether generated kernels take their GPU shapes (the program's ND_GPU): the convolution and pooling kernels one
    /// output element per work-item, consecutive work-items on consecutive x (coalesced), where their CPU forms hold 8
    /// or 16 channels or pixels in a vector per work-item (few work-items, strided accesses on a GPU). It also changes
    /// the defaults of <see cref="RowLanes"/> (128) and <see cref="ElementLanes"/> (1). Default: whether the
    /// device is a GPU; NEURODSL_SHAPES=gpu|cpu overrides it. Set it before building a model (the model's program is
    /// built with it); the tests run the GPU shapes on PoCL this way.
    /// </summary>
    public bool GpuShapes
    {
        get => _gpuShapes ?? ShapesOverride ?? Info.IsGpu;
        set => _gpuShapes = value;
    }

    private bool? _gpuShapes;

    /// <summary>
    /// Whether the tiled GEMMs take their GPU shape (<see cref="LibraryKernels.TiledGemm(Device, long, long, bool, bool, long)"/>:
    /// work-groups staging tiles in local memory): NEURODSL_GEMM=gpu|cpu, else whether the device is a GPU; independent
    /// of <see cref="GpuShapes"/>, the generated kernels' (the GEMM is a library kernel). Set it before building a model
    /// (its launches take their shape when it is built); the tests run the GPU shape on PoCL this way.
    /// </summary>
    public bool GemmGpuShape
    {
        get => _gemmGpuShape ?? LibraryKernels.IsGpuShape(Info);
        set => _gemmGpuShape = value;
    }

    private bool? _gemmGpuShape;

    private static readonly bool? ShapesOverride = EnvironmentSettings.Shape("NEURODSL_SHAPES");

    /// <summary>
    /// Work-items that share one row of a row kernel (a reduction and what is fused around it): NEURODSL_ROW_LANES if
    /// set, else the tuner's choice for this device in these shapes, else the default (<see cref="KernelSettings.Default"/>:
    /// 1 on a CPU, 128 with GPU shapes). A power of two up to 1024. Set it before building a model (the model's program
    /// is built with it); the tests run the row kernels with a GPU's 128 lanes on PoCL this way.
    /// </summary>
    public int RowLanes
    {
        get => _rowLanes ?? RowLanesOverride ?? Kernels.Settings.RowLanes;
        set => _rowLanes = PowerOfTwo(value, 1024, "row lanes are a power of two from 1 to 1024");
    }

    private int? _rowLanes;

    private static readonly int? RowLanesOverride = EnvironmentSettings.PowerOfTwo("NEURODSL_ROW_LANES", 1024);

    /// <summary>
    /// The elements each work-item of a generated elementwise kernel takes in a loop of its own (ND_LANES):
    /// NEURODSL_LANES if set, else the tuner's choice for this device in these shapes, else the default (on a CPU the
    /// vector width in floats, so the OpenCL compiler vectorizes that loop whatever the kernel computes; with GPU shapes
    /// 1). A power of two at most 16 (the compiler's MaxLanes). Set it before building a model (the model's program is
    /// built with it); the tests run the laned kernels at several counts this way.
    /// </summary>
    public int ElementLanes
    {
        get => _elementLanes ?? LanesOverride ?? Kernels.Settings.ElementLanes;
        set => _elementLanes = PowerOfTwo(value, 16, "lanes are a power of two from 1 to 16");
    }

    private int? _elementLanes;

    private static readonly int? LanesOverride = EnvironmentSettings.PowerOfTwo("NEURODSL_LANES", 16);

    /// <summary>
    /// The work-group size the generated kernels' GPU forms are launched in (their work-items rounded up to whole
    /// groups; each form returns past its total): NEURODSL_GPU_GROUP if set, else the tuner's choice, else 64 (at most
    /// the device's work-group limit). A power of two up to 1024, and never beyond the device's work-group limit (a larger
    /// value is taken down to it); set it before building a model.
    /// </summary>
    public int GpuGroup
    {
        get => Math.Min(_gpuGroup ?? GpuGroupOverride ?? Kernels.Settings.GpuGroup, LargestGroup);
        set => _gpuGroup = PowerOfTwo(value, 1024, "GPU groups are a power of two from 1 to 1024");
    }

    private int? _gpuGroup;

    // A group beyond the device's work-group limit would fail at its launch: the largest power of two within it.
    private int LargestGroup => Largest(Info);

    private static int Largest(DeviceInfo info) =>
        1 << (31 - System.Numerics.BitOperations.LeadingZeroCount((uint)Math.Clamp(info.Profile.MaxWorkGroupSize, 1, 1024)));

    private static readonly int? GpuGroupOverride = EnvironmentSettings.PowerOfTwo("NEURODSL_GPU_GROUP", 1024);

    /// <summary>
    /// What a model built on the device gets where nothing is set on its <see cref="Device"/> (what <c>neurodsl devices</c>
    /// shows): its shapes (NEURODSL_SHAPES, else its type), and the NEURODSL_* overrides over the choice stored in
    /// <paramref name="directory"/> for those shapes, else the default; a bad file is one line through <paramref name="warn"/>.
    /// </summary>
    public static (bool GpuShapes, KernelSettings Settings, string Source) Resolve(DeviceInfo info, string directory, Action<string> warn)
    {
        var gpu = ShapesOverride ?? info.IsGpu;
        var choice = KernelTuning.Stored(info, directory, gpu, warn) ?? KernelTuning.Default(info, gpu);
        var s = choice.Settings;
        var used = new KernelSettings(RowLanesOverride ?? s.RowLanes, LanesOverride ?? s.ElementLanes,
            Math.Min(GpuGroupOverride ?? s.GpuGroup, Largest(info)), ConvPixelsOverride ?? s.ConvPixels);
        return (gpu, used, choice.Source + (used != s ? "; NEURODSL_* variables override it" : ""));
    }

    /// <summary>The kernel settings this device's models are built with in its current shapes: tuned, else the default.</summary>
    public KernelChoice Kernels => _kernels is { } k && k.GpuShapes == GpuShapes ? k : KernelTuning.For(this, GpuShapes);

    private KernelChoice? _kernels;

    /// <summary>Builds this device's models in <paramref name="choice"/>'s shapes with its settings (a tuned choice, in tests).</summary>
    internal void UseKernels(KernelChoice choice) => _kernels = choice;

    /// <summary>Builds this device's models with <paramref name="settings"/> from now on (what the tuner tries).</summary>
    public void Use(KernelSettings settings)
    {
        RowLanes = settings.RowLanes;
        ElementLanes = settings.ElementLanes;
        GpuGroup = settings.GpuGroup;
        ConvPixels = settings.ConvPixels;
    }

    /// <summary>The settings a model built now gets (<see cref="RowLanes"/>, <see cref="ElementLanes"/>, <see cref="GpuGroup"/>, <see cref="ConvPixels"/>).</summary>
    public KernelSettings Settings => new(RowLanes, ElementLanes, GpuGroup, ConvPixels);

    /// <summary>
    /// The most output pixels a work-item of the direct convolution computes (ND_CONV_PIXELS; each kernel takes the
    /// largest divisor of its row width up to it), each pixel a vector accumulator of 8 or 16 channels: as many as the
    /// device's registers hold (<see cref="DeviceProfile.ConvPixels"/>: 8 with AVX-512, 4 with AVX2) unless the tuner chose
    /// another. A power of two from 1 to 16; NEURODSL_CONV_PIXELS overrides either. Set it before building a model (the model's
    /// program is built with it); the tests run the convolutions at every value this way. GPU shapes do not use it.
    /// </summary>
    public int ConvPixels
    {
        get => _convPixels ?? ConvPixelsOverride ?? Kernels.Settings.ConvPixels;
        set => _convPixels = PowerOfTwo(value, 16, "conv pixels are a power of two from 1 to 16");
    }

    private int? _convPixels;

    private static readonly int? ConvPixelsOverride = EnvironmentSettings.PowerOfTwo("NEURODSL_CONV_PIXELS", 16);


    // A setting's value: a power of two from 1 to max, else why not.
    private static int PowerOfTwo(int value, int max, string what) => value > 0 && value <= max && (value & (value - 1)) == 0
        ? value : throw new ArgumentOutOfRangeException(nameof(value), value, what);

    /// <summary>The GEMM parameters this device runs with: the tuner's cached choice, else the default table's.</summary>
    public GemmChoice Gemm => _gemm ??= GemmTuning.For(this);

    private GemmChoice? _gemm;

    /// <summary>Runs this device's GEMMs with <paramref name="choice"/> from now on (what the tuner just chose).</summary>
    internal void UseGemm(GemmChoice choice) => _gemm = choice;

    /// <summary>Required alignment of sub-buffer origins, in bytes.</summary>
    public int BaseAddressAlignBytes { get; }

    public override string ToString() => $"{Info.Name} ({Info.Platform}, {(Info.IsGpu ? "GPU" : "CPU/other")})";

    /// <summary>Every device of every platform, in platform order.</summary>
    public static IReadOnlyList<DeviceInfo> List() => Enumerate().Select(d => d.Info).ToList();

    /// <summary>Opens the device named by <paramref name="selector"/>, or by <c>NEURODSL_DEVICE</c>, or the default.</summary>
    public static Device Open(string? selector = null)
    {
        selector ??= Environment.GetEnvironmentVariable("NEURODSL_DEVICE");
        var all = Enumerate();
        if (all.Count == 0)
            throw new DeviceUnavailableException("No OpenCL platform or device was found. " + InstallHint);
        (nint Platform, nint Id, DeviceInfo Info) chosen;
        if (string.IsNullOrWhiteSpace(selector))
            chosen = all.FirstOrDefault(d => d.Info.IsGpu) is { Id: not 0 } gpu ? gpu : all[0];
        else if (int.TryParse(selector, NumberStyles.Integer, CultureInfo.InvariantCulture, out var index))
            chosen = index >= 0 && index < all.Count ? all[index]
                : throw new DeviceUnavailableException($"NEURODSL_DEVICE={selector}: there is no device {selector}; there are {all.Count} ("
                    + string.Join("; ", all.Select(d => $"{d.Info.Index}: {d.Info.Name}")) + ")");
        else
            chosen = all.FirstOrDefault(d => d.Info.Name.Contains(selector, StringComparison.OrdinalIgnoreCase)
                                              || d.Info.Platform.Contains(selector, StringComparison.OrdinalIgnoreCase)) is { Id: not 0 } named
                ? named
                : throw new DeviceUnavailableException($"NEURODSL_DEVICE={selector}: no device or platform name contains it. Devices: " +
                                                      string.Join("; ", all.Select(d => $"{d.Info.Index}: {d.Info.Name}")));
        return new Device(chosen.Platform, chosen.Id, chosen.Info);
    }

    private static List<(nint Platform, nint Id, DeviceInfo Info)> Enumerate()
    {
        int status;
        uint count;
        try
        {
            status = Cl.GetPlatformIDs(0, null, out count);
        }
        catch (DllNotFoundException e)
        {
            throw new DeviceUnavailableException("The OpenCL loader libOpenCL.so.1 was not found. " + InstallHint, e);
        }
        var result = new List<(nint, nint, DeviceInfo)>();
        if (status == -1001 || count == 0) return result;
        ClException.Check(status, "clGetPlatformIDs");
        var platforms = new nint[count];
        ClException.Check(Cl.GetPlatformIDs(count, platforms, out _), "clGetPlatformIDs");
        foreach (var platform in platforms)
        {
            // The platform's name and vendor ("Portable Computing Language", "The pocl project"), so a selector can
            // name either.
            var pname = GetPlatformString(platform, PlatformInfo.Name) + " (" + GetPlatformString(platform, PlatformInfo.Vendor).Trim() + ")";
            if (Cl.GetDeviceIDs(platform, DeviceType.All, 0, null, out var n) != 0 || n == 0) continue;
            var devices = new nint[n];
            ClException.Check(Cl.GetDeviceIDs(platform, DeviceType.All, n, devices, out _), "clGetDeviceIDs");
            foreach (var d in devices)
            {
                var type = GetULong(d, ClDeviceInfo.Type);
                var name = GetString(d, ClDeviceInfo.Name).Trim();
                var vendor = GetString(d, ClDeviceInfo.Vendor).Trim();
                var driver = GetString(d, ClDeviceInfo.DriverVersion).Trim();
                var isGpu = (type & (ulong)DeviceType.Gpu) != 0;
                var units = (int)GetUInt(d, ClDeviceInfo.MaxComputeUnits);
                var info = new DeviceInfo(result.Count, name, vendor, pname.Trim(), driver, GetString(d, ClDeviceInfo.Version).Trim(),
                    isGpu, units, (long)GetULong(d, ClDeviceInfo.GlobalMemSize), Profile(d, type, name, vendor, driver, units));
                result.Add((platform, d, info));
            }
        }
        return result;
    }

    /// <summary>The device's profile: the driver's facts and the register-budget estimate (<see cref="DeviceProfile.Classify"/>).</summary>
    private static DeviceProfile Profile(nint d, ulong type, string name, string vendor, string driver, int units)
    {
        // CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, _NATIVE_VECTOR_WIDTH_FLOAT, _LOCAL_MEM_TYPE, _LOCAL_MEM_SIZE, _MAX_WORK_GROUP_SIZE.
        var preferred = (int)GetUInt(d, (ClDeviceInfo)0x100A);
        var native = (int)GetUInt(d, (ClDeviceInfo)0x103A);
        var dedicated = GetUInt(d, (ClDeviceInfo)0x1022) == 1;
        var local = (long)GetULong(d, (ClDeviceInfo)0x1023);
        var group = (long)GetULong(d, (ClDeviceInfo)0x1004);
        var isGpu = (type & (ulong)DeviceType.Gpu) != 0;
        var kind = isGpu ? "GPU" : (type & (ulong)DeviceType.Cpu) != 0 ? "CPU" : "accelerator";
        // The host's flags describe a CPU device (PoCL runs on this host); never a GPU's.
        var (cls, registers, floats, isa, source) = DeviceProfile.Classify(isGpu, name, native,
            kind == "CPU" ? DeviceProfile.HostCpuFlags : null);
        return new DeviceProfile(kind, vendor, driver, units, preferred, native, local, dedicated, group, cls, registers,
            floats, isa, source);
    }

    private static unsafe string GetPlatformString(nint platform, PlatformInfo param)
    {
        ClException.Check(Cl.GetPlatformInfo(platform, param, 0, null, out var size), "clGetPlatformInfo");
        var buffer = new byte[(int)size];
        fixed (byte* p = buffer) ClException.Check(Cl.GetPlatformInfo(platform, param, size, p, out _), "clGetPlatformInfo");
        return Encoding.UTF8.GetString(buffer).TrimEnd('\0');
    }

    private static unsafe string GetString(nint device, ClDeviceInfo param)
    {
        ClException.Check(Cl.GetDeviceInfo(device, param, 0, null, out var size), "clGetDeviceInfo");
        var buffer = new byte[(int)size];
        fixed (byte* p = buffer) ClException.Check(Cl.GetDeviceInfo(device, param, size, p, out _), "clGetDeviceInfo");
        return Encoding.UTF8.GetString(buffer).TrimEnd('\0');
    }

    private static unsafe ulong GetULong(nint device, ClDeviceInfo param)
    {
        ulong value = 0;
        ClException.Check(Cl.GetDeviceInfo(device, param, sizeof(ulong), &value, out _), "clGetDeviceInfo");
        return value;
    }

    private static unsafe uint GetUInt(nint device, ClDeviceInfo param)
    {
        uint value = 0;
        ClException.Check(Cl.GetDeviceInfo(device, param, sizeof(uint), &value, out _), "clGetDeviceInfo");
        return value;
    }

    /// <summary>Waits for every queued command (the one synchronization point of a step).</summary>
    public void Finish() => ClException.Check(Cl.Finish(Queue), "clFinish");

    public void Dispose()
    {
        LibraryOps.Release(this);
        ProgramCache.Release(this);
        Cl.ReleaseCommandQueue(Queue);
        Cl.ReleaseContext(Context);
    }
}
