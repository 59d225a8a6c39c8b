using System;

namespace NeuroDsl.Runtime;

/// <summary>
/// Parameter initialization on the host, once per model: each parameter draws from its own SplitMix64
/// stream seeded by the model seed and the parameter's name, so a seed reproduces every weight exactly
/// and adding a layer does not change the others.
/// </summary>
public static class Initializers
{
    public static void Fill(ParameterSpec p, Span<float> values, ulong seed)
    {
        var rng = new SplitMix64(seed ^ Fnv1a(p.Name));
        var fanIn = Math.Max(1, p.FanIn);
        var fanOut = Math.Max(1, p.FanOut);
        switch (p.Init)
        {
            case "zeros": values.Clear(); break;
            case "ones": values.Fill(1f); break;
            case "constant": values.Fill((float)p.A); break;
            case "uniform": Uniform(values, ref rng, p.A, p.B); break;
            case "normal": Normal(values, ref rng, p.A, p.B); break;
            case "glorot_uniform": Symmetric(values, ref rng, Math.Sqrt(6.0 / (fanIn + fanOut))); break;
            case "glorot_normal": Normal(values, ref rng, 0, Math.Sqrt(2.0 / (fanIn + fanOut))); break;
            case "he_uniform": Symmetric(values, ref rng, Math.Sqrt(6.0 / fanIn)); break;
            case "he_normal": Normal(values, ref rng, 0, Math.Sqrt(2.0 / fanIn)); break;
            case "lecun_uniform": Symmetric(values, ref rng, Math.Sqrt(3.0 / fanIn)); break;
            case "lecun_normal": Normal(values, ref rng, 0, Math.Sqrt(1.0 / fanIn)); break;
            // LeCun et al. 1998, appendix C: uniform in ±2.4 / fan-in.
            case "lecun98_uniform": Symmetric(values, ref rng, 2.4 / fanIn); break;
            // ±1 at random: stand-ins for the RBF layer's hand-drawn 7×12 bitmaps, which the paper does not list.
            case "bipolar":
                for (var i = 0; i < values.Length; i++) values[i] = (rng.Next() & 1) == 0 ? -1f : 1f;
                break;
            default: throw new ArgumentException($"unknown initializer '{p.Init}' for {p.Name}");
        }
        // A connection table leaves whole kernels out: they stay exactly zero.
        if (p.Mask is { } mask)
        {
            var block = values.Length / mask.Length;
            for (var m = 0; m < mask.Length; m++)
                if (mask[m] == 0) values.Slice(m * block, block).Clear();
        }
    }

    private static void Symmetric(Span<float> values, ref SplitMix64 rng, double limit) => Uniform(values, ref rng, -limit, limit);

    private static void Uniform(Span<float> values, ref SplitMix64 rng, double low, double high)
    {
        for (var i = 0; i < values.Length; i++) values[i] = (float)(low + (high - low) * rng.NextDouble());
    }

    private static void Normal(Span<float> values, ref SplitMix64 rng, double mean, double std)
    {
        for (var i = 0; i < values.Length; i++)
        {
            // Box–Muller; 1 - u keeps the logarithm finite.
            var u1 = 1.0 - rng.NextDouble();
            var u2 = rng.NextDouble();
            values[i] = (float)(mean + std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
    }

    internal static ulong Fnv1a(string s)
    {
        var h = 14695981039346656037UL;
        foreach (var c in s)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return h;
    }
}

/// <summary>SplitMix64 (Steele, Lea & Flood 2014): a small, fast, well-mixed 64-bit generator.</summary>
public struct SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    public int NextInt(int bound) => (int)((Next() >> 33) % (ulong)bound);
}
