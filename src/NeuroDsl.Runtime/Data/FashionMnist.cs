using System;
using System.IO;
using System.Linq;

namespace NeuroDsl.Runtime.Data;

/// <summary>
/// Fashion-MNIST (Xiao, Rasul &amp; Vollgraf 2017): 60,000 training and 10,000 test images of 28×28, ten classes.
/// Found in a given directory, else where Debian's <c>dataset-fashion-mnist</c> package installs it.
/// </summary>
public static class FashionMnist
{
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";

    public static readonly string[] ClassNames =
        { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

    /// <summary>Finds the directory holding the four IDX files, or explains how to get them.</summary>
    public static string Locate(string? directory)
    {
        var candidates = directory is not null ? new[] { directory }
            : new[] { Environment.GetEnvironmentVariable("NEURODSL_FASHION_MNIST"), DebianDirectory }.Where(d => !string.IsNullOrEmpty(d)).Cast<string>().ToArray();
        foreach (var dir in candidates)
            if (Find(dir, "train-images-idx3-ubyte") is not null && Find(dir, "t10k-labels-idx1-ubyte") is not null)
                return dir;
        throw new FileNotFoundException(directory is not null
            ? $"Fashion-MNIST files not found in {directory}: expected train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]."
            : $"Fashion-MNIST not found in {DebianDirectory}. Install Debian's package: 'apt-get install dataset-fashion-mnist' (or pass --data-dir DIR with the four IDX files).");
    }

    /// <summary>The training and test sets as size × size single-channel images (28×28 padded to 32×32 by default).</summary>
    public static (ImageDataSet Train, ImageDataSet Test) Load(string? directory, int size = 32, Normalization? normalization = null) =>
        Load(directory, new ImageShape(1, size, size), normalization);

    /// <summary>
    /// The training and test sets fitted to <paramref name="target"/> (null: as stored, 1×28×28); images are made
    /// per batch, so any size costs the stored 55 MB only.
    /// </summary>
    public static (ImageDataSet Train, ImageDataSet Test) Load(string? directory, ImageShape? target, Normalization? normalization = null)
    {
        var dir = Locate(directory);
        normalization ??= Normalization.UnitRange;
        ImageDataSet Part(string prefix)
        {
            var images = Idx.Read(Require(dir, prefix + "-images-idx3-ubyte"));
            var labels = Idx.Read(Require(dir, prefix + "-labels-idx1-ubyte"));
            var native = images.Dims.Length == 3 ? new ImageShape(1, images.Dims[1], images.Dims[2]) : default;
            return ImageDataSet.FromIdx("fashion-mnist/" + prefix, images, labels, target ?? native, normalization);
        }
        return (Part("train"), Part("t10k"));
    }

    private static string Require(string dir, string stem) =>
        Find(dir, stem) ?? throw new FileNotFoundException($"{Path.Combine(dir, stem)}[.gz] is missing");

    private static string? Find(string dir, string stem)
    {
        foreach (var name in new[] { stem, stem + ".gz" })
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) return path;
        }
        return null;
    }
}
