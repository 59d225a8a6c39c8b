using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuroDsl.Runtime.Tuning;

/// <summary>
/// The tuner's files: small JSON files in the program cache's folder (<c>tuning/KIND-HASH.json</c>), keyed by device
/// name, platform and driver, one per kind of choice (<c>gemm</c>, <c>kernels</c>). Reading one that cannot be read,
/// does not parse or names another device or driver gives why (one warning a file and process, the caller's default
/// used); writing goes through a temporary file and a rename, so a reader never sees half of one.
/// </summary>
internal static class TuningStore
{
    private static readonly ConcurrentDictionary<string, bool> Warned = new();

    /// <summary>The folder of tuning files: <c>tuning</c> inside the program cache's folder.</summary>
    public static string Directory => Path.Combine(OpenCl.ProgramCache.Directory, "tuning");

    /// <summary>A key for per-process caches of a device's choices.</summary>
    public static string Key(DeviceInfo info) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
        string.Join("\u0001", info.Name, info.Platform, info.DriverVersion, info.Version)))).ToLowerInvariant();

    /// <summary>The device's file of <paramref name="kind"/> in <paramref name="directory"/>.</summary>
    public static string PathFor(string kind, DeviceInfo info, string directory) => Path.Combine(directory, kind + "-" + Key(info)[..16] + ".json");

    /// <summary>
    /// The device's file of <paramref name="kind"/>: null without one; else the file, or (null, why) when it cannot
    /// be read, does not parse, or was tuned for another device or driver.
    /// </summary>
    public static (TuningFile? File, string? Why) Read(string kind, DeviceInfo info, string directory)
    {
        var path = PathFor(kind, info, directory);
        string text;
        try
        {
            if (!File.Exists(path)) return (null, null);
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, e.Message);
        }
        TuningFile? file;
        try
        {
            file = JsonSerializer.Deserialize<TuningFile>(text, Json);
        }
        catch (JsonException e)
        {
            return (null, $"not valid JSON at line {(e.LineNumber ?? 0) + 1}" + (e.Path is { Length: > 0 } at ? $" ({at})" : ""));
        }
        if (file is null) return (null, "no entries");
        if (file.Device is null) return (null, "it names no device");
        if (file.Device != info.Name || file.Driver != info.DriverVersion)
            return (null, $"it was tuned for '{file.Device}' driver '{file.Driver}'");
        return (file, null);
    }

    /// <summary>Calls <paramref name="warn"/> once per file and process with "ignoring …" and why.</summary>
    public static void Refuse(string path, string what, string why, string fallback, Action<string> warn)
    {
        if (Warned.TryAdd(path, true)) warn($"neurodsl: ignoring the {what} tuning file {path} ({why}); using the {fallback}");
    }

    /// <summary>A file with the device's header, dated now, for <see cref="Write"/>.</summary>
    public static TuningFile NewFile(DeviceInfo info, string shapes, string note) => new()
    {
        Device = info.Name,
        Platform = info.Platform,
        Driver = info.DriverVersion,
        Class = info.Profile.Class.ToString(),
        Tuned = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
        Shapes = shapes,
        Note = note,
    };

    /// <summary>Writes the device's file of <paramref name="kind"/>: a temporary file, then a rename; returns its path.</summary>
    public static string Write(string kind, DeviceInfo info, string directory, TuningFile file)
    {
        System.IO.Directory.CreateDirectory(directory);
        var path = PathFor(kind, info, directory);
        var temp = path + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(file, Json) + "\n");
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        Warned.TryRemove(path, out _);
        return path;
    }

    /// <summary>Where a stored choice came from, as <c>devices</c> and <c>tune</c> show it.</summary>
    public static string Source(TuningFile file) => "tuned " + (file.Tuned ?? "(undated)") + (file.Shapes is { } s ? " on " + s : "");

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

/// <summary>A tuning file: the device it was tuned on, when and on what, and the choice of its kind.</summary>
internal sealed class TuningFile
{
    public string? Device { get; set; }
    public string? Platform { get; set; }
    public string? Driver { get; set; }
    public string? Class { get; set; }
    public string? Tuned { get; set; }
    public string? Shapes { get; set; }
    public string? Note { get; set; }
    public GemmEntry? Gemm { get; set; }
    public KernelsEntry? Kernels { get; set; }

    internal sealed class GemmEntry
    {
        public int Rows { get; set; }
        public int Width { get; set; }
        public int Vectors { get; set; }
        public int Unroll { get; set; }
        public int SmallRows { get; set; }
        public int SmallBelow { get; set; }

        /// <summary>Absent in files written before it existed: 0, the tile of <see cref="Rows"/> rows for every product.</summary>
        public int StreamRows { get; set; }

        /// <summary>The GPU shape's tile (<see cref="GemmGpuTile"/>); absent (null) in files written before it existed: the default.</summary>
        public GemmGpuEntry? Gpu { get; set; }
    }

    internal sealed class GemmGpuEntry
    {
        public int GroupRows { get; set; }
        public int GroupColumns { get; set; }
        public int ItemRows { get; set; }
        public int ItemColumns { get; set; }
        public int TileK { get; set; }
    }

    internal sealed class KernelsEntry
    {
        /// <summary>Whether the settings were tuned with the GPU shapes (they apply only to builds in the same shapes).</summary>
        public bool GpuShapes { get; set; }
        public int RowLanes { get; set; }
        public int Lanes { get; set; }

        /// <summary>Absent in files written before it existed: 0, the default.</summary>
        public int GpuGroup { get; set; }

        /// <summary>Absent in files written before it existed: 0, the default.</summary>
        public int ConvPixels { get; set; }
    }
}
