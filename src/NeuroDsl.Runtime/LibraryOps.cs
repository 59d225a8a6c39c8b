using System.Collections.Concurrent;
using System.Linq;
using NeuroDsl.Runtime.OpenCl;
using NeuroDsl.Runtime.Tuning;

namespace NeuroDsl.Runtime;

/// <summary>
/// The library kernels on their own, outside any model: for tests against references and for the benchmark.
/// The library program is built once per device and cached like a model's.
/// </summary>
public static class LibraryOps
{
    // By device, the GEMM parameters the kernel was built with (default: the device's) and name; the lookup never
    // touches the program cache, whose key hashes the whole source. The device's parameters come from the library
    // program, any others (a tuner's candidate) from gemm.cl built alone.
    private static readonly ConcurrentDictionary<(Device, GemmConfig, string), Kernel> Kernels = new();

    private static Kernel Get(Device device, string name, GemmConfig? config = null) =>
        Kernels.GetOrAdd((device, config ?? device.Gemm.Config, name), key => new Kernel(key.Item1,
            key.Item2 == key.Item1.Gemm.Config ? LibraryKernels.Program(key.Item1) : LibraryKernels.GemmProgram(key.Item1, key.Item2),
            key.Item3));

    /// <summary>Releases the library kernels created for a device (called when the device is disposed).</summary>
    internal static void Release(Device device)
    {
        foreach (var key in Kernels.Keys.Where(k => k.Item1 == device).ToList())
            if (Kernels.TryRemove(key, out var kernel)) kernel.Dispose();
    }

    /// <summary>Elements of the packed-B scratch the tiled GEMM needs for a K×N operand (panels of 32 or fewer columns).</summary>
    public static long PackedSize(int k, int n) => (long)(n + 31) / 32 * 32 * k;

    /// <summary>
    /// Enqueues C[M,N] = op(A)·op(B) (+ bias) with the register-tiled GEMM: B is packed into <paramref name="packed"/>
    /// (of <see cref="PackedSize"/> elements) first, or read in place where the parameters say so for this product
    /// (<see cref="LibraryKernels.InPlaceGemm"/>; never with <paramref name="inPlace"/> false). <paramref name="gpuShape"/>
    /// picks the variant (default: the device's); <paramref name="config"/> the parameters (default: the device's,
    /// <see cref="Device.Gemm"/>). <paramref name="activation"/> is gemm.cl's epilogue: 1–4 applied after the bias, 5–7
    /// the gradient gates, which read <paramref name="bias"/> as the activation's output [M, N] and add no bias.
    /// </summary>
    public static void GemmTiled(Device device, DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, DeviceBuffer packed,
        int m, int n, int k, bool transposeA, bool transposeB, DeviceBuffer? bias = null, bool? gpuShape = null,
        GemmConfig? config = null, bool inPlace = true, int activation = 0)
    {
        if (activation is < 0 or > 7 || (activation >= 5 && bias is null))
            throw new System.ArgumentOutOfRangeException(nameof(activation), activation, "0–7; 5–7 read the gate from bias");
        var gpu = gpuShape ?? LibraryKernels.IsGpuShape(device);
        var direct = inPlace && !transposeB
            ? LibraryKernels.InPlaceGemm(config ?? device.Gemm.Config, gpu, m, n, k, device.Info.ComputeUnits, transposeA)
            : null;
        var shape = direct ?? LibraryKernels.TiledGemm(config ?? device.Gemm.Config, gpu, false, m, n, 1,
            device.Info.ComputeUnits, transposeA);
        var gemm = Get(device, shape.Kernel, config);
        if (direct is null)
        {
            var pack = Get(device, "nd_gemm_pack_b_f32", config);
            lock (pack)
            {
                pack.SetArgs(KernelArg.Of(k), KernelArg.Of(n), KernelArg.Of(transposeB ? 1 : 0), b, packed);
                pack.Launch(PackedSize(k, n) / 32); // one work-item per row of a 32-column chunk
            }
        }
        lock (gemm)
        {
            gemm.SetArgs(KernelArg.Of(m), KernelArg.Of(n), KernelArg.Of(k), KernelArg.Of(transposeA ? 1 : 0), a,
                direct is null ? packed : b, bias ?? c, KernelArg.Of(bias is null || activation >= 5 ? 0 : 1), c,
                KernelArg.Of(activation));
            gemm.LaunchLocal((m + shape.Rows - 1) / shape.Rows, (n + shape.Columns - 1) / shape.Columns, shape.Height,
                shape.Width);
        }
    }

    /// <summary>
    /// Enqueues C[b] = op(A[b])·op(B[b]) for the <paramref name="batch"/> products of M×K by K×N matrices with the
    /// register-tiled GEMM in one pack and one product launch. A stride of 0 (<paramref name="broadcastA"/>,
    /// <paramref name="broadcastB"/>) gives every product the same matrix; <paramref name="packed"/> holds
    /// <see cref="PackedSize"/> elements per packed matrix of B (one when B is broadcast).
    /// </summary>
    public static void GemmTiledBatched(Device device, DeviceBuffer a, DeviceBuffer b, DeviceBuffer c,
        DeviceBuffer packed, int batch, int m, int n, int k, bool transposeA, bool transposeB,
        bool broadcastA = false, bool broadcastB = false, bool? gpuShape = null, GemmConfig? config = null)
    {
        var pack = Get(device, "nd_gemm_pack_b_batched_f32", config);
        var shape = LibraryKernels.TiledGemm(config ?? device.Gemm.Config, gpuShape ?? LibraryKernels.IsGpuShape(device),
            true, m, n, batch, device.Info.ComputeUnits, transposeA);
        var gemm = Get(device, shape.Kernel, config);
        lock (pack)
        {
            pack.SetArgs(KernelArg.Of(k), KernelArg.Of(n), KernelArg.Of(transposeB ? 1 : 0), b, packed,
                KernelArg.Of(broadcastB ? 0 : k * n));
            pack.Launch(PackedSize(k, n) / 32, broadcastB ? 1 : batch);
        }
        lock (gemm)
        {
            gemm.SetArgs(KernelArg.Of(m), KernelArg.Of(n), KernelArg.Of(k), KernelArg.Of(transposeA ? 1 : 0), a,
                packed, c, KernelArg.Of(0), KernelArg.Of(broadcastA ? 0 : m * k),
                KernelArg.Of(broadcastB ? 0 : checked((int)PackedSize(k, n))));
            gemm.LaunchLocal((m + shape.Rows - 1) / shape.Rows, (n + shape.Columns - 1) / shape.Columns, batch,
                shape.Height, shape.Width);
        }
    }

    /// <summary>
    /// Enqueues C[b] = op(A[b])·op(B[b]) for a batch of small products with the simple kernel (broadcasts as in
    /// <see cref="GemmTiledBatched"/>).
    /// </summary>
    public static void GemmBatched(Device device, DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int batch,
        int m, int n, int k, bool transposeA, bool transposeB, bool broadcastA = false, bool broadcastB = false)
    {
        var kernel = Get(device, "nd_gemm_batched_f32");
        lock (kernel)
        {
            kernel.SetArgs(KernelArg.Of(m), KernelArg.Of(n), KernelArg.Of(k), KernelArg.Of(transposeA ? 1 : 0),
                KernelArg.Of(transposeB ? 1 : 0), a, b, c, KernelArg.Of(0), KernelArg.Of(broadcastA ? 0 : m * k),
                KernelArg.Of(broadcastB ? 0 : k * n));
            kernel.Launch(n, m, batch);
        }
    }

    /// <summary>Enqueues C[M,N] = op(A)·op(B) (+ bias) with the library GEMM.</summary>
    public static void Gemm(Device device, DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k,
        bool transposeA, bool transposeB, DeviceBuffer? bias = null)
    {
        var kernel = Get(device, "nd_gemm_f32");
        lock (kernel)
        {
            kernel.SetArgs(KernelArg.Of(m), KernelArg.Of(n), KernelArg.Of(k), KernelArg.Of(transposeA ? 1 : 0),
                KernelArg.Of(transposeB ? 1 : 0), a, b, bias ?? c, KernelArg.Of(bias is null ? 0 : 1), c,
                KernelArg.Of(0));
            kernel.Launch(n, m);
        }
    }
}
