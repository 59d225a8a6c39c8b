using System;
using System.IO;

namespace NeuroDsl.Cli;

/// <summary>Output paths checked before any work is done, and written with one-line failures (exit 73).</summary>
internal static class OutputFiles
{
    /// <summary>Refuses a file path whose directory is missing or which is a directory.</summary>
    public static void CheckFile(string path, string option)
    {
        if (Directory.Exists(path)) throw new OutputException($"{option} {path} is a directory; name a file");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null && !Directory.Exists(dir))
            throw new OutputException($"{option} {path}: the directory {dir} does not exist; create it first");
    }

    /// <summary>Creates a file path's directory when missing (training outputs); refuses a path that is a directory.</summary>
    public static void EnsureParent(string path, string option)
    {
        if (Directory.Exists(path)) throw new OutputException($"{option} {path} is a directory; name a file");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is null || Directory.Exists(dir)) return;
        if (File.Exists(dir)) throw new OutputException($"{option} {path}: {dir} is a file, not a directory");
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"{option} {path}: cannot create {dir} ({e.Message})");
        }
    }

    /// <summary>Refuses a directory path that is an existing file; a missing directory is created.</summary>
    public static void CheckDirectory(string path, string option)
    {
        if (File.Exists(path)) throw new OutputException($"{option} {path} is a file; it names the directory to write into");
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"{option} {path}: cannot create the directory ({e.Message})");
        }
    }

    public static void Write(string path, string text) => Guard(path, () => File.WriteAllText(path, text));

    public static void Guard(string path, Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"cannot write {path}: {e.Message}");
        }
    }
}
