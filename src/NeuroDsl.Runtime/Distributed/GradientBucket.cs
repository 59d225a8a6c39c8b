using System;
using System.Collections.Generic;
using System.Linq;

namespace NeuroDsl.Runtime.Distributed;

/// <summary>
/// A contiguous range of the gradient arena that is reduced as one message, and the backward launch after which all of
/// its gradients are written (<see cref="ReadyAfter"/>). Its host copy is pinned for the life of the run.
/// </summary>
public sealed class GradientBucket
{
    internal GradientBucket(long offset, long count, int readyAfter, string[] parameters, int extra)
    {
        Offset = offset;
        Count = count;
        ReadyAfter = readyAfter;
        Parameters = parameters;
        Host = GC.AllocateArray<float>(checked((int)count + extra), pinned: true);
    }

    /// <summary>First element in the gradient arena.</summary>
    public long Offset { get; }

    public long Count { get; }

    /// <summary>Index of the backward launch after which the bucket is complete (-1: after the whole backward pass).</summary>
    public int ReadyAfter { get; }

    /// <summary>The parameters whose gradients it carries, in arena order.</summary>
    public IReadOnlyList<string> Parameters { get; }

    internal float[] Host { get; }
    internal nint Event;
    internal nint Request;
    internal int State; // 0 waiting for the device, 1 reading, 2 reducing, 3 done

    /// <summary>
    /// Cuts the trainable prefix of the arena into buckets of at most <paramref name="capBytes"/> (a parameter larger
    /// than that is a bucket of its own), walking from the last parameter to the first, which is the order a backward
    /// pass produces them in; each bucket is ready after the last launch that binds one of its gradients.
    /// </summary>
    internal static List<GradientBucket> Plan(CompiledModel model, IReadOnlyList<DeviceBuffer[]> trace, long capBytes)
    {
        var spec = model.Spec;
        var lastLaunch = new Dictionary<DeviceBuffer, int>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < trace.Count; i++)
            foreach (var b in trace[i]) lastLaunch[b] = i;
        var trainable = spec.Parameters.Select((p, i) => (Spec: p, Gradient: model.Gradients[i].Buffer))
            .Where(p => p.Spec.Trainable && p.Spec.Offset < spec.TrainableElements)
            .OrderByDescending(p => p.Spec.Offset).ToList();
        var buckets = new List<GradientBucket>();
        var end = spec.TrainableElements;
        var names = new List<string>();
        var ready = int.MinValue;
        var start = end;
        void Close(long lo)
        {
            if (end - lo <= 0) return;
            names.Reverse();
            buckets.Add(new GradientBucket(lo, end - lo, ready == int.MinValue ? -1 : ready, names.ToArray(), buckets.Count == 0 ? 1 : 0));
            end = lo;
            names.Clear();
            ready = int.MinValue;
        }
        foreach (var (p, gradient) in trainable)
        {
            // A parameter no backward launch binds keeps its gradient (zero): the bucket is ready after the whole pass.
            var at = lastLaunch.TryGetValue(gradient, out var l) ? l : -1;
            if (names.Count > 0 && (end - p.Offset) * 4 > capBytes) Close(start);
            names.Add(p.Name);
            ready = ready == -1 || at == -1 ? -1 : Math.Max(ready, at);
            start = p.Offset;
        }
        Close(0);
        return buckets;
    }
}
