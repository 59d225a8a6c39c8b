using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Linq;

namespace NeuroDsl.Runtime;

/// <summary>
/// A diagnostic profiler: with <c>NEURODSL_PROFILE=1</c> every launch is followed by a finish and timed, and
/// the totals per kernel are printed to stderr at exit. It serializes the queue, so never leave it on to measure.
/// </summary>
public static class Profiler
{
    private static readonly ConcurrentDictionary<string, (double Seconds, long Count)> Totals = new();

    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("NEURODSL_PROFILE") == "1";

    static Profiler()
    {
        if (Enabled) AppDomain.CurrentDomain.ProcessExit += (_, _) => Console.Error.Write(Report());
    }

    internal static void Time(Device device, string name, Action launch)
    {
        device.Finish();
        var start = Stopwatch.GetTimestamp();
        launch();
        device.Finish();
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Totals.AddOrUpdate(name, (seconds, 1), (_, t) => (t.Seconds + seconds, t.Count + 1));
    }

    public static string Report()
    {
        var total = Totals.Values.Sum(v => v.Seconds);
        return "kernel profile (seconds, launches, share):\n" + string.Concat(Totals.OrderByDescending(t => t.Value.Seconds).Take(25)
            .Select(t => $"  {t.Key,-36} {t.Value.Seconds,8:F3} s {t.Value.Count,8} {t.Value.Seconds / Math.Max(total, 1e-9) * 100,5:F1}%\n"));
    }
}
