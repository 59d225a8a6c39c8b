using System;
using System.Text.RegularExpressions;
using Silk.NET.OpenCL;

namespace NeuroDsl.Runtime.OpenCl;

/// <summary>An OpenCL call that failed: names the call and the error code's name.</summary>
public sealed class ClException : Exception
{
    public ClException(string call, int status, string? detail = null)
        : base($"{call} failed with {Name(status)} ({status})" + (detail is null ? "" : ": " + detail))
    {
        Call = call;
        Status = status;
    }

    public string Call { get; }
    public int Status { get; }

    internal static void Check(int status, string call)
    {
        if (status != 0) throw new ClException(call, status);
    }

    // Silk.NET's ErrorCodes enum names every status (InvalidKernelArgs = -52); the C name is its words in capitals.
    private static readonly Regex WordStart = new("(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z0-9])(?=[A-Z][a-z])", RegexOptions.Compiled);

    public static string Name(int status) => Enum.GetName(typeof(ErrorCodes), status) is { } name
        ? "CL_" + WordStart.Replace(name, "_").ToUpperInvariant()
        : "CL_ERROR";
}
