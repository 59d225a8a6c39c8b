using System;
using System.Runtime.InteropServices;

namespace NeuroDsl.Runtime.Distributed;

/// <summary>What a reduction does with the ranks' values.</summary>
public enum ReduceOp { Sum, Min, Max }

/// <summary>
/// The collectives data-parallel training needs, as non-blocking starts and a poll, so that a caller can overlap them
/// with device work and give up after <see cref="Timeout"/>. Buffers are pinned host arrays that stay untouched until
/// the request completes. <see cref="SingleProcess"/> is the one-rank implementation (no MPI library at all);
/// <see cref="MpiCommunicator"/> runs over Open MPI.
/// </summary>
public interface ICommunicator : IDisposable
{
    int Rank { get; }
    int Size { get; }

    /// <summary>How long <see cref="Wait"/> waits for a collective before it decides another rank is gone.</summary>
    TimeSpan Timeout { get; set; }

    /// <summary>Starts an in-place reduction of <paramref name="count"/> elements at <paramref name="data"/> over all ranks.</summary>
    nint StartAllreduce(nint data, int count, Type element, ReduceOp op);

    /// <summary>Starts a broadcast of rank <paramref name="root"/>'s elements into every rank's buffer.</summary>
    nint StartBroadcast(nint data, int count, Type element, int root);

    /// <summary>True once the request has completed.</summary>
    bool Test(ref nint request);
}

/// <summary>Blocking helpers over <see cref="ICommunicator"/>'s starts and polls, with its timeout.</summary>
public static class Collectives
{
    /// <summary>
    /// Polls a request until it completes, yielding the core between polls (the device's threads share it); throws a
    /// <see cref="DistributedException"/> naming <paramref name="what"/> when <see cref="ICommunicator.Timeout"/> passes.
    /// </summary>
    public static void Wait(this ICommunicator comm, ref nint request, string what, Func<bool>? progress = null)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var polls = 0;
        while (!comm.Test(ref request))
        {
            progress?.Invoke();
            if (++polls % 64 == 0 && watch.Elapsed > comm.Timeout) throw comm.TimedOut(what);
            if (polls > 1000) System.Threading.Thread.Sleep(polls > 100_000 ? 1 : 0);
            else System.Threading.Thread.Yield();
        }
    }

    public static DistributedException TimedOut(this ICommunicator comm, string what) =>
        new($"rank {comm.Rank} of {comm.Size}: {what} did not finish within {comm.Timeout.TotalSeconds:0.#} s; another rank has "
            + "died or hung (raise --timeout if a step or an evaluation is slower than that)");

    public static void Allreduce<T>(this ICommunicator comm, T[] values, ReduceOp op, string what) where T : unmanaged
    {
        if (comm.Size == 1) return;
        var handle = GCHandle.Alloc(values, GCHandleType.Pinned);
        try
        {
            var request = comm.StartAllreduce(handle.AddrOfPinnedObject(), values.Length, typeof(T), op);
            comm.Wait(ref request, what);
        }
        finally
        {
            handle.Free();
        }
    }

    public static void Broadcast<T>(this ICommunicator comm, T[] values, int root, string what) where T : unmanaged
    {
        if (comm.Size == 1) return;
        var handle = GCHandle.Alloc(values, GCHandleType.Pinned);
        try
        {
            var request = comm.StartBroadcast(handle.AddrOfPinnedObject(), values.Length, typeof(T), root);
            comm.Wait(ref request, what);
        }
        finally
        {
            handle.Free();
        }
    }
}

/// <summary>One process: every collective is the identity and completes at once. Needs no MPI library.</summary>
public sealed class SingleProcess : ICommunicator
{
    public int Rank => 0;
    public int Size => 1;
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);
    public nint StartAllreduce(nint data, int count, Type element, ReduceOp op) => 0;
    public nint StartBroadcast(nint data, int count, Type element, int root) => 0;
    public bool Test(ref nint request) => true;
    public void Dispose()
    {
    }
}
