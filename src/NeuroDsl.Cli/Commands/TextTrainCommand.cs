using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Checkpoints;
using NeuroDsl.Runtime.Text;
using NeuroDsl.Runtime.Training;
using static System.FormattableString;

namespace NeuroDsl.Cli.Commands;

/// <summary>Settings of a text training run (already parsed).</summary>
public sealed record TextTrainOptions(int Epochs = 1, int Batch = 32, int Length = 64, double LearningRate = 2e-3,
    ulong Seed = 1, long? Steps = null, string? Checkpoint = null, int EvalBatches = 64, int ReportEvery = 100,
    double? Minutes = null, int? AskedLength = null);

/// <summary>
/// <c>neurodsl train FILE --data fortunes|text:PATH</c>: trains a language model — any model with a token input
/// i32[N, T], a next-token target i32[N, T] and a cross-entropy loss over logits [N, T, 96] — on character-level text
/// with Adam, and reports bits per character (the loss in nats over ln 2) on the held-out text. A model that also
/// declares an f32 input [N, T] is a masked language model (<see cref="MaskedLanguageObjective"/>): its target is the
/// window itself, 15% of it masked, and the held-out figures are the masked positions' loss and accuracy.
/// </summary>
public static class TextTrainCommand
{
    /// <summary>Parses <c>--data fortunes</c> or <c>--data text:PATH</c>; null for any other data set name.</summary>
    public static TextDataSet? Load(string dataName) =>
        dataName == "fortunes" ? TextDataSet.Fortunes()
        : dataName.StartsWith("text:", StringComparison.Ordinal) ? TextDataSet.FromFile(dataName["text:".Length..])
        : null;

    /// <summary>Refuses the options text training does not take, before any file is read.</summary>
    internal static void CheckOptions(TrainOptions o)
    {
        if ((o.Optimizer ?? "adam") != "adam") throw new UsageException("text training uses --optimizer adam");
        var unsupported = new[]
        {
            (o.Resume is not null, "--resume"), (o.Metrics is not null, "--metrics"), (o.Limit is not null, "--limit"),
            (o.TestLimit is not null, "--test-limit"), (o.Schedule != "constant", "--schedule"), (o.CheckNumerics, "--check-numerics"),
        }.Where(u => u.Item1).Select(u => u.Item2).ToList();
        if (unsupported.Count > 0)
            throw new UsageException($"text training (--data {o.Data}) does not take {string.Join(", ", unsupported)} yet; "
                + "it takes --epochs, --steps, --minutes, --batch, --seq-length, --lr, --seed, --eval-batches and --checkpoint");
    }

    internal static int Run(TrainOptions o)
    {
        CheckOptions(o);
        var checkpoint = o.Checkpoint ?? Path.Combine("checkpoints", Path.GetFileNameWithoutExtension(o.Path) + ".safetensors");
        OutputFiles.EnsureParent(checkpoint, "--checkpoint");
        var data = Load(o.Data)!;
        var options = new TextTrainOptions(Epochs: o.Epochs ?? 1, Batch: o.Batch ?? 32, Length: o.SeqLength ?? 64,
            LearningRate: o.LearningRate ?? 2e-3, Seed: o.Seed, Steps: o.Steps, Checkpoint: checkpoint,
            EvalBatches: o.EvalBatches ?? 64, Minutes: o.Minutes, AskedLength: o.SeqLength);
        var compiled = Program.CompileFile(o.Path);
        if (compiled is null) return ExitCodes.DataError;
        var output = Program.PickModel(compiled, o.Model, o.Path);
        using var device = Device.Open();
        Train(output, device, data, options, Console.Out);
        return ExitCodes.Ok;
    }

    /// <summary>The sizes an instance is built with: N, and T where the model's time axis is a size symbol.</summary>
    public static Dictionary<string, long> Symbols(Type type, int batch, int length)
    {
        var names = type.GetConstructors().Single().GetParameters().Select(p => p.Name).ToHashSet();
        var symbols = new Dictionary<string, long> { ["N"] = batch };
        if (names.Contains("T")) symbols["T"] = length;
        return symbols;
    }

    /// <summary>The token input and the target: the model's first two i32 inputs of shape [N, T].</summary>
    public static (string Tokens, string Target) TextInputs(CompiledModel model, string file)
    {
        var ints = model.Inputs.Where(i => i.Buffer.IsInt && i.Shape.Length == 2).Select(i => i.Name).ToList();
        if (ints.Count < 2)
            throw new UsageException($"{model.Spec.Name} is not a language model: text training needs token and target inputs i32[N, T] "
                + $"(see models/char_lstm.nd); {file} declares {string.Join(", ", model.Inputs.Select(i => i.Name))}");
        var logits = model.Outputs.FirstOrDefault(o => o.Shape.Length == 3);
        // A masked language model's logits (one class more) are checked by MaskedLanguageObjective.
        if (logits is not null && logits.Shape[2] != CharVocabulary.Size
            && MaskedLanguageObjective.WeightInput(model, ints[0]) is null)
            throw new UsageException($"{model.Spec.Name}'s output '{logits.Name}' has {logits.Shape[2]} classes; the character data has {CharVocabulary.Size}");
        return (ints[0], ints[1]);
    }

    /// <summary>Trains and evaluates; returns the held-out bits per character after the last epoch.</summary>
    public static double Train(ModelOutput output, Device device, TextDataSet data, TextTrainOptions options, TextWriter log)
    {
        if (output.Plan.Loss is null) throw new UsageException($"{output.Name} declares no loss, so it cannot be trained");
        var type = ModelLoader.Compile(output);
        var symbols = Symbols(type, options.Batch, options.Length);
        using var model = ModelLoader.Create(output, type, device, symbols, options.Seed);
        using var eval = ModelLoader.Create(output, type, device, symbols, options.Seed);
        eval.Training = false;
        var (tokensName, targetName) = TextInputs(model, output.Name);
        var length = (int)model.Inputs.First(i => i.Name == tokensName).Shape[1];
        if (options.AskedLength is { } asked && asked != length)
            throw new UsageException($"--seq-length {asked}: {output.Name}'s window is fixed at {length} by its file");
        var mlm = MaskedLanguageObjective.For(model, output.Name, tokensName, targetName, options.Batch, length);
        var unit = mlm is null ? "bits/char" : "bits/masked char";
        var optimizer = new Adam((float)options.LearningRate);
        var stepsPerEpoch = Math.Max(1, data.Train.Length / (options.Batch * length));
        var totalSteps = options.Steps ?? (long)stepsPerEpoch * options.Epochs;
        var epochs = (int)((totalSteps + stepsPerEpoch - 1) / stepsPerEpoch);
        log.WriteLine($"{output.Name}: {output.Ir.Graph.TrainableParameterCount:N0} parameters; {data.Name}: {data.Train.Length:N0} training and "
            + $"{data.HeldOut.Length:N0} held-out characters; batch {options.Batch} × {length} characters, adam lr "
            + $"{options.LearningRate.ToString(CultureInfo.InvariantCulture)}, {totalSteps:N0} steps on {device}");
        if (mlm is not null)
        {
            log.WriteLine(mlm.Describe());
            var (symbol, accuracy, unigram, masked) = mlm.Baseline(data, options.EvalBatches);
            log.WriteLine(Invariant($"held-out: {masked:N0} masked characters, the same in every run; without context, the most ")
                + Invariant($"frequent character {Quote(symbol)} is right on {accuracy * 100:F2}% of them, and the character ")
                + Invariant($"frequencies' loss is {unigram:F3} bits"));
        }

        var rng = new SplitMix64(options.Seed * 0x9E3779B97F4A7C15UL + 3);
        var tokens = new int[mlm is null ? options.Batch * length : 0];
        var targets = new int[tokens.Length];
        var watch = Stopwatch.StartNew();
        var heldOut = double.NaN;
        var scores = "";
        var sum = 0.0;
        var count = 0;
        for (long step = 1; step <= totalSteps; step++)
        {
            // A time budget ends the run at this step: it is evaluated and saved as the last one.
            if (options.Minutes is { } minutes && watch.Elapsed.TotalMinutes >= minutes && step > 1 && totalSteps > step)
            {
                log.WriteLine($"time budget of {minutes.ToString(CultureInfo.InvariantCulture)} min reached: stopping after step {step}");
                totalSteps = step;
            }
            if (mlm is not null) mlm.NextBatch(model, data, ref rng);
            else
            {
                data.SampleBatch(ref rng, options.Batch, length, tokens, targets);
                model.SetInput(tokensName, tokens);
                model.SetInput(targetName, targets);
            }
            model.Forward();
            model.Backward();
            model.Step(optimizer);
            var loss = model.ReadLoss();
            if (!float.IsFinite(loss))
                throw new NumericsException(Trainer.NonFiniteLoss(output.Name, loss, step, (int)((step - 1) / stepsPerEpoch) + 1,
                    (int)((step - 1) % stepsPerEpoch) + 1, stepsPerEpoch));
            sum += loss;
            count++;
            if (step % options.ReportEvery == 0 || step == totalSteps)
            {
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {step,6}  train {sum / count / Math.Log(2):F3} {unit}  {watch.Elapsed.TotalSeconds:F0} s"));
                sum = 0;
                count = 0;
            }
            if (step % stepsPerEpoch == 0 || step == totalSteps)
            {
                eval.CopyParametersFrom(model);
                var accuracy = double.NaN;
                if (mlm is not null) (heldOut, accuracy) = mlm.Evaluate(eval, data, options.EvalBatches);
                else heldOut = Evaluate(eval, data, tokensName, targetName, options.Batch, length, options.EvalBatches);
                scores = string.Create(CultureInfo.InvariantCulture,
                    $"held-out {heldOut:F3} {unit}{(mlm is null ? "" : $", masked-token accuracy {accuracy * 100:F2}%")}");
                log.WriteLine($"epoch {(step + stepsPerEpoch - 1) / stepsPerEpoch}/{epochs}  {scores}");
                if (options.Checkpoint is { } checkpoint)
                    OutputFiles.Guard(checkpoint, () =>
                    {
                        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(checkpoint))!);
                        Checkpoint.Save(checkpoint, model);
                    });
            }
        }
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"done in {watch.Elapsed.TotalSeconds:F1} s: {scores}{(options.Checkpoint is null ? "" : ", saved " + options.Checkpoint)}"));
        return heldOut;
    }

    /// <summary>A character as the log shows it: quoted, a newline as \n.</summary>
    internal static string Quote(int symbol) => symbol == 0 ? "'\\n'" : $"'{CharVocabulary.Char(symbol)}'";

    /// <summary>Mean cross-entropy over held-out windows (each starting from a zero state), in bits per character.</summary>
    public static double Evaluate(CompiledModel eval, TextDataSet data, string tokensName, string targetName, int batch, int length, int limit)
    {
        var total = 0.0;
        var batches = 0;
        foreach (var (tokens, targets) in data.HeldOutBatches(batch, length, limit))
        {
            eval.SetInput(tokensName, tokens);
            eval.SetInput(targetName, targets);
            eval.Forward();
            total += eval.ReadLoss();
            batches++;
        }
        if (batches == 0) throw new InvalidDataException($"{data.Name}: the held-out text is shorter than one batch of {batch} × {length}");
        return total / batches / Math.Log(2);
    }
}
