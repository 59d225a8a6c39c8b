using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Data;

namespace NeuroDsl.Cli.Demos;

/// <summary>
/// What the CLIP demonstration measures on the test set, from the model's normalized embeddings (forward passes of an
/// evaluation instance on the device; the similarities of 10,000 images with a few hundred captions on the host):
/// zero-shot accuracy with one prompt per class and with prompts ensembled (the mean of a class's normalized caption
/// embeddings, normalized again: CLIP's section 3.1.4), retrieval both ways over every caption, and the contrastive
/// loss of test images paired with random captions in batches of the training size.
/// </summary>
internal sealed record ClipEvaluation(double ZeroShotSingle, double ZeroShotEnsemble, double ImageToText, double TextToImage,
    double TestLoss, double TestFloor)
{
    public static ClipEvaluation Run(CompiledModel eval, ImageDataSet test, IReadOnlyList<(string Caption, int Label)> pool, int batch,
        float scale, ulong seed)
    {
        var e = (int)eval.Symbols["N"];
        var size = test.ImageSize;
        // Every test image's embedding, each paired with a random caption of its class whose embedding comes with it.
        var rng = new SplitMix64(seed ^ 0x5DEECE66DUL);
        var paired = Enumerable.Range(0, test.Count).Select(i => ClipCaptions.Random(test.Labels[i], n => rng.NextInt(n))).ToArray();
        var imageRows = new List<float[]>(test.Count);
        var pairedRows = new List<float[]>(test.Count);
        for (var start = 0; start < test.Count; start += e)
        {
            var (images, texts) = Embed(eval, test.Images.AsSpan(start * size, e * size), paired.AsSpan(start, e).ToArray());
            imageRows.AddRange(images);
            pairedRows.AddRange(texts);
        }
        var poolRows = EmbedTexts(eval, test.Images.AsSpan(0, e * size), pool.Select(p => p.Caption).ToArray());

        // Zero-shot: the first template with each class's first name, and every caption of the class averaged.
        var single = Enumerable.Range(0, ClipCaptions.Classes)
            .Select(k => poolRows[Array.FindIndex(pool.ToArray(), p => p.Caption == ClipCaptions.Fill(ClipCaptions.Templates[0], ClipCaptions.Names[k][0]))])
            .ToArray();
        var ensemble = Enumerable.Range(0, ClipCaptions.Classes).Select(k => Normalized(Mean(pool.Select((p, i) => (p, i))
            .Where(x => x.p.Label == k).Select(x => poolRows[x.i])))).ToArray();
        double Accuracy(float[][] classes) =>
            Enumerable.Range(0, test.Count).Count(i => ArgMax(imageRows[i], classes) == test.Labels[i]) / (double)test.Count;

        var poolArray = poolRows.ToArray();
        var imageToText = Enumerable.Range(0, test.Count).Count(i => pool[ArgMax(imageRows[i], poolArray)].Label == test.Labels[i]) / (double)test.Count;
        var top = Math.Min(10, test.Count);
        var textToImage = pool.Select((p, c) => Enumerable.Range(0, test.Count).OrderByDescending(i => Dot(poolRows[c], imageRows[i])).Take(top)
            .Count(i => test.Labels[i] == p.Label) / (double)top).Average();

        // The symmetric loss over test pairs in batches of the training size (the last partial batch left out).
        batch = Math.Min(batch, test.Count);
        var (loss, floor, count) = (0.0, 0.0, 0);
        for (var start = 0; start + batch <= test.Count; start += batch, count++)
        {
            loss += SymmetricLoss(imageRows.GetRange(start, batch), pairedRows.GetRange(start, batch), scale);
            floor += ClipDemo.Floor(test.Labels.AsSpan(start, batch).ToArray());
        }
        return new ClipEvaluation(Accuracy(single), Accuracy(ensemble), imageToText, textToImage, loss / count, floor / count);
    }

    /// <summary>The paper's loss in float64: (CE over rows + CE over columns) / 2, the targets the diagonal.</summary>
    public static double SymmetricLoss(IReadOnlyList<float[]> images, IReadOnlyList<float[]> texts, double scale)
    {
        var n = images.Count;
        var logits = new double[n, n];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++) logits[i, j] = scale * Dot(images[i], texts[j]);
        double Lse(Func<int, double> at)
        {
            var max = Enumerable.Range(0, n).Max(at);
            return max + Math.Log(Enumerable.Range(0, n).Sum(k => Math.Exp(at(k) - max)));
        }
        var rows = Enumerable.Range(0, n).Average(i => Lse(j => logits[i, j]) - logits[i, i]);
        var columns = Enumerable.Range(0, n).Average(j => Lse(i => logits[i, j]) - logits[j, j]);
        return (rows + columns) / 2;
    }

    /// <summary>One forward pass: the images' and the captions' normalized embeddings (as many of each as the batch).</summary>
    private static (float[][] Images, float[][] Texts) Embed(CompiledModel eval, ReadOnlySpan<float> images, string[] captions)
    {
        var e = (int)eval.Symbols["N"];
        var (tokens, eot) = (new int[e * ClipCaptions.Context], new int[e]);
        for (var r = 0; r < e; r++)
            eot[r] = ClipCaptions.Encode(captions[Math.Min(r, captions.Length - 1)], tokens.AsSpan(r * ClipCaptions.Context, ClipCaptions.Context));
        eval.SetInput("image", images);
        eval.SetInput("text", tokens);
        eval.SetInput("eot", eot);
        eval.Forward();
        return (Rows(eval.Read("image_embeds"), e), Rows(eval.Read("text_embeds"), e));
    }

    private static float[][] EmbedTexts(CompiledModel eval, ReadOnlySpan<float> images, string[] captions)
    {
        var e = (int)eval.Symbols["N"];
        var rows = new List<float[]>();
        for (var start = 0; start < captions.Length; start += e)
            rows.AddRange(Embed(eval, images, captions.AsSpan(start, Math.Min(e, captions.Length - start)).ToArray()).Texts
                .Take(Math.Min(e, captions.Length - start)));
        return rows.ToArray();
    }

    private static float[][] Rows(float[] values, int n)
    {
        var d = values.Length / n;
        return Enumerable.Range(0, n).Select(r => values.AsSpan(r * d, d).ToArray()).ToArray();
    }

    private static float[] Mean(IEnumerable<float[]> rows)
    {
        var list = rows.ToList();
        var mean = new float[list[0].Length];
        foreach (var r in list)
            for (var i = 0; i < mean.Length; i++) mean[i] += r[i] / list.Count;
        return mean;
    }

    private static float[] Normalized(float[] v)
    {
        var norm = (float)Math.Sqrt(Dot(v, v));
        return v.Select(x => x / norm).ToArray();
    }

    private static double Dot(float[] a, float[] b)
    {
        var sum = 0.0;
        for (var i = 0; i < a.Length; i++) sum += (double)a[i] * b[i];
        return sum;
    }

    private static int ArgMax(float[] image, float[][] candidates)
    {
        var (best, at) = (double.NegativeInfinity, 0);
        for (var c = 0; c < candidates.Length; c++)
        {
            var s = Dot(image, candidates[c]);
            if (s > best) (best, at) = (s, c);
        }
        return at;
    }
}
