using System;

namespace NeuroDsl.Runtime.Distributed;

/// <summary>
/// MPI_COMM_WORLD of a process started by <c>mpirun</c>, over Open MPI. Errors are returned, not fatal
/// (MPI_ERRORS_RETURN), so a failed collective becomes a <see cref="DistributedException"/> with this rank's name.
/// Dispose finalizes MPI; after a <see cref="DistributedException"/> the process should exit without disposing, as
/// MPI_Finalize would wait for the rank that is gone.
/// </summary>
public sealed class MpiCommunicator : ICommunicator
{
    private bool _disposed;

    private MpiCommunicator(int rank, int size)
    {
        Rank = rank;
        Size = size;
    }

    public int Rank { get; }
    public int Size { get; }
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>True when this process was started by Open MPI's <c>mpirun</c> (its launcher sets these variables).</summary>
    public static bool UnderMpirun =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    /// <summary>Initializes MPI (MPI_THREAD_SERIALIZED) and returns the world communicator.</summary>
    public static MpiCommunicator Start()
    {
        OpenMpi.Load();
        if (!OpenMpi.Initialized())
        {
            var provided = OpenMpi.InitThread(OpenMpi.ThreadSerialized);
            if (provided < OpenMpi.ThreadSerialized)
                throw new DistributedException($"MPI provides thread level {provided}; NeuroDsl needs MPI_THREAD_SERIALIZED (2)");
        }
        OpenMpi.ReturnErrors();
        return new MpiCommunicator(OpenMpi.Rank(), OpenMpi.Size());
    }

    /// <summary>Under mpirun, MPI's world; otherwise one process, with no MPI library loaded.</summary>
    public static ICommunicator StartOrSingle() => UnderMpirun ? Start() : new SingleProcess();

    private static nint TypeOf(Type element) =>
        element == typeof(float) ? OpenMpi.Float : element == typeof(double) ? OpenMpi.Double
        : element == typeof(long) ? OpenMpi.LongLong : throw new ArgumentException($"no MPI type for {element}");

    private static nint OpOf(ReduceOp op) => op switch
    {
        ReduceOp.Sum => OpenMpi.Sum,
        ReduceOp.Min => OpenMpi.Min,
        _ => OpenMpi.Max,
    };

    public nint StartAllreduce(nint data, int count, Type element, ReduceOp op) => Named(() => OpenMpi.Iallreduce(data, count, TypeOf(element), OpOf(op)));

    public nint StartBroadcast(nint data, int count, Type element, int root) => Named(() => OpenMpi.Ibcast(data, count, TypeOf(element), root));

    public bool Test(ref nint request)
    {
        try
        {
            return OpenMpi.Test(ref request);
        }
        catch (DistributedException e)
        {
            throw new DistributedException($"rank {Rank} of {Size}: {e.Message}; another rank has probably died");
        }
    }

    private nint Named(Func<nint> start)
    {
        try
        {
            return start();
        }
        catch (DistributedException e)
        {
            throw new DistributedException($"rank {Rank} of {Size}: {e.Message}");
        }
    }

    /// <summary>Stops the whole job (every rank), for a failure only this rank knows of.</summary>
    public void Abort(int code) => OpenMpi.Abort(code);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        OpenMpi.FinalizeMpi();
    }
}
