using System;
using System.Globalization;
using System.Threading;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Cli;

/// <summary>
/// What a cold start is waiting for, on stderr: a build of an OpenCL program that takes longer than
/// <see cref="Delay"/> shows as <c>building OpenCL program LeNet5 (N=64, 42 KB)… 0.9 s</c>, the first part when the
/// delay has passed, the time when the build ends. Quicker builds (a driver's cache hit) print nothing, so a warm run
/// stays quiet. Kernels that the driver compiles at their first launch (PoCL) are the first step's to report.
/// </summary>
internal static class BuildProgress
{
    public static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(400);

    private static readonly object Gate = new();
    private static Timer? _timer;
    private static int _build;
    private static bool _shown;

    /// <summary>Shows builds from now on; on an MPI rank other than 0 nothing (the ranks' lines would interleave).</summary>
    public static void Install() =>
        ProgramCache.Building = Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") is null or "0" ? Report : null;

    private static void Report(ProgramBuild build)
    {
        lock (Gate)
        {
            if (build.Elapsed is null)
            {
                _shown = false;
                _timer?.Dispose();
                var id = ++_build;
                _timer = new Timer(_ => Show(build, id), null, Delay, Timeout.InfiniteTimeSpan);
                return;
            }
            _timer?.Dispose();
            _timer = null;
            if (_shown)
                Console.Error.WriteLine(build.Failed ? "failed"
                    : build.Elapsed.Value.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s");
            _shown = false;
        }
    }

    private static void Show(ProgramBuild build, int id)
    {
        lock (Gate)
        {
            // A build that ended (or was followed by another) before its timer fired shows nothing.
            if (_timer is null || id != _build || _shown) return;
            var what = (build.Sizes.Length > 0 ? build.Sizes + ", " : "") + (build.SourceChars + 512) / 1024 + " KB";
            // With NEURODSL_VERBOSE=1 the compiler's warnings follow the build: the line is then whole from the start.
            Console.Error.Write($"building OpenCL program {build.Label} ({what})…" + (ProgramCache.Verbose ? "\n" : " "));
            _shown = !ProgramCache.Verbose;
        }
    }
}
