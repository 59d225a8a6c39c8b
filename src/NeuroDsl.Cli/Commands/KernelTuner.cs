using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Tuning;

namespace NeuroDsl.Cli.Commands;

/// <summary>A kernel-settings candidate's outcome: its time over the default's (lower is faster) and its largest error, or why it was refused.</summary>
internal sealed record KernelTrial(KernelSettings Settings, double Score, double Milliseconds, double Error, string? Refused);

/// <summary>
/// Searches a model's kernel settings (<see cref="KernelSettings"/>: ND_LANES, ND_ROW_LANES, ND_CONV_PIXELS, the GPU
/// group) on its real sizes: each
/// candidate is the model's program built with them, timed over forward and backward passes, and kept only if its loss
/// and parameter gradients pass the reference check. The search goes one setting at a time from the default, over the
/// values <see cref="KernelSettings.Axes"/> gives, skipping settings the model's kernels do not read.
/// </summary>
internal sealed class KernelTuner
{
    /// <summary>
    /// The float64 reference runs once per search; beyond this many multiply-adds (a few seconds of it) the candidates
    /// are checked against the default's results instead. Settable for the tests of that path.
    /// </summary>
    internal double ReferenceMacs { get; init; } = 4e8;

    private readonly ModelOutput _output;
    private readonly Type _type;
    private readonly Device _device;
    private readonly IReadOnlyDictionary<string, long> _symbols;
    private readonly Action<string> _progress;
    private readonly Dictionary<string, object> _inputs = new();
    private Dictionary<string, float[]>? _parameters;
    private List<double[]>? _reference;
    private bool _againstDefault;
    private double[]? _defaultErrors;
    private double? _defaultMs;
    private const ulong Seed = 1;

    public KernelTuner(ModelOutput output, Type type, Device device, IReadOnlyDictionary<string, long> symbols, Action<string> progress)
    {
        _output = output;
        _type = type;
        _device = device;
        _symbols = symbols;
        _progress = progress;
    }

    /// <summary>Every candidate tried, in order (the first is the default).</summary>
    public List<KernelTrial> Tried { get; } = new();

    /// <summary>What the candidates were checked against: "the float64 reference" or "the default's results".</summary>
    public string CheckedAgainst => _againstDefault ? "the default's results" : "the float64 reference";

    /// <summary>
    /// The settings the model's kernels read (the others cannot change how it runs): the build options its kernel text
    /// uses, and the GPU group where a GPU form is launched in it.
    /// </summary>
    public static IReadOnlyList<string> Used(ModelOutput output)
    {
        var launches = output.Plan.Forward.Concat(output.Plan.Backward).ToList();
        var used = new List<string>();
        if (launches.Any(l => l.Lanes)) used.Add("ND_LANES");
        if (launches.Any(l => l.Rows || l.GpuRows)) used.Add("ND_ROW_LANES");
        if (launches.Any(l => l.ByConvPixels is not null)) used.Add("ND_CONV_PIXELS");
        // Attention's GPU forms have work-groups of their own size; the others are launched in the device's GPU group.
        if (launches.Any(l => l.Gpu is not null && !l.GpuRows && l.GpuGroup is null)) used.Add("ND_GPU_GROUP");
        return used;
    }

    /// <summary>
    /// Searches within <paramref name="budget"/> (the default is always tried; no candidate starts after the budget)
    /// and returns the fastest candidate that passed the check, or the default's refusal.
    /// </summary>
    public KernelTrial Run(TimeSpan budget)
    {
        var clock = Stopwatch.StartNew();
        // The settings the model reads start at the class's default; the others keep the device's choice (another
        // model's tuning), so storing this search's choice does not undo that one.
        var used = Used(_output);
        var start = _device.Kernels.Settings;
        foreach (var (setting, _) in KernelSettings.Axes(_device.Info.Profile, _device.GpuShapes).Where(a => used.Contains(a.Setting)))
            start = start.With(setting, KernelSettings.Default(_device.Info.Profile, _device.GpuShapes).Value(setting));
        var best = Try(start);
        if (best.Refused is not null) return best;
        foreach (var (setting, values) in KernelSettings.Axes(_device.Info.Profile, _device.GpuShapes).Where(a => used.Contains(a.Setting)))
            foreach (var value in values)
            {
                var candidate = best.Settings.With(setting, value);
                if (Tried.Any(t => t.Settings == candidate)) continue;
                if (clock.Elapsed > budget) return Chosen(Final(best));
                var result = Try(candidate);
                if (result.Refused is null && result.Score < best.Score) best = result;
            }
        return Chosen(Final(best));
    }

    // The device builds with the choice from here on (not the last candidate's settings).
    private KernelTrial Chosen(KernelTrial best)
    {
        _device.Use(best.Settings);
        return best;
    }

    // One timing can catch a busy moment: the default and the choice are timed again, in turns, and the choice stands
    // only if it is still faster by 2% (less is within the noise of a step's time, and the default is the tested one).
    private KernelTrial Final(KernelTrial best)
    {
        if (best == Tried[0]) return best;
        // Only the new timings: a search's figure may have caught a quiet (or busy) moment the other did not.
        double bestMs = double.PositiveInfinity, defaultMs = double.PositiveInfinity;
        for (var round = 0; round < 2; round++)
        {
            defaultMs = Math.Min(defaultMs, Time(Tried[0].Settings));
            bestMs = Math.Min(bestMs, Time(best.Settings));
        }
        var score = bestMs / defaultMs;
        _progress(string.Create(CultureInfo.InvariantCulture, $"  final: {best.Settings}: {score:F3} x the default's time ({bestMs:F2} against {defaultMs:F2} ms)"));
        return score < 0.98 ? best with { Score = score, Milliseconds = bestMs } : Tried[0] with { Score = 1, Milliseconds = defaultMs };
    }

    private KernelTrial Try(KernelSettings settings)
    {
        KernelTrial result;
        try
        {
            using var model = Build(settings);
            var errors = Check(model);
            var worst = errors.Max();
            string? refused = null;
            if (_defaultErrors is null)
            {
                // The default: the gate for the model's numerics at these sizes, which the op tests check one by one.
                if (!_againstDefault && worst > 1e-2) refused = string.Create(CultureInfo.InvariantCulture, $"error {worst:G3} against {CheckedAgainst}");
                else _defaultErrors = errors;
            }
            else
            {
                // A candidate spreads the same sums differently: within 4 times the default's error on every tensor (and
                // 1e-6 of its largest value), or, checked against the default's results, within 1e-4 of them.
                for (var i = 0; i < errors.Length && refused is null; i++)
                    if (errors[i] > (_againstDefault ? 1e-4 : 4 * Math.Max(_defaultErrors[i], 1e-6)))
                        refused = string.Create(CultureInfo.InvariantCulture,
                            $"{Names()[i]} off by {errors[i]:G3} of its largest value against {CheckedAgainst} (the default: {_defaultErrors[i]:G3})");
            }
            var ms = refused is null ? TimeSteps(model) : double.PositiveInfinity;
            _defaultMs ??= refused is null ? ms : null;
            result = new KernelTrial(settings, _defaultMs is { } d ? ms / d : double.PositiveInfinity, ms, worst, refused);
        }
        catch (Exception e) when (e is Runtime.OpenCl.ClException or ArgumentOutOfRangeException)
        {
            result = new KernelTrial(settings, double.PositiveInfinity, double.PositiveInfinity, double.NaN,
                "did not build or run: " + e.Message.Split('\n')[0]);
        }
        Tried.Add(result);
        _progress(result.Refused is { } why
            ? $"  {settings}: refused ({why})"
            : string.Create(CultureInfo.InvariantCulture,
                $"  {settings}: {result.Score:F3} x the default's time ({result.Milliseconds:F2} ms a forward and backward pass; error {result.Error:G2})"));
        return result;
    }

    private CompiledModel Build(KernelSettings settings)
    {
        _device.Use(settings);
        var model = ModelLoader.Create(_output, _type, _device, _symbols, Seed);
        if (_parameters is null)
        {
            _parameters = model.Parameters.ToDictionary(p => p.Name, p => p.Buffer.ReadFloats());
            var rng = new Random(7);
            foreach (var input in model.Inputs)
                _inputs[input.Name] = input.Buffer.IsInt
                    ? Enumerable.Range(0, (int)input.Buffer.Elements).Select(_ =>
                        rng.Next((int)Math.Min(int.MaxValue, model.InputRanges.TryGetValue(input.Name, out var r) ? r.Limit : 2))).ToArray()
                    : Enumerable.Range(0, (int)input.Buffer.Elements).Select(_ => (float)rng.NextDouble()).ToArray();
        }
        else
            foreach (var (name, values) in _parameters) model.WriteParameter(name, values);
        foreach (var (name, data) in _inputs)
            if (data is int[] ints) model.SetInput(name, ints);
            else model.SetInput(name, (float[])data);
        return model;
    }

    private bool Trains => _output.Ir.Graph.LossId is not null;

    // What is compared: the loss and the parameters' gradients, or, for a model without a loss, its outputs.
    private string[] Names() => Trains
        ? new[] { "the loss" }.Concat(Gradients().Select(g => "grad." + _output.Ir.Graph[g.Leaf].Name)).ToArray()
        : _output.Ir.Graph.Outputs.Select(o => o.Key).ToArray();

    private IEnumerable<(int Leaf, int Gradient)> Gradients() =>
        _output.Ir.Graph.Gradients.Where(g => _output.Ir.Graph[g.Key].Kind == NodeKind.Param).OrderBy(g => g.Key).Select(g => (g.Key, g.Value));

    /// <summary>
    /// The loss and each parameter's gradient after one forward and backward pass, each as its largest difference from
    /// the reference over the reference's largest magnitude. The first call makes the reference: the float64
    /// interpreter when it is affordable at these sizes, else these results themselves (the default's).
    /// </summary>
    private double[] Check(CompiledModel model)
    {
        model.Training = true;
        model.StepIndex = 0;
        model.Forward();
        List<float[]> values;
        if (Trains)
        {
            model.Backward();
            values = new List<float[]> { new[] { model.ReadLoss() } };
            values.AddRange(Gradients().Select(g => model.Read("grad." + _output.Ir.Graph[g.Leaf].Name)));
        }
        else values = _output.Ir.Graph.Outputs.Select(o => model.Read(o.Key)).ToList();
        if (_reference is null)
        {
            _reference = Reference(model);
            _againstDefault = _reference is null;
            _reference ??= values.Select(v => Array.ConvertAll(v, x => (double)x)).ToList();
        }
        return values.Select((v, i) =>
        {
            var r = _reference[i];
            double worst = 0, largest = 0;
            for (var j = 0; j < r.Length; j++)
            {
                worst = Math.Max(worst, Math.Abs(v[j] - r[j]));
                largest = Math.Max(largest, Math.Abs(r[j]));
            }
            return double.IsNaN(worst) || v.Any(float.IsNaN) ? double.PositiveInfinity : worst / Math.Max(largest, 1e-30);
        }).ToArray();
    }

    private List<double[]>? Reference(CompiledModel model)
    {
        var graph = _output.Ir.Graph;
        if (graph.MacsPerExample * 3.0 * _symbols["N"] > ReferenceMacs) return null;
        var symbols = new Dictionary<string, long>(_symbols)
        {
            [ReferenceInterpreter.TrainingSymbol] = 1,
            [ReferenceInterpreter.SeedSymbol] = (uint)(Seed ^ (Seed >> 32)),
            [ReferenceInterpreter.StepSymbol] = model.StepIndex,
        };
        var leaves = new Dictionary<int, double[]>();
        foreach (var p in graph.Params) leaves[p.Id] = Array.ConvertAll(_parameters![p.Name], v => (double)v);
        foreach (var i in graph.Inputs)
            leaves[i.Id] = _inputs[i.Name] is int[] ints ? Array.ConvertAll(ints, v => (double)v) : Array.ConvertAll((float[])_inputs[i.Name], v => (double)v);
        double[][] all;
        try
        {
            all = ReferenceInterpreter.Run(graph, symbols, leaves);
        }
        catch (Exception e) when (e is NotSupportedException or NotImplementedException or KeyNotFoundException)
        {
            _progress("tune: the float64 reference cannot run this model (" + e.Message + "); checking against the default's results");
            return null;
        }
        return Trains ? new[] { all[graph.LossId!.Value] }.Concat(Gradients().Select(g => all[g.Gradient])).ToList()
            : graph.Outputs.Select(o => all[o.Value]).ToList();
    }

    /// <summary>The fastest of forward and backward passes (forward alone without a loss) filling about half a second (at least 5), after two warm-ups.</summary>
    private double TimeSteps(CompiledModel model)
    {
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        for (var s = 0; s < 2 || samples.Count < 5 || (total.Elapsed.TotalSeconds < 0.5 && samples.Count < 50); s++)
        {
            var start = Stopwatch.GetTimestamp();
            model.Forward();
            if (Trains)
            {
                model.Backward();
                model.ReadLoss();
            }
            else model.Device.Finish();
            if (s >= 2) samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return samples.Min();
    }

    private double Time(KernelSettings settings)
    {
        using var model = Build(settings);
        return TimeSteps(model);
    }
}
