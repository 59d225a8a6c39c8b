using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using NeuroDsl.Runtime.Data;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>IDX reading (plain, gzip, broken), Fashion-MNIST discovery and batching.</summary>
public sealed class DataTests
{
    [Fact]
    public void AnImageSetLargerThanAnArray_IsMadePerBatch_AndRefusedWhole_WithTheFigures_NotAnOverflow()
    {
        // 43,000 images scaled to 224×224 are 2.16 billion floats (int arithmetic gave a negative length): the set
        // makes them per example, and only asking for all at once is refused.
        var images = new IdxArray(new[] { 43_000, 1, 1 }, new byte[43_000]);
        var labels = new IdxArray(new[] { 43_000 }, new byte[43_000]);
        var set = ImageDataSet.FromIdx("big", images, labels, 224, Normalization.UnitRange);
        var one = new float[224 * 224];
        set.CopyExample(42_999, one);
        var e = Assert.Throws<InvalidDataException>(() => set.Images);
        Assert.Equal("big: 43,000 images of 1×224×224 are 2,157,568,000 floats, more than one array holds (2,147,483,591)", e.Message);
    }

    private static byte[] IdxBytes(byte[] dims, params int[] shape)
    {
        using var ms = new MemoryStream();
        ms.Write(new byte[] { 0, 0, 0x08, (byte)shape.Length });
        foreach (var d in shape) ms.Write(new[] { (byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d });
        ms.Write(dims);
        return ms.ToArray();
    }

    [Fact]
    public void Idx_ReadsPlainAndGzip_AndRefusesBrokenFiles()
    {
        var dir = Directory.CreateTempSubdirectory("idx").FullName;
        try
        {
            var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
            File.WriteAllBytes(Path.Combine(dir, "plain"), IdxBytes(data, 2, 3, 4));
            using (var f = File.Create(Path.Combine(dir, "packed.gz")))
            using (var gz = new GZipStream(f, CompressionLevel.Fastest))
                gz.Write(IdxBytes(data, 2, 3, 4));
            foreach (var name in new[] { "plain", "packed.gz" })
            {
                var a = Idx.Read(Path.Combine(dir, name));
                Assert.Equal(new[] { 2, 3, 4 }, a.Dims);
                Assert.Equal(data, a.Data);
            }
            File.WriteAllBytes(Path.Combine(dir, "short"), IdxBytes(data, 2, 3, 5));
            Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => Idx.Read(Path.Combine(dir, "short"))).Message);
            File.WriteAllBytes(Path.Combine(dir, "text"), "hello world"u8.ToArray());
            Assert.Contains("not an IDX file", Assert.Throws<InvalidDataException>(() => Idx.Read(Path.Combine(dir, "text"))).Message);
            // Four dimensions of 65,536 are 2^64 elements: a long wraps to 0; refused, not read as empty.
            File.WriteAllBytes(Path.Combine(dir, "huge"), IdxBytes(data, 65536, 65536, 65536, 65536));
            Assert.Contains("too many elements", Assert.Throws<InvalidDataException>(() => Idx.Read(Path.Combine(dir, "huge"))).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void FashionMnist_MissingFiles_NameTheDebianPackage()
    {
        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Locate(Path.GetTempPath()));
        Assert.Contains("train-images-idx3-ubyte", e.Message);
        if (!Directory.Exists(FashionMnist.DebianDirectory))
            Assert.Contains("dataset-fashion-mnist", Assert.Throws<FileNotFoundException>(() => FashionMnist.Locate(null)).Message);
    }

    [Fact]
    public void FashionMnist_LoadsPaddedAndScaled()
    {
        var (train, test) = FashionMnist.Load(null);
        Assert.Equal(60000, train.Count);
        Assert.Equal(10000, test.Count);
        Assert.Equal(32 * 32, train.ImageSize);
        Assert.Equal(10, train.Classes);
        Assert.All(train.Images.Take(32 * 32 * 100), v => Assert.InRange(v, 0f, 1f));
        // The 2-pixel border of the padding is background.
        Assert.Equal(0f, train.Images[0]);
        Assert.Equal(0f, train.Images[32 * 32 - 1]);
        Assert.Equal(10, train.Labels.Distinct().Count());
    }

    [Fact]
    public void BatchLoader_ShufflesBySeedAndEpoch_AndCoversEveryExampleOnce()
    {
        var images = Enumerable.Range(0, 100).Select(i => (float)i).ToArray();
        var set = new ImageDataSet("t", images, Enumerable.Range(0, 100).ToArray(), 1, 1, 100);
        int[] Epoch(ulong seed, int epoch)
        {
            using var loader = new BatchLoader(set, 10, seed, epoch);
            var seen = new System.Collections.Generic.List<int>();
            while (loader.Next() is { } b)
            {
                Assert.Equal(b.Labels.Select(l => (float)l), b.Images);
                seen.AddRange(b.Labels);
                loader.Return(b);
            }
            return seen.ToArray();
        }
        var a = Epoch(1, 1);
        Assert.Equal(Enumerable.Range(0, 100), a.OrderBy(x => x));
        Assert.Equal(a, Epoch(1, 1));
        Assert.NotEqual(a, Epoch(1, 2));
        Assert.NotEqual(a, Epoch(2, 1));
    }
}
