using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;

namespace NeuroDsl.Runtime;

/// <summary>The hand-written OpenCL C of kernels/*.cl, embedded in this assembly, in file-name order.</summary>
public static class LibraryKernels
{
    private static readonly Assembly Self = typeof(LibraryKernels).Assembly;

    public static string Source { get; } = string.Concat(
        Self.GetManifestResourceNames()
            .Where(n => n.StartsWith("kernels/", System.StringComparison.Ordinal) && n.EndsWith(".cl", System.StringComparison.Ordinal))
            .OrderBy(n => n, System.StringComparer.Ordinal)
            .Select(n =>
            {
                using var reader = new StreamReader(Self.GetManifestResourceStream(n)!);
                return "// ---- " + n + "\n" + reader.ReadToEnd() + "\n";
            }));

    /// <summary>Names of the kernels the library defines; models take these from the library program.</summary>
    public static IReadOnlySet<string> Names { get; } =
        Regex.Matches(Source, @"__kernel\s+void\s+(\w+)").Select(m => m.Groups[1].Value).ToHashSet();

    public const string Options = "-cl-std=CL1.2";

    /// <summary>The library program for a device: built once (and cached on disk), shared by every model.</summary>
    public static nint Program(Device device) => OpenCl.ProgramCache.Get(device, Source, Options, "library");
}
