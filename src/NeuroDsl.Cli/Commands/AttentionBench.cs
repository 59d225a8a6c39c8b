using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Planning;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>neurodsl bench attention [--seq 1024] [--batch 1] [--heads 4] [--head-size 64] [--steps 3] [--causal]</c>:
/// multi-head attention alone, written from primitives, compiled fused (online softmax) and as written (scores
/// stored), with the planned device memory and the median training-step and forward times of each.
/// </summary>
internal static class AttentionBench
{
    public static Command Build()
    {
        var seq = CommandLine.PositiveInt("--seq", "sequence length T (default 1024)", "T");
        var batch = CommandLine.PositiveInt("--batch", "batch size (default 1)", "B");
        var heads = CommandLine.PositiveInt("--heads", "attention heads (default 4)", "H");
        var headSize = CommandLine.PositiveInt("--head-size", "each head's width (default 64)", "D");
        var steps = CommandLine.PositiveInt("--steps", "timed steps after warm-up (default 3)", "S");
        var causal = new Option<bool>("--causal") { Description = "a causal mask (each position sees only those before it)" };
        var command = new Command("attention", "Attention fused (online softmax, no stored scores) and as written: planned memory, "
            + "training-step and forward times.") { seq, batch, heads, headSize, steps, causal }
            .WithExamples("neurodsl bench attention --seq 1024", "neurodsl bench attention --seq 512 --batch 4 --causal");
        command.SetAction(r => Run(r.GetValue(seq) ?? 1024, r.GetValue(batch) ?? 1, r.GetValue(heads) ?? 4, r.GetValue(headSize) ?? 64,
            r.GetValue(steps) ?? 3, r.GetValue(causal)));
        return command;
    }

    public static int Run(int seq, int batch, int heads, int headSize, int steps, bool causal)
    {
        var text = Model(seq, heads, headSize, causal);
        using var device = Device.Open();
        var symbols = new Dictionary<string, long> { ["N"] = batch };
        var what = $"attention, {heads} heads of {headSize}, sequence {seq}, batch {batch}{(causal ? ", causal" : "")}";
        Console.Out.WriteLine($"| {what} | planned memory | training step | forward | launches per step |");
        Console.Out.WriteLine("| --- | --- | --- | --- | --- |");
        foreach (var fuse in new[] { true, false })
        {
            var output = NeuroCompiler.Compile("attention_bench.nd", text, options: new CompileOptions(fuse)).Models.Single();
            var bytes = BufferPlanner.Elements(output.Plan, symbols).Planned * 4;
            var (train, forward, launches, _) = BenchCommand.StepTimes(output, device, symbols, steps);
            Console.Out.WriteLine($"| {(fuse ? "fused (online softmax)" : "as written (scores stored)")} | {Mib(bytes)} | {Ms(train)} | {Ms(forward)} | {launches} |");
        }
        return ExitCodes.Ok;
    }

    /// <summary>
    /// The layer: scaled dot-product attention on inputs each scaled by a learned vector (so a training step has
    /// parameters to reach, through Q, K and V), loss mean(y · r).
    /// </summary>
    internal static string Model(int seq, int heads, int headSize, bool causal)
    {
        string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        var shape = $"f32[N, {I(heads)}, {I(seq)}, {I(headSize)}]";
        var mask = causal ? $" + causal_mask({I(seq)}, additive: true)" : "";
        return $@"model AttentionBench {{
  input xq: {shape}
  input xk: {shape}
  input xv: {shape}
  input r: {shape}
  param gq: f32[{I(headSize)}] init: ones
  param gk: f32[{I(headSize)}] init: ones
  param gv: f32[{I(headSize)}] init: ones
  scores = matmul(xq * gq, xk * gk, transpose_b: true) / sqrt({I(headSize)}){mask}
  output y = softmax(scores) @ (xv * gv)
  loss mean(y * r)
}}
";
    }

    private static string Ms(double v) => v.ToString("F1", CultureInfo.InvariantCulture) + " ms";

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
}
