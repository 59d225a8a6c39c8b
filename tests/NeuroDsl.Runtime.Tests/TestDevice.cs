using System;

namespace NeuroDsl.Runtime.Tests;

/// <summary>One OpenCL device for the whole test run (the default one, or NEURODSL_DEVICE).</summary>
public static class TestDevice
{
    private static readonly Lazy<Device> Shared = new(() => Device.Open());

    public static Device Instance => Shared.Value;
}
