using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuroDsl.Runtime.Tuning;

/// <summary>The GEMM parameters a device runs with, and where they came from ("tuned …" or "default for …").</summary>
public sealed record GemmChoice(GemmConfig Config, string Source);

/// <summary>
/// Where a device's GEMM parameters come from: the tuner's choice, stored as a small JSON file in the program cache's
/// folder (<c>tuning/gemm-HASH.json</c>, keyed by device name, platform and driver version), else the default table
/// by device class. A file that cannot be read, does not parse, names another device or holds parameters gemm.cl
/// refuses is ignored with a one-line warning; the default is used.
/// </summary>
public static class GemmTuning
{
    private static readonly ConcurrentDictionary<string, GemmChoice> Chosen = new();
    private static readonly ConcurrentDictionary<string, bool> Warned = new();

    /// <summary>The folder of tuning files: <c>tuning</c> inside the program cache's folder.</summary>
    public static string Directory => Path.Combine(OpenCl.ProgramCache.Directory, "tuning");

    /// <summary>The choice a device runs with, read once per process.</summary>
    public static GemmChoice For(Device device) =>
        Chosen.GetOrAdd(Key(device.Info), _ => Load(device.Info, Directory, Console.Error.WriteLine));

    /// <summary>Makes <paramref name="choice"/> the device's for the rest of the process (what the tuner just stored).</summary>
    internal static void Use(Device device, GemmChoice choice)
    {
        Chosen[Key(device.Info)] = choice;
        device.UseGemm(choice);
    }

    /// <summary>Stores a tuned choice for the device in <see cref="Directory"/> and runs with it from now on; returns the file.</summary>
    public static string Store(Device device, GemmConfig config, string shapes, string note)
    {
        var path = Save(device.Info, Directory, config, shapes, note);
        Use(device, new GemmChoice(config, "tuned just now"));
        return path;
    }

    /// <summary>The device's tuning file in <paramref name="directory"/>.</summary>
    public static string PathFor(DeviceInfo info, string directory) => Path.Combine(directory, "gemm-" + Key(info)[..16] + ".json");

    private static string Key(DeviceInfo info) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
        string.Join("\u0001", info.Name, info.Platform, info.DriverVersion, info.Version)))).ToLowerInvariant();

    /// <summary>
    /// The tuned choice in <paramref name="directory"/>, else the default of the device's class; a bad file is reported
    /// through <paramref name="warn"/> in one line (once per file and process) and ignored.
    /// </summary>
    public static GemmChoice Load(DeviceInfo info, string directory, Action<string> warn)
    {
        var fallback = new GemmChoice(GemmConfig.Default(info.Profile.Class), $"default for {info.Profile.Class}");
        var path = PathFor(info, directory);
        string text;
        try
        {
            if (!File.Exists(path)) return fallback;
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Refuse(e.Message);
        }
        TuningFile? file;
        try
        {
            file = JsonSerializer.Deserialize<TuningFile>(text, Json);
        }
        catch (JsonException e)
        {
            return Refuse("not valid JSON: " + e.Message.Split('.')[0]);
        }
        if (file?.Gemm is not { } g) return Refuse("no \"gemm\" entry");
        if (file.Device != info.Name || file.Driver != info.DriverVersion)
            return Refuse($"it was tuned for '{file.Device}' driver '{file.Driver}'");
        var config = new GemmConfig(g.Rows, g.Width, g.Vectors, g.Unroll, g.SmallRows, g.SmallBelow, StreamRows: g.StreamRows);
        if (!config.IsValid) return Refuse($"its parameters ({config}) are not ones kernels/gemm.cl accepts");
        return new GemmChoice(config, "tuned " + (file.Tuned ?? "(undated)") + (file.Shapes is { } s ? " on " + s : ""));

        GemmChoice Refuse(string why)
        {
            if (Warned.TryAdd(path, true))
                warn($"neurodsl: ignoring the GEMM tuning file {path} ({why}); using the {fallback.Source}");
            return fallback;
        }
    }

    /// <summary>Stores a tuned choice for the device: a temporary file, then a rename, so readers never see half of it.</summary>
    public static string Save(DeviceInfo info, string directory, GemmConfig config, string shapes, string note)
    {
        System.IO.Directory.CreateDirectory(directory);
        var path = PathFor(info, directory);
        var file = new TuningFile
        {
            Device = info.Name,
            Platform = info.Platform,
            Driver = info.DriverVersion,
            Class = info.Profile.Class.ToString(),
            Tuned = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            Shapes = shapes,
            Note = note,
            Gemm = new GemmEntry
            {
                Rows = config.Rows, Width = config.Width, Vectors = config.Vectors, Unroll = config.Unroll,
                SmallRows = config.SmallRows, SmallBelow = config.SmallBelow, StreamRows = config.StreamRows,
            },
        };
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

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private sealed class TuningFile
    {
        public string? Device { get; set; }
        public string? Platform { get; set; }
        public string? Driver { get; set; }
        public string? Class { get; set; }
        public string? Tuned { get; set; }
        public string? Shapes { get; set; }
        public string? Note { get; set; }
        public GemmEntry? Gemm { get; set; }
    }

    private sealed class GemmEntry
    {
        public int Rows { get; set; }
        public int Width { get; set; }
        public int Vectors { get; set; }
        public int Unroll { get; set; }
        public int SmallRows { get; set; }
        public int SmallBelow { get; set; }

        /// <summary>Absent in files written before it existed: 0, the tile of <see cref="Rows"/> rows for every product.</summary>
        public int StreamRows { get; set; }
    }
}
