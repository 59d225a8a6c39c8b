using System;
using System.Buffers.Binary;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace NeuroDsl.Runtime.Data;

/// <summary>A NumPy array read from a <c>.npy</c> file: its shape, its dtype and its values.</summary>
public sealed record NpyArray(long[] Shape, string DType, byte[]? Bytes, float[]? Floats, long[]? Integers)
{
    public long Count => Shape.Length == 0 ? 1 : Shape[0];
    public long Elements => Shape.Aggregate(1L, (a, d) => checked(a * d));
    public string ShapeText => "(" + string.Join(", ", Shape) + (Shape.Length == 1 ? ",)" : ")");
}

/// <summary>
/// Reads NumPy's <c>.npy</c> format (versions 1 to 3, C order, little-endian): uint8 is kept as bytes (images
/// 0..255), float32/float64 become floats, the integer types become 64-bit integers (labels). Sizes are checked.
/// </summary>
public static partial class Npy
{
    [GeneratedRegex(@"'descr'\s*:\s*'(?<d>[^']+)'")]
    private static partial Regex Descr();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(?<f>True|False)")]
    private static partial Regex Fortran();

    [GeneratedRegex(@"'shape'\s*:\s*\((?<s>[^)]*)\)")]
    private static partial Regex ShapeField();

    public static NpyArray Read(string path)
    {
        using var file = File.OpenRead(path);
        return Read(file, path);
    }

    public static NpyArray Read(Stream stream, string name)
    {
        var magic = ReadExactly(stream, 8, name);
        if (magic[0] != 0x93 || Encoding.ASCII.GetString(magic, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{name}: not a .npy file (it does not start with \\x93NUMPY)");
        var major = magic[6];
        var headerLength = major switch
        {
            1 => BinaryPrimitives.ReadUInt16LittleEndian(ReadExactly(stream, 2, name)),
            2 or 3 => (long)BinaryPrimitives.ReadUInt32LittleEndian(ReadExactly(stream, 4, name)),
            _ => throw new InvalidDataException($"{name}: .npy version {major} is not supported (1, 2 or 3)"),
        };
        if (headerLength > 1 << 20) throw new InvalidDataException($"{name}: a header of {headerLength} bytes is not a .npy header");
        var header = Encoding.UTF8.GetString(ReadExactly(stream, (int)headerLength, name));
        var descr = Descr().Match(header);
        var fortran = Fortran().Match(header);
        var shapeField = ShapeField().Match(header);
        if (!descr.Success || !fortran.Success || !shapeField.Success)
            throw new InvalidDataException($"{name}: the .npy header has no descr, fortran_order or shape: {header.Trim()}");
        if (fortran.Groups["f"].Value == "True")
            throw new InvalidDataException($"{name}: the array is in Fortran order; save it with np.ascontiguousarray(x)");
        var shape = shapeField.Groups["s"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => long.TryParse(d.TrimEnd('L'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v
                : throw new InvalidDataException($"{name}: the shape has the dimension '{d}'")).ToArray();
        var dtype = descr.Groups["d"].Value;
        long elements = 1;
        foreach (var d in shape) elements = checked(elements * d);
        var width = dtype switch
        {
            "|u1" or "<u1" or "|i1" or "|b1" => 1,
            "<i2" or "<u2" => 2,
            "<f4" or "<i4" or "<u4" => 4,
            "<f8" or "<i8" or "<u8" => 8,
            _ => throw new InvalidDataException($"{name}: dtype '{dtype}' is not supported (uint8, int8/16/32/64, float32/64, little-endian)"),
        };
        var bytes = checked(elements * width);
        if (bytes > Array.MaxLength) throw new InvalidDataException($"{name}: {elements:N0} values of {dtype} are more than one array holds");
        var raw = ReadExactly(stream, (int)bytes, name);
        var n = (int)elements;
        switch (dtype)
        {
            case "|u1" or "<u1":
                return new NpyArray(shape, dtype, raw, null, null);
            case "<f4":
            {
                var f = new float[n];
                Buffer.BlockCopy(raw, 0, f, 0, raw.Length);
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts");
                return new NpyArray(shape, dtype, null, f, null);
            }
            case "<f8":
            {
                var f = new float[n];
                for (var i = 0; i < n; i++) f[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw.AsSpan(i * 8));
                return new NpyArray(shape, dtype, null, f, null);
            }
            default:
            {
                var v = new long[n];
                for (var i = 0; i < n; i++)
                    v[i] = dtype switch
                    {
                        "|i1" => (sbyte)raw[i],
                        "|b1" => raw[i],
                        "<i2" => BinaryPrimitives.ReadInt16LittleEndian(raw.AsSpan(i * 2)),
                        "<u2" => BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(i * 2)),
                        "<i4" => BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(i * 4)),
                        "<u4" => BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(i * 4)),
                        "<i8" => BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(i * 8)),
                        _ => checked((long)BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(i * 8))),
                    };
                return new NpyArray(shape, dtype, null, null, v);
            }
        }
    }

    /// <summary>Writes a float32 array (for tests and tools).</summary>
    public static void Write(string path, long[] shape, ReadOnlySpan<float> values) =>
        Write(path, shape, "<f4", System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));

    /// <summary>Writes an array of the given dtype from its raw little-endian bytes.</summary>
    public static void Write(string path, long[] shape, string dtype, ReadOnlySpan<byte> raw)
    {
        var dims = string.Join(", ", shape) + (shape.Length == 1 ? "," : "");
        var header = $"{{'descr': '{dtype}', 'fortran_order': False, 'shape': ({dims}), }}";
        var total = 10 + header.Length + 1;
        header += new string(' ', (64 - total % 64) % 64) + "\n";
        using var file = File.Create(path);
        file.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 });
        var length = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)header.Length);
        file.Write(length);
        file.Write(Encoding.ASCII.GetBytes(header));
        file.Write(raw);
    }

    private static byte[] ReadExactly(Stream stream, int count, string name)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = stream.Read(buffer, read, count - read);
            if (n == 0) throw new InvalidDataException($"{name}: truncated (expected {count} bytes, got {read})");
            read += n;
        }
        return buffer;
    }
}
