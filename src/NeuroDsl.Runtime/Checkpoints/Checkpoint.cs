using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace NeuroDsl.Runtime.Checkpoints;

/// <summary>Where a training run stands: epochs done, steps taken, and what the run was started with.</summary>
public sealed record TrainingPosition(int EpochsDone, long Steps, ulong Seed, uint StepIndex);

/// <summary>
/// Checkpoints as safetensors: every parameter (and running statistic) under its layer name, as PyTorch would
/// name it; optimizer state as <c>optimizer.&lt;state&gt;.&lt;parameter&gt;</c> (torch's state names); the training
/// position and optimizer step in the metadata. A file that does not fit the model is refused with the reason.
/// </summary>
public static class Checkpoint
{
    public const string Format = "neurodsl-checkpoint-1";

    public static void Save(string path, CompiledModel model, Optimizer? optimizer = null, TrainingPosition? position = null)
    {
        var tensors = model.Parameters.Select(p => SafeTensor.Of(p.Name, p.Shape, model.Read(p.Name))).ToList();
        var meta = new Dictionary<string, string> { ["format"] = Format, ["model"] = model.Spec.Name };
        if (optimizer is not null)
        {
            meta["optimizer"] = optimizer.Name;
            meta["optimizer.step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture);
            meta["optimizer.lr"] = optimizer.LearningRate.ToString("R", CultureInfo.InvariantCulture);
            var state = optimizer.ExportState(model);
            foreach (var (stateName, arena) in state)
                foreach (var p in model.Spec.Parameters.Where(p => p.Trainable))
                    tensors.Add(SafeTensor.Of($"optimizer.{stateName}.{p.Name}", p.Shape, arena.AsSpan(checked((int)p.Offset), checked((int)p.Elements))));
        }
        if (position is not null)
        {
            meta["epochs_done"] = position.EpochsDone.ToString(CultureInfo.InvariantCulture);
            meta["steps"] = position.Steps.ToString(CultureInfo.InvariantCulture);
            meta["seed"] = position.Seed.ToString(CultureInfo.InvariantCulture);
            meta["step_index"] = position.StepIndex.ToString(CultureInfo.InvariantCulture);
        }
        SafeTensors.Write(path, tensors, meta);
    }

    /// <summary>Loads weights (and optimizer state when given one) into a model; returns the training position if saved.</summary>
    public static TrainingPosition? Load(string path, CompiledModel model, Optimizer? optimizer = null, bool requireAll = true)
    {
        var (tensors, meta) = SafeTensors.Read(path);
        string Refuse(string why) => $"{path} does not fit {model.Spec.Name}: {why}";
        if (meta.TryGetValue("model", out var name) && name != model.Spec.Name)
            throw new InvalidDataException(Refuse($"it was saved from model {name}"));
        var problems = new List<string>();
        foreach (var p in model.Spec.Parameters)
        {
            if (!tensors.TryGetValue(p.Name, out var t))
            {
                if (requireAll) problems.Add($"missing '{p.Name}'");
                continue;
            }
            if (t.DType != "F32") problems.Add($"'{p.Name}' is {t.DType}, expected F32");
            else if (!t.Shape.SequenceEqual(p.Shape)) problems.Add($"'{p.Name}' has shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", p.Shape)}]");
        }
        var known = new HashSet<string>(model.Spec.Parameters.Select(p => p.Name));
        var unexpected = tensors.Keys.Where(k => !known.Contains(k) && !k.StartsWith("optimizer.", StringComparison.Ordinal)).OrderBy(k => k).ToList();
        if (unexpected.Count > 0) problems.Add("unexpected " + string.Join(", ", unexpected.Take(8).Select(k => $"'{k}'")) + (unexpected.Count > 8 ? $" and {unexpected.Count - 8} more" : ""));
        if (problems.Count > 0) throw new InvalidDataException(Refuse(string.Join("; ", problems)));

        if (optimizer is not null)
        {
            if (!meta.TryGetValue("optimizer", out var opt))
                throw new InvalidDataException(Refuse("it holds no optimizer state (it was not saved by a training run)"));
            if (opt != optimizer.Name) throw new InvalidDataException(Refuse($"its optimizer state is {opt}'s, this run uses {optimizer.Name}"));
            var state = new Dictionary<string, float[]>();
            foreach (var stateName in optimizer.StateNames)
            {
                var arena = new float[model.Spec.ArenaElements];
                foreach (var p in model.Spec.Parameters.Where(p => p.Trainable))
                {
                    var key = $"optimizer.{stateName}.{p.Name}";
                    if (!tensors.TryGetValue(key, out var t) || t.DType != "F32" || !t.Shape.SequenceEqual(p.Shape))
                        throw new InvalidDataException(Refuse($"optimizer state '{key}' is missing or has the wrong shape"));
                    t.AsFloats().CopyTo(arena.AsSpan(checked((int)p.Offset)));
                }
                state[stateName] = arena;
            }
            optimizer.ImportState(model, state, long.Parse(meta.GetValueOrDefault("optimizer.step", "0"), CultureInfo.InvariantCulture));
        }
        foreach (var p in model.Spec.Parameters)
            if (tensors.TryGetValue(p.Name, out var t)) model.WriteParameter(p.Name, t.AsFloats());

        if (!meta.TryGetValue("epochs_done", out var epochs)) return null;
        var position = new TrainingPosition(int.Parse(epochs, CultureInfo.InvariantCulture),
            long.Parse(meta.GetValueOrDefault("steps", "0"), CultureInfo.InvariantCulture),
            ulong.Parse(meta.GetValueOrDefault("seed", "0"), CultureInfo.InvariantCulture),
            uint.Parse(meta.GetValueOrDefault("step_index", "0"), CultureInfo.InvariantCulture));
        model.StepIndex = position.StepIndex;
        return position;
    }
}
