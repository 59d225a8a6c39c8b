using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Data;
using SkiaSharp;

namespace NeuroDsl.Cli.Data;

/// <summary>
/// <c>--data DIR</c> of images: DIR/CLASS/*.png|jpg|jpeg, classes numbered by their folder names in ordinal order.
/// With DIR/train/ and DIR/test/ those are the two sets; otherwise the last 10% of the images (in name order) are
/// the test set. Each image is decoded (SkiaSharp) and scaled to the model's height and width as it is read, kept as
/// RGB bytes; the set then gives the model's channels (grey averaged from RGB, if the model takes one channel).
/// </summary>
internal static class ImageFolders
{
    private static readonly string[] Extensions = { ".png", ".jpg", ".jpeg" };

    public static ImageSets Load(string dir, Func<ImageShape, ImageShape> target)
    {
        // The shape is asked with the stored shape unknown (0×0×0): a flat model's D is read as S×S or 3×S×S.
        var shape = target(new ImageShape(3, 0, 0));
        var train = Path.Combine(dir, "train");
        var test = Path.Combine(dir, "test");
        if (Directory.Exists(train) && Directory.Exists(test))
        {
            var classes = ClassNames(train);
            var trainSet = Read(train, classes, shape);
            var testSet = Read(test, classes, shape);
            return new ImageSets(trainSet, testSet, Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)), $"{dir} (train/ and test/, {classes.Count} classes)");
        }
        var names = ClassNames(dir);
        var (a, b) = ImageSets.Split(Read(dir, names, shape, interleave: true));
        return new ImageSets(a, b, Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)),
            $"{dir} ({names.Count} classes: {string.Join(", ", names.Take(10))}{(names.Count > 10 ? ", …" : "")})");
    }

    private static List<string> ClassNames(string dir)
    {
        var names = Directory.GetDirectories(dir).Select(Path.GetFileName).Cast<string>().OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (names.Count == 0)
            throw new InvalidDataException($"{dir} has no class folders: put each class's images in DIR/CLASS/ (PNG or JPEG), "
                + "or give a directory of IDX files");
        return names;
    }

    /// <summary>
    /// Every image under dir/CLASS/, as RGB bytes of the target's height and width. With <paramref name="interleave"/>
    /// the last tenth of each class comes last, so that the held-out split has every class.
    /// </summary>
    private static ImageDataSet Read(string dir, List<string> classes, ImageShape shape, bool interleave = false)
    {
        var stored = new ImageShape(3, shape.Height, shape.Width);
        var files = new List<(string Path, int Label)>();
        foreach (var (name, label) in classes.Select((n, i) => (n, i)))
        {
            var folder = Path.Combine(dir, name);
            if (!Directory.Exists(folder)) continue;
            files.AddRange(Directory.GetFiles(folder).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .OrderBy(f => f, StringComparer.Ordinal).Select(f => (f, label)));
        }
        if (files.Count == 0) throw new InvalidDataException($"{dir}: no .png, .jpg or .jpeg files in its class folders");
        if (interleave)
        {
            var held = files.GroupBy(f => f.Label).SelectMany(g => g.Skip(g.Count() - Math.Max(1, g.Count() * ImageSets.HeldOutPercent / 100))).ToHashSet();
            files = files.Where(f => !held.Contains(f)).Concat(files.Where(held.Contains)).ToList();
        }
        var size = checked((int)stored.Elements);
        var pixels = new byte[checked((long)files.Count * size)];
        for (var i = 0; i < files.Count; i++) Decode(files[i].Path, shape, pixels.AsSpan(i * size, size));
        var labels = files.Select(f => f.Label).ToArray();
        return ImageDataSet.FromBytes(Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)), pixels, labels, stored, classes.Count)
            .FittedTo(shape);
    }

    private static void Decode(string path, ImageShape shape, Span<byte> into)
    {
        using var decoded = SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path}: not a PNG or JPEG image SkiaSharp can decode");
        var info = new SKImageInfo(shape.Width, shape.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var scaled = new SKBitmap(info);
        if (!decoded.ScalePixels(scaled, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None)))
            throw new InvalidDataException($"{path}: could not be scaled to {shape.Width}×{shape.Height}");
        var rgba = scaled.GetPixelSpan();
        var plane = shape.Height * shape.Width;
        for (var p = 0; p < plane; p++)
            for (var c = 0; c < 3; c++) into[c * plane + p] = rgba[p * 4 + c];
    }
}
