using System;
using System.Globalization;
using System.IO;
using System.Linq;

namespace NeuroDsl.Runtime.Data;

/// <summary>
/// Labelled single-channel images, preprocessed once: padded to the model's size (28×28 → 32×32 for LeNet-5,
/// as in the paper) and scaled to [0, 1] (or standardized). Row-major [count, 1, H, W] floats.
/// </summary>
public sealed class ImageDataSet
{
    public ImageDataSet(string name, float[] images, int[] labels, int height, int width, int classes)
    {
        Name = name;
        Images = images;
        Labels = labels;
        Height = height;
        Width = width;
        Classes = classes;
    }

    public string Name { get; }
    public float[] Images { get; }
    public int[] Labels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Classes { get; }
    public int Count => Labels.Length;
    public int ImageSize => Height * Width;

    /// <summary>Builds a set from IDX images and labels, centring each image in a size × size canvas.</summary>
    public static ImageDataSet FromIdx(string name, IdxArray images, IdxArray labels, int size, Normalization normalization)
    {
        if (images.Dims.Length != 3) throw new InvalidDataException($"{name}: images must be [count, rows, cols], got rank {images.Dims.Length}");
        if (labels.Dims.Length != 1 || labels.Count != images.Count)
            throw new InvalidDataException($"{name}: {labels.Count} labels for {images.Count} images");
        int rows = images.Dims[1], cols = images.Dims[2];
        if (size < rows || size < cols) throw new ArgumentException($"cannot fit {rows}×{cols} images into {size}×{size}");
        var top = (size - rows) / 2;
        var left = (size - cols) / 2;
        var scale = 1f / 255f;
        var background = normalization.Map(0f);
        // 60,000 images of 224×224 are 3.0 billion floats: more than one array holds, so say so (the product
        // overflowed int and gave an OverflowException from the allocation).
        var floats = (long)images.Count * size * size;
        if (floats > Array.MaxLength)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {images.Count:N0} images of {size}×{size} are {floats:N0} floats, more than one array holds ({Array.MaxLength:N0}); ")
                + "use a model that takes smaller images");
        var output = new float[floats];
        output.AsSpan().Fill(background);
        for (var i = 0; i < images.Count; i++)
            for (var r = 0; r < rows; r++)
                for (var c = 0; c < cols; c++)
                    output[((long)i * size + top + r) * size + left + c] = normalization.Map(images.Data[((long)i * rows + r) * cols + c] * scale);
        var classes = labels.Data.Max() + 1;
        return new ImageDataSet(name, output, labels.Data.Select(b => (int)b).ToArray(), size, size, classes);
    }

    /// <summary>The first <paramref name="count"/> examples (for fast tests).</summary>
    public ImageDataSet Take(int count)
    {
        count = Math.Min(count, Count);
        return new ImageDataSet(Name, Images.AsSpan(0, count * ImageSize).ToArray(), Labels.AsSpan(0, count).ToArray(), Height, Width, Classes);
    }
}

/// <summary>How pixel values in [0, 1] are mapped: unchanged, or standardized with a mean and deviation.</summary>
public sealed record Normalization(float Mean, float Std)
{
    public static readonly Normalization UnitRange = new(0f, 1f);

    public float Map(float v) => (v - Mean) / Std;
}
