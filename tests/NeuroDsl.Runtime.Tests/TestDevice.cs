using System;
using System.Linq;

namespace NeuroDsl.Runtime.Tests;

/// <summary>One OpenCL device for the whole test run (the default one, or NEURODSL_DEVICE).</summary>
public static class TestDevice
{
    private static readonly Lazy<Device> Shared = new(() => Device.Open());

    public static Device Instance => Shared.Value;
}

/// <summary>Random operands and their device buffers, for the tests that call the library's GEMM directly.</summary>
public static class TestBuffers
{
    /// <summary><paramref name="count"/> values uniform in [−1, 1).</summary>
    public static float[] Random(Random rng, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    /// <summary>A buffer on <paramref name="device"/> holding <paramref name="values"/>.</summary>
    public static DeviceBuffer Upload(Device device, float[] values)
    {
        var buffer = DeviceBuffer.Allocate(device, values.Length);
        buffer.Write<float>(values);
        return buffer;
    }
}
