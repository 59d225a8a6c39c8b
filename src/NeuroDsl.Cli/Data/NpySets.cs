using System;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime.Data;

namespace NeuroDsl.Cli.Data;

/// <summary>
/// <c>--data X.npy --labels Y.npy</c>: images as [count, C, H, W], [count, H, W, C] (C of 1, 3 or 4 last),
/// [count, H, W] or flat [count, D]; uint8 is scaled to [0, 1], floats are used as they are; labels are integers
/// 0..K−1, one per image. The last 10% are the test set.
/// </summary>
internal static class NpySets
{
    public static ImageSets Load(string xPath, string yPath, Func<ImageShape, ImageShape> target)
    {
        foreach (var p in new[] { xPath, yPath })
            if (!File.Exists(p)) throw new FileNotFoundException($"no such file: {p}");
        var x = Npy.Read(xPath);
        var y = Npy.Read(yPath);
        if (x.Shape.Length is < 2 or > 4) throw new InvalidDataException($"{xPath}: shape {x.ShapeText}; images are [count, C, H, W], [count, H, W] or [count, D]");
        if (y.Shape.Length != 1 || y.Shape[0] != x.Shape[0])
            throw new InvalidDataException($"{yPath}: shape {y.ShapeText}; the labels of {xPath} {x.ShapeText} are ({x.Shape[0]},)");
        var labels = y.Integers is { } ints ? ints
            : y.Floats is { } f && f.All(v => v == MathF.Floor(v)) ? f.Select(v => (long)v).ToArray()
            : y.Bytes is { } b ? b.Select(v => (long)v).ToArray()
            : throw new InvalidDataException($"{yPath}: labels must be integers (dtype {y.DType} has fractions)");
        if (labels.Length > 0 && (labels.Min() < 0 || labels.Max() > int.MaxValue - 1))
            throw new InvalidDataException($"{yPath}: a label is {(labels.Min() < 0 ? labels.Min() : labels.Max())}; labels are classes 0..K-1");
        var count = checked((int)x.Shape[0]);
        var (shape, channelsLast) = Shape(x, xPath);
        var classes = labels.Length == 0 ? 0 : (int)labels.Max() + 1;
        var name = Path.GetFileName(xPath);
        var intLabels = labels.Select(l => (int)l).ToArray();
        ImageDataSet all;
        if (x.Bytes is { } bytes)
            all = ImageDataSet.FromBytes(name, channelsLast ? ToChannelsFirst(bytes, count, shape) : bytes, intLabels, shape, classes);
        else if (x.Floats is { } floats)
            all = ImageDataSet.FromFloats(name, channelsLast ? ToChannelsFirst(floats, count, shape) : floats, intLabels, shape, classes);
        else
            all = ImageDataSet.FromFloats(name, x.Integers!.Select(v => (float)v).ToArray() is var g && channelsLast ? ToChannelsFirst(g, count, shape) : g,
                intLabels, shape, classes);
        var fitted = all.FittedTo(target(shape));
        var (train, test) = ImageSets.Split(fitted);
        return new ImageSets(train, test, name, $"{xPath} {x.ShapeText} {x.DType}, {yPath}");
    }

    private static (ImageShape Shape, bool ChannelsLast) Shape(NpyArray x, string path)
    {
        int Side(long v) => v is > 0 and <= int.MaxValue ? (int)v : throw new InvalidDataException($"{path}: a dimension of {v}");
        var s = x.Shape;
        return s.Length switch
        {
            2 => (new ImageShape(1, 1, Side(s[1])), false),
            3 => (new ImageShape(1, Side(s[1]), Side(s[2])), false),
            _ when s[3] is 1 or 3 or 4 && s[1] is not (1 or 3 or 4) => (new ImageShape(Side(s[3]), Side(s[1]), Side(s[2])), true),
            _ => (new ImageShape(Side(s[1]), Side(s[2]), Side(s[3])), false),
        };
    }

    private static T[] ToChannelsFirst<T>(T[] values, int count, ImageShape shape)
    {
        var result = new T[values.Length];
        long plane = (long)shape.Height * shape.Width, size = shape.Elements;
        for (long n = 0; n < count; n++)
            for (long p = 0; p < plane; p++)
                for (var c = 0; c < shape.Channels; c++)
                    result[n * size + c * plane + p] = values[n * size + p * shape.Channels + c];
        return result;
    }
}
