using System;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Runtime;

/// <summary>What a <see cref="KernelArg"/> holds.</summary>
public enum KernelArgKind
{
    Buffer,
    Int,
    Float,

    /// <summary>The model's training flag (1 or 0), kept current by the model.</summary>
    Training,

    /// <summary>The model's dropout seed.</summary>
    Seed,

    /// <summary>The model's forward-pass counter.</summary>
    Step,
}

/// <summary>A kernel argument: a buffer, an int or a float, or a value the model keeps current.</summary>
public readonly struct KernelArg
{
    private KernelArg(DeviceBuffer? buffer, int i, float f, KernelArgKind kind)
    {
        Buffer = buffer;
        Int = i;
        Float = f;
        Kind = kind;
    }

    public DeviceBuffer? Buffer { get; }
    public int Int { get; }
    public float Float { get; }
    public KernelArgKind Kind { get; }

    public static implicit operator KernelArg(DeviceBuffer b) => new(b, 0, 0, KernelArgKind.Buffer);
    public static KernelArg Of(int value) => new(null, value, 0, KernelArgKind.Int);
    public static KernelArg Of(float value) => new(null, 0, value, KernelArgKind.Float);

    /// <summary>Placeholders a model keeps current: training flag, dropout seed, forward-pass counter.</summary>
    internal static readonly KernelArg Training = new(null, 0, 0, KernelArgKind.Training);
    internal static readonly KernelArg Seed = new(null, 0, 0, KernelArgKind.Seed);
    internal static readonly KernelArg Step = new(null, 0, 0, KernelArgKind.Step);
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

    /// <summary>Work-items per work-group along dimension 1 for <see cref="LaunchLocal(long, long)"/> (the tiled GEMM's shape).</summary>
    public int GroupWidth { get; init; } = 1;

    /// <summary>Work-items per work-group along dimension 0 for <see cref="LaunchLocal(long, long)"/> (the tiled GEMM's shape).</summary>
    public int GroupHeight { get; init; } = 1;

    /// <summary>Rows and columns of C one work-group of a tiled GEMM computes (<see cref="GemmShape"/>); 1 × 1 otherwise.</summary>
    public (int Rows, int Columns) Tile { get; init; } = (1, 1);
    internal nint Handle { get; }

    public unsafe void Set(int index, KernelArg arg)
    {
        int status;
        switch (arg.Kind)
        {
            case KernelArgKind.Buffer:
                var handle = arg.Buffer!.Handle;
                status = Cl.SetKernelArg(Handle, (uint)index, (nuint)sizeof(nint), &handle);
                break;
            case KernelArgKind.Int:
                var i = arg.Int;
                status = Cl.SetKernelArg(Handle, (uint)index, sizeof(int), &i);
                break;
            case KernelArgKind.Float:
                var f = arg.Float;
                status = Cl.SetKernelArg(Handle, (uint)index, sizeof(float), &f);
                break;
            default:
                throw new ArgumentException($"{arg.Kind} is bound by the model, not set directly", nameof(arg));
        }
        if (status != 0) throw new ClException($"clSetKernelArg({Name}, {index})", status);
    }

    /// <summary>Sets every argument in order: argument i is <paramref name="args"/>[i].</summary>
    public void SetArgs(params KernelArg[] args)
    {
        for (var i = 0; i < args.Length; i++) Set(i, args[i]);
    }

    /// <summary>Enqueues the kernel over a 1-D or 2-D range; the driver picks the work-group size.</summary>
    public unsafe void Launch(long global0, long global1 = 0)
    {
        if (global0 <= 0 || global1 < 0) return;
        var global = stackalloc nuint[2];
        global[0] = (nuint)global0;
        global[1] = (nuint)Math.Max(1, global1);
        var status = Cl.EnqueueNDRangeKernel(_device.Queue, Handle, global1 > 0 ? 2u : 1u, global, null);
        if (status != 0) throw new ClException($"clEnqueueNDRangeKernel({Name})", status);
    }

    /// <summary>Enqueues <paramref name="groups"/> work-groups of <paramref name="lanes"/> work-items (a row kernel: a group per row).</summary>
    public unsafe void LaunchGroups(long groups, int lanes)
    {
        if (groups <= 0) return;
        var global = stackalloc nuint[1];
        var local = stackalloc nuint[1];
        global[0] = (nuint)(groups * lanes);
        local[0] = (nuint)lanes;
        var status = Cl.EnqueueNDRangeKernel(_device.Queue, Handle, 1, global, local);
        if (status != 0) throw new ClException($"clEnqueueNDRangeKernel({Name})", status);
    }

    /// <summary>
    /// Enqueues <paramref name="groups0"/> work-groups of <paramref name="width0"/> work-items along dimension 0, by
    /// <paramref name="global1"/> (and <paramref name="global2"/> where positive) single work-items: the attention
    /// kernels' GPU forms, a work-group per block of rows of one head.
    /// </summary>
    public unsafe void LaunchGroups(long groups0, int width0, long global1, long global2)
    {
        if (groups0 <= 0 || global1 <= 0 || global2 < 0) return;
        var global = stackalloc nuint[3];
        var local = stackalloc nuint[3];
        global[0] = (nuint)(groups0 * width0);
        global[1] = (nuint)global1;
        global[2] = (nuint)Math.Max(1, global2);
        local[0] = (nuint)width0;
        local[1] = 1;
        local[2] = 1;
        var status = Cl.EnqueueNDRangeKernel(_device.Queue, Handle, global2 > 0 ? 3u : 2u, global, local);
        if (status != 0) throw new ClException($"clEnqueueNDRangeKernel({Name})", status);
    }

    /// <summary>Enqueues the kernel over a 3-D range (a batch of 2-D ranges); the driver picks the work-group size.</summary>
    public unsafe void Launch(long global0, long global1, long global2)
    {
        if (global0 <= 0 || global1 <= 0 || global2 <= 0) return;
        var global = stackalloc nuint[3];
        global[0] = (nuint)global0;
        global[1] = (nuint)global1;
        global[2] = (nuint)global2;
        var status = Cl.EnqueueNDRangeKernel(_device.Queue, Handle, 3, global, null);
        if (status != 0) throw new ClException($"clEnqueueNDRangeKernel({Name})", status);
    }

    /// <summary>
    /// Enqueues <paramref name="groups0"/> × <paramref name="groups1"/> work-groups of <see cref="GroupHeight"/> ×
    /// <see cref="GroupWidth"/> work-items (what the kernel's reqd_work_group_size asks: 1 × 1 for the CPU GEMM, 16 × 16
    /// by default for the GPU one).
    /// </summary>
    public void LaunchLocal(long groups0, long groups1) => LaunchLocal(groups0, groups1, GroupHeight, GroupWidth);

    /// <summary>As <see cref="LaunchLocal(long, long)"/> with an explicit work-group shape.</summary>
    public unsafe void LaunchLocal(long groups0, long groups1, int height0, int width1)
    {
        if (groups0 <= 0 || groups1 <= 0) return;
        var global = stackalloc nuint[2];
        var local = stackalloc nuint[2];
        global[0] = (nuint)(groups0 * height0);
        global[1] = (nuint)(groups1 * width1);
        local[0] = (nuint)height0;
        local[1] = (nuint)width1;
        var status = Cl.EnqueueNDRangeKernel(_device.Queue, Handle, 2, global, local);
        if (status != 0) throw new ClException($"clEnqueueNDRangeKernel({Name})", status);
    }

    /// <summary>
    /// As <see cref="LaunchLocal(long, long)"/> over a batch of <paramref name="groups2"/> such ranges: work-groups
    /// of <see cref="GroupHeight"/> × <see cref="GroupWidth"/> × 1 (the batched tiled GEMM).
    /// </summary>
    public void LaunchLocal(long groups0, long groups1, long groups2) =>
        LaunchLocal(groups0, groups1, groups2, GroupHeight, GroupWidth);

    /// <summary>As <see cref="LaunchLocal(long, long, long)"/> with an explicit work-group shape.</summary>
    public unsafe void LaunchLocal(long groups0, long groups1, long groups2, int height0, int width1)
    {
        if (groups0 <= 0 || groups1 <= 0 || groups2 <= 0) return;
        var global = stackalloc nuint[3];
        var local = stackalloc nuint[3];
        global[0] = (nuint)(groups0 * height0);
        global[1] = (nuint)(groups1 * width1);
        global[2] = (nuint)groups2;
        local[0] = (nuint)height0;
        local[1] = (nuint)width1;
        local[2] = 1;
        var status = Cl.EnqueueNDRangeKernel(_device.Queue, Handle, 3, global, local);
        if (status != 0) throw new ClException($"clEnqueueNDRangeKernel({Name})", status);
    }

    public void Dispose() => Cl.ReleaseKernel(Handle);
}
