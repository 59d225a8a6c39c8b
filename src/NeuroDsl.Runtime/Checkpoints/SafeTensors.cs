using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace NeuroDsl.Runtime.Checkpoints;

/// <summary>One tensor of a safetensors file: name, dtype ("F32" or "I32"), shape and little-endian bytes.</summary>
public sealed record SafeTensor(string Name, string DType, long[] Shape, byte[] Data)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);

    public static SafeTensor Of(string name, long[] shape, ReadOnlySpan<float> values) =>
        new(name, "F32", shape, MemoryMarshal.AsBytes(values).ToArray());

    public static SafeTensor Of(string name, long[] shape, ReadOnlySpan<int> values) =>
        new(name, "I32", shape, MemoryMarshal.AsBytes(values).ToArray());

    public float[] AsFloats() => DType == "F32" ? MemoryMarshal.Cast<byte, float>(Data).ToArray()
        : throw new InvalidDataException($"tensor '{Name}' is {DType}, not F32");

    public int[] AsInts() => DType == "I32" ? MemoryMarshal.Cast<byte, int>(Data).ToArray()
        : throw new InvalidDataException($"tensor '{Name}' is {DType}, not I32");
}

/// <summary>
/// The safetensors format (Hugging Face; read by PyTorch's <c>safetensors.torch.load_file</c>): an 8-byte
/// little-endian header length, a JSON header naming each tensor's dtype, shape and byte range, then the data.
/// Writes are atomic (a temporary file renamed over the target); reads check every field before trusting it.
/// </summary>
public static class SafeTensors
{
    private const long MaxHeader = 100 << 20;

    /// <summary>Test hook: runs between writing the header and the data, to simulate a crash mid-save.</summary>
    internal static Action? AfterHeaderWritten;
    private static readonly Dictionary<string, int> ElementSizes = new() { ["F32"] = 4, ["I32"] = 4, ["F64"] = 8, ["I64"] = 8, ["F16"] = 2, ["BF16"] = 2, ["U8"] = 1, ["I8"] = 1, ["BOOL"] = 1 };

    public static void Write(string path, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var dupes = list.GroupBy(t => t.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (dupes.Count > 0) throw new ArgumentException("duplicate tensor names: " + string.Join(", ", dupes));
        using var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var kv in metadata.OrderBy(k => k.Key, StringComparer.Ordinal)) json.WriteString(kv.Key, kv.Value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in list)
            {
                if (t.Data.LongLength != t.Elements * ElementSizes[t.DType])
                    throw new ArgumentException($"tensor '{t.Name}': {t.Data.Length} bytes for shape [{string.Join(", ", t.Shape)}] of {t.DType}");
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType);
                json.WriteStartArray("shape");
                foreach (var d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + t.Data.LongLength);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += t.Data.LongLength;
            }
            json.WriteEndObject();
        }
        // Pad the header with spaces to a multiple of 8 so the data is aligned, as the reference writer does.
        var headerBytes = header.ToArray();
        var padded = (headerBytes.Length + 7) / 8 * 8;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, "." + Path.GetFileName(path) + "." + Environment.ProcessId + ".tmp");
        try
        {
            using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
                f.Write(length);
                f.Write(headerBytes);
                for (var i = headerBytes.Length; i < padded; i++) f.WriteByte((byte)' ');
                AfterHeaderWritten?.Invoke();
                foreach (var t in list) f.Write(t.Data);
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true); // atomic on POSIX: readers see the old file or the new one
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    public static (Dictionary<string, SafeTensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path}");
        var bytes = File.ReadAllBytes(path);
        string Bad(string why) => $"{path} is not a valid safetensors file: {why}";
        if (bytes.Length < 8) throw new InvalidDataException(Bad($"{bytes.Length} bytes is too short for the header length"));
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > MaxHeader || (long)headerLength > bytes.Length - 8)
            throw new InvalidDataException(Bad($"the header claims {headerLength} bytes but the file has {bytes.Length - 8} after the length (truncated?)"));
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(Bad("the header is not JSON (" + e.Message + ")"));
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException(Bad("the header is not a JSON object"));
            var dataStart = 8 + (long)headerLength;
            var dataLength = bytes.LongLength - dataStart;
            var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var ranges = new List<(long Begin, long End, string Name)>();
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    foreach (var m in entry.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw new InvalidDataException(Bad($"metadata '{m.Name}' is not a string"));
                    continue;
                }
                try
                {
                    var dtype = entry.Value.GetProperty("dtype").GetString() ?? "";
                    if (!ElementSizes.TryGetValue(dtype, out var size)) throw new InvalidDataException(Bad($"tensor '{entry.Name}' has unknown dtype '{dtype}'"));
                    var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                    if (shape.Any(d => d < 0)) throw new InvalidDataException(Bad($"tensor '{entry.Name}' has a negative dimension"));
                    var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                    if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                        throw new InvalidDataException(Bad($"tensor '{entry.Name}' has data offsets [{string.Join(", ", offsets)}] outside the {dataLength} data bytes (truncated?)"));
                    var expected = shape.Aggregate(1L, (a, b) => a * b) * size;
                    if (offsets[1] - offsets[0] != expected)
                        throw new InvalidDataException(Bad($"tensor '{entry.Name}' of shape [{string.Join(", ", shape)}] {dtype} needs {expected} bytes, its range has {offsets[1] - offsets[0]}"));
                    ranges.Add((offsets[0], offsets[1], entry.Name));
                    tensors[entry.Name] = new SafeTensor(entry.Name, dtype, shape, bytes.AsSpan((int)(dataStart + offsets[0]), (int)(offsets[1] - offsets[0])).ToArray());
                }
                catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
                {
                    throw new InvalidDataException(Bad($"tensor '{entry.Name}' lacks a valid dtype, shape or data_offsets"));
                }
            }
            var sorted = ranges.OrderBy(r => r.Begin).ToList();
            for (var i = 1; i < sorted.Count; i++)
                if (sorted[i].Begin < sorted[i - 1].End)
                    throw new InvalidDataException(Bad($"tensors '{sorted[i - 1].Name}' and '{sorted[i].Name}' overlap"));
            return (tensors, metadata);
        }
    }
}
