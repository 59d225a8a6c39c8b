using System;

namespace NeuroDsl.Runtime.Generation;

/// <summary>
/// Picks the next token from one row of logits: greedy (temperature 0: the largest logit) or sampled from
/// softmax(logits / temperature), optionally restricted to the k largest logits (top-k).
/// </summary>
public static class Sampler
{
    public static int Pick(ReadOnlySpan<float> logits, double temperature, int topK, ref SplitMix64 rng)
    {
        if (logits.Length == 0) throw new ArgumentException("no logits");
        if (temperature <= 0 || topK == 1) return ArgMax(logits);
        // The k-th largest logit is the cut: logits below it get no probability (ties at the cut all stay).
        var cut = double.NegativeInfinity;
        if (topK > 0 && topK < logits.Length)
        {
            var sorted = logits.ToArray();
            Array.Sort(sorted);
            cut = sorted[^topK];
        }
        var max = logits[ArgMax(logits)];
        Span<double> weights = logits.Length <= 4096 ? stackalloc double[logits.Length] : new double[logits.Length];
        var total = 0.0;
        for (var i = 0; i < logits.Length; i++)
        {
            weights[i] = logits[i] >= cut ? Math.Exp((logits[i] - max) / temperature) : 0;
            total += weights[i];
        }
        var u = rng.NextDouble() * total;
        for (var i = 0; i < logits.Length; i++)
        {
            u -= weights[i];
            if (u < 0 && weights[i] > 0) return i;
        }
        for (var i = logits.Length - 1; i >= 0; i--)
            if (weights[i] > 0) return i;
        return ArgMax(logits);
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
