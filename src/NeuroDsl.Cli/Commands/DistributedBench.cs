using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Distributed;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>mpirun -np K neurodsl bench distributed FILE [--batch B] [--steps S] [--size T=…] [--bucket-kb KB]</c>: the
/// median data-parallel training step on random inputs at a global batch B (B/K per rank), in three modes run by all
/// ranks at once: compute only (no reduction: the step's work under the same contention), gradients reduced after the
/// whole backward pass, and reduced bucket by bucket while backward runs (overlapped). Rank 0 prints the figures:
/// the slowest rank's median for each mode, and the bytes reduced per step against the parameter count.
/// </summary>
internal static class DistributedBench
{
    public static Command Build()
    {
        var file = CommandLine.FileArgument();
        var model = CommandLine.ModelOption();
        var batch = CommandLine.PositiveInt("--batch", "the global batch (default 64), split evenly over the ranks", "B");
        var steps = CommandLine.PositiveInt("--steps", "timed steps per mode after warm-up (default 30)", "S");
        var size = BenchCommand.SizeOption();
        var bucketKb = CommandLine.PositiveDouble("--bucket-kb", "gradient bucket size in KiB (default 1024)", "KB");
        var timeout = CommandLine.PositiveDouble("--timeout", "seconds a collective may wait before this rank gives up (default 120)", "S");
        var command = new Command("distributed", "Data-parallel step time at global batch B on the ranks of mpirun: compute only, "
            + "gradients reduced after backward, reduced during it; bytes reduced per step.") { file, model, batch, steps, size, bucketKb, timeout }
            .WithExamples("mpirun -np 2 neurodsl bench distributed models/lenet5.nd --batch 64");
        command.SetAction(r => Run(r.GetValue(file)!, r.GetValue(model), r.GetValue(batch) ?? 64, r.GetValue(steps) ?? 30,
            BenchCommand.Sizes(r.GetValue(size) ?? Array.Empty<string>()), r.GetValue(bucketKb) ?? 1024, r.GetValue(timeout) ?? 120));
        return command;
    }

    public static int Run(string path, string? modelName, int batch, int steps, Dictionary<string, long> symbols, double bucketKb, double timeout)
    {
        if (symbols.ContainsKey("N")) throw new UsageException("the batch size N is --batch, not --size N=…");
        DistributedRun.CheckSettings(timeout, bucketKb);
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var output = Program.PickModel(result, modelName, path);
        var comm = MpiCommunicator.StartOrSingle();
        comm.Timeout = TimeSpan.FromSeconds(timeout);
        if (batch % comm.Size != 0)
        {
            comm.Dispose(); // every rank refuses the same batch: finalize, so that mpirun reports no improper exit
            throw new UsageException($"--batch {batch} must divide evenly among the {comm.Size} ranks");
        }
        symbols["N"] = batch / comm.Size;
        var type = ModelLoader.Compile(output);
        using var device = Device.Open();
        using var model = ModelLoader.Create(output, type, device, symbols, seed: 1);
        // Each rank its own random shard.
        var rng = new Random(1 + comm.Rank);
        var inputs = model.Inputs.Select(i => (i.Name, Data: i.Buffer.IsInt
            ? (object)Enumerable.Range(0, (int)i.Buffer.Elements).Select(_ => rng.Next(2)).ToArray()
            : Enumerable.Range(0, (int)i.Buffer.Elements).Select(_ => (float)rng.NextDouble()).ToArray())).ToList();
        var adam = new Adam();
        var bucketBytes = (long)(bucketKb * 1024);

        double Median(DataParallel dp)
        {
            var samples = new List<double>();
            for (var s = 0; s < steps + 3; s++)
            {
                var start = Stopwatch.GetTimestamp();
                foreach (var (name, data) in inputs)
                    if (data is int[] ints) model.SetInput(name, ints);
                    else model.SetInput(name, (float[])data);
                model.Forward();
                dp.Backward();
                model.Step(adam);
                dp.ReadLoss();
                device.Finish();
                if (s >= 3) samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            samples.Sort();
            // The slowest rank's median: every rank waits for it at the next reduction.
            var worst = new[] { samples[samples.Count / 2] };
            comm.Allreduce(worst, ReduceOp.Max, "the benchmark's step times");
            return worst[0];
        }

        var alone = new DataParallel(model, new SingleProcess(), bucketBytes);
        var barrier = new[] { 0L };
        comm.Allreduce(barrier, ReduceOp.Max, "the benchmark's start");
        var compute = Median(alone);
        var after = new DataParallel(model, comm, bucketBytes, overlap: false);
        var afterMs = Median(after);
        var overlapped = new DataParallel(model, comm, bucketBytes);
        var overlappedMs = Median(overlapped);
        if (comm.Rank == 0)
        {
            var k = comm.Size;
            var payload = overlapped.PayloadBytesPerStep;
            string Row(string what, double ms) => $"  {what,-34}{ms.ToString("F2", CultureInfo.InvariantCulture),9} ms/step  "
                + $"{(batch / ms * 1000).ToString("N0", CultureInfo.InvariantCulture),8} examples/s";
            Console.Out.WriteLine($"{output.Name} on {k} rank{(k == 1 ? "" : "s")} ({device.Info.Name}), global batch {batch} ({batch / k} per rank), "
                + $"median of {steps} steps, slowest rank");
            Console.Out.WriteLine($"  {output.Ir.Graph.TrainableParameterCount:N0} parameters; {payload:N0} bytes reduced per step "
                + $"(the gradients and the loss) in {overlapped.Buckets.Count} bucket{(overlapped.Buckets.Count == 1 ? "" : "s")} of at most "
                + $"{bucketKb:0.#} KiB; a ring allreduce sends 2(K-1)/K of that per rank: {2.0 * (k - 1) / k * payload:N0} bytes");
            Console.Out.WriteLine(Row("compute only (no reduction)", compute));
            Console.Out.WriteLine(Row("reduced after backward", afterMs));
            Console.Out.WriteLine(Row("reduced while backward runs (DDP)", overlappedMs));
        }
        comm.Dispose();
        return ExitCodes.Ok;
    }
}
