using System.Collections.Concurrent;
using System.Linq;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Runtime;

/// <summary>
/// The library kernels on their own, outside any model: for tests against references and for the benchmark.
/// The library program is built once per device and cached like a model's.
/// </summary>
public static class LibraryOps
{
    private static readonly ConcurrentDictionary<(Device, string), Kernel> Kernels = new();

    private static Kernel Get(Device device, string name) =>
        Kernels.GetOrAdd((device, name), key => new Kernel(key.Item1, LibraryKernels.Program(key.Item1), key.Item2));

    /// <summary>Releases the library kernels created for a device (called when the device is disposed).</summary>
    internal static void Release(Device device)
    {
        foreach (var key in Kernels.Keys.Where(k => k.Item1 == device).ToList())
            if (Kernels.TryRemove(key, out var kernel)) kernel.Dispose();
    }

    /// <summary>Elements of the packed-B scratch the tiled GEMM needs for a K×N operand.</summary>
    public static long PackedSize(int k, int n) => (long)(n + 31) / 32 * 32 * k;

    /// <summary>
    /// Enqueues C[M,N] = op(A)·op(B) (+ bias) with the register-tiled GEMM: B is packed into <paramref name="packed"/>
    /// (of <see cref="PackedSize"/> elements) first. <paramref name="gpuShape"/> picks the variant (default: the device's).
    /// </summary>
    public static void GemmTiled(Device device, DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, DeviceBuffer packed,
        int m, int n, int k, bool transposeA, bool transposeB, DeviceBuffer? bias = null, bool? gpuShape = null)
    {
        var pack = Get(device, "nd_gemm_pack_b_f32");
        var (variant, width) = gpuShape is { } shape ? LibraryKernels.TiledGemm(shape) : LibraryKernels.TiledGemm(device);
        var gemm = Get(device, variant);
        lock (pack)
        {
            pack.Set(0, KernelArg.Of(k));
            pack.Set(1, KernelArg.Of(n));
            pack.Set(2, KernelArg.Of(transposeB ? 1 : 0));
            pack.Set(3, b);
            pack.Set(4, packed);
            pack.Launch(PackedSize(k, n) / 32); // one work-item per panel row of 32
        }
        lock (gemm)
        {
            gemm.Set(0, KernelArg.Of(m));
            gemm.Set(1, KernelArg.Of(n));
            gemm.Set(2, KernelArg.Of(k));
            gemm.Set(3, KernelArg.Of(transposeA ? 1 : 0));
            gemm.Set(4, a);
            gemm.Set(5, packed);
            gemm.Set(6, bias ?? c);
            gemm.Set(7, KernelArg.Of(bias is null ? 0 : 1));
            gemm.Set(8, c);
            gemm.Set(9, KernelArg.Of(0));
            gemm.LaunchLocal((m + 11) / 12, (n + 31) / 32, width);
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
        bool broadcastA = false, bool broadcastB = false, bool? gpuShape = null)
    {
        var pack = Get(device, "nd_gemm_pack_b_batched_f32");
        var (variant, width) = LibraryKernels.TiledGemmBatched(gpuShape ?? LibraryKernels.IsGpuShape(device));
        var gemm = Get(device, variant);
        lock (pack)
        {
            pack.Set(0, KernelArg.Of(k));
            pack.Set(1, KernelArg.Of(n));
            pack.Set(2, KernelArg.Of(transposeB ? 1 : 0));
            pack.Set(3, b);
            pack.Set(4, packed);
            pack.Set(5, KernelArg.Of(broadcastB ? 0 : k * n));
            pack.Launch(PackedSize(k, n) / 32, broadcastB ? 1 : batch);
        }
        lock (gemm)
        {
            gemm.Set(0, KernelArg.Of(m));
            gemm.Set(1, KernelArg.Of(n));
            gemm.Set(2, KernelArg.Of(k));
            gemm.Set(3, KernelArg.Of(transposeA ? 1 : 0));
            gemm.Set(4, a);
            gemm.Set(5, packed);
            gemm.Set(6, c);
            gemm.Set(7, KernelArg.Of(0));
            gemm.Set(8, KernelArg.Of(broadcastA ? 0 : m * k));
            gemm.Set(9, KernelArg.Of(broadcastB ? 0 : checked((int)PackedSize(k, n))));
            gemm.LaunchLocal((m + 11) / 12, (n + 31) / 32, batch, width);
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
            kernel.Set(0, KernelArg.Of(m));
            kernel.Set(1, KernelArg.Of(n));
            kernel.Set(2, KernelArg.Of(k));
            kernel.Set(3, KernelArg.Of(transposeA ? 1 : 0));
            kernel.Set(4, KernelArg.Of(transposeB ? 1 : 0));
            kernel.Set(5, a);
            kernel.Set(6, b);
            kernel.Set(7, c);
            kernel.Set(8, KernelArg.Of(0));
            kernel.Set(9, KernelArg.Of(broadcastA ? 0 : m * k));
            kernel.Set(10, KernelArg.Of(broadcastB ? 0 : k * n));
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
            kernel.Set(0, KernelArg.Of(m));
            kernel.Set(1, KernelArg.Of(n));
            kernel.Set(2, KernelArg.Of(k));
            kernel.Set(3, KernelArg.Of(transposeA ? 1 : 0));
            kernel.Set(4, KernelArg.Of(transposeB ? 1 : 0));
            kernel.Set(5, a);
            kernel.Set(6, b);
            kernel.Set(7, bias ?? c);
            kernel.Set(8, KernelArg.Of(bias is null ? 0 : 1));
            kernel.Set(9, c);
            kernel.Set(10, KernelArg.Of(0));
            kernel.Launch(n, m);
        }
    }
}
