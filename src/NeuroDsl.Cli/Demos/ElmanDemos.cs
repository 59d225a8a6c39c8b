using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Runtime;
using static NeuroDsl.Cli.Demos.SequenceDemos;

namespace NeuroDsl.Cli.Demos;

/// <summary>
/// Elman 1990's two small tasks: temporal XOR (Demos/elman_xor.nd) and letter sequences (models/elman.nd). Both train
/// on windows of one long stream and show the prediction error along a fresh stream: it falls where the next element
/// is predictable.
/// </summary>
internal static class ElmanDemos
{
    public static IReadOnlyDictionary<string, double> Xor(DemoSettings s, Device device, TextWriter log)
    {
        var rng = new SplitMix64(s.Seed);
        // Every third bit is the XOR of the two before it (Elman: 3,000 bits).
        float[] Stream(int triples)
        {
            var bits = new float[3 * triples];
            for (var i = 0; i < triples; i++)
            {
                bits[3 * i] = rng.NextInt(2);
                bits[3 * i + 1] = rng.NextInt(2);
                bits[3 * i + 2] = bits[3 * i] != bits[3 * i + 1] ? 1 : 0;
            }
            return bits;
        }
        var train = Stream(1000);
        const int length = 12, batch = 32;
        var steps = s.Small ? 400 : 6000;
        var m = Load("elman_xor.nd", "ElmanXor");
        using var model = Create(m, device, s.Seed, batch, length);
        var optimizer = new Adam(0.05f);
        var x = new float[batch * length];
        var y = new float[batch * length];
        log.WriteLine($"Elman (1990) temporal XOR: 1-2-1 network with 2 context units, {steps} Adam steps on windows of {length} bits");
        var loss = 0f;
        for (var step = 1; step <= steps; step++)
        {
            for (var b = 0; b < batch; b++)
            {
                // Windows start at a triple's first bit, as the stream does.
                var start = 3 * rng.NextInt((train.Length - length - 1) / 3);
                Array.Copy(train, start, x, b * length, length);
                Array.Copy(train, start + 1, y, b * length, length);
            }
            model.SetInput("x", x);
            model.SetInput("target", y);
            model.Forward();
            model.Backward();
            model.Step(optimizer);
            if (step % 500 == 0 || step == steps) log.WriteLine($"  step {step,5}  loss {F(loss = model.ReadLoss(), 4)}");
        }

        // A fresh stream of 1,200 bits run as one sequence: the squared error of each prediction, by the position (in
        // its triple) of the bit being predicted, and along the 12-step cycle as in the paper's figure 3.
        var test = Stream(400);
        using var eval = Create(m, device, s.Seed, 1, test.Length - 1);
        eval.Training = false;
        eval.CopyParametersFrom(model);
        eval.SetInput("x", test[..^1]);
        eval.SetInput("target", test[1..]);
        eval.Forward();
        var predicted = eval.Read("y");
        var byPosition = new double[3];
        var cycle = new double[12];
        for (var t = 0; t < predicted.Length; t++)
        {
            var error = Math.Pow(predicted[t] - test[t + 1], 2);
            byPosition[(t + 1) % 3] += error / (predicted.Length / 3.0);
            cycle[t % 12] += error / (predicted.Length / 12.0);
        }
        log.WriteLine("squared error predicting each bit of a fresh stream of 1,200 bits, averaged by its position in the triple:");
        string[] what = { "1st bit (random)", "2nd bit (random)", "3rd bit (XOR of the two before)" };
        for (var p = 0; p < 3; p++) log.WriteLine($"  {what[p],-32} {F(byPosition[p])}  {Bar(byPosition[p], 0.3)}");
        log.WriteLine("along the 12-step cycle (input t → bit t+1; every third is predictable):");
        for (var t = 0; t < 12; t++) log.WriteLine($"  t = {t,2}  {F(cycle[t])}  {Bar(cycle[t], 0.3)}");
        return new Dictionary<string, double>
        {
            ["random_error"] = (byPosition[0] + byPosition[1]) / 2, ["xor_error"] = byPosition[2], ["loss"] = loss,
        };
    }

    public static IReadOnlyDictionary<string, double> Letters(DemoSettings s, Device device, TextWriter log)
    {
        var rng = new SplitMix64(s.Seed);
        // Consonants b, d, g in random order, each followed by its vowels: ba, dii, guuu (Elman: 1,000 consonants).
        int[] Stream(int consonants)
        {
            var letters = new List<int>();
            for (var i = 0; i < consonants; i++)
            {
                var (consonant, vowel, count) = rng.NextInt(3) switch { 0 => ('b', 'a', 1), 1 => ('d', 'i', 2), _ => ('g', 'u', 3) };
                letters.Add(consonant - 'a');
                for (var v = 0; v < count; v++) letters.Add(vowel - 'a');
            }
            return letters.ToArray();
        }
        float[] OneHot(ReadOnlySpan<int> letters)
        {
            var result = new float[letters.Length * 26];
            for (var i = 0; i < letters.Length; i++) result[i * 26 + letters[i]] = 1;
            return result;
        }
        var train = Stream(1000);
        const int length = 20, batch = 32;
        var steps = s.Small ? 300 : 3000;
        var m = Load("elman.nd", "Elman");
        using var model = Create(m, device, s.Seed, batch, length);
        var optimizer = new Adam(0.01f);
        var x = new float[batch * length * 26];
        var y = new float[batch * length * 26];
        log.WriteLine($"Elman (1990) letter sequences (ba, dii, guuu): models/elman.nd, 26-20-26 with one-hot letters, {steps} Adam steps on windows of {length}");
        for (var step = 1; step <= steps; step++)
        {
            for (var b = 0; b < batch; b++)
            {
                var start = rng.NextInt(train.Length - length - 1);
                OneHot(train.AsSpan(start, length)).CopyTo(x, b * length * 26);
                OneHot(train.AsSpan(start + 1, length)).CopyTo(y, b * length * 26);
            }
            model.SetInput("x", x);
            model.SetInput("target", y);
            model.Forward();
            model.Backward();
            model.Step(optimizer);
            if (step % 500 == 0 || step == steps) log.WriteLine($"  step {step,5}  loss {F(model.ReadLoss(), 5)}");
        }

        var test = Stream(200);
        using var eval = Create(m, device, s.Seed, 1, test.Length - 1);
        eval.Training = false;
        eval.CopyParametersFrom(model);
        eval.SetInput("x", OneHot(test.AsSpan(0, test.Length - 1)));
        eval.SetInput("target", OneHot(test.AsSpan(1)));
        eval.Forward();
        var predicted = eval.Read("y");
        var errors = new double[test.Length - 1];
        for (var t = 0; t < errors.Length; t++)
        {
            var e = 0.0;
            for (var k = 0; k < 26; k++) e += Math.Pow(predicted[t * 26 + k] - (test[t + 1] == k ? 1 : 0), 2);
            errors[t] = Math.Sqrt(e);
        }
        bool IsConsonant(int letter) => letter is 1 or 3 or 6;
        var consonant = Enumerable.Range(0, errors.Length).Where(t => IsConsonant(test[t + 1])).Select(t => errors[t]).Average();
        var vowel = Enumerable.Range(0, errors.Length).Where(t => !IsConsonant(test[t + 1])).Select(t => errors[t]).Average();
        log.WriteLine("root squared error of each prediction on a fresh stream, the first 24 letters (as the paper's figure 6):");
        for (var t = 0; t < 24; t++)
            log.WriteLine($"  {(char)('a' + test[t])} → {(char)('a' + test[t + 1])}  {F(errors[t])}  {Bar(errors[t], 1.2)}");
        log.WriteLine($"mean error predicting a consonant (unpredictable: which one is random): {F(consonant)}");
        log.WriteLine($"mean error predicting a vowel (determined by the consonant and the count): {F(vowel)}");
        return new Dictionary<string, double> { ["consonant_error"] = consonant, ["vowel_error"] = vowel };
    }
}
