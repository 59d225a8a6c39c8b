using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Reference;

/// <summary>Float64 references of the structured ops, written from their definitions (not from the kernels).</summary>
public static partial class ReferenceInterpreter
{
    /// <summary>Symbols the reference reads besides sizes: training mode (1/0), dropout seed and step.</summary>
    public const string TrainingSymbol = "__training";
    public const string SeedSymbol = "__seed";
    public const string StepSymbol = "__step";

    internal static double[] Structured(Node node, double[][] ins, long[][] shapes, long[] outShape, IReadOnlyDictionary<string, long> symbols)
    {
        var training = !symbols.TryGetValue(TrainingSymbol, out var t) || t != 0;
        switch (node.Op)
        {
            case "bn_stats": return BnStats(node, ins[0], ins[1], ins[2], shapes[0], training);
            case "bn_apply": return BnMap(shapes[0], (i, c) => (ins[0][i] - ins[1][c]) * ins[1][shapes[0][1] + c] * ins[2][c] + ins[3][c]);
            case "bn_grad_params": return BnGradParams(ins[0], ins[1], ins[2], shapes[0]);
            case "bn_grad_input":
            {
                var ch = shapes[0][1];
                var m = Numel(shapes[0]) / ch;
                return BnMap(shapes[0], (i, c) =>
                {
                    var g = ins[2][c] * ins[1][ch + c];
                    if (!training) return g * ins[3][i];
                    var xhat = (ins[0][i] - ins[1][c]) * ins[1][ch + c];
                    return g * (ins[3][i] - (ins[4][ch + c] + xhat * ins[4][c]) / m);
                });
            }
            case "dropout":
            case "dropout_grad":
            {
                if (!training) return (double[])ins[0].Clone();
                var p = node.AttrDouble("p");
                var threshold = (uint)Math.Min(uint.MaxValue, Math.Round(p * 4294967296.0));
                var seed = (uint)(symbols.TryGetValue(SeedSymbol, out var s) ? s : 0);
                var step = (uint)(symbols.TryGetValue(StepSymbol, out var st) ? st : 0);
                var stream = (uint)node.AttrInt("stream");
                return ins[0].Select((v, i) => DropoutHash(seed, step, stream, (uint)i) >= threshold ? v / (1 - p) : 0).ToArray();
            }
            case "rbf": return Rbf(ins[0], ins[1], shapes[1]);
            case "rbf_grad_input":
            case "rbf_grad_weight": return RbfGrad(node.Op, ins[0], ins[1], ins[2], shapes[0], shapes[1]);
            case "instance_norm": return InstanceNorm(node, ins[0], null, shapes[0]);
            case "instance_norm_grad": return InstanceNorm(node, ins[0], ins[1], shapes[0]);
            case "lrn": return Lrn(node, ins[0], null, shapes[0]);
            case "lrn_grad": return Lrn(node, ins[0], ins[1], shapes[0]);
            default: throw new InvalidOperationException("no reference for " + node.Op);
        }
    }

    /// <summary>The dropout mask's hash, bit for bit as the kernel computes it.</summary>
    public static uint DropoutHash(uint seed, uint step, uint stream, uint index) =>
        Mix(seed ^ Mix(step ^ Mix(stream ^ Mix(index))));

    internal static uint Mix(uint h)
    {
        unchecked
        {
            h ^= h >> 16;
            h *= 0x7feb352dU;
            h ^= h >> 15;
            h *= 0x846ca68bU;
            h ^= h >> 16;
            return h;
        }
    }

    internal static double[] BnMap(long[] xs, Func<long, long, double> f)
    {
        var hw = xs.Skip(2).Aggregate(1L, (a, b) => a * b);
        var y = new double[Numel(xs)];
        for (long i = 0; i < y.Length; i++) y[i] = f(i, i / hw % xs[1]);
        return y;
    }

    internal static IEnumerable<long> ChannelIndices(long[] xs, long c)
    {
        var hw = xs.Skip(2).Aggregate(1L, (a, b) => a * b);
        for (long n = 0; n < xs[0]; n++)
            for (long p = 0; p < hw; p++) yield return (n * xs[1] + c) * hw + p;
    }

    internal static double[] BnStats(Node node, double[] x, double[] runningMean, double[] runningVar, long[] xs, bool training)
    {
        var ch = xs[1];
        var eps = node.AttrDouble("eps");
        var stats = new double[2 * ch];
        for (long c = 0; c < ch; c++)
        {
            if (!training)
            {
                stats[c] = runningMean[c];
                stats[ch + c] = 1 / Math.Sqrt(runningVar[c] + eps);
                continue;
            }
            var values = ChannelIndices(xs, c).Select(i => x[i]).ToList();
            var mean = values.Average();
            stats[c] = mean;
            stats[ch + c] = 1 / Math.Sqrt(values.Average(v => (v - mean) * (v - mean)) + eps);
        }
        return stats;
    }

    internal static double[] BnGradParams(double[] x, double[] stats, double[] dy, long[] xs)
    {
        var ch = xs[1];
        var sums = new double[2 * ch];
        for (long c = 0; c < ch; c++)
            foreach (var i in ChannelIndices(xs, c))
            {
                sums[c] += dy[i] * (x[i] - stats[c]) * stats[ch + c];
                sums[ch + c] += dy[i];
            }
        return sums;
    }

    internal static double[] Rbf(double[] x, double[] w, long[] ws)
    {
        long units = ws[0], d = ws[1], rows = x.Length / d;
        var y = new double[rows * units];
        for (long n = 0; n < rows; n++)
            for (long u = 0; u < units; u++)
                for (long j = 0; j < d; j++) y[n * units + u] += Math.Pow(x[n * d + j] - w[u * d + j], 2);
        return y;
    }

    internal static double[] RbfGrad(string op, double[] x, double[] w, double[] dy, long[] xs, long[] ws)
    {
        long units = ws[0], d = ws[1], rows = x.Length / d;
        var g = new double[op == "rbf_grad_input" ? x.Length : w.Length];
        for (long n = 0; n < rows; n++)
            for (long u = 0; u < units; u++)
                for (long j = 0; j < d; j++)
                {
                    var t = 2 * (x[n * d + j] - w[u * d + j]) * dy[n * units + u];
                    if (op == "rbf_grad_input") g[n * d + j] += t;
                    else g[u * d + j] -= t;
                }
        return g;
    }
}
