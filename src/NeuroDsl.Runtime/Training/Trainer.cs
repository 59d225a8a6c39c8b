using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using NeuroDsl.Runtime.Data;
using NeuroDsl.Runtime.Distributed;

namespace NeuroDsl.Runtime.Training;

/// <summary>The figures of one epoch, as <c>--metrics</c> writes them.</summary>
public sealed record EpochMetrics(int Epoch, double TrainLoss, double TestLoss, double TestAccuracy,
    double ExamplesPerSecond, double Seconds, float LearningRate)
{
    /// <summary>The loss of every step of the epoch (of the global batch, in a data-parallel run).</summary>
    public IReadOnlyList<float> StepLosses { get; init; } = Array.Empty<float>();
}

/// <summary>
/// Trains an image classifier: a model with one f32 image input, one i32 label input, a scalar loss and a
/// first output of class scores. Each step uploads a batch, runs forward, backward and the optimizer, and
/// reads the loss back (the step's one synchronization), stopping with a <see cref="NumericsException"/> at the first
/// loss that is NaN or infinite. Evaluation runs a second instance of the model,
/// built for a larger batch, on a device-side copy of the parameters in evaluation mode. Given a
/// <see cref="DataParallel"/> of the training instance, it trains on this rank's shard of every global batch
/// (the model is built for the shard) and evaluates this rank's share of the test batches, summed over the ranks.
/// </summary>
public sealed class Trainer
{
    private readonly CompiledModel _train;
    private readonly Lazy<CompiledModel> _eval;
    private readonly string _images;
    private readonly string _labels;
    private readonly string _scores;
    private float[]? _evalImages;

    public Trainer(CompiledModel train, CompiledModel eval, Optimizer optimizer, ImageDataSet trainSet, ImageDataSet testSet, ulong seed,
        DataParallel? parallel = null)
        : this(train, BatchOf(eval, train), () => eval, optimizer, trainSet, testSet, seed, parallel)
    {
    }

    /// <summary>
    /// A trainer whose evaluation model (of batch <paramref name="evalBatch"/>) is made by <paramref name="createEval"/>
    /// when the first evaluation needs it, so that its program build and its buffers' first fill do not delay the first
    /// training step. The caller owns (and disposes) what <paramref name="createEval"/> returns.
    /// </summary>
    public Trainer(CompiledModel train, int evalBatch, Func<CompiledModel> createEval, Optimizer optimizer, ImageDataSet trainSet,
        ImageDataSet testSet, ulong seed, DataParallel? parallel = null)
    {
        Parallel = parallel;
        _train = train;
        _eval = new Lazy<CompiledModel>(() => WithLabelRange(createEval()));
        Optimizer = optimizer;
        TrainSet = trainSet;
        TestSet = testSet;
        Seed = seed;
        _images = train.Inputs.SingleOrDefault(i => !i.Buffer.IsInt)?.Name
                  ?? throw new ArgumentException($"{train.Spec.Name} needs exactly one f32 image input");
        _labels = train.Inputs.SingleOrDefault(i => i.Buffer.IsInt)?.Name
                  ?? throw new ArgumentException($"{train.Spec.Name} needs exactly one i32 label input");
        _scores = train.Outputs.FirstOrDefault()?.Name ?? throw new ArgumentException($"{train.Spec.Name} has no output");
        var image = train.Inputs.Single(i => i.Name == _images).Shape;
        if (image.Skip(1).Aggregate(1L, (a, b) => checked(a * b)) != trainSet.ImageSize)
            throw new ArgumentException($"{train.Spec.Name} takes images of [{string.Join(", ", image.Skip(1))}]; the data has {trainSet.Shape}");
        WithLabelRange(train);
        BatchSize = (int)image[0] * (parallel?.Size ?? 1);
        EvalBatchSize = evalBatch;
        if (testSet.Count % EvalBatchSize != 0) throw new ArgumentException($"the evaluation batch {EvalBatchSize} must divide the test set ({testSet.Count})");
    }

    private static int BatchOf(CompiledModel eval, CompiledModel train) =>
        (int)(eval.Inputs.FirstOrDefault(i => !i.Buffer.IsInt && train.Inputs.Any(t => t.Name == i.Name))?.Shape[0]
               ?? throw new ArgumentException($"{eval.Spec.Name} has no image input of {train.Spec.Name}'s"));

    /// <summary>
    /// Labels name one of the scores' classes: a label past them is refused on upload (unless the caller, who knows the
    /// model's ops, declared the range already).
    /// </summary>
    private CompiledModel WithLabelRange(CompiledModel model)
    {
        var scores = _train.Outputs.First(o => o.Name == _scores).Shape;
        if (scores.Length == 2 && !model.InputRanges.ContainsKey(_labels))
            model.SetInputRange(_labels, scores[1], $"{_train.Spec.Name}'s {_scores} of {scores[1]} classes");
        var batch = (int)model.Inputs.Single(i => i.Name == _images).Shape[0];
        if (model != _train && batch != EvalBatchSize)
            throw new ArgumentException($"the evaluation model's batch is {batch}, not the {EvalBatchSize} it was made for");
        return model;
    }

    public Optimizer Optimizer { get; }
    public ImageDataSet TrainSet { get; }
    public ImageDataSet TestSet { get; }
    public ulong Seed { get; }
    /// <summary>The global batch: the model's batch times the number of ranks.</summary>
    public int BatchSize { get; }

    public DataParallel? Parallel { get; }
    public int EvalBatchSize { get; }
    public long Steps { get; private set; }

    /// <summary>The learning-rate schedule: (epoch, base rate) → rate for that epoch. Default: constant.</summary>
    public Func<int, float, float> Schedule { get; set; } = (_, lr) => lr;

    /// <summary>Runs one epoch (1-based), reporting (batch, batches, loss) after each step, then evaluates.</summary>
    public EpochMetrics RunEpoch(int epoch, float baseLearningRate, Action<int, int, float>? progress = null)
    {
        Optimizer.LearningRate = Schedule(epoch, baseLearningRate);
        _train.Training = true;
        var watch = Stopwatch.StartNew();
        using var loader = new BatchLoader(TrainSet, BatchSize, Seed, epoch, shard: Parallel?.Rank ?? 0, shards: Parallel?.Size ?? 1);
        var losses = new List<float>(loader.BatchesPerEpoch);
        var sum = 0.0;
        var count = 0;
        while (loader.Next() is { } batch)
        {
            _train.SetInput(_images, batch.Images);
            _train.SetInput(_labels, batch.Labels);
            loader.Return(batch);
            _train.Forward();
            if (Parallel is null) _train.Backward();
            else Parallel.Backward();
            _train.Step(Optimizer);
            var loss = Parallel?.ReadLoss() ?? _train.ReadLoss();
            losses.Add(loss);
            count++;
            Steps++;
            // The loss is read back every step anyway, so the check costs nothing: stop at the first step it breaks.
            if (!float.IsFinite(loss))
                throw new NumericsException(NonFiniteLoss(_train.Spec.Name, loss, Steps, epoch, count, loader.BatchesPerEpoch));
            sum += loss;
            progress?.Invoke(count, loader.BatchesPerEpoch, loss);
        }
        var trainSeconds = watch.Elapsed.TotalSeconds;
        Parallel?.CheckReplicasAgree($"after epoch {epoch}");
        var (testLoss, accuracy) = Evaluate();
        return new EpochMetrics(epoch, sum / Math.Max(1, count), testLoss, accuracy,
            count * BatchSize / trainSeconds, watch.Elapsed.TotalSeconds, Optimizer.LearningRate) { StepLosses = losses };
    }

    /// <summary>Reports (batches done, batches) during the test evaluation.</summary>
    public Action<int, int>? EvaluationProgress { get; set; }

    /// <summary>Mean loss and accuracy (argmax of the scores) on the test set, in evaluation mode.</summary>
    public (double Loss, double Accuracy) Evaluate()
    {
        Parallel?.AverageStatistics();
        var eval = _eval.Value;
        eval.CopyParametersFrom(_train);
        eval.Training = false;
        var size = TestSet.ImageSize;
        var classes = (int)eval.Outputs.First(o => o.Name == _scores).Shape[1];
        var lossSum = 0.0;
        var right = 0;
        _evalImages ??= new float[checked((long)EvalBatchSize * size)];
        // Under data parallelism each rank evaluates every ranks-th batch; the sums are added up below.
        var (rank, ranks) = (Parallel?.Rank ?? 0, Parallel?.Size ?? 1);
        var batches = (TestSet.Count / EvalBatchSize - rank + ranks - 1) / ranks;
        var done = 0;
        for (var start = rank * EvalBatchSize; start < TestSet.Count; start += EvalBatchSize * ranks)
        {
            for (var i = 0; i < EvalBatchSize; i++) TestSet.CopyExample(start + i, _evalImages.AsSpan(i * size, size));
            eval.SetInput(_images, _evalImages);
            eval.SetInput(_labels, TestSet.Labels.AsSpan(start, EvalBatchSize));
            eval.Forward();
            lossSum += eval.ReadLoss() * EvalBatchSize;
            var scores = eval.Read(_scores);
            for (var i = 0; i < EvalBatchSize; i++)
            {
                var best = 0;
                for (var c = 1; c < classes; c++)
                    if (scores[i * classes + c] > scores[i * classes + best]) best = c;
                if (best == TestSet.Labels[start + i]) right++;
            }
            EvaluationProgress?.Invoke(++done, batches);
        }
        if (Parallel is { } p)
        {
            var totals = new[] { lossSum, right };
            p.Communicator.Allreduce(totals, ReduceOp.Sum, "the sum of the evaluation's results");
            (lossSum, right) = (totals[0], (int)totals[1]);
        }
        return (lossSum / TestSet.Count, (double)right / TestSet.Count);
    }

    /// <summary>The one-line message for a training loss that became NaN or infinite.</summary>
    public static string NonFiniteLoss(string model, float loss, long step, int epoch, int batch, int batches) =>
        $"{model}: the loss became {Numerics.Describe(loss)} at step {step} (epoch {epoch}, batch {batch} of {batches}); "
        + "training stopped. Lower the learning rate, or find the first layer that goes wrong with --check-numerics";

    /// <summary>Continues a run from a checkpoint's position (its epochs and steps).</summary>
    public void Resume(long steps)
    {
        Steps = steps;
        if (Parallel is not null) Parallel.Steps = steps;
    }
}
