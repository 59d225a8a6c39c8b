using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;

namespace NeuroDsl.Runtime.Tuning;

/// <summary>One product C[M,N] = op(A)·op(B) the tuner times: A is M×K (K×M when transposed), B K×N (N×K).</summary>
public sealed record GemmProduct(int M, int N, int K, bool TransposeA = false, bool TransposeB = false)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{M}x{K}x{N}{(TransposeA ? " (A transposed)" : "")}{(TransposeB ? " (B transposed)" : "")}");

    /// <summary>The bench shapes (256³ … 2048³) and the MLP's training products at batch 128: 128×784 by 784×256 (as
    /// x·Wᵀ), and its two backward forms dX = dY·W and dW = dYᵀ·X.</summary>
    public static IReadOnlyList<GemmProduct> BenchShapes { get; } = new[]
    {
        new GemmProduct(256, 256, 256), new GemmProduct(512, 512, 512), new GemmProduct(1024, 1024, 1024),
        new GemmProduct(2048, 2048, 2048), new GemmProduct(128, 256, 784, TransposeB: true),
        new GemmProduct(128, 784, 256), new GemmProduct(256, 784, 128, TransposeA: true),
    };
}

/// <summary>A candidate's outcome: its score (its time over the default's, <see cref="GemmTuner(Device, IReadOnlyList{GemmProduct}, Action{string}, bool)"/>; lower is faster), or why it was refused.</summary>
public sealed record TunedCandidate(GemmConfig Config, double Score, IReadOnlyList<double> Milliseconds, string? Refused);

/// <summary>
/// Times the GEMM's candidates (<see cref="GemmConfig.SearchSpace"/>) on a set of products within a time budget and keeps
/// the fastest that agrees with a float64 product at every size: first the tile, then the small tile and when to use
/// it. Each candidate is gemm.cl built with its options, run as the runtime runs it (pack, then the tiles).
/// </summary>
public sealed class GemmTuner
{
    private readonly Device _device;
    private readonly IReadOnlyList<GemmProduct> _products;
    private readonly Action<string> _progress;
    private readonly List<Case> _cases = new();
    private double[]? _baseline;

    private readonly bool _byTotal;

    /// <summary>
    /// A tuner for <paramref name="products"/>: with <paramref name="byTotal"/> (a model's products, each run once a
    /// step) a candidate's score is its total time over the default's, else the geometric mean of its per-product
    /// ratios (the bench shapes, where 2048³ would otherwise outweigh everything).
    /// </summary>
    public GemmTuner(Device device, IReadOnlyList<GemmProduct> products, Action<string> progress, bool byTotal = false)
    {
        _device = device;
        _products = products;
        _progress = progress;
        _byTotal = byTotal;
        _gpu = LibraryKernels.IsGpuShape(device);
    }

    // Whether the device runs the GEMM's GPU shape: then only the GPU tile is searched, and what is shown of a candidate.
    private readonly bool _gpu;

    /// <summary>Every candidate timed, in order.</summary>
    public List<TunedCandidate> Tried { get; } = new();

    /// <summary>
    /// Searches within <paramref name="budget"/> (the default is always timed; candidates after the budget are not
    /// started) and returns the fastest candidate that passed the reference check.
    /// </summary>
    public TunedCandidate Run(TimeSpan budget)
    {
        var clock = Stopwatch.StartNew();
        var rng = new Random(1);
        foreach (var p in _products) _cases.Add(new Case(_device, p, rng));
        try
        {
            // In the GPU shape the CPU shape's parameters stay the device's (NEURODSL_GEMM=gpu on a CPU keeps its tuned tile).
            var space = GemmConfig.SearchSpace(_device.Info.Profile, _gpu);
            if (_gpu) space = space.Select(c => _device.Gemm.Config with { Gpu = c.Gpu }).Distinct().ToList();
            var best = Try(space[0]);
            if (best.Refused is not null) return best;
            foreach (var candidate in space.Skip(1))
            {
                if (clock.Elapsed > budget * 0.8) break;
                var result = Try(candidate);
                if (result.Refused is null && result.Score < best.Score) best = result;
            }
            // The small tile: its rows and the threshold, where they change what some product runs.
            var seen = new HashSet<string> { Signature(best.Config) };
            foreach (var smallRows in new[] { 1, 2, 3, 4, 6 }.Where(r => r < best.Config.Rows))
                foreach (var below in new[] { 2, 4, 8, 16 })
                {
                    if (clock.Elapsed > budget) break;
                    var candidate = best.Config with { SmallRows = smallRows, SmallBelow = below };
                    if (!seen.Add(Signature(candidate))) continue;
                    var result = Try(candidate);
                    if (result.Refused is null && result.Score < best.Score) best = result;
                }
            // The rows for an A that is not transposed (0: the tile's own).
            foreach (var streamRows in new[] { 0, 4, 6, 8, 10, 12, 14 }.Where(r => r < best.Config.Rows))
            {
                if (clock.Elapsed > budget) break;
                var candidate = best.Config with { StreamRows = streamRows };
                if (!seen.Add(Signature(candidate))) continue;
                var result = Try(candidate);
                if (result.Refused is null && result.Score < best.Score) best = result;
            }
            return Final(best);
        }
        finally
        {
            foreach (var c in _cases) c.Dispose();
        }
    }

    /// <summary>
    /// On a shared host one timing can catch a busy moment: the three fastest candidates and the default are timed
    /// again, in turns for two rounds, and the fastest over those rounds (each product's best time) is the choice.
    /// </summary>
    private TunedCandidate Final(TunedCandidate best)
    {
        var finalists = Tried.Where(t => t.Refused is null).OrderBy(t => t.Score).Take(3).Select(t => t.Config)
            .Prepend(Tried[0].Config).Append(best.Config).Distinct().ToList();
        if (finalists.Count < 2) return best;
        var times = finalists.ToDictionary(c => c, _ => Enumerable.Repeat(double.PositiveInfinity, _cases.Count).ToArray());
        for (var round = 0; round < 2; round++)
            foreach (var config in finalists)
                for (var i = 0; i < _cases.Count; i++)
                    times[config][i] = Math.Min(times[config][i], _cases[i].Time(config));
        var baseline = times[finalists[0]];
        TunedCandidate? chosen = null;
        foreach (var config in finalists)
        {
            var t = times[config];
            var score = _byTotal ? t.Sum() / baseline.Sum() : Math.Exp(t.Select((x, i) => Math.Log(x / baseline[i])).Average());
            _progress(string.Create(CultureInfo.InvariantCulture, $"  final: {config.Describe(_gpu)}: {score:F3} x the default's time"));
            if (chosen is null || score < chosen.Score) chosen = new TunedCandidate(config, score, t, null);
        }
        return chosen!;
    }

    // What a configuration runs on each product: two that agree behave the same and need not both be timed. The GPU
    // shape has neither a small nor a stream tile.
    private string Signature(GemmConfig c) => c with { SmallRows = 0, SmallBelow = 0, StreamRows = 0 } + ":" + (_gpu
        ? "gpu" : string.Join(",", _products.Select(p => c.TileFor(p.M, p.N, 1, _device.Info.ComputeUnits, p.TransposeA))));

    private TunedCandidate Try(GemmConfig config)
    {
        TunedCandidate result;
        try
        {
            LibraryKernels.GemmProgram(_device, config);
            var times = new List<double>();
            string? refused = null;
            foreach (var c in _cases)
            {
                c.Run(config);
                _device.Finish();
                if (c.Check() is { } error)
                {
                    refused = $"{c.Product}: {error}";
                    break;
                }
                times.Add(c.Time(config));
            }
            _baseline ??= refused is null ? times.ToArray() : null;
            var score = refused is not null || _baseline is not { } b ? double.PositiveInfinity
                : _byTotal ? times.Sum() / b.Sum()
                : Math.Exp(times.Select((t, i) => Math.Log(t / b[i])).Average());
            result = new TunedCandidate(config, score, times, refused);
        }
        catch (OpenCl.ClException e)
        {
            result = new TunedCandidate(config, double.PositiveInfinity, Array.Empty<double>(),
                "did not build or run: " + e.Message.Split('\n')[0]);
        }
        Tried.Add(result);
        var shown = string.Join(", ", result.Milliseconds.Select(t => t.ToString("F2", CultureInfo.InvariantCulture)));
        _progress(result.Refused is { } why
            ? $"  {config.Describe(_gpu)}: refused ({why})"
            : string.Create(CultureInfo.InvariantCulture, $"  {config.Describe(_gpu)}: {result.Score:F3} x the default's time ({shown} ms)"));
        return result;
    }

    /// <summary>
    /// The reference check alone: <paramref name="config"/> run on <paramref name="product"/> (random operands in
    /// [0, 1)); null when it passes, else why not.
    /// </summary>
    public static string? Check(Device device, GemmProduct product, GemmConfig config)
    {
        LibraryKernels.GemmProgram(device, config);
        using var c = new Case(device, product, new Random(1));
        c.Run(config);
        device.Finish();
        return c.Check();
    }

    /// <summary>One product's operands on the device and on the host, for timing and the reference check.</summary>
    private sealed class Case : IDisposable
    {
        private readonly Device _device;
        private readonly float[] _a, _b;
        private readonly DeviceBuffer _da, _db, _dc, _packed;

        public Case(Device device, GemmProduct product, Random rng)
        {
            _device = device;
            Product = product;
            _a = Enumerable.Range(0, product.M * product.K).Select(_ => (float)rng.NextDouble()).ToArray();
            _b = Enumerable.Range(0, product.K * product.N).Select(_ => (float)rng.NextDouble()).ToArray();
            _da = DeviceBuffer.Allocate(device, _a.Length);
            _db = DeviceBuffer.Allocate(device, _b.Length);
            _dc = DeviceBuffer.Allocate(device, (long)product.M * product.N);
            _packed = DeviceBuffer.Allocate(device, LibraryOps.PackedSize(product.K, product.N));
            _da.Write<float>(_a);
            _db.Write<float>(_b);
        }

        public GemmProduct Product { get; }

        public void Run(GemmConfig config) => LibraryOps.GemmTiled(_device, _da, _db, _dc, _packed, Product.M, Product.N,
            Product.K, Product.TransposeA, Product.TransposeB, config: config);

        /// <summary>
        /// The fastest of repetitions filling about 0.2 s (at least 3), after one warm-up: on a host shared with other
        /// work the least disturbed run says most about the kernel (a median measured the neighbours' load as well).
        /// </summary>
        public double Time(GemmConfig config)
        {
            var samples = new List<double>();
            var total = Stopwatch.StartNew();
            while (samples.Count < 3 || (total.Elapsed.TotalSeconds < 0.2 && samples.Count < 50))
            {
                var start = Stopwatch.GetTimestamp();
                Run(config);
                _device.Finish();
                samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            return samples.Min();
        }

        /// <summary>
        /// Null when C agrees with a float64 product on sampled entries — every corner and edge of the matrix (partial
        /// tiles) and random ones — within K·2⁻²⁴·Σ|a||b| (the error bound of any order of float32 summation) and as
        /// closely as float32 sums in blocks of <see cref="GemmConfig.DefaultKBlock"/> do: within 4 times their largest
        /// error on the same entries plus 4 units in the last place of the largest entry; else why not. The operands
        /// are non-negative, so the terms share a sign and a running sum over a long K loses what it would lose on a
        /// weight gradient (about 10 times the blocked sum's error at K = 16,384).
        /// </summary>
        public string? Check()
        {
            var (m, n, k) = (Product.M, Product.N, Product.K);
            var c = _dc.ReadFloats();
            var rng = new Random(m * 31 + n);
            var points = new List<(int, int)>();
            foreach (var i in new[] { 0, m - 1, m / 2 })
                foreach (var j in new[] { 0, n - 1, n / 2 })
                    points.Add((i, j));
            for (var q = 0; q < 64; q++) points.Add((rng.Next(m), rng.Next(n)));
            for (var q = 0; q < 16; q++) points.Add((m - 1 - rng.Next(Math.Min(m, 16)), rng.Next(n)));
            for (var q = 0; q < 16; q++) points.Add((rng.Next(m), n - 1 - rng.Next(Math.Min(n, 32))));
            double worst = 0, blockedWorst = 0, largest = 0;
            foreach (var (i, j) in points)
            {
                double sum = 0, magnitude = 0;
                float blocked = 0, part = 0;
                for (var p = 0; p < k; p++)
                {
                    var (a, b) = (Product.TransposeA ? _a[p * m + i] : _a[i * k + p], Product.TransposeB ? _b[j * k + p] : _b[p * n + j]);
                    var term = (double)a * b;
                    sum += term;
                    magnitude += Math.Abs(term);
                    part = MathF.FusedMultiplyAdd(a, b, part);
                    if ((p + 1) % GemmConfig.DefaultKBlock != 0 && p != k - 1) continue;
                    blocked += part;
                    part = 0;
                }
                var got = c[(long)i * n + j];
                if (!(Math.Abs(got - sum) <= k * Math.Pow(2, -24) * magnitude + 1e-30))
                    return string.Create(CultureInfo.InvariantCulture, $"C[{i},{j}] = {got} where float64 gives {sum}");
                worst = Math.Max(worst, Math.Abs(got - sum));
                blockedWorst = Math.Max(blockedWorst, Math.Abs(blocked - sum));
                largest = Math.Max(largest, Math.Abs(sum));
            }
            if (worst > 4 * blockedWorst + 4 * Math.Pow(2, -24) * largest)
                return string.Create(CultureInfo.InvariantCulture,
                    $"largest error {worst:G3} against float64 where float32 sums in blocks of {GemmConfig.DefaultKBlock} err by {blockedWorst:G3}");
            return null;
        }

        public void Dispose()
        {
            _da.Dispose();
            _db.Dispose();
            _dc.Dispose();
            _packed.Dispose();
        }
    }
}
