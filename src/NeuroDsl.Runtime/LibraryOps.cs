using System.Collections.Concurrent;
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
        Kernels.GetOrAdd((device, name), key => new Kernel(key.Item1, ProgramCache.Get(key.Item1, LibraryKernels.Source, "-cl-std=CL1.2", "library"), key.Item2));

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
            kernel.Launch(n, m);
        }
    }
}
