using System;
using System.CommandLine;

namespace NeuroDsl.Cli.Commands;

/// <summary>Every train option, parsed; the defaults that depend on the data set are applied by the trainers.</summary>
internal sealed record TrainOptions(
    string Path, string? Model, string Data, string? DataDir, string? Labels, int? Epochs, int? Batch, string? Optimizer,
    double? LearningRate, double Momentum, string Schedule, ulong Seed, string? Checkpoint, string? Resume, string? Metrics,
    int? Limit, int? TestLimit, bool CheckNumerics, bool Verbose, bool Distributed = false, double Timeout = 60,
    double BucketKb = 1024, bool NoOverlap = false, int? Steps = null, int? SeqLength = null, int? EvalBatches = null,
    double? Minutes = null)
{
    public bool IsSmall => Data is "xor" or "blobs";

    public bool IsText => Data == "fortunes" || Data.StartsWith("text:", StringComparison.Ordinal);
}

/// <summary>
/// <c>neurodsl train FILE --data SET</c>: the options, and the choice between the dense sets (xor, blobs:
/// <see cref="TrainSmall"/>), image sets (<see cref="TrainImages"/>) and text (<see cref="TextTrainCommand"/>). The
/// common options work with the dense and image sets; the distributed ones with image sets, the text ones with text;
/// an option that does not apply to the set is refused by name.
/// </summary>
internal static class TrainCommand
{
    public static Command Build()
    {
        var file = CommandLine.FileArgument();
        var model = CommandLine.ModelOption();
        var data = new Option<string>("--data")
        {
            Description = "fashion-mnist (Debian's dataset-fashion-mnist, or --data-dir DIR); DIR with IDX files; DIR of class "
                + "folders of PNG/JPEG images (DIR/CLASS/*.png, or DIR/train/ and DIR/test/); X.npy with --labels Y.npy; "
                + "xor or blobs (built-in sets for the dense classics); fortunes (Debian's fortunes, character-level) or text:PATH "
                + "for a character language model such as models/char_lstm.nd (a model with an f32 input [N, T] of per-position weights, "
                + "as models/char_bert.nd, learns masked-language modelling). Images are fitted to the model's input shape",
            HelpName = "SET",
            Required = true,
        };
        data.CompletionSources.Add("fashion-mnist", "xor", "blobs", "fortunes");
        var dataDir = new Option<string?>("--data-dir") { Description = "where Fashion-MNIST's four IDX files are", HelpName = "DIR" };
        var labels = new Option<string?>("--labels") { Description = "the labels of --data X.npy: integers 0..K-1, one per example", HelpName = "Y.npy" };
        var epochs = CommandLine.PositiveInt("--epochs", "passes over the data (images: 3; xor/blobs: until all are right, at most 1000)", "E");
        var batch = CommandLine.PositiveInt("--batch", "batch size (images: 64; xor/blobs: the whole set)", "B");
        var optimizer = new Option<string?>("--optimizer") { Description = "adam or sgd (images: adam; xor/blobs: sgd)", HelpName = "NAME" };
        optimizer.AcceptOnlyFromAmong("adam", "sgd");
        var lr = CommandLine.PositiveDouble("--lr", "learning rate (adam 1e-3; sgd 0.05 for images, 0.5 for xor/blobs)");
        var momentum = new Option<double>("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.9, HelpName = "M" };
        var schedule = new Option<string>("--schedule") { Description = "constant, step (halve every 2 epochs) or cosine", DefaultValueFactory = _ => "constant", HelpName = "S" };
        schedule.AcceptOnlyFromAmong("constant", "step", "cosine");
        var seed = CommandLine.PositiveInt("--seed", "initialization, shuffling and dropout seed (default 1)", "S");
        var checkpoint = new Option<string?>("--checkpoint")
        {
            Description = "where to save after each epoch (images: default checkpoints/<file>.safetensors; xor/blobs: only when given)",
            HelpName = "PATH",
        };
        var resume = new Option<string?>("--resume") { Description = "continue from a checkpoint (weights, optimizer state, position)", HelpName = "PATH" };
        var metrics = new Option<string?>("--metrics") { Description = "per-epoch figures as JSON", HelpName = "FILE" };
        var limit = CommandLine.PositiveInt("--limit", "train on the first N examples only");
        var testLimit = CommandLine.PositiveInt("--test-limit", "evaluate on the first N test examples only (xor/blobs: on the training set's first N)");
        var checkNumerics = new Option<bool>("--check-numerics") { Description = "check every layer's output and gradient, naming the first non-finite one (slow)" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "the OpenCL compiler's warnings and more detail on stderr" };
        var distributed = new Option<bool>("--distributed")
        {
            Description = "data-parallel over MPI: run under 'mpirun -np K' (one replica per rank); --batch is the global batch, "
                + "split evenly over the ranks; rank 0 writes checkpoints and metrics (image sets only)",
        };
        var timeout = CommandLine.PositiveDouble("--timeout", "distributed: seconds a collective may wait before this rank gives up (default 60)", "S");
        var bucketKb = CommandLine.PositiveDouble("--bucket-kb", "distributed: gradient bucket size in KiB (default 1024)", "KB");
        var noOverlap = new Option<bool>("--no-overlap") { Description = "distributed: reduce the gradients after backward, not during it" };
        var steps = CommandLine.PositiveInt("--steps", "text: stop after S steps (default: --epochs passes over the text)", "S");
        var seqLength = CommandLine.PositiveInt("--seq-length",
            "text: characters per training sequence, T (default 64; where the model's file fixes T, only that)", "T");
        var evalBatches = CommandLine.PositiveInt("--eval-batches", "text: held-out batches evaluated (default 64)", "B");
        var minutes = CommandLine.PositiveDouble("--minutes", "text: a time budget; when spent, evaluate and save", "M");
        var command = new Command("train", "Train a model on the default OpenCL device (NEURODSL_DEVICE picks another).")
        {
            file, model, data, dataDir, labels, epochs, batch, optimizer, lr, momentum, schedule, seed, checkpoint, resume, metrics,
            limit, testLimit, checkNumerics, verbose, distributed, timeout, bucketKb, noOverlap, steps, seqLength, evalBatches, minutes,
        }.WithExamples(
            "neurodsl train models/lenet5.nd --data fashion-mnist",
            "neurodsl train models/lenet5.nd --data fashion-mnist --epochs 1 --limit 6400 --test-limit 1000",
            "neurodsl train models/resnet20_cifar.nd --data fashion-mnist --batch 32 --limit 3200  (28×28 grey → 3×32×32)",
            "neurodsl train models/mlp.nd --data fashion-mnist   (flat [N, 784] input)",
            "neurodsl train models/xor_mlp.nd --data xor",
            "neurodsl train models/char_lstm.nd --data fortunes --minutes 10   (then: neurodsl generate …)",
            "neurodsl train models/char_bert.nd --data fortunes --minutes 5 --lr 0.0005   (masked-language modelling)",
            "neurodsl train models/lenet5.nd --data photos/      (photos/cat/*.jpg, photos/dog/*.png, …)",
            "neurodsl train models/lenet5.nd --data x.npy --labels y.npy",
            "mpirun -np 2 neurodsl train models/lenet5.nd --data fashion-mnist --distributed");
        command.SetAction(r => Run(new TrainOptions(r.GetValue(file)!, r.GetValue(model), r.GetValue(data)!, r.GetValue(dataDir),
            r.GetValue(labels), r.GetValue(epochs), r.GetValue(batch), r.GetValue(optimizer), r.GetValue(lr), r.GetValue(momentum),
            r.GetValue(schedule)!, (ulong)(r.GetValue(seed) ?? 1), r.GetValue(checkpoint), r.GetValue(resume), r.GetValue(metrics),
            r.GetValue(limit), r.GetValue(testLimit), r.GetValue(checkNumerics), r.GetValue(verbose), r.GetValue(distributed),
            r.GetValue(timeout) ?? 60, r.GetValue(bucketKb) ?? 1024, r.GetValue(noOverlap), r.GetValue(steps), r.GetValue(seqLength),
            r.GetValue(evalBatches), r.GetValue(minutes))));
        return command;
    }

    public static int Run(TrainOptions o)
    {
        if (o.Verbose) System.Environment.SetEnvironmentVariable("NEURODSL_VERBOSE", "1");
        if (o.Checkpoint is not null) OutputFiles.EnsureParent(o.Checkpoint, "--checkpoint");
        if (o.Metrics is not null) OutputFiles.EnsureParent(o.Metrics, "--metrics");
        if (o.Distributed && (o.IsSmall || o.IsText))
            throw new UsageException($"--distributed trains on image sets (--data fashion-mnist, a folder, .npy), not on {o.Data}");
        if (!o.IsText && (o.Steps ?? o.SeqLength ?? o.EvalBatches ?? (object?)o.Minutes) is not null)
            throw new UsageException("--steps, --seq-length, --eval-batches and --minutes are for text (--data fortunes or text:PATH)");
        if (o.IsText && (o.Labels ?? o.DataDir) is not null)
            throw new UsageException("--labels and --data-dir are for image sets; text is --data fortunes or --data text:PATH");
        if (o.Distributed) DistributedRun.CheckSettings(o.Timeout, o.BucketKb);
        if (!o.Distributed && (o.NoOverlap || o.Timeout != 60 || o.BucketKb != 1024))
            throw new UsageException("--timeout, --bucket-kb and --no-overlap set up a --distributed run: add --distributed under mpirun");
        if (o.IsText) TextTrainCommand.CheckOptions(o);
        if (o.Resume is not null && !System.IO.File.Exists(o.Resume)) throw new System.IO.FileNotFoundException($"--resume {o.Resume}: no such file");
        if (o.IsText) return TextTrainCommand.Run(o);
        var compiled = Program.CompileFile(o.Path);
        if (compiled is null) return ExitCodes.DataError;
        var output = Program.PickModel(compiled, o.Model, o.Path);
        if (output.Plan.Loss is null) throw new UsageException($"{output.Name} declares no loss, so it cannot be trained");
        return o.IsSmall ? TrainSmall.Run(o, output) : TrainImages.Run(o, output);
    }

    /// <summary>The learning rate of an epoch under --schedule.</summary>
    public static Func<int, float, float> Schedule(string schedule, int epochs) => schedule switch
    {
        "step" => (e, r) => r * MathF.Pow(0.5f, (e - 1) / 2), // halve every two epochs
        "cosine" => (e, r) => r * 0.5f * (1 + MathF.Cos(MathF.PI * (e - 1) / epochs)),
        _ => (_, r) => r,
    };
}
