using System;

namespace NeuroDsl.Runtime.Distributed;

/// <summary>
/// A distributed run cannot go on: MPI is missing or failed, or a collective did not finish in time (another rank
/// died or hung). The message is one line, already naming this rank; the process should exit without finalizing MPI.
/// </summary>
public sealed class DistributedException : Exception
{
    public DistributedException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
