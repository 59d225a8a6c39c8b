using System;
using System.Collections.Generic;
using System.Linq;

namespace NeuroDsl.Runtime.Training;

/// <summary>A small in-memory data set of feature rows and one target per row, for the dense classics.</summary>
public sealed class SmallDataSet
{
    private SmallDataSet(string name, int features, float[] x, float[] y, float threshold, float negative)
    {
        Name = name;
        Features = features;
        X = x;
        Y = y;
        _threshold = threshold;
        _negative = negative;
    }

    private readonly float _threshold;
    private readonly float _negative;

    public string Name { get; }
    public int Features { get; }
    public float[] X { get; }
    public float[] Y { get; }
    public int Count => Y.Length;

    /// <summary>The four XOR patterns with targets 0/1 (Rumelhart, Hinton &amp; Williams 1986); an output above 0.5 says 1.</summary>
    public static SmallDataSet Xor() =>
        new("xor", 2, new float[] { 0, 0, 0, 1, 1, 0, 1, 1 }, new float[] { 0, 1, 1, 0 }, 0.5f, 0f);

    /// <summary>
    /// Linearly separable points in [-3, 3]² labelled ±1 by the line x + 0.75·y = 0.2, none closer to it than 0.3,
    /// as in Rosenblatt's convergence theorem; an output above 0 says +1.
    /// </summary>
    public static SmallDataSet Blobs(int count, ulong seed)
    {
        var rng = new SplitMix64(seed * 7919 + 17);
        var x = new List<float>();
        var y = new List<float>();
        while (y.Count < count)
        {
            var a = (float)(rng.NextDouble() * 6 - 3);
            var b = (float)(rng.NextDouble() * 6 - 3);
            var s = (a + 0.75f * b - 0.2f) / 1.25f;
            if (Math.Abs(s) < 0.3f) continue;
            x.Add(a);
            x.Add(b);
            y.Add(s > 0 ? 1f : -1f);
        }
        return new SmallDataSet("blobs", 2, x.ToArray(), y.ToArray(), 0f, -1f);
    }

    /// <summary>The first <paramref name="count"/> rows.</summary>
    public SmallDataSet Take(int count)
    {
        count = Math.Min(count, Count);
        return new SmallDataSet(Name, Features, X.AsSpan(0, checked(count * Features)).ToArray(), Y.AsSpan(0, count).ToArray(), _threshold, _negative);
    }

    /// <summary>The same rows with ±1 targets as 0/1 (for a sigmoid with mse or bce), read at 0.5.</summary>
    public SmallDataSet AsZeroOne() =>
        _negative == 0f ? this : new SmallDataSet(Name, Features, X, Y.Select(y => y > 0 ? 1f : 0f).ToArray(), 0.5f, 0f);

    /// <summary>Fraction of rows whose output, thresholded, equals the target.</summary>
    public double Accuracy(ReadOnlySpan<float> outputs)
    {
        var right = 0;
        for (var i = 0; i < Count; i++)
            if ((outputs[i] > _threshold ? 1f : _negative) == Y[i]) right++;
        return (double)right / Count;
    }
}
