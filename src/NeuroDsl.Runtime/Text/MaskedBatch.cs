using System;
using System.IO;

namespace NeuroDsl.Runtime.Text;

/// <summary>
/// A batch for masked-language modelling (BERT, Devlin et al. 2019, §3.1): windows of text [batch, length] with a
/// share of each window's positions chosen for prediction, and of those 80% replaced by the mask symbol, 10% by a
/// random character and 10% left unchanged. <see cref="Tokens"/> is the input so masked, <see cref="Targets"/> the
/// original text, <see cref="Weights"/> 1 at the chosen positions and 0 elsewhere (the loss counts the chosen ones
/// only). As Google's create_pretraining_data.py, each window gets the same number of chosen positions,
/// round(rate · length) and at least 1, drawn without replacement; the random replacement is one of the 96 characters
/// (never the mask symbol) and may be the original one. The arrays are allocated once and refilled.
/// </summary>
public sealed class MaskedBatch
{
    /// <summary>The mask symbol: the index after the 96 characters, so the characters keep their indices.</summary>
    public const int MaskSymbol = CharVocabulary.Size;

    /// <summary>The classes a masked language model predicts over: the characters and the mask symbol.</summary>
    public const int Classes = CharVocabulary.Size + 1;

    public const double BertRate = 0.15;

    private readonly int[] _order;

    public MaskedBatch(int batch, int length, double rate = BertRate)
    {
        if (batch < 1 || length < 1)
            throw new ArgumentOutOfRangeException(nameof(batch), "a batch needs at least one window of one character");
        if (!(rate > 0 && rate <= 1)) throw new ArgumentOutOfRangeException(nameof(rate), $"the masking rate is in (0, 1], not {rate}");
        Batch = batch;
        Length = length;
        PerWindow = Math.Max(1, (int)Math.Round(rate * length, MidpointRounding.AwayFromZero));
        Tokens = new int[batch * length];
        Targets = new int[batch * length];
        Weights = new float[batch * length];
        _order = new int[length];
        for (var i = 0; i < length; i++) _order[i] = i;
    }

    public int Batch { get; }
    public int Length { get; }

    /// <summary>Positions predicted per window: round(rate · length), at least 1.</summary>
    public int PerWindow { get; }

    public int[] Tokens { get; }
    public int[] Targets { get; }
    public float[] Weights { get; }

    /// <summary>Windows at random offsets of the training text, masked with the same generator.</summary>
    public void SampleTraining(TextDataSet data, ref SplitMix64 rng)
    {
        if (data.Train.Length <= Length)
            throw new InvalidDataException($"{data.Name}: {data.Train.Length} training characters, fewer than a window of {Length + 1}");
        for (var b = 0; b < Batch; b++)
        {
            var start = (int)(rng.Next() % (ulong)(data.Train.Length - Length));
            MaskWindow(data.Train.AsSpan(start, Length), b, ref rng);
        }
    }

    /// <summary>
    /// Consecutive windows of <paramref name="text"/> (batch · length characters) masked the same way on every call:
    /// window b is masked by a generator seeded with <paramref name="seed"/> and its offset <paramref name="start"/> +
    /// b · length in the text, so held-out figures compare across runs, seeds and batch sizes.
    /// </summary>
    public void FillFixed(ReadOnlySpan<int> text, long start, ulong seed)
    {
        if (text.Length != Batch * Length)
            throw new ArgumentException($"{text.Length} characters for a batch of {Batch} × {Length}", nameof(text));
        for (var b = 0; b < Batch; b++)
        {
            var rng = new SplitMix64(seed ^ (ulong)(start + (long)b * Length) * 0xD1B54A32D192ED03UL);
            for (var i = 0; i < Length; i++) _order[i] = i;
            MaskWindow(text.Slice(b * Length, Length), b, ref rng);
        }
    }

    private void MaskWindow(ReadOnlySpan<int> window, int b, ref SplitMix64 rng)
    {
        var row = b * Length;
        window.CopyTo(Targets.AsSpan(row, Length));
        window.CopyTo(Tokens.AsSpan(row, Length));
        Weights.AsSpan(row, Length).Clear();
        // The first PerWindow entries of a partial Fisher–Yates shuffle: a uniform choice without replacement.
        for (var k = 0; k < PerWindow; k++)
        {
            var j = k + rng.NextInt(Length - k);
            (_order[k], _order[j]) = (_order[j], _order[k]);
            var at = row + _order[k];
            Weights[at] = 1;
            var r = rng.NextDouble();
            if (r < 0.8) Tokens[at] = MaskSymbol;
            else if (r < 0.9) Tokens[at] = rng.NextInt(CharVocabulary.Size);
        }
    }
}
