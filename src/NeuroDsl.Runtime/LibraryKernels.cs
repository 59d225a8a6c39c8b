using System.IO;
using System.Linq;
using System.Reflection;

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
}
