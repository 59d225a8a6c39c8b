using System;
using System.IO;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli;

/// <summary>Every failure a command can end in, as one line on stderr and the exit code of <see cref="ExitCodes"/>.</summary>
internal static class Failures
{
    public static int Report(Exception e, string command = "neurodsl COMMAND")
    {
        var (code, message) = Classify(e);
        Console.Error.WriteLine("neurodsl: " + message);
        if (code == ExitCodes.Usage && e is UsageException) Console.Error.WriteLine($"Run '{command} --help' for usage.");
        return code;
    }

    private static (int Code, string Message) Classify(Exception e) => e switch
    {
        UsageException => (ExitCodes.Usage, e.Message),
        OutputException => (ExitCodes.CannotCreate, e.Message),
        FileNotFoundException or DirectoryNotFoundException => (ExitCodes.NoInput, e.Message),
        InvalidDataException or NumericsException => (ExitCodes.DataError, e.Message),
        DeviceMemoryException or DeviceUnavailableException or UnavailableException or DllNotFoundException
            or NeuroDsl.Runtime.Distributed.DistributedException => (ExitCodes.Unavailable, e.Message),
        _ => (ExitCodes.Internal, $"internal error: {e.GetType().Name}: {e.Message} (a bug in neurodsl: please report it "
            + "with the command line; NEURODSL_TRACE=1 prints the stack)" + Trace(e)),
    };

    private static string Trace(Exception e) =>
        System.Environment.GetEnvironmentVariable("NEURODSL_TRACE") == "1" ? "\n" + e : "";
}
