using System;
using Silk.NET.OpenCL;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace NeuroDsl.Runtime.OpenCl;

/// <summary>
/// Builds OpenCL programs once per process and, where the driver keeps no cache of its own (<see cref="KeepsBinaries"/>),
/// caches their binaries on disk, keyed by a hash of the source, the build options, the device and the driver version.
/// A cache entry carries a checksum of its binary; an entry that is truncated, corrupt or refused by the driver is
/// rebuilt from source and rewritten. <see cref="Building"/> reports each build from source as it happens.
/// </summary>
public static class ProgramCache
{
    private static readonly ConcurrentDictionary<string, nint> Built = new();
    private static readonly byte[] Magic = Encoding.ASCII.GetBytes("NDPB1\n");

    /// <summary>Directory of cached binaries: <c>NEURODSL_CACHE</c>, else <c>$XDG_CACHE_HOME/neurodsl</c> or <c>~/.cache/neurodsl</c>.</summary>
    public static string Directory
    {
        get
        {
            var explicitDir = Environment.GetEnvironmentVariable("NEURODSL_CACHE");
            if (!string.IsNullOrEmpty(explicitDir)) return explicitDir;
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg;
            return Path.Combine(root, "neurodsl", "programs");
        }
    }

    /// <summary>The outcome of the last <see cref="Get"/>, for tests and diagnostics.</summary>
    public static string LastOutcome { get; private set; } = "";

    /// <summary>
    /// Whether the OpenCL compiler's warnings are wanted (<c>NEURODSL_VERBOSE=1</c>): then they are printed after
    /// each build from source. Otherwise programs are built with <c>-w</c>, so drivers that print their compiler's
    /// chatter themselves (PoCL's "142 warnings generated.") print nothing; errors still come in the build log.
    /// </summary>
    public static bool Verbose => Environment.GetEnvironmentVariable("NEURODSL_VERBOSE") == "1";

    /// <summary>
    /// Called before and after each build from source (not for programs this process or the disk cache already
    /// holds), so that a command can show what a cold start is waiting for. Set it once, before the first build.
    /// </summary>
    public static Action<ProgramBuild>? Building { get; set; }

    /// <summary>
    /// Whether NeuroDsl keeps program binaries on disk for this device: <c>NEURODSL_PROGRAM_BINARIES=1</c> or <c>0</c>
    /// decides; otherwise yes, unless the driver is PoCL with its kernel cache on (<c>POCL_KERNEL_CACHE</c> not 0).
    /// PoCL caches both a program's build and each kernel's machine code, compiled at the kernel's first launch, under
    /// <c>~/.cache/pocl/kcache</c>; asking it for a program's binary makes it compile every kernel of the program
    /// in advance, in a generic form that the launches then do not use: on the development host 17 of the 21
    /// seconds LeNet-5 spent building its three programs on a cold start, and 40 of ResNet-18's 43.
    /// </summary>
    public static bool KeepsBinaries(DeviceInfo info)
    {
        return EnvironmentSettings.Switch("NEURODSL_PROGRAM_BINARIES")
               ?? !(IsPocl(info) && Environment.GetEnvironmentVariable("POCL_KERNEL_CACHE") != "0");
    }

    /// <summary>Whether the device's driver is PoCL, which compiles each kernel at its first launch.</summary>
    public static bool IsPocl(DeviceInfo info) =>
        info.Platform.Contains("Portable Computing Language", StringComparison.Ordinal)
        || info.Platform.Contains("pocl", StringComparison.OrdinalIgnoreCase);

    /// <summary>The program of <paramref name="source"/> built for the device; <paramref name="sizes"/> ("N=64") only describes it.</summary>
    public static nint Get(Device device, string source, string options, string label, string sizes = "")
    {
        if (!Verbose) options += " -w";
        var key = Key(device, source, options);
        // A program belongs to one OpenCL context: the in-process table is per context, the disk cache per device.
        return Built.GetOrAdd(key + "@" + device.Context.ToString("x"), _ => KeepsBinaries(device.Info)
            ? Load(device, source, options, label, key, sizes)
            : Build(device, source, options, label, sizes, "built (the driver caches it)"));
    }

    /// <summary>Releases the programs built for a device's context (called when the device is disposed).</summary>
    internal static void Release(Device device)
    {
        var suffix = "@" + device.Context.ToString("x");
        foreach (var key in Built.Keys.Where(k => k.EndsWith(suffix, StringComparison.Ordinal)).ToList())
            if (Built.TryRemove(key, out var program)) Cl.ReleaseProgram(program);
    }

    internal static string Key(Device device, string source, string options)
    {
        var text = string.Join("\u0001", source, options, device.Info.Name, device.Info.Platform, device.Info.DriverVersion, device.Info.Version);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToLowerInvariant();
    }

    /// <summary>Loads through the disk cache only, bypassing this process's table (for tests).</summary>
    internal static nint LoadUncached(Device device, string source, string options, string label, string key) =>
        Load(device, source, options, label, key, "");

    internal static string PathFor(string key) => Path.Combine(Directory, key + ".bin");

    private static nint Load(Device device, string source, string options, string label, string key, string sizes)
    {
        var path = PathFor(key);
        if (CacheFile.TryRead(path, Magic) is { } binary)
        {
            var program = FromBinary(device, binary, options);
            if (program != 0)
            {
                LastOutcome = "cache hit";
                return program;
            }
            LastOutcome = "cache entry refused, rebuilt";
        }
        else
        {
            LastOutcome = File.Exists(path) ? "cache entry corrupt, rebuilt" : "built";
        }
        var built = Build(device, source, options, label, sizes, LastOutcome);
        TryWriteBinary(path, built);
        return built;
    }

    /// <summary>Builds from source, reporting the build to <see cref="Building"/>.</summary>
    private static nint Build(Device device, string source, string options, string label, string sizes, string outcome)
    {
        var observer = Building;
        observer?.Invoke(new ProgramBuild(label, sizes, source.Length, null));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var failed = true;
        try
        {
            var built = FromSource(device, source, options, label);
            LastOutcome = outcome;
            failed = false;
            return built;
        }
        finally
        {
            // A failed build is reported too, so that what showed its start can end the line.
            observer?.Invoke(new ProgramBuild(label, sizes, source.Length, clock.Elapsed, failed));
        }
    }

    private static unsafe nint FromBinary(Device device, byte[] binary, string options)
    {
        fixed (byte* p = binary)
        {
            var d = device.Id;
            var length = (nuint)binary.Length;
            var bp = p;
            int binaryStatus;
            var program = Cl.CreateProgramWithBinary(device.Context, &d, &length, &bp, &binaryStatus, out var status);
            if (status != 0 || binaryStatus != 0) return 0;
            if (Cl.BuildProgram(program, &d, options) != 0)
            {
                Cl.ReleaseProgram(program);
                return 0;
            }
            return program;
        }
    }

    private static unsafe nint FromSource(Device device, string source, string options, string label)
    {
        var bytes = Encoding.UTF8.GetBytes(source);
        fixed (byte* p = bytes)
        {
            var bp = p;
            var length = (nuint)bytes.Length;
            var program = Cl.CreateProgramWithSource(device.Context, &bp, &length, out var status);
            ClException.Check(status, "clCreateProgramWithSource");
            var d = device.Id;
            var build = Cl.BuildProgram(program, &d, options);
            if (build != 0)
            {
                var log = BuildLog(program, device);
                Cl.ReleaseProgram(program);
                throw new ClException("clBuildProgram", build, DescribeBuildFailure(label, device.Info.Name, source, log));
            }
            if (Verbose && BuildLog(program, device).Trim() is { Length: > 0 } warnings)
                Console.Error.WriteLine($"OpenCL build of {label} on {device.Info.Name}:\n{warnings}");
            return program;
        }
    }

    /// <summary>
    /// A failed build's message: the program, the kernel and the <c>.nd</c> line of the first error (from the kernel's
    /// comments) on the first line, then the compiler's log.
    /// </summary>
    internal static string DescribeBuildFailure(string label, string deviceName, string source, string log)
    {
        var where = "";
        // Clang's forms, which PoCL and most drivers use: "<source>:LINE:COLUMN: error: message" and (PoCL)
        // "error: /tmp/file.cl:LINE:COLUMN: message".
        if (BuildError.Match(log) is { Success: true } m
            && int.TryParse(m.Groups["line"].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var line))
        {
            where = Numerics.KernelAt(source, line) is { } k
                ? $" in kernel {k.Kernel}" + (k.Lines.Count > 0 ? " (" + string.Join("; ", k.Lines) + ")" : "")
                : "";
            where += $", program line {line}: {m.Groups["text"].Value.Trim()}";
        }
        return $"program '{label}' did not build on {deviceName}{where}\n{log}";
    }

    private static readonly Regex BuildError = new(
        @"^(?:error: \S*?:(?<line>\d+):\d+: (?<text>[^\n]*)|\S*?:(?<line>\d+):\d+: (?:fatal )?error: (?<text>[^\n]*))$",
        RegexOptions.Compiled | RegexOptions.Multiline);

    private static unsafe string BuildLog(nint program, Device device)
    {
        if (Cl.GetProgramBuildInfo(program, device.Id, ProgramBuildInfo.BuildLog, 0, null, out var size) != 0) return "(no build log)";
        var buffer = new byte[(int)size];
        fixed (byte* p = buffer) Cl.GetProgramBuildInfo(program, device.Id, ProgramBuildInfo.BuildLog, size, p, out _);
        return Encoding.UTF8.GetString(buffer).TrimEnd('\0', '\n');
    }

    private static unsafe void TryWriteBinary(string path, nint program)
    {
        nuint size = 0;
        if (Cl.GetProgramInfo(program, ProgramInfo.BinarySizes, (nuint)sizeof(nuint), &size, out _) != 0 || size == 0) return;
        var binary = new byte[(int)size];
        fixed (byte* p = binary)
        {
            var bp = p;
            if (Cl.GetProgramInfo(program, ProgramInfo.Binaries, (nuint)sizeof(nint), &bp, out _) != 0) return;
        }
        CacheFile.TryWrite(path, Magic, binary);
    }
}

/// <summary>
/// One build from source: <paramref name="Label"/> names the program (a model's name, or "library"),
/// <paramref name="Sizes"/> its size symbols ("N=64"); <paramref name="Elapsed"/> is null when the build starts;
/// <paramref name="Failed"/> says that it ended with an error (which the caller then gets as an exception).
/// </summary>
public sealed record ProgramBuild(string Label, string Sizes, int SourceChars, TimeSpan? Elapsed, bool Failed = false);
