using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using NeuroDsl.Models;
using NeuroDsl.Runtime.Data;
using NeuroDsl.Runtime.Distributed;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// Data-parallel training without MPI: the bucket plan, the overlapped backward pass over a stand-in communicator of
/// two identical ranks, the timeout, and the batch shards. (The runs under mpirun are the CLI's DistributedTests.)
/// </summary>
public sealed class DataParallelTests
{
    /// <summary>K ranks that all hold this rank's values: a sum multiplies by K. Requests complete after a few polls.</summary>
    private sealed class IdenticalRanks(int size, int pollsPerRequest = 3) : ICommunicator
    {
        private readonly Dictionary<nint, int> _polls = new();
        private nint _next = 1;
        public List<int> Counts { get; } = new();
        public int Rank => 0;
        public int Size => size;
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
        public bool Never { get; set; }

        public nint StartAllreduce(nint data, int count, Type element, ReduceOp op)
        {
            if (op == ReduceOp.Sum && element == typeof(float))
            {
                var values = new float[count];
                Marshal.Copy(data, values, 0, count);
                for (var i = 0; i < count; i++) values[i] *= size;
                Marshal.Copy(values, 0, data, count);
            }
            Counts.Add(count);
            _polls[_next] = pollsPerRequest;
            return _next++;
        }

        public nint StartBroadcast(nint data, int count, Type element, int root) => StartAllreduce(data, count, element, ReduceOp.Max);

        public bool Test(ref nint request)
        {
            if (Never || --_polls[request] > 0) return false;
            request = 0;
            return true;
        }

        public void Dispose()
        {
        }
    }

    private static void RandomInputs(LeNet5 model, int n, int seed)
    {
        var rng = new Random(seed);
        model.SetInput("image", Enumerable.Range(0, n * 32 * 32).Select(_ => (float)rng.NextDouble()).ToArray());
        model.SetInput("label", Enumerable.Range(0, n).Select(_ => rng.Next(10)).ToArray());
    }

    [Fact]
    public void Buckets_CoverTheTrainableArena_InTheOrderBackwardWritesThem()
    {
        using var model = new LeNet5(TestDevice.Instance, N: 4, seed: 1);
        var dp = new DataParallel(model, new SingleProcess(), bucketBytes: 16 * 1024);
        var byOffset = dp.Buckets.OrderBy(b => b.Offset).ToList();
        Assert.True(byOffset.Count >= 3, $"{byOffset.Count} buckets");
        Assert.Equal(0, byOffset[0].Offset);
        for (var i = 1; i < byOffset.Count; i++) Assert.Equal(byOffset[i - 1].Offset + byOffset[i - 1].Count, byOffset[i].Offset);
        Assert.Equal(model.Spec.TrainableElements, byOffset[^1].Offset + byOffset[^1].Count);
        var trainable = model.Spec.Parameters.Where(p => p.Trainable).Select(p => p.Name).OrderBy(n => n).ToList();
        Assert.Equal(trainable, dp.Buckets.SelectMany(b => b.Parameters).OrderBy(n => n).ToList());
        // Each bucket is ready after the last backward launch that binds one of its gradients, and they are reduced in
        // that order: the output layer's before the first convolution's, which comes last.
        var trace = model.TraceBackward();
        int Last(string parameter)
        {
            var gradient = model.Gradients.Single(g => g.Name == "grad." + parameter).Buffer;
            return Enumerable.Range(0, trace.Count).Last(i => trace[i].Contains(gradient));
        }
        foreach (var bucket in dp.Buckets) Assert.Equal(bucket.Parameters.Max(Last), bucket.ReadyAfter);
        var ready = dp.Buckets.Select(b => b.ReadyAfter).ToList();
        Assert.Equal(ready.OrderBy(r => r), ready);
        Assert.Contains("c1.weight", dp.Buckets[^1].Parameters);
        Assert.True(dp.Buckets.First(b => b.Parameters.Contains("logits.bias")).ReadyAfter < ready[^1]);
        Assert.Equal(4 * (model.Spec.TrainableElements + 1), dp.PayloadBytesPerStep);
    }

    [Theory]
    [InlineData(16 * 1024, true)]
    [InlineData(1 << 20, true)]
    [InlineData(16 * 1024, false)]
    public void OverlappedBackward_OverIdenticalRanks_GivesTheSingleProcessGradientsAndLoss(int bucketBytes, bool overlap)
    {
        using var plain = new LeNet5(TestDevice.Instance, N: 8, seed: 5);
        using var replica = new LeNet5(TestDevice.Instance, N: 8, seed: 5);
        var ranks = new IdenticalRanks(2);
        var dp = new DataParallel(replica, ranks, bucketBytes, overlap);
        Assert.Equal(replica.Spec.ArenaElements, ranks.Counts[^1]); // the broadcast of rank 0's parameters
        var started = ranks.Counts.Count;
        for (var step = 0; step < 3; step++)
        {
            RandomInputs(plain, 8, step);
            RandomInputs(replica, 8, step);
            plain.Forward();
            plain.Backward();
            replica.Forward();
            dp.Backward();
            // Sum of two equal ranks divided by two: exact, so the gradients are the single process's bit for bit.
            var expected = plain.GradientArena.ReadFloats().AsSpan(0, (int)plain.Spec.TrainableElements).ToArray();
            var actual = replica.GradientArena.ReadFloats().AsSpan(0, (int)plain.Spec.TrainableElements).ToArray();
            Assert.Equal(expected, actual);
            Assert.Equal(plain.ReadLoss(), dp.ReadLoss());
        }
        Assert.Equal(3 * dp.Buckets.Count, ranks.Counts.Count - started);
    }

    [Fact]
    public void AStalledAllreduce_TimesOut_NamingTheBucketAndStep()
    {
        using var model = new LeNet5(TestDevice.Instance, N: 4, seed: 1);
        var ranks = new IdenticalRanks(2);
        var dp = new DataParallel(model, ranks, 1 << 20);
        ranks.Never = true;
        ranks.Timeout = TimeSpan.FromMilliseconds(300);
        RandomInputs(model, 4, 1);
        model.Forward();
        var e = Assert.Throws<DistributedException>(() => dp.Backward());
        Assert.Equal("rank 0 of 2: the allreduce of gradient bucket 1 of 1 (step 1) did not finish within 0.3 s; another rank has died "
            + "or hung (raise --timeout if a step or an evaluation is slower than that)", e.Message);
    }

    [Fact]
    public void Shards_OfEveryGlobalBatch_AreTheBatchOneProcessTakes()
    {
        var rng = new Random(2);
        var images = Enumerable.Range(0, 40 * 4).Select(_ => (float)rng.NextDouble()).ToArray();
        var labels = Enumerable.Range(0, 40).Select(i => i % 10).ToArray();
        var data = new ImageDataSet("tiny", images, labels, 2, 2, 10);
        var whole = Batches(new BatchLoader(data, 8, 7, 1));
        var shards = Enumerable.Range(0, 4).Select(r => Batches(new BatchLoader(data, 8, 7, 1, shard: r, shards: 4))).ToList();
        Assert.Equal(5, whole.Count);
        for (var b = 0; b < whole.Count; b++)
        {
            Assert.Equal(whole[b].Labels, shards.SelectMany(s => s[b].Labels).ToArray());
            Assert.Equal(whole[b].Images, shards.SelectMany(s => s[b].Images).ToArray());
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchLoader(data, 8, 7, 1, shard: 0, shards: 3));
    }

    private static List<(float[] Images, int[] Labels)> Batches(BatchLoader loader)
    {
        using (loader)
        {
            var list = new List<(float[], int[])>();
            while (loader.Next() is { } b)
            {
                list.Add(((float[])b.Images.Clone(), (int[])b.Labels.Clone()));
                loader.Return(b);
            }
            return list;
        }
    }
}
