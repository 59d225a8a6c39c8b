using System;
using System.Globalization;
using System.IO;
using System.Linq;

namespace NeuroDsl.Runtime.Data;

/// <summary>
/// Labelled images as a model takes them, [C, H, W] floats per example, made on demand from the stored source images
/// (bytes scaled by 1/255, or floats as given), so that 60,000 Fashion-MNIST images can feed a 3×224×224 model
/// without 36 GB of floats. The source is fitted to the model's shape (<see cref="ImageTransform"/>): channels
/// replicated (grey to RGB) or averaged (RGB to grey); a side at most 4 pixels larger padded around the centre
/// (Fashion-MNIST's 28×28 in LeNet-5's 32×32, as the paper does with MNIST), any other size resized bilinearly;
/// then normalized. Sizes are checked 64-bit arithmetic throughout.
/// </summary>
public sealed class ImageDataSet
{
    private readonly byte[]? _bytes;
    private readonly float[]? _floats;
    private readonly int[]? _select;
    private float[]? _materialized;

    /// <summary>A set of ready images, [count, 1, height, width] floats used as they are.</summary>
    public ImageDataSet(string name, float[] images, int[] labels, int height, int width, int classes)
        : this(name, null, images, labels, new ImageShape(1, height, width), classes, null, ImageTransform.Identity(new ImageShape(1, height, width)))
    {
        if (images.LongLength != checked((long)labels.Length * height * width))
            throw new ArgumentException($"{name}: {images.LongLength} floats are not {labels.Length} images of {height}×{width}");
    }

    private ImageDataSet(string name, byte[]? bytes, float[]? floats, int[] labels, ImageShape source, int classes, int[]? select,
        ImageTransform transform)
    {
        Name = name;
        _bytes = bytes;
        _floats = floats;
        _select = select;
        AllLabels = labels;
        Source = source;
        Classes = classes;
        Transform = transform;
        Labels = select is null ? labels : select.Select(i => labels[i]).ToArray();
    }

    /// <summary>Source images stored as bytes, [count, C, H, W] (pixels 0..255, mapped to [0, 1]).</summary>
    public static ImageDataSet FromBytes(string name, byte[] pixels, int[] labels, ImageShape source, int classes, Normalization? normalization = null)
    {
        CheckCount(name, pixels.LongLength, labels.Length, source);
        return new ImageDataSet(name, pixels, null, labels, source, classes, null,
            ImageTransform.Identity(source) with { Normalization = normalization ?? Normalization.UnitRange });
    }

    /// <summary>Source images stored as floats, [count, C, H, W], used as given (then normalized).</summary>
    public static ImageDataSet FromFloats(string name, float[] values, int[] labels, ImageShape source, int classes, Normalization? normalization = null)
    {
        CheckCount(name, values.LongLength, labels.Length, source);
        return new ImageDataSet(name, null, values, labels, source, classes, null,
            ImageTransform.Identity(source) with { Normalization = normalization ?? Normalization.UnitRange });
    }

    private static void CheckCount(string name, long values, int count, ImageShape source)
    {
        if (values != checked(count * source.Elements))
            throw new InvalidDataException($"{name}: {values:N0} values are not {count:N0} images of {source}");
    }

    /// <summary>Builds a set from IDX images [count, rows, cols] and labels, fitted to size × size single-channel images.</summary>
    public static ImageDataSet FromIdx(string name, IdxArray images, IdxArray labels, int size, Normalization normalization) =>
        FromIdx(name, images, labels, new ImageShape(1, size, size), normalization);

    /// <summary>Builds a set from IDX images [count, rows, cols] and labels, fitted to <paramref name="target"/>.</summary>
    public static ImageDataSet FromIdx(string name, IdxArray images, IdxArray labels, ImageShape target, Normalization normalization)
    {
        if (images.Dims.Length != 3) throw new InvalidDataException($"{name}: images must be [count, rows, cols], got rank {images.Dims.Length}");
        if (labels.Dims.Length != 1 || labels.Count != images.Count)
            throw new InvalidDataException($"{name}: {labels.Count} labels for {images.Count} images");
        var classes = labels.Data.Length == 0 ? 0 : labels.Data.Max() + 1;
        return FromBytes(name, images.Data, labels.Data.Select(b => (int)b).ToArray(), new ImageShape(1, images.Dims[1], images.Dims[2]),
            classes, normalization).FittedTo(target);
    }

    public string Name { get; }
    public int[] Labels { get; }
    private int[] AllLabels { get; }
    public int Classes { get; }

    /// <summary>The stored images' shape.</summary>
    public ImageShape Source { get; }

    /// <summary>How a stored image becomes one the model takes.</summary>
    public ImageTransform Transform { get; }

    /// <summary>The shape of the images this set yields.</summary>
    public ImageShape Shape => Transform.Target;

    public int Channels => Shape.Channels;
    public int Height => Shape.Height;
    public int Width => Shape.Width;
    public int Count => Labels.Length;

    /// <summary>Floats per image (C·H·W).</summary>
    public int ImageSize => checked((int)Shape.Elements);

    /// <summary>The same images fitted to another shape (channels replicated or averaged, padded or resized).</summary>
    public ImageDataSet FittedTo(ImageShape target) =>
        new(Name, _bytes, _floats, AllLabels, Source, Classes, _select, ImageTransform.Fit(Source, target, Transform.Normalization));

    /// <summary>The same images with another normalization.</summary>
    public ImageDataSet Normalized(Normalization normalization) =>
        new(Name, _bytes, _floats, AllLabels, Source, Classes, _select, Transform with { Normalization = normalization });

    /// <summary>The first <paramref name="count"/> examples.</summary>
    public ImageDataSet Take(int count) => Subset(Enumerable.Range(0, Math.Min(count, Count)).ToArray());

    /// <summary>The examples at the given positions of this set.</summary>
    public ImageDataSet Subset(int[] positions) =>
        new(Name, _bytes, _floats, AllLabels, Source, Classes, positions.Select(p => _select is null ? p : _select[p]).ToArray(), Transform);

    /// <summary>Writes example <paramref name="index"/> (as the model takes it) into <paramref name="destination"/>.</summary>
    public void CopyExample(int index, Span<float> destination)
    {
        var stored = _select is null ? index : _select[index];
        var size = Source.Elements;
        var start = checked(stored * size);
        if (_bytes is not null) Transform.Apply(_bytes.AsSpan(checked((int)start), (int)size), destination);
        else Transform.Apply(_floats!.AsSpan(checked((int)start), (int)size), destination);
    }

    /// <summary>Every image at once, [count, C, H, W] (for tests and small sets); refused when it would not fit one array.</summary>
    public float[] Images => _materialized ??= Materialize();

    private float[] Materialize()
    {
        var floats = checked(Count * Shape.Elements);
        if (floats > Array.MaxLength)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{Name}: {Count:N0} images of {Shape} are {floats:N0} floats, more than one array holds ({Array.MaxLength:N0})"));
        var output = new float[floats];
        var size = ImageSize;
        for (var i = 0; i < Count; i++) CopyExample(i, output.AsSpan(i * size, size));
        return output;
    }
}

/// <summary>An image's channels, height and width.</summary>
public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    public long Elements => checked((long)Channels * Height * Width);

    public override string ToString() => $"{Channels}×{Height}×{Width}";
}

/// <summary>How pixel values in [0, 1] are mapped: unchanged, or standardized with a mean and deviation.</summary>
public sealed record Normalization(float Mean, float Std)
{
    public static readonly Normalization UnitRange = new(0f, 1f);

    public float Map(float v) => (v - Mean) / Std;
}
