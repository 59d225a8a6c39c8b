using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using NeuroDsl.Runtime;
using static NeuroDsl.Cli.Demos.SequenceDemos;

namespace NeuroDsl.Cli.Demos;

/// <summary>
/// Bengio, Simard &amp; Frasconi 1994: the norm of ∂loss/∂x_t at lag k = T − 1 − t for a loss on the last step, for an
/// SRN, the 1997 LSTM (no forget gate) and the forget-gate LSTM (Demos/gradient_flow.nd), at initialization, averaged
/// over a batch of random sequences. A table on the console and every lag in bengio_gradients.csv.
/// </summary>
internal static class GradientFlowDemo
{
    private static readonly (string Model, string Label)[] Models =
    {
        ("GradientSrn", "SRN (tanh)"), ("GradientLstm1997", "LSTM 1997"), ("GradientLstm", "LSTM, forget gate"),
    };

    public static IReadOnlyDictionary<string, double> Run(DemoSettings s, Device device, TextWriter log)
    {
        var lags = s.Small ? 20 : 100;
        var length = lags + 1;
        var batch = s.Small ? 4 : 32;
        const int features = 8;
        var rng = new SplitMix64(s.Seed);
        var x = new float[batch * length * features];
        for (var i = 0; i < x.Length; i++) x[i] = (float)(2 * rng.NextDouble() - 1);
        var target = Enumerable.Range(0, batch).Select(_ => (float)(2 * rng.NextDouble() - 1)).ToArray();
        log.WriteLine($"Bengio, Simard & Frasconi (1994): ‖∂loss/∂x_t‖ at lag k = {length - 1} − t, loss on the last step only; "
            + $"64 units, batch {batch} of random sequences, weights at initialization (uniform ±1/8)");
        var norms = new double[Models.Length][];
        for (var mi = 0; mi < Models.Length; mi++)
        {
            var m = Load("gradient_flow.nd", Models[mi].Model);
            using var model = Create(m, device, s.Seed, batch, length);
            model.ComputeInputGradients = true;
            model.SetInput("x", x);
            model.SetInput("target", target);
            model.Forward();
            model.Backward();
            var g = model.Read("grad.x");
            norms[mi] = new double[lags + 1];
            for (var k = 0; k <= lags; k++)
            {
                var t = length - 1 - k;
                for (var n = 0; n < batch; n++)
                {
                    var sum = 0.0;
                    for (var f = 0; f < features; f++) sum += Math.Pow(g[(n * length + t) * features + f], 2);
                    norms[mi][k] += Math.Sqrt(sum) / batch;
                }
            }
        }
        string E(double v) => v.ToString("0.00e+00", CultureInfo.InvariantCulture);
        log.WriteLine($"  {"lag k",6}  {string.Join("  ", Models.Select(m => $"{m.Label,18}"))}");
        foreach (var k in Enumerable.Range(1, lags).Where(k => k <= 5 || k % 10 == 0 || k == lags))
            log.WriteLine($"  {k,6}  {string.Join("  ", norms.Select(n => $"{E(n[k]),18}"))}");
        log.WriteLine($"  {"k / 1",6}  {string.Join("  ", norms.Select(n => $"{E(n[lags] / n[1]),18}"))}   (the norm at lag {lags} over lag 1)");
        // Decay per step: the slope of log‖g‖ over the lags 10 … end, where the first steps' transients are gone.
        var rates = norms.Select(n => Math.Exp((Math.Log(n[lags]) - Math.Log(n[Math.Min(10, lags / 2)])) / (lags - Math.Min(10, lags / 2)))).ToArray();
        log.WriteLine($"  {"×/step",6}  {string.Join("  ", rates.Select(r => $"{r.ToString("F3", CultureInfo.InvariantCulture),18}"))}   (geometric decay per step of lag)");

        Directory.CreateDirectory(s.OutDir);
        var csv = new StringBuilder("lag," + string.Join(",", Models.Select(m => m.Model)) + "\n");
        for (var k = 0; k <= lags; k++)
            csv.Append(k.ToString(CultureInfo.InvariantCulture)).Append(',')
               .AppendJoin(',', norms.Select(n => n[k].ToString("R", CultureInfo.InvariantCulture))).Append('\n');
        var path = Path.Combine(s.OutDir, "bengio_gradients.csv");
        File.WriteAllText(path, csv.ToString());
        log.WriteLine($"wrote {path}");
        return new Dictionary<string, double>
        {
            ["srn_ratio"] = norms[0][lags] / norms[0][1], ["lstm1997_ratio"] = norms[1][lags] / norms[1][1],
            ["lstm_ratio"] = norms[2][lags] / norms[2][1], ["srn_rate"] = rates[0], ["lstm1997_rate"] = rates[1],
        };
    }
}
