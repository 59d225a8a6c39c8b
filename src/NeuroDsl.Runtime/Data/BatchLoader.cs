using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;

namespace NeuroDsl.Runtime.Data;

/// <summary>One mini-batch in host memory: images [B, C, H, W] and labels [B].</summary>
public sealed class Batch
{
    internal Batch(int size, int imageSize)
    {
        var floats = checked((long)size * imageSize);
        if (floats > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(size), $"a batch of {size} images of {imageSize} floats is more than one array holds");
        Images = new float[floats];
        Labels = new int[size];
    }

    public float[] Images { get; }
    public int[] Labels { get; }
    public int Index { get; internal set; }
}

/// <summary>
/// Assembles shuffled mini-batches on a background thread so the device is not kept waiting. A fixed ring of
/// batch buffers is reused (no allocation per step). The order of epoch e is a pure function of (seed, e), so a
/// run resumed at an epoch boundary sees exactly the batches an uninterrupted run would.
/// Incomplete last batches are dropped (the model's batch size is fixed when it is built). For data-parallel
/// training, shard r of K takes rows [r·B/K, (r+1)·B/K) of every global batch of B: the K shards together are the
/// batch one process would take.
/// </summary>
public sealed class BatchLoader : IDisposable
{
    private readonly ImageDataSet _data;
    private readonly int _batch;
    private readonly int _first;
    private readonly int _rows;
    private readonly BlockingCollection<Batch> _free = new();
    private readonly BlockingCollection<Batch> _ready = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _worker;

    public BatchLoader(ImageDataSet data, int batchSize, ulong seed, int epoch, bool shuffle = true, int depth = 4, int shard = 0, int shards = 1)
    {
        if (batchSize <= 0 || batchSize > data.Count) throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch size must be 1..{data.Count}");
        if (shards <= 0 || shard < 0 || shard >= shards || batchSize % shards != 0)
            throw new ArgumentOutOfRangeException(nameof(shards), $"the batch {batchSize} must divide into {shards} equal shards");
        _data = data;
        _batch = batchSize;
        _rows = batchSize / shards;
        _first = shard * _rows;
        BatchesPerEpoch = data.Count / batchSize;
        for (var i = 0; i < depth; i++) _free.Add(new Batch(_rows, data.ImageSize));
        var order = Order(data.Count, seed, epoch, shuffle);
        _worker = Task.Run(() => Produce(order));
    }

    public int BatchesPerEpoch { get; }

    /// <summary>The example order of an epoch: a Fisher–Yates shuffle seeded by (seed, epoch).</summary>
    public static int[] Order(int count, ulong seed, int epoch, bool shuffle)
    {
        var order = new int[count];
        for (var i = 0; i < count; i++) order[i] = i;
        if (!shuffle) return order;
        var rng = new SplitMix64(seed * 0x9E3779B97F4A7C15UL + (ulong)epoch * 0xD1B54A32D192ED03UL + 1);
        for (var i = count - 1; i > 0; i--)
        {
            var j = (int)(rng.Next() % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    private void Produce(int[] order)
    {
        try
        {
            var size = _data.ImageSize;
            for (var b = 0; b < BatchesPerEpoch; b++)
            {
                var batch = _free.Take(_stop.Token);
                for (var k = 0; k < _rows; k++)
                {
                    var e = order[checked(b * _batch + _first + k)];
                    _data.CopyExample(e, batch.Images.AsSpan(k * size, size));
                    batch.Labels[k] = _data.Labels[e];
                }
                batch.Index = b;
                _ready.Add(batch, _stop.Token);
            }
            _ready.CompleteAdding();
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The next batch, or null at the end of the epoch. Give it back with <see cref="Return"/> once uploaded.</summary>
    public Batch? Next() => _ready.TryTake(out var b, Timeout.Infinite) ? b : null;

    public void Return(Batch batch) => _free.Add(batch);

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _worker.Wait();
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
        _free.Dispose();
        _ready.Dispose();
    }
}
