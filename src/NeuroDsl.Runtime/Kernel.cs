using System;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Runtime;

/// <summary>A kernel argument: a buffer, an int or a float.</summary>
public readonly struct KernelArg
{
    private KernelArg(DeviceBuffer? buffer, int i, float f, int kind)
    {
        Buffer = buffer;
        Int = i;
        Float = f;
        Kind = kind;
    }

    public DeviceBuffer? Buffer { get; }
    public int Int { get; }
    public float Float { get; }
    public int Kind { get; }

    public static implicit operator KernelArg(DeviceBuffer b) => new(b, 0, 0, 0);
    public static KernelArg Of(int value) => new(null, value, 0, 1);
    public static KernelArg Of(float value) => new(null, 0, value, 2);

    /// <summary>Placeholders a model keeps current: training flag, dropout seed, forward-pass counter.</summary>
    internal static readonly KernelArg Training = new(null, 0, 0, 3);
    internal static readonly KernelArg Seed = new(null, 0, 0, 4);
    internal static readonly KernelArg Step = new(null, 0, 0, 5);
}

/// <summary>An OpenCL kernel whose arguments are bound once; launching only enqueues it.</summary>
public sealed class Kernel : IDisposable
{
    private readonly Device _device;

    internal Kernel(Device device, nint program, string name)
    {
        _device = device;
        Name = name;
        Handle = Cl.CreateKernel(program, name, out var status);
        ClException.Check(status, $"clCreateKernel({name})");
    }

    public string Name { get; }

    /// <summary>Work-items per work-group along dimension 1 for <see cref="LaunchLocal"/> (the tiled GEMM's shape).</summary>
    public int GroupWidth { get; init; } = 1;
    internal nint Handle { get; }

    public unsafe void Set(int index, KernelArg arg)
    {
        int status;
        switch (arg.Kind)
        {
            case 0:
                var handle = arg.Buffer!.Handle;
                status = Cl.SetKernelArg(Handle, (uint)index, (nuint)sizeof(nint), &handle);
                break;
            case 1:
                var i = arg.Int;
                status = Cl.SetKernelArg(Handle, (uint)index, sizeof(int), &i);
                break;
            default:
                var f = arg.Float;
                status = Cl.SetKernelArg(Handle, (uint)index, sizeof(float), &f);
                break;
        }
        if (status != 0) throw new ClException($"clSetKernelArg({Name}, {index})", status);
    }

    /// <summary>Enqueues the kernel over a 1-D or 2-D range; the driver picks the work-group size.</summary>
    public unsafe void Launch(long global0, long global1 = 0)
    {
        if (global0 <= 0 || global1 < 0) return;
        var global = stackalloc nuint[2];
        global[0] = (nuint)global0;
        global[1] = (nuint)Math.Max(1, global1);
        var status = Cl.EnqueueNDRangeKernel(_device.Queue, Handle, global1 > 0 ? 2u : 1u, null, global, null, 0, 0, 0);
        if (status != 0) throw new ClException($"clEnqueueNDRangeKernel({Name})", status);
    }

    /// <summary>
    /// Enqueues <paramref name="groups0"/> × <paramref name="groups1"/> work-groups of 1 × <paramref name="width1"/>
    /// work-items (what the kernel's reqd_work_group_size asks: 1 × 1 for the CPU GEMM, 1 × 32 for the GPU one).
    /// </summary>
    public void LaunchLocal(long groups0, long groups1) => LaunchLocal(groups0, groups1, GroupWidth);

    /// <summary>As <see cref="LaunchLocal(long, long)"/> with an explicit work-group width.</summary>
    public unsafe void LaunchLocal(long groups0, long groups1, int width1)
    {
        if (groups0 <= 0 || groups1 <= 0) return;
        var global = stackalloc nuint[2];
        var local = stackalloc nuint[2];
        global[0] = (nuint)groups0;
        global[1] = (nuint)(groups1 * width1);
        local[0] = 1;
        local[1] = (nuint)width1;
        var status = Cl.EnqueueNDRangeKernel(_device.Queue, Handle, 2, null, global, local, 0, 0, 0);
        if (status != 0) throw new ClException($"clEnqueueNDRangeKernel({Name})", status);
    }

    public void Dispose() => Cl.ReleaseKernel(Handle);
}
