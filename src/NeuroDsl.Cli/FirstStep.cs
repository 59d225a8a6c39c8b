using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;

namespace NeuroDsl.Cli;

/// <summary>
/// Time to first step, the figure a cold start is judged by: from the process's start to the first training step's
/// loss, and how much of it the step itself took. A driver that compiles each kernel at its first launch (PoCL) does
/// it inside that step, so a step that has not finished after <see cref="Patience"/> is announced while it runs
/// (<c>waiting</c> is called once, on a timer thread) instead of leaving a silent bar at 0%.
/// </summary>
internal sealed class FirstStep : IDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(1);

    private readonly Stopwatch _step = new();
    private readonly bool _compilesAtLaunch;
    private Timer? _timer;
    private TimeSpan? _sinceStart;

    /// <param name="compilesAtLaunch">Whether the driver compiles kernels at their first launch (PoCL does).</param>
    public FirstStep(bool compilesAtLaunch) => _compilesAtLaunch = compilesAtLaunch;

    public bool CompilesAtLaunch => _compilesAtLaunch;

    /// <summary>Starts timing the step; <paramref name="waiting"/> runs once if it is still going after <see cref="Patience"/>.</summary>
    public void Start(Action waiting)
    {
        _step.Restart();
        _timer = new Timer(_ => waiting(), null, Patience, Timeout.InfiniteTimeSpan);
    }

    public bool Done => _sinceStart is not null;

    /// <summary>Seconds the first step took (its kernels' compilation included).</summary>
    public TimeSpan Step { get; private set; }

    /// <summary>Called when the first step's loss is known; later calls do nothing.</summary>
    public void Finish()
    {
        if (Done) return;
        _timer?.Dispose();
        Step = _step.Elapsed;
        _sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
    }

    /// <summary>"first step 10.6 s after start (the step itself 6.2 s: …)", once <see cref="Finish"/> ran.</summary>
    public string Describe()
    {
        string S(TimeSpan t) => t.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s";
        var text = $"first step {S(_sinceStart ?? TimeSpan.Zero)} after start (the step itself {S(Step)}";
        return text + (Step > Patience && _compilesAtLaunch ? ": kernels compile at their first launch and are cached for the next run)" : ")");
    }

    public void Dispose() => _timer?.Dispose();
}
