using System;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Distributed;

namespace NeuroDsl.Cli;

/// <summary>
/// <c>train … --distributed</c>: this process is one rank of <c>mpirun -np K</c> (or the only one, without mpirun).
/// It owns the communicator, says which rank writes (rank 0: output, checkpoints, metrics), turns mpirun's SIGTERM
/// (sent to the survivors when a rank dies) into a one-line message, and finalizes MPI only after a clean run.
/// </summary>
internal sealed class DistributedRun : IDisposable
{
    private readonly PosixSignalRegistration? _term;
    private readonly (string Mode, int Rank, long Step)? _fault;
    private bool _finished;

    private DistributedRun(ICommunicator communicator, long bucketBytes, bool overlap)
    {
        Communicator = communicator;
        BucketBytes = bucketBytes;
        Overlap = overlap;
        var (rank, size) = (communicator.Rank, communicator.Size);
        if (size > 1)
            _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => Console.Error.WriteLine(
                $"neurodsl: rank {rank} of {size}: stopped by mpirun (another rank failed or exited); the last checkpoint is whole"));
        _fault = ParseFault(Environment.GetEnvironmentVariable("NEURODSL_TEST_FAULT"));
    }

    public ICommunicator Communicator { get; }
    public long BucketBytes { get; }
    public bool Overlap { get; }
    public bool IsRoot => Communicator.Rank == 0;

    /// <summary>The run's communicator from <c>--distributed</c>, <c>--timeout S</c>, <c>--bucket-kb KB</c> and <c>--no-overlap</c>; null without --distributed.</summary>
    public static DistributedRun? Start(bool on, double timeout, double bucketKb, bool noOverlap)
    {
        if (!on) return null;
        CheckSettings(timeout, bucketKb);
        var communicator = MpiCommunicator.StartOrSingle();
        communicator.Timeout = TimeSpan.FromSeconds(timeout);
        return new DistributedRun(communicator, (long)(bucketKb * 1024), !noOverlap);
    }

    /// <summary>Refuses a --timeout or --bucket-kb the communicator cannot use (checked before anything starts).</summary>
    public static void CheckSettings(double timeout, double bucketKb)
    {
        if (timeout > MaxTimeoutSeconds)
            throw new UsageException($"--timeout takes at most {MaxTimeoutSeconds:0} seconds (a week), not {timeout.ToString(CultureInfo.InvariantCulture)}");
        if (bucketKb < 1)
            throw new UsageException($"--bucket-kb takes at least 1 (KiB), not {bucketKb.ToString(CultureInfo.InvariantCulture)}");
    }

    private const double MaxTimeoutSeconds = 7 * 24 * 3600;

    /// <summary>
    /// The model's batch on this rank: the global batch's share, which must be whole. Every rank refuses the same
    /// batch, so MPI is finalized first (mpirun would otherwise report ranks that exited without finalizing).
    /// </summary>
    public int LocalBatch(int globalBatch)
    {
        if (globalBatch % Communicator.Size != 0)
        {
            Finish();
            throw new UsageException($"--batch {globalBatch} is the global batch; it must divide evenly among the {Communicator.Size} ranks");
        }
        return globalBatch / Communicator.Size;
    }

    public DataParallel Wrap(CompiledModel model) => new(model, Communicator, BucketBytes, Overlap);

    /// <summary>
    /// A test's way to make this rank die (<c>exit</c>) or hang (<c>hang</c>) after a global step:
    /// <c>NEURODSL_TEST_FAULT=exit:RANK:STEP</c>.
    /// </summary>
    public void AfterStep(long step)
    {
        if (_fault is not { } f || f.Rank != Communicator.Rank || f.Step != step) return;
        if (f.Mode == "exit") Environment.Exit(3);
        Thread.Sleep(Timeout.Infinite);
    }

    private static (string, int, long)? ParseFault(string? text)
    {
        var parts = text?.Split(':');
        if (parts is not { Length: 3 } || parts[0] is not ("exit" or "hang")) return null;
        return (parts[0], int.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    /// <summary>The run completed on this rank: finalize MPI on dispose (never after a failure, which would wait for the dead).</summary>
    public void Finish() => _finished = true;

    public void Dispose()
    {
        _term?.Dispose();
        if (_finished) Communicator.Dispose();
    }
}
