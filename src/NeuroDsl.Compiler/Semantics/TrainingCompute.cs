using System;
using System.Globalization;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>Rules of thumb for a model's training compute, from its trainable parameter count N.</summary>
public static class TrainingCompute
{
    /// <summary>
    /// Training FLOPs for D tokens: 6·N·D (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", section 2.1:
    /// 2·N forward and 4·N backward per token, attention's context-dependent term left out). GPT-3: 6 · 174.6e9 ·
    /// 300e9 ≈ 3.14e23, the figure of Brown et al. 2020, table D.1.
    /// </summary>
    public static double Flops(long parameters, double tokens) => 6.0 * parameters * tokens;

    /// <summary>
    /// The compute-optimal token count: about 20 tokens per parameter (Hoffmann et al. 2022, "Training
    /// Compute-Optimal Large Language Models", table 3: 70B parameters on 1.4T tokens).
    /// </summary>
    public static double OptimalTokens(long parameters) => 20.0 * parameters;

    /// <summary>A figure as a .nd file writes it: 3.143e23, and small ones in full (180).</summary>
    public static string Figure(double v) => Math.Abs(v) < 1e6 && v == Math.Floor(v)
        ? v.ToString("N0", CultureInfo.InvariantCulture)
        : v.ToString("0.###e0", CultureInfo.InvariantCulture);
}
