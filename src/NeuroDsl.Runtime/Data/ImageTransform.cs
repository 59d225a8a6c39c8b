using System;

namespace NeuroDsl.Runtime.Data;

/// <summary>
/// Fits a stored image to a model's input: channels first (the same count copied; one grey channel replicated to
/// every channel; several averaged into one grey channel), then the plane (the same size copied; a side at most
/// <see cref="MaxPad"/> pixels larger padded around the centre with the background, 0 before normalization; any other
/// size resized bilinearly with half-pixel centres, as PyTorch's <c>interpolate(mode="bilinear",
/// align_corners=False)</c>), then each value normalized. Bytes are scaled by 1/255 first.
/// </summary>
public sealed record ImageTransform(ImageShape Source, ImageShape Target, Normalization Normalization)
{
    /// <summary>Padding up to this many pixels per side keeps the images' scale (28 → 32 for LeNet-5).</summary>
    public const int MaxPad = 4;

    private int[]? _x0, _y0;
    private float[]? _wx, _wy;

    public static ImageTransform Identity(ImageShape shape) => new(shape, shape, Normalization.UnitRange);

    /// <summary>A transform from <paramref name="source"/> to <paramref name="target"/>; refuses channel counts it cannot map.</summary>
    public static ImageTransform Fit(ImageShape source, ImageShape target, Normalization normalization)
    {
        if (source.Channels != target.Channels && source.Channels != 1 && target.Channels != 1)
            throw new ArgumentException($"images of {source.Channels} channels cannot feed a model of {target.Channels}; "
                + "the same count, one (replicated) or a model of one (averaged) can");
        if (target.Height <= 0 || target.Width <= 0 || target.Channels <= 0)
            throw new ArgumentException($"the target shape {target} is not an image");
        _ = checked(target.Elements * sizeof(float));
        return new ImageTransform(source, target, normalization);
    }

    /// <summary>How the plane is fitted, in words (for the command line's data line).</summary>
    public string Describe()
    {
        var channels = Source.Channels == Target.Channels ? "" : Source.Channels == 1 ? $", grey replicated to {Target.Channels} channels"
            : ", channels averaged to grey";
        var plane = Source.Height == Target.Height && Source.Width == Target.Width ? ""
            : IsPad ? $", padded to {Target.Height}×{Target.Width}" : $", resized to {Target.Height}×{Target.Width}";
        return $"{Source}{plane}{channels}";
    }

    private bool IsPad => Target.Height >= Source.Height && Target.Width >= Source.Width
                          && Target.Height - Source.Height <= MaxPad && Target.Width - Source.Width <= MaxPad;

    /// <summary>One stored image of bytes (0..255, scaled to [0, 1]) as the model takes it.</summary>
    public void Apply(ReadOnlySpan<byte> source, Span<float> destination) => ApplyCore(source, default, destination, 1f / 255f);

    /// <summary>One stored image of floats as the model takes it.</summary>
    public void Apply(ReadOnlySpan<float> source, Span<float> destination) => ApplyCore(default, source, destination, 1f);

    private static float Read(ReadOnlySpan<byte> bytes, ReadOnlySpan<float> floats, long index, float scale) =>
        bytes.Length > 0 ? bytes[(int)index] * scale : floats[(int)index];

    private void ApplyCore(ReadOnlySpan<byte> bytes, ReadOnlySpan<float> floats, Span<float> destination, float scale)
    {
        if (destination.Length != Target.Elements)
            throw new ArgumentException($"the destination holds {destination.Length} floats, not one image of {Target}");
        var plane = (int)((long)Target.Height * Target.Width);
        var sourcePlane = (long)Source.Height * Source.Width;
        // The first target channel from the source; the others copy it (grey replicated) or their own source channel.
        for (var c = 0; c < Target.Channels; c++)
        {
            var into = destination.Slice(c * plane, plane);
            if (Source.Channels == 1 && c > 0)
            {
                destination.Slice(0, plane).CopyTo(into);
                continue;
            }
            if (Source.Channels == Target.Channels) FitPlane(bytes, floats, c * sourcePlane, 1, into, scale);
            else FitPlane(bytes, floats, 0, Source.Channels, into, scale); // several channels to one: their mean
        }
    }

    /// <summary>One target plane from the source plane at <paramref name="offset"/> (the mean of <paramref name="planes"/> planes).</summary>
    private void FitPlane(ReadOnlySpan<byte> bytes, ReadOnlySpan<float> floats, long offset, int planes, Span<float> into, float scale)
    {
        int sh = Source.Height, sw = Source.Width, th = Target.Height, tw = Target.Width;
        if (sh == th && sw == tw)
        {
            for (var y = 0; y < th; y++)
                for (var x = 0; x < tw; x++) into[y * tw + x] = Normalization.Map(Pixel(bytes, floats, offset, planes, y, x, scale));
            return;
        }
        if (IsPad)
        {
            into.Fill(Normalization.Map(0f));
            int top = (th - sh) / 2, left = (tw - sw) / 2;
            for (var y = 0; y < sh; y++)
                for (var x = 0; x < sw; x++) into[(top + y) * tw + left + x] = Normalization.Map(Pixel(bytes, floats, offset, planes, y, x, scale));
            return;
        }
        EnsureTables();
        for (var y = 0; y < th; y++)
        {
            int y0 = _y0![y], y1 = Math.Min(y0 + 1, sh - 1);
            var wy = _wy![y];
            for (var x = 0; x < tw; x++)
            {
                int x0 = _x0![x], x1 = Math.Min(x0 + 1, sw - 1);
                var wx = _wx![x];
                var top = Pixel(bytes, floats, offset, planes, y0, x0, scale) * (1 - wx) + Pixel(bytes, floats, offset, planes, y0, x1, scale) * wx;
                var bottom = Pixel(bytes, floats, offset, planes, y1, x0, scale) * (1 - wx) + Pixel(bytes, floats, offset, planes, y1, x1, scale) * wx;
                into[y * tw + x] = Normalization.Map(top * (1 - wy) + bottom * wy);
            }
        }
    }

    private float Pixel(ReadOnlySpan<byte> bytes, ReadOnlySpan<float> floats, long offset, int planes, int y, int x, float scale)
    {
        var sourcePlane = (long)Source.Height * Source.Width;
        var sum = 0f;
        for (var p = 0; p < planes; p++) sum += Read(bytes, floats, offset + p * sourcePlane + (long)y * Source.Width + x, scale);
        return sum / planes;
    }

    /// <summary>Per target row and column: the source index below and the weight of the next (half-pixel centres).</summary>
    private void EnsureTables()
    {
        if (_x0 is not null) return;
        static (int[], float[]) Table(int source, int target)
        {
            var index = new int[target];
            var weight = new float[target];
            var ratio = (double)source / target;
            for (var i = 0; i < target; i++)
            {
                var s = Math.Max(0, (i + 0.5) * ratio - 0.5);
                var i0 = Math.Min((int)Math.Floor(s), source - 1);
                index[i] = i0;
                weight[i] = (float)(s - i0);
            }
            return (index, weight);
        }
        var (y0, wy) = Table(Source.Height, Target.Height);
        var (x0, wx) = Table(Source.Width, Target.Width);
        // _x0 last: it is what another thread's check reads.
        _y0 = y0;
        _wy = wy;
        _wx = wx;
        _x0 = x0;
    }
}
