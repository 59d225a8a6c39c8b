using System;
using NeuroDsl.Runtime.Tuning;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>The direct convolution's output pixels per work-item (ND_CONV_PIXELS) are the device's.</summary>
public sealed class ConvPixelsTests
{
    // The default: the most pixels whose float16 accumulators leave about 4 of the vector registers free, at most 8.
    [Theory]
    [InlineData(DeviceClass.Avx512, 32, 16, 8)]
    [InlineData(DeviceClass.Avx2, 16, 8, 4)]
    [InlineData(DeviceClass.GenericCpu, 16, 4, 2)]
    [InlineData(DeviceClass.GenericCpu, 32, 4, 4)]
    [InlineData(DeviceClass.GenericCpu, 8, 4, 1)]
    [InlineData(DeviceClass.Gpu, 0, 1, 8)]
    public void DefaultConvPixels_FitTheRegisters(DeviceClass cls, int registers, int floats, int expected)
    {
        var profile = new DeviceProfile("CPU", "v", "d", 2, floats, floats, 65536, true, 1024, cls, registers, floats, "isa", "test");
        Assert.Equal(expected, profile.ConvPixels);
    }
}
