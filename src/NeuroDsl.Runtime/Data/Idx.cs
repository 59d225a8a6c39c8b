using System;
using System.IO;
using System.IO.Compression;
using System.Linq;

namespace NeuroDsl.Runtime.Data;

/// <summary>An IDX array (LeCun's MNIST format): unsigned bytes with their dimensions.</summary>
public sealed record IdxArray(int[] Dims, byte[] Data)
{
    public int Count => Dims[0];
    public int ItemSize => Data.Length / Math.Max(1, Dims[0]);
}

/// <summary>Reads IDX files, plain or gzip-compressed (detected by their magic bytes). Only unsigned-byte data.</summary>
public static class Idx
{
    public static IdxArray Read(string path)
    {
        using var file = File.OpenRead(path);
        var head = new byte[2];
        var gz = file.Read(head, 0, 2) == 2 && head[0] == 0x1f && head[1] == 0x8b;
        file.Position = 0;
        using Stream stream = gz ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var buffered = new BufferedStream(stream, 1 << 16);
        return Read(buffered, path);
    }

    public static IdxArray Read(Stream stream, string name)
    {
        var magic = ReadExactly(stream, 4, name);
        if (magic[0] != 0 || magic[1] != 0)
            throw new InvalidDataException($"{name}: not an IDX file (magic {magic[0]:x2}{magic[1]:x2}{magic[2]:x2}{magic[3]:x2})");
        if (magic[2] != 0x08)
            throw new InvalidDataException($"{name}: IDX element type 0x{magic[2]:x2} is not supported (only unsigned bytes, 0x08)");
        var rank = magic[3];
        if (rank is 0 or > 4) throw new InvalidDataException($"{name}: IDX rank {rank} is not supported");
        var dims = new int[rank];
        long total = 1;
        for (var i = 0; i < rank; i++)
        {
            var b = ReadExactly(stream, 4, name);
            dims[i] = (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
            if (dims[i] <= 0) throw new InvalidDataException($"{name}: dimension {i} is {dims[i]}");
            // Checked as it goes: four dimensions of 65,536 would wrap a long to 0.
            if (total > int.MaxValue / dims[i]) throw new InvalidDataException($"{name}: the dimensions [{string.Join(", ", dims.Take(i + 1))}] are too many elements");
            total *= dims[i];
        }
        if (total > int.MaxValue) throw new InvalidDataException($"{name}: {total} elements is too many");
        var data = ReadExactly(stream, (int)total, name);
        return new IdxArray(dims, data);
    }

    private static byte[] ReadExactly(Stream stream, int count, string name)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = stream.Read(buffer, read, count - read);
            if (n == 0) throw new InvalidDataException($"{name}: truncated (expected {count} more bytes, got {read})");
            read += n;
        }
        return buffer;
    }
}
