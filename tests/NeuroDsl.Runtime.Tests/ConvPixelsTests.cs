using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Runtime.Tuning;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// The direct convolution's output pixels per work-item (ND_CONV_PIXELS) are the device's, chosen when a model's program
/// is built: the op cases of conv_pixels.nd (rows whose blocks differ, forward with fused epilogues and as the input
/// gradient) run at every value against the float64 reference, each on a device of its own set to it.
/// </summary>
public sealed class ConvPixelsTests
{
    private static readonly int[] Values = { 1, 2, 4, 8, 16 };

    public static IEnumerable<object[]> Cases() =>
        ReferenceOps.Compile().Where(m => m.Name.StartsWith("OpConvPixels", StringComparison.Ordinal))
            .SelectMany(m => Values.Select(pixels => new object[] { m.Name, pixels }));

    [Fact]
    public void Cases_EachHaveAKernelWithAFormPerPixelBlock()
    {
        var models = ReferenceOps.Compile().Where(m => m.Name.StartsWith("OpConvPixels", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, models.Count);
        Assert.All(models, m => Assert.Contains(m.Plan.Forward, l => l.ByConvPixels is { Count: >= 1 }));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DirectConvolutions_MatchReference_AtEveryConvPixels(string name, int pixels)
    {
        using var device = Device.Open();
        device.GpuShapes = false;
        device.ConvPixels = pixels;
        KernelTests.Check(device, name, 1, true);
        KernelTests.Check(device, name, 37, true, inputGradients: true);
    }

    [Fact]
    public void ConvPixels_SetBeforeABuild_AreWhatTheModelRunsWith()
    {
        using var device = Device.Open();
        device.ConvPixels = 2;
        using var model = new OpConvPixels12(device, 2, seed: 1);
        device.ConvPixels = 16; // too late for this model: its program and its launches keep 2
        Assert.Equal(2, model.ConvPixels);
        using var wide = new OpConvPixels12(device, 2, seed: 1);
        Assert.Equal(16, wide.ConvPixels);
        Assert.Throws<ArgumentOutOfRangeException>(() => device.ConvPixels = 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => device.ConvPixels = 32);
        Assert.Throws<ArgumentOutOfRangeException>(() => device.ConvPixels = 0);
    }

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
