using System;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Reference;

/// <summary>Float64 references of instance norm and local response normalization, from their definitions.</summary>
public static partial class ReferenceInterpreter
{
    /// <summary>x̂ per (example, channel) plane; with dy, the gradient through the mean and variance.</summary>
    internal static double[] InstanceNorm(Node node, double[] x, double[]? dy, long[] xs)
    {
        var eps = node.AttrDouble("eps");
        var hw = xs[2] * xs[3];
        var y = new double[x.Length];
        for (long plane = 0; plane < xs[0] * xs[1]; plane++)
        {
            var o = plane * hw;
            double mean = 0, variance = 0;
            for (long p = 0; p < hw; p++) mean += x[o + p];
            mean /= hw;
            for (long p = 0; p < hw; p++) variance += (x[o + p] - mean) * (x[o + p] - mean);
            var inv = 1 / Math.Sqrt(variance / hw + eps);
            if (dy is null)
            {
                for (long p = 0; p < hw; p++) y[o + p] = (x[o + p] - mean) * inv;
                continue;
            }
            double sd = 0, sdx = 0;
            for (long p = 0; p < hw; p++)
            {
                sd += dy[o + p];
                sdx += dy[o + p] * (x[o + p] - mean) * inv;
            }
            for (long p = 0; p < hw; p++) y[o + p] = (dy[o + p] - sd / hw - (x[o + p] - mean) * inv * sdx / hw) * inv;
        }
        return y;
    }

    /// <summary>b_c = a_c·s_c^−β with s_c = k + α·Σ_{window(c)} a_j²; with dy, the gradient through every s_j.</summary>
    internal static double[] Lrn(Node node, double[] x, double[]? dy, long[] xs)
    {
        var size = node.AttrInt("size");
        var alpha = node.AttrDouble("alpha");
        var beta = node.AttrDouble("beta");
        var k = node.AttrDouble("k");
        var (c, hw) = (xs[1], xs[2] * xs[3]);
        var result = new double[x.Length];
        for (long n = 0; n < xs[0]; n++)
            for (long p = 0; p < hw; p++)
            {
                long At(long ch) => (n * c + ch) * hw + p;
                var s = new double[c];
                for (long ch = 0; ch < c; ch++)
                {
                    var sum = 0.0;
                    for (var j = Math.Max(0, ch - size / 2); j <= Math.Min(c - 1, ch + (size - 1) / 2); j++) sum += x[At(j)] * x[At(j)];
                    s[ch] = k + alpha * sum;
                }
                for (long ch = 0; ch < c; ch++)
                {
                    if (dy is null)
                    {
                        result[At(ch)] = x[At(ch)] * Math.Pow(s[ch], -beta);
                        continue;
                    }
                    // ∂b_j/∂a_c = δ_jc·s_j^−β − 2αβ·a_j·a_c·s_j^(−β−1) for every j whose window holds c.
                    var g = dy[At(ch)] * Math.Pow(s[ch], -beta);
                    for (long j = 0; j < c; j++)
                        if (ch >= j - size / 2 && ch <= j + (size - 1) / 2)
                            g -= 2 * alpha * beta * dy[At(j)] * x[At(j)] * x[At(ch)] * Math.Pow(s[j], -beta - 1);
                    result[At(ch)] = g;
                }
            }
        return result;
    }
}
