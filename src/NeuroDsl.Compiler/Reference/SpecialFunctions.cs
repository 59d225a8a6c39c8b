using System;

namespace NeuroDsl.Compiler.Reference;

/// <summary>Float64 functions netstandard2.0's Math lacks, to a few ulps: references of erf and softplus.</summary>
public static class SpecialFunctions
{
    private const double TwoOverSqrtPi = 1.1283791670955126;
    private const double OneOverSqrtPi = 0.56418958354775628;

    /// <summary>
    /// The error function, |error| below 1e-15: for |x| &lt; 2.5 the series of positive terms
    /// erf(x) = 2/√π · x·e^(−x²) · Σ (2x²)ⁿ / (1·3·…·(2n+1)), which has no cancellation; beyond, 1 − erfc(x)
    /// with erfc's continued fraction (Abramowitz and Stegun 7.1.14), which converges fast there.
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        var ax = Math.Abs(x);
        if (ax < 2.5)
        {
            var x2 = x * x;
            double term = 1, sum = 1;
            for (var n = 1; term > 1e-17 * sum; n++)
            {
                term *= 2 * x2 / (2 * n + 1);
                sum += term;
            }
            return TwoOverSqrtPi * x * Math.Exp(-x2) * sum;
        }
        // From 6 on, erfc(x) < 2.2e-17 and 1 − erfc(x) rounds to 1 (and ±∞ needs no fraction).
        var erf = ax >= 6 ? 1 : 1 - Erfc(ax);
        return x < 0 ? -erf : erf;
    }

    /// <summary>erfc(x), x ≥ 2.5: e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by Lentz's method.</summary>
    private static double Erfc(double x)
    {
        const double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (var n = 1; n < 10_000; n++)
        {
            var a = n / 2.0;
            d = x + a * d;
            if (d == 0) d = tiny;
            c = x + a / c;
            if (c == 0) c = tiny;
            d = 1 / d;
            var delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return OneOverSqrtPi * Math.Exp(-x * x) / f;
    }

    /// <summary>e^z − 1, accurate for small z too (Kahan: the rounding of u = e^z cancels in (u − 1)/log u).</summary>
    public static double Expm1(double z)
    {
        var u = Math.Exp(z);
        if (u == 1) return z;
        var um1 = u - 1;
        if (um1 == -1 || double.IsPositiveInfinity(u)) return um1;
        return um1 * z / Math.Log(u);
    }

    /// <summary>log(1 + z), accurate for small z too (Goldberg's correction of the rounded 1 + z).</summary>
    public static double Log1p(double z)
    {
        var u = 1 + z;
        if (double.IsPositiveInfinity(u)) return u;
        return u == 1 ? z : Math.Log(u) * z / (u - 1);
    }
}
