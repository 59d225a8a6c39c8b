using System;
using System.Collections.Concurrent;

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

    /// <summary>The folder of tuning files: <c>tuning</c> inside the program cache's folder.</summary>
    public static string Directory => TuningStore.Directory;

    /// <summary>The choice a device runs with, read once per process.</summary>
    public static GemmChoice For(Device device) =>
        Chosen.GetOrAdd(TuningStore.Key(device.Info), _ => Load(device.Info, Directory, Console.Error.WriteLine));

    /// <summary>Makes <paramref name="choice"/> the device's for the rest of the process (what the tuner just stored).</summary>
    internal static void Use(Device device, GemmChoice choice)
    {
        Chosen[TuningStore.Key(device.Info)] = choice;
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
    public static string PathFor(DeviceInfo info, string directory) => TuningStore.PathFor("gemm", info, directory);

    /// <summary>
    /// The tuned choice in <paramref name="directory"/>, else the default of the device's class; a bad file is reported
    /// through <paramref name="warn"/> in one line (once per file and process) and ignored.
    /// </summary>
    public static GemmChoice Load(DeviceInfo info, string directory, Action<string> warn)
    {
        var fallback = new GemmChoice(GemmConfig.For(info.Profile), $"default for {info.Profile.Class}");
        var (file, why) = TuningStore.Read("gemm", info, directory);
        if (why is null && file is null) return fallback;
        if (why is null && file!.Gemm is null) why = "no \"gemm\" entry";
        if (why is null)
        {
            var g = file!.Gemm!;
            var config = new GemmConfig(g.Rows, g.Width, g.Vectors, g.Unroll, g.SmallRows, g.SmallBelow, StreamRows: g.StreamRows)
            {
                Gpu = g.Gpu is { } t ? new GemmGpuTile(t.GroupRows, t.GroupColumns, t.ItemRows, t.ItemColumns, t.TileK) : fallback.Config.Gpu,
            };
            if (config.IsValid) return new GemmChoice(config, TuningStore.Source(file));
            why = $"its parameters ({config}) are not ones kernels/gemm.cl accepts";
        }
        TuningStore.Refuse(PathFor(info, directory), "GEMM", why, fallback.Source, warn);
        return fallback;
    }

    /// <summary>Stores a tuned choice for the device: a temporary file, then a rename, so readers never see half of it.</summary>
    public static string Save(DeviceInfo info, string directory, GemmConfig config, string shapes, string note)
    {
        var file = TuningStore.NewFile(info, shapes, note);
        file.Gemm = new TuningFile.GemmEntry
        {
            Rows = config.Rows, Width = config.Width, Vectors = config.Vectors, Unroll = config.Unroll,
            SmallRows = config.SmallRows, SmallBelow = config.SmallBelow, StreamRows = config.StreamRows,
            Gpu = new TuningFile.GemmGpuEntry
            {
                GroupRows = config.Gpu.GroupRows, GroupColumns = config.Gpu.GroupColumns, ItemRows = config.Gpu.ItemRows,
                ItemColumns = config.Gpu.ItemColumns, TileK = config.Gpu.TileK,
            },
        };
        return TuningStore.Write("gemm", info, directory, file);
    }
}
