using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Numerics;
using System.Runtime.InteropServices;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Runtime.Distributed;

/// <summary>
/// Data-parallel training of one model replica per rank, as PyTorch's DistributedDataParallel does it. Every rank
/// starts from rank 0's parameters; each step, each rank runs forward and backward on its shard of the global batch
/// and the gradients are summed over the ranks in buckets, each started as soon as the backward launch that last
/// writes it has run, so that communication overlaps the rest of the backward pass. The sum is divided by the number
/// of ranks: with equal shards, the mean of the shards' mean-loss gradients is the gradient of the global batch's mean
/// loss, so every rank takes the same optimizer step one process would take on the whole batch.
/// </summary>
/// <remarks>
/// How a bucket is known to be ready: the generated <c>Backward</c> is traced once (its launches recorded, not run);
/// the last launch that binds a parameter's gradient buffer writes it. During each step a hook after that launch
/// enqueues a non-blocking read of the bucket, whose OpenCL event completes once the device has run every launch
/// before it (the queue is in order); the host polls the events and starts MPI_Iallreduce on each completed bucket
/// in a fixed order, the same on every rank, while the device computes the rest of the backward pass. Reduced
/// buckets are scaled and written back with non-blocking writes that the optimizer's launch follows in the queue.
/// </remarks>
public sealed class DataParallel
{
    private readonly CompiledModel _model;
    private readonly List<GradientBucket> _buckets;
    private readonly GradientBucket[] _order;
    private readonly Dictionary<int, List<GradientBucket>> _readyAt;
    private readonly int _launches;
    private readonly float[] _lossHost = GC.AllocateArray<float>(1, pinned: true);
    private nint _lossEvent;
    private int _launch;
    private float _loss;

    public DataParallel(CompiledModel model, ICommunicator communicator, long bucketBytes = 1 << 20, bool overlap = true)
    {
        if (bucketBytes < 4) throw new ArgumentOutOfRangeException(nameof(bucketBytes), "a bucket holds at least one gradient");
        _model = model;
        Communicator = communicator;
        Overlap = overlap;
        var trace = model.TraceBackward();
        _launches = trace.Count;
        _buckets = GradientBucket.Plan(model, trace, bucketBytes);
        _order = _buckets.OrderBy(b => b.ReadyAfter < 0 ? int.MaxValue : b.ReadyAfter).ThenByDescending(b => b.Offset).ToArray();
        _readyAt = _buckets.Where(b => b.ReadyAfter >= 0).GroupBy(b => b.ReadyAfter).ToDictionary(g => g.Key, g => g.ToList());
        _model.Launched = null;
        // The ranks reach this point after compiling the model, building its program and loading data, which may take
        // minutes longer on one than another (as PyTorch's init_process_group, wait up to 30 minutes here).
        var timeout = communicator.Timeout;
        communicator.Timeout = timeout > StartupTimeout ? timeout : StartupTimeout;
        try
        {
            CheckSameModel();
            BroadcastParameters();
        }
        finally
        {
            communicator.Timeout = timeout;
        }
    }

    /// <summary>How long the first collectives wait for every rank to have started.</summary>
    public static TimeSpan StartupTimeout { get; set; } = TimeSpan.FromMinutes(30);

    public ICommunicator Communicator { get; }
    public int Rank => Communicator.Rank;
    public int Size => Communicator.Size;

    /// <summary>False: every bucket is read and reduced only after the whole backward pass (to measure the overlap).</summary>
    public bool Overlap { get; }

    /// <summary>The buckets in the order they are reduced.</summary>
    public IReadOnlyList<GradientBucket> Buckets => _order;

    /// <summary>Bytes each rank contributes to the reductions of one step: every trainable gradient and the loss.</summary>
    public long PayloadBytesPerStep => 4 * (_buckets.Sum(b => b.Count) + 1);

    /// <summary>Seconds the host has spent, after enqueuing backward, until the last bucket was written back (all steps).</summary>
    public double WaitSeconds { get; private set; }

    /// <summary>Global steps taken (a resumed run sets it to the checkpoint's), for messages.</summary>
    public long Steps { get; set; }

    /// <summary>
    /// The backward pass with the gradients summed over the ranks and divided by their number; afterwards the gradient
    /// arena holds the gradient of the global batch's mean loss and <see cref="ReadLoss"/> returns that loss.
    /// </summary>
    public unsafe void Backward()
    {
        Steps++;
        if (Size == 1)
        {
            _model.Backward();
            return;
        }
        var queue = _model.Device.Queue;
        var loss = _model.LossBuffer ?? throw new InvalidOperationException($"{_model.Spec.Name} declares no loss");
        // Refused before the loss's read is queued (the model's Backward would refuse after it, leaving its event).
        if (_model.LossSkipped)
            throw new InvalidOperationException(CompiledModel.LossSkippedMessage(_model.Spec.Name, "differentiate"));
        fixed (float* l = _lossHost)
            ClException.Check(Cl.EnqueueReadBuffer(queue, loss.Handle, 0, 4, l, out _lossEvent), "clEnqueueReadBuffer");
        foreach (var b in _buckets) b.State = 0;
        _launch = 0;
        if (Overlap) _model.Launched = AfterLaunch;
        try
        {
            _model.Backward();
        }
        finally
        {
            _model.Launched = null;
        }
        if (Overlap && _launch != _launches)
            throw new InvalidOperationException($"{_model.Spec.Name}'s backward pass made {_launch} launches, {_launches} when traced "
                + "(ComputeInputGradients changed?); data-parallel training needs the traced pass");
        foreach (var b in _buckets)
            if (b.State == 0) Read(b);
        ClException.Check(Cl.Flush(queue), "clFlush");
        var watch = Stopwatch.StartNew();
        Reduce();
        WaitSeconds += watch.Elapsed.TotalSeconds;
    }

    /// <summary>The global batch's mean loss of the last step (the mean of the ranks' shard means).</summary>
    public float ReadLoss() => Size == 1 ? _model.ReadLoss() : _loss;

    private void AfterLaunch()
    {
        if (_readyAt.TryGetValue(_launch++, out var ready))
        {
            foreach (var b in ready) Read(b);
            // Start the device on what is queued, so the read completes while the host enqueues the rest.
            ClException.Check(Cl.Flush(_model.Device.Queue), "clFlush");
        }
    }

    private unsafe void Read(GradientBucket b)
    {
        fixed (float* h = b.Host)
            ClException.Check(Cl.EnqueueReadBuffer(_model.Device.Queue, _model.GradientArena.Handle, (nuint)(b.Offset * 4),
                (nuint)(b.Count * 4), h, out b.Event), "clEnqueueReadBuffer");
        b.State = 1;
    }

    private static bool Completed(ref nint done)
    {
        if (done == 0) return true;
        ClException.Check(Cl.GetEventStatus(done, out var status), "clGetEventInfo");
        if (status < 0) throw new ClException("a gradient read (event status)", status);
        if (status != 0) return false;
        Cl.ReleaseEvent(done);
        done = 0;
        return true;
    }

    /// <summary>
    /// Starts each bucket's reduction, in the fixed order, once its read is complete, and writes reduced buckets back;
    /// gives up when nothing has progressed for the communicator's timeout.
    /// </summary>
    private unsafe void Reduce()
    {
        var next = 0;
        var done = 0;
        var idle = Stopwatch.StartNew();
        var polls = 0;
        var scale = 1f / Size;
        var queue = _model.Device.Queue;
        while (done < _order.Length)
        {
            var progressed = false;
            if (next < _order.Length)
            {
                var b = _order[next];
                var ready = Completed(ref b.Event) && (b != _buckets[0] || Completed(ref _lossEvent));
                if (ready)
                {
                    if (b == _buckets[0]) b.Host[b.Count] = _lossHost[0];
                    fixed (float* h = b.Host)
                        b.Request = Communicator.StartAllreduce((nint)h, b.Host.Length, typeof(float), ReduceOp.Sum);
                    b.State = 2;
                    next++;
                    progressed = true;
                }
            }
            for (var i = done; i < next; i++)
            {
                var b = _order[i];
                if (b.State != 2 || !Communicator.Test(ref b.Request)) continue;
                Scale(b.Host, scale);
                if (b == _buckets[0]) _loss = b.Host[b.Count];
                fixed (float* h = b.Host)
                    ClException.Check(Cl.EnqueueWriteBuffer(queue, _model.GradientArena.Handle, false, (nuint)(b.Offset * 4),
                        (nuint)(b.Count * 4), h), "clEnqueueWriteBuffer");
                b.State = 3;
                progressed = true;
            }
            while (done < next && _order[done].State == 3) done++;
            if (progressed)
            {
                idle.Restart();
                polls = 0;
                continue;
            }
            if (++polls % 64 == 0 && idle.Elapsed > Communicator.Timeout)
            {
                var stuck = Array.FindIndex(_order, b => b.State != 3);
                throw Communicator.TimedOut($"the allreduce of gradient bucket {stuck + 1} of {_order.Length} (step {Steps})");
            }
            if (polls > 1000) System.Threading.Thread.Sleep(0);
            else System.Threading.Thread.Yield();
        }
    }

    private static void Scale(float[] values, float scale)
    {
        var span = values.AsSpan();
        var vectors = MemoryMarshal.Cast<float, Vector<float>>(span);
        for (var i = 0; i < vectors.Length; i++) vectors[i] *= scale;
        for (var i = vectors.Length * Vector<float>.Count; i < span.Length; i++) span[i] *= scale;
    }

    /// <summary>Every rank must have built the same model: same name, parameter layout and arena size.</summary>
    private void CheckSameModel()
    {
        // A stable FNV-1a of the layout (HashCode is seeded per process).
        var text = _model.Spec.Name + ";" + string.Join(";", _model.Spec.Parameters.Select(p => $"{p.Name}:{p.Offset}:{p.Elements}"));
        var layout = unchecked((long)Fnv(System.Text.Encoding.UTF8.GetBytes(text)));
        var facts = new[] { layout, _model.Spec.ArenaElements, _buckets.Count, _launches };
        var low = (long[])facts.Clone();
        var high = (long[])facts.Clone();
        Communicator.Allreduce(low, ReduceOp.Min, "the check that every rank built the same model");
        Communicator.Allreduce(high, ReduceOp.Max, "the check that every rank built the same model");
        if (!low.SequenceEqual(high))
            throw new DistributedException($"rank {Rank} of {Size}: the ranks built different models or batch shapes "
                + $"({_model.Spec.Name}, {_model.Spec.ArenaElements:N0} arena elements, {_launches} backward launches here); "
                + "run the same FILE and options on every rank");
    }

    private static ulong Fnv(ReadOnlySpan<byte> bytes)
    {
        var h = 14695981039346656037UL;
        foreach (var b in bytes) h = (h ^ b) * 1099511628211UL;
        return h;
    }

    /// <summary>Every rank starts from rank 0's parameters (and statistics), whatever its own seed or checkpoint gave it.</summary>
    public void BroadcastParameters()
    {
        if (Size == 1) return;
        var values = _model.ParameterArena.ReadFloats();
        Communicator.Broadcast(values, 0, "the broadcast of rank 0's parameters");
        _model.ParameterArena.Write<float>(values);
        _model.ParametersChanged();
    }

    /// <summary>
    /// Averages what is not trained but learned from each rank's shard (batch norm's running statistics), before an
    /// evaluation or a checkpoint: the replicas then agree on them as on the parameters.
    /// </summary>
    public void AverageStatistics()
    {
        var spec = _model.Spec;
        if (Size == 1 || spec.ArenaElements == spec.TrainableElements) return;
        var all = _model.ParameterArena.ReadFloats();
        var rest = all.AsSpan((int)spec.TrainableElements).ToArray();
        Communicator.Allreduce(rest, ReduceOp.Sum, "the average of the running statistics");
        Scale(rest, 1f / Size);
        rest.CopyTo(all.AsSpan((int)spec.TrainableElements));
        _model.ParameterArena.Write<float>(all);
        _model.ParametersChanged();
    }

    /// <summary>
    /// Checks that every replica holds the same parameters bit for bit (a fingerprint of the arena reduced with min and
    /// max): the invariant of data-parallel training, checked at each epoch's end.
    /// </summary>
    public void CheckReplicasAgree(string when)
    {
        if (Size == 1) return;
        var values = _model.ParameterArena.ReadFloats();
        var print = unchecked((long)Fnv(MemoryMarshal.AsBytes(values.AsSpan())));
        var low = new[] { print };
        var high = new[] { print };
        Communicator.Allreduce(low, ReduceOp.Min, "the check that the replicas agree");
        Communicator.Allreduce(high, ReduceOp.Max, "the check that the replicas agree");
        if (low[0] != high[0])
            throw new DistributedException($"rank {Rank} of {Size}: the replicas' parameters differ {when}; data-parallel training "
                + "has gone wrong (a nondeterministic kernel, or ranks running different options)");
    }
}
