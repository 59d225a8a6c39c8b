using System;
using System.IO;
using System.Security.Cryptography;

namespace NeuroDsl.Runtime;

/// <summary>
/// One entry of an on-disk cache: a magic line, the SHA-256 of the body, the body. Shared by the program cache and the
/// command line's model assemblies, so that both read only whole entries and write them safely beside other processes.
/// </summary>
internal static class CacheFile
{
    /// <summary>The body, or null when the entry is missing, unreadable, truncated, of another kind or corrupt.</summary>
    public static byte[]? TryRead(string path, ReadOnlySpan<byte> magic)
    {
        try
        {
            if (!File.Exists(path)) return null;
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length < magic.Length + 32 || !bytes.AsSpan(0, magic.Length).SequenceEqual(magic)) return null;
            var hash = bytes.AsSpan(magic.Length, 32);
            var body = bytes.AsSpan(magic.Length + 32);
            return SHA256.HashData(body).AsSpan().SequenceEqual(hash) ? body.ToArray() : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes the entry whole or not at all: a cache that cannot be written only costs a rebuild.</summary>
    public static void TryWrite(string path, ReadOnlySpan<byte> magic, ReadOnlySpan<byte> body)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            // A name of its own per writer, so that writers in other processes or threads never share a file; the
            // rename replaces the entry whole, so readers see the old entry or the new one, never a mixture.
            var temp = path + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N") + ".tmp";
            try
            {
                using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                {
                    f.Write(magic);
                    f.Write(SHA256.HashData(body));
                    f.Write(body);
                }
                File.Move(temp, path, overwrite: true);
            }
            finally
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
