using System;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;

namespace NeuroDsl.Testing;

/// <summary>
/// Snapshot testing with Verify's conventions: <c>Class.Method[_name].verified.txt</c> beside the test file is the
/// approved text; on a mismatch <c>.received.txt</c> is written beside it and the failure shows a line diff.
/// Set <c>NEURODSL_ACCEPT_SNAPSHOTS=1</c> to accept received text (read it first: snapshots are reviewed like code).
/// </summary>
public static class Snapshot
{
    public const string AcceptVariable = "NEURODSL_ACCEPT_SNAPSHOTS";

    public static void Verify(string actual, string? name = null, [CallerFilePath] string file = "", [CallerMemberName] string method = "")
    {
        var dir = Path.GetDirectoryName(SourcePath(file))!;
        var stem = Path.GetFileNameWithoutExtension(file) + "." + method + (name is null ? "" : "_" + name);
        var verified = Path.Combine(dir, stem + ".verified.txt");
        var received = Path.Combine(dir, stem + ".received.txt");
        actual = actual.Replace("\r\n", "\n");
        var expected = File.Exists(verified) ? File.ReadAllText(verified).Replace("\r\n", "\n") : null;
        if (expected == actual)
        {
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        if (Environment.GetEnvironmentVariable(AcceptVariable) == "1")
        {
            File.WriteAllText(verified, actual, new UTF8Encoding(false));
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        File.WriteAllText(received, actual, new UTF8Encoding(false));
        var message = expected is null
            ? $"No snapshot {Path.GetFileName(verified)} yet. Review {received}, then accept it with {AcceptVariable}=1."
            : $"Snapshot {Path.GetFileName(verified)} differs (received text in {Path.GetFileName(received)}):\n{Diff(expected, actual)}";
        throw new SnapshotMismatchException(message);
    }

    /// <summary>
    /// The real path of a test source file. Deterministic CI builds map source paths to "/_/…", so those are
    /// resolved against the repository root (the folder above the test binaries that holds NeuroDsl.sln).
    /// </summary>
    private static string SourcePath(string file)
    {
        if (File.Exists(file) || !file.StartsWith("/_/", StringComparison.Ordinal)) return file;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NeuroDsl.sln")))
                return Path.Combine(dir.FullName, file.Substring(3));
        return file;
    }

    /// <summary>A compact line diff: the first differing region with a little context.</summary>
    public static string Diff(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        var start = 0;
        while (start < a.Length && start < b.Length && a[start] == b[start]) start++;
        int endA = a.Length - 1, endB = b.Length - 1;
        while (endA >= start && endB >= start && a[endA] == b[endB])
        {
            endA--;
            endB--;
        }
        var sb = new StringBuilder();
        sb.AppendLine($"@@ line {start + 1} @@");
        for (var i = Math.Max(0, start - 2); i < start; i++) sb.AppendLine("  " + a[i]);
        foreach (var line in a.Skip(start).Take(Math.Min(endA - start + 1, 30))) sb.AppendLine("- " + line);
        foreach (var line in b.Skip(start).Take(Math.Min(endB - start + 1, 30))) sb.AppendLine("+ " + line);
        return sb.ToString();
    }
}

public sealed class SnapshotMismatchException : Exception
{
    public SnapshotMismatchException(string message) : base(message)
    {
    }
}
