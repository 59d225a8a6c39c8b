using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.RegularExpressions;

namespace NeuroDsl.Runtime;

/// <summary>
/// Numbers that went wrong: a loss that became NaN or infinite, or (checking numerics) the first layer whose output or
/// gradient holds a non-finite value. The message is one line that names where.
/// </summary>
public sealed class NumericsException : ArithmeticException
{
    public NumericsException(string message) : base(message)
    {
    }
}

/// <summary>No OpenCL loader or device, or <c>NEURODSL_DEVICE</c> names none: the message lists the devices.</summary>
public sealed class DeviceUnavailableException : InvalidOperationException
{
    public DeviceUnavailableException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}

/// <summary>A model that cannot fit on its device: the message names the model, its sizes and the bytes planned.</summary>
public sealed class DeviceMemoryException : InvalidOperationException
{
    public DeviceMemoryException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}

/// <summary>
/// The check-numerics mode (<c>NEURODSL_CHECK_NUMERICS=1</c>, or <see cref="CompiledModel.CheckNumerics"/>): after
/// every launch the buffers it touched are read back and checked, so the first launch that makes a non-finite value
/// is named with the <c>.nd</c> line it computes. Slow: every launch waits for the device.
/// </summary>
public static class Numerics
{
    /// <summary>Whether new models check numerics unless told otherwise: <c>NEURODSL_CHECK_NUMERICS=1</c>.</summary>
    public static bool FromEnvironment { get; } = Environment.GetEnvironmentVariable("NEURODSL_CHECK_NUMERICS") == "1";

    /// <summary>The index of the first value that is NaN or infinite, or -1.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    /// <summary>"NaN", "+inf" or "-inf".</summary>
    public static string Describe(float value) =>
        float.IsNaN(value) ? "NaN" : float.IsPositiveInfinity(value) ? "+inf" : float.IsNegativeInfinity(value) ? "-inf"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private static readonly Regex KernelHead = new(@"^__kernel\s+void\s+(\w+)\s*\(", RegexOptions.Compiled);
    private static readonly Regex LineComment = new(@"^//\s+(\S+\.nd:\d+\s+.*)$", RegexOptions.Compiled);

    /// <summary>
    /// The <c>.nd</c> lines a program's kernels compute, as their comments say (<c>// file.nd:12  y = ...</c>), by
    /// kernel name, with the program line each kernel starts on.
    /// </summary>
    public static Dictionary<string, (int ProgramLine, List<string> Lines)> KernelLines(string source)
    {
        var result = new Dictionary<string, (int, List<string>)>(StringComparer.Ordinal);
        var pending = new List<string>();
        var lines = source.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (LineComment.Match(line) is { Success: true } c) pending.Add(c.Groups[1].Value);
            else if (KernelHead.Match(line) is { Success: true } k)
            {
                result.TryAdd(k.Groups[1].Value, (i + 1, pending));
                pending = new List<string>();
            }
            // Preprocessor lines (a kernel's `#if ND_GPU` forms) keep the comment above them for the kernel below.
            else if (!line.StartsWith("//", StringComparison.Ordinal) && !line.StartsWith("#", StringComparison.Ordinal))
                pending = new List<string>();
        }
        return result;
    }

    /// <summary>
    /// The kernel around a program line (1-based), and the <c>.nd</c> lines it computes; null outside every kernel.
    /// </summary>
    public static (string Kernel, List<string> Lines)? KernelAt(string source, int programLine)
    {
        (string, List<string>)? best = null;
        var bestLine = 0;
        foreach (var (name, (start, lines)) in KernelLines(source))
            if (start <= programLine && start > bestLine)
            {
                best = (name, lines);
                bestLine = start;
            }
        return best;
    }
}
