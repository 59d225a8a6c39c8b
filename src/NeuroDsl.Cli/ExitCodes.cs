using System.Collections.Generic;
using System.Linq;

namespace NeuroDsl.Cli;

/// <summary>
/// The exit codes, BSD sysexits where one fits. <see cref="Table"/> is the one place they are described: the
/// root command's help prints it, and the README carries the same table.
/// </summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Usage = 64;
    public const int DataError = 65;
    public const int NoInput = 66;
    public const int Unavailable = 69;
    public const int Internal = 70;
    public const int CannotCreate = 73;

    public static readonly IReadOnlyList<(int Code, string Meaning)> Table = new[]
    {
        (Ok, "success"),
        (Usage, "usage: an unknown command or option, a bad value, a model that does not fit the data"),
        (DataError, "bad input: diagnostics in a model file, a bad data or checkpoint file, a label out of range, "
            + "a loss or layer that became NaN or infinite"),
        (NoInput, "a file or directory that was named does not exist"),
        (Unavailable, "no OpenCL device (or NEURODSL_DEVICE names none), the model does not fit in its memory, or a distributed run lost a rank (a collective timed out)"),
        (Internal, "internal error: a bug in neurodsl; please report it with the command line"),
        (CannotCreate, "an output file cannot be written (missing directory, an existing file where a directory goes)"),
    };

    /// <summary>The table as the help text shows it.</summary>
    public static string Text() =>
        "Exit codes:\n" + string.Join("\n", Table.Select(e => $"  {e.Code,-4}{e.Meaning}")) + "\n";
}
