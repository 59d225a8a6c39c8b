using System;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Data;

namespace NeuroDsl.Cli.Data;

/// <summary>A training and a test set of labelled images, with a line saying where they came from.</summary>
internal sealed record ImageSets(ImageDataSet Train, ImageDataSet Test, string Name, string Source)
{
    /// <summary>The share of a set without its own test part that is held out for testing (its last examples).</summary>
    public const int HeldOutPercent = 10;

    /// <summary>
    /// Resolves <c>--data</c>: <c>fashion-mnist</c> (Debian's package or --data-dir), a directory of IDX files, a
    /// directory of class folders of PNG/JPEG images, or X.npy with --labels Y.npy. <paramref name="target"/> maps the
    /// set's stored shape to the model's; the sets come back fitted to it.
    /// </summary>
    public static ImageSets Load(string data, string? dataDir, string? labels, Func<ImageShape, ImageShape> target)
    {
        if (labels is not null && !data.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"--labels goes with --data X.npy; --data {data} has its own labels");
        if (dataDir is not null && data != "fashion-mnist")
            throw new UsageException($"--data-dir goes with --data fashion-mnist; for a directory give --data {dataDir}");
        if (data == "fashion-mnist") return Idx("fashion-mnist", FashionMnist.Locate(dataDir), target);
        if (data.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            if (labels is null) throw new UsageException($"--data {data} needs --labels Y.npy (one integer class per example)");
            return NpySets.Load(data, labels, target);
        }
        if (Directory.Exists(data))
        {
            if (IsIdx(data)) return Idx(Path.GetFileName(Path.TrimEndingDirectorySeparator(data)), data, target);
            return ImageFolders.Load(data, target);
        }
        if (File.Exists(data))
            throw new UsageException($"--data {data}: a file is read as NumPy (.npy, with --labels Y.npy); for images give their directory");
        if (data.Contains('/') || data.Contains('.')) throw new DirectoryNotFoundException($"--data {data}: no such file or directory");
        throw new UsageException($"unknown data set '{data}'; give xor, blobs, fashion-mnist, a directory (IDX files or class "
            + "folders of images) or X.npy with --labels Y.npy");
    }

    private static bool IsIdx(string dir) =>
        File.Exists(Path.Combine(dir, "train-images-idx3-ubyte")) || File.Exists(Path.Combine(dir, "train-images-idx3-ubyte.gz"));

    private static ImageSets Idx(string name, string dir, Func<ImageShape, ImageShape> target)
    {
        var (train, test) = FashionMnist.Load(dir, (ImageShape?)null);
        var shape = target(train.Source);
        return new ImageSets(train.FittedTo(shape), test.FittedTo(shape), name, dir);
    }

    /// <summary>Splits one labelled set: the last <see cref="HeldOutPercent"/>% (at least one example) for testing.</summary>
    public static (ImageDataSet Train, ImageDataSet Test) Split(ImageDataSet all)
    {
        if (all.Count < 2) throw new InvalidDataException($"{all.Name}: {all.Count} example; a set needs two at least (one to train, one to test)");
        var test = Math.Max(1, all.Count * HeldOutPercent / 100);
        var trainCount = all.Count - test;
        return (all.Subset(Enumerable.Range(0, trainCount).ToArray()), all.Subset(Enumerable.Range(trainCount, test).ToArray()));
    }
}
