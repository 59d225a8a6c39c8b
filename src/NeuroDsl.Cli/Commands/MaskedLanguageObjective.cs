using System;
using System.Linq;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Text;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// Masked-language modelling in the text trainer (BERT, Devlin et al. 2019). A model trains this way when, besides
/// its token and target inputs i32[N, T], it declares an f32 input of the same shape: the per-position loss weight
/// (see models/char_bert.nd). Each step's batch is masked afresh on the host (<see cref="MaskedBatch"/>: 15% of the
/// positions, 80/10/10) from the run's generator and uploaded with the windows; the held-out text is masked the same
/// way in every run (a generator per window, seeded by its offset), and scored by the masked positions' loss and
/// accuracy (the logits' argmax, read back per held-out batch).
/// </summary>
internal sealed class MaskedLanguageObjective
{
    /// <summary>Seeds the held-out masking; not --seed, so that runs compare.</summary>
    public const ulong HeldOutSeed = 0x4D41534B45440001UL;

    private readonly string _tokens, _target, _weight, _logits;
    private readonly MaskedBatch _train;
    private readonly MaskedBatch _heldOut;
    private readonly float[] _logitsHost;

    private MaskedLanguageObjective(string tokens, string target, string weight, string logits, int batch, int length)
    {
        (_tokens, _target, _weight, _logits) = (tokens, target, weight, logits);
        _train = new MaskedBatch(batch, length);
        _heldOut = new MaskedBatch(batch, length);
        _logitsHost = new float[batch * length * MaskedBatch.Classes];
    }

    /// <summary>The weight input: an f32 input of the token input's shape [N, T]; null for a next-character model.</summary>
    public static string? WeightInput(CompiledModel model, string tokens)
    {
        var shape = model.Inputs.First(i => i.Name == tokens).Shape;
        return model.Inputs.FirstOrDefault(i => !i.Buffer.IsInt && i.Shape.SequenceEqual(shape))?.Name;
    }

    /// <summary>The objective for a model with a weight input, or null; a model whose logits don't fit is refused.</summary>
    public static MaskedLanguageObjective? For(CompiledModel model, string name, string tokens, string target, int batch, int length)
    {
        var weight = WeightInput(model, tokens);
        if (weight is null) return null;
        var logits = model.Outputs.FirstOrDefault(o => o.Shape.Length == 3 && o.Shape[0] == batch && o.Shape[1] == length);
        if (logits is null || logits.Shape[2] != MaskedBatch.Classes)
            throw new UsageException($"{name} has a weight input '{weight}' [N, T], so it trains as a masked language model, whose logits "
                + $"[N, T, {MaskedBatch.Classes}] cover the {CharVocabulary.Size} characters and the mask symbol {MaskedBatch.MaskSymbol}; "
                + (logits is null ? "it has no output [N, T, classes]" : $"'{logits.Name}' has {logits.Shape[2]} classes"));
        return new MaskedLanguageObjective(tokens, target, weight, logits.Name, batch, length);
    }

    public string Describe() =>
        $"masked-language modelling (the model's input '{_weight}' weighs the loss): {_train.PerWindow} of {_train.Length} positions "
        + $"per window predicted (BERT's 15%), 80% shown as the mask symbol {MaskedBatch.MaskSymbol}, 10% as a random character, "
        + "10% unchanged";

    /// <summary>Samples, masks and uploads the next training batch.</summary>
    public void NextBatch(CompiledModel model, TextDataSet data, ref SplitMix64 rng)
    {
        _train.SampleTraining(data, ref rng);
        Upload(model, _train);
    }

    private void Upload(CompiledModel model, MaskedBatch batch)
    {
        model.SetInput(_tokens, batch.Tokens);
        model.SetInput(_target, batch.Targets);
        model.SetInput(_weight, batch.Weights);
    }

    /// <summary>
    /// The held-out text in consecutive windows, masked the same way every time: the mean loss over the masked positions
    /// in bits, and the share of them whose largest logit is the original character.
    /// </summary>
    public (double Bits, double Accuracy) Evaluate(CompiledModel eval, TextDataSet data, int limit)
    {
        var logits = eval.Find(_logits)!.Buffer;
        var (loss, hits, count, batches) = (0.0, 0L, 0L, 0);
        foreach (var start in HeldOutStarts(data, limit))
        {
            _heldOut.FillFixed(data.HeldOut.AsSpan(start, _heldOut.Tokens.Length), start, HeldOutSeed);
            Upload(eval, _heldOut);
            eval.Forward();
            loss += eval.ReadLoss();
            logits.Read<float>(_logitsHost);
            for (var i = 0; i < _heldOut.Weights.Length; i++)
            {
                if (_heldOut.Weights[i] == 0) continue;
                var row = _logitsHost.AsSpan(i * MaskedBatch.Classes, MaskedBatch.Classes);
                var best = 0;
                for (var c = 1; c < row.Length; c++) if (row[c] > row[best]) best = c;
                hits += best == _heldOut.Targets[i] ? 1 : 0;
                count++;
            }
            batches++;
        }
        return (loss / batches / Math.Log(2), (double)hits / count);
    }

    /// <summary>
    /// What a model that ignores the context scores on the same masked positions: always the most frequent training
    /// character (its accuracy), and the training text's character frequencies (their cross-entropy in bits; add-one).
    /// </summary>
    public (int Symbol, double Accuracy, double UnigramBits, long Masked) Baseline(TextDataSet data, int limit)
    {
        var counts = new long[CharVocabulary.Size];
        foreach (var c in data.Train) counts[c]++;
        var best = Array.IndexOf(counts, counts.Max());
        var total = data.Train.Length + CharVocabulary.Size;
        var (hits, bits, masked) = (0L, 0.0, 0L);
        foreach (var start in HeldOutStarts(data, limit))
        {
            _heldOut.FillFixed(data.HeldOut.AsSpan(start, _heldOut.Tokens.Length), start, HeldOutSeed);
            for (var i = 0; i < _heldOut.Weights.Length; i++)
            {
                if (_heldOut.Weights[i] == 0) continue;
                var t = _heldOut.Targets[i];
                hits += t == best ? 1 : 0;
                bits -= Math.Log2((counts[t] + 1.0) / total);
                masked++;
            }
        }
        return (best, (double)hits / masked, bits / masked, masked);
    }

    /// <summary>Where each held-out batch starts: consecutive batches of windows, at most <paramref name="limit"/>.</summary>
    private int[] HeldOutStarts(TextDataSet data, int limit)
    {
        var size = _heldOut.Tokens.Length;
        var starts = Enumerable.Range(0, Math.Min(limit, data.HeldOut.Length / size)).Select(b => b * size).ToArray();
        if (starts.Length == 0)
            throw new System.IO.InvalidDataException($"{data.Name}: the held-out text ({data.HeldOut.Length:N0} characters) is shorter "
                + $"than one batch of {_heldOut.Batch} × {_heldOut.Length}");
        return starts;
    }
}
