using System;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Data;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>Fitting stored images to a model's input: channels, padding, bilinear resizing, selection, and .npy files.</summary>
public sealed class ImageTransformTests
{
    private static byte[] Ramp(int count, int c, int h, int w) =>
        Enumerable.Range(0, count * c * h * w).Select(i => (byte)(i * 37 % 256)).ToArray();

    [Fact]
    public void GreyToRgb_ReplicatesTheChannel_AndPadsUpToFourPixels_AroundTheCentre()
    {
        var pixels = Ramp(2, 1, 28, 28);
        var set = ImageDataSet.FromBytes("t", pixels, new[] { 0, 1 }, new ImageShape(1, 28, 28), 2).FittedTo(new ImageShape(3, 32, 32));
        Assert.Equal(3 * 32 * 32, set.ImageSize);
        var image = new float[set.ImageSize];
        set.CopyExample(1, image);
        for (var c = 0; c < 3; c++)
            for (var y = 0; y < 32; y++)
                for (var x = 0; x < 32; x++)
                {
                    var inside = y is >= 2 and < 30 && x is >= 2 and < 30;
                    var expected = inside ? pixels[784 + (y - 2) * 28 + x - 2] / 255f : 0f;
                    Assert.Equal(expected, image[c * 1024 + y * 32 + x], 1e-6);
                }
    }

    [Fact]
    public void Resize_IsBilinearWithHalfPixelCentres_AsPyTorchInterpolate()
    {
        // Reference in float64: torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False).
        const int sh = 5, sw = 7, th = 12, tw = 9;
        var rng = new Random(3);
        var source = Enumerable.Range(0, sh * sw).Select(_ => (float)rng.NextDouble()).ToArray();
        var set = ImageDataSet.FromFloats("t", source, new[] { 0 }, new ImageShape(1, sh, sw), 1).FittedTo(new ImageShape(1, th, tw));
        var image = new float[th * tw];
        set.CopyExample(0, image);
        static (int, int, double) Axis(int i, int s, int t)
        {
            var x = Math.Max(0, (i + 0.5) * s / t - 0.5);
            var i0 = Math.Min((int)Math.Floor(x), s - 1);
            return (i0, Math.Min(i0 + 1, s - 1), x - i0);
        }
        for (var y = 0; y < th; y++)
            for (var x = 0; x < tw; x++)
            {
                var (y0, y1, wy) = Axis(y, sh, th);
                var (x0, x1, wx) = Axis(x, sw, tw);
                double P(int r, int c) => source[r * sw + c];
                var expected = (P(y0, x0) * (1 - wx) + P(y0, x1) * wx) * (1 - wy) + (P(y1, x0) * (1 - wx) + P(y1, x1) * wx) * wy;
                Assert.Equal(expected, image[y * tw + x], 1e-6);
            }
        // Down-sizing and a constant image: every value stays the constant.
        var flat = ImageDataSet.FromFloats("c", Enumerable.Repeat(0.25f, 3 * 40 * 40).ToArray(), new[] { 0 }, new ImageShape(3, 40, 40), 1)
            .FittedTo(new ImageShape(1, 13, 13));
        var small = new float[169];
        flat.CopyExample(0, small);
        Assert.All(small, v => Assert.Equal(0.25, v, 1e-6));
    }

    [Fact]
    public void RgbToGrey_AveragesTheChannels_AndNormalizationApplies()
    {
        var rgb = new byte[] { 30, 60, 90, 120 }.Concat(new byte[] { 0, 0, 0, 0 }).Concat(new byte[] { 255, 255, 255, 255 }).ToArray();
        var set = ImageDataSet.FromBytes("t", rgb, new[] { 0 }, new ImageShape(3, 2, 2), 1)
            .FittedTo(new ImageShape(1, 2, 2)).Normalized(new Normalization(0.5f, 0.25f));
        var image = new float[4];
        set.CopyExample(0, image);
        Assert.Equal(((30 + 0 + 255) / 3.0 / 255 - 0.5) / 0.25, image[0], 1e-5);
        Assert.Throws<ArgumentException>(() => set.FittedTo(new ImageShape(2, 2, 2)).FittedTo(new ImageShape(4, 2, 2)));
    }

    [Fact]
    public void TakeAndSubset_SelectExamples_WithTheirLabels()
    {
        var pixels = Enumerable.Range(0, 10).Select(i => (byte)i).ToArray();
        var set = ImageDataSet.FromBytes("t", pixels, Enumerable.Range(0, 10).ToArray(), new ImageShape(1, 1, 1), 10);
        var picked = set.Subset(new[] { 7, 2, 9 }).Take(2);
        Assert.Equal(new[] { 7, 2 }, picked.Labels);
        Assert.Equal(2, picked.Images.Length);
        Assert.Equal(7 / 255.0, picked.Images[0], 1e-7);
        Assert.Equal(2 / 255.0, picked.Images[1], 1e-7);
    }

    [Fact]
    public void Npy_RoundTripsFloats_AndReadsBytesAndIntegers_AndRefusesFortranOrder()
    {
        var dir = Directory.CreateTempSubdirectory("npy").FullName;
        try
        {
            var path = Path.Combine(dir, "x.npy");
            Npy.Write(path, new long[] { 2, 3 }, new[] { 1f, 2f, 3f, 4f, 5f, -6.5f });
            var x = Npy.Read(path);
            Assert.Equal(new long[] { 2, 3 }, x.Shape);
            Assert.Equal(new[] { 1f, 2f, 3f, 4f, 5f, -6.5f }, x.Floats);
            var labels = Path.Combine(dir, "y.npy");
            Npy.Write(labels, new long[] { 3 }, "<i8", new long[] { 0, 9, 4 }.SelectMany(BitConverter.GetBytes).ToArray());
            Assert.Equal(new long[] { 0, 9, 4 }, Npy.Read(labels).Integers);
            var bytes = Path.Combine(dir, "b.npy");
            Npy.Write(bytes, new long[] { 2 }, "|u1", new byte[] { 7, 250 });
            Assert.Equal(new byte[] { 7, 250 }, Npy.Read(bytes).Bytes);
            var fortran = File.ReadAllBytes(path);
            var at = fortran.AsSpan().IndexOf("False"u8);
            "True "u8.CopyTo(fortran.AsSpan(at));
            File.WriteAllBytes(path, fortran);
            Assert.Contains("Fortran order", Assert.Throws<InvalidDataException>(() => Npy.Read(path)).Message);
            File.WriteAllBytes(path, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 });
            Assert.Contains("not a .npy file", Assert.Throws<InvalidDataException>(() => Npy.Read(path)).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
