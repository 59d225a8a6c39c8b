using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;

namespace NeuroDsl.Cli;

/// <summary>
/// Time to first step, the figure a cold start is judged by: from the process's start to the first training step's
/// loss, how much of it the step itself took, and the next step's time beside it. A driver that compiles each kernel
/// at its first launch (PoCL) does that inside the first step, so a step still running after <see cref="Patience"/>
/// is announced (<c>waiting</c> runs once, on a timer thread, never after the step ended) instead of leaving a silent
/// bar at 0%.
/// </summary>
internal sealed class FirstStep : IDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(1);

    private readonly object _gate = new();
    private readonly Stopwatch _clock = new();
    private Timer? _timer;
    private TimeSpan? _sinceStart;
    private int _steps;

    /// <param name="compilesAtLaunch">Whether the driver compiles kernels at their first launch and caches them
    /// (PoCL, unless NeuroDsl fetches its binaries: then every kernel is compiled when the program is built).</param>
    public FirstStep(bool compilesAtLaunch) => CompilesAtLaunch = compilesAtLaunch;

    public bool CompilesAtLaunch { get; }

    public bool Done
    {
        get
        {
            lock (_gate) return _sinceStart is not null;
        }
    }

    /// <summary>The first step's time, its kernels' compilation included.</summary>
    public TimeSpan Step { get; private set; }

    /// <summary>The second step's time, when there was one.</summary>
    public TimeSpan? Next { get; private set; }

    /// <summary>Starts timing; <paramref name="waiting"/> runs once if the step is still going after <see cref="Patience"/>.</summary>
    public void Start(Action waiting)
    {
        _clock.Restart();
        _timer = new Timer(_ =>
        {
            lock (_gate)
                if (_sinceStart is null) waiting();
        }, null, Patience, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Called after each step's loss is known: the first ends the timing, the second is timed beside it.</summary>
    public void Stepped()
    {
        lock (_gate)
        {
            _steps++;
            if (_steps == 1)
            {
                _timer?.Dispose();
                Step = _clock.Elapsed;
                _sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
            }
            else if (_steps == 2)
            {
                Next = _clock.Elapsed - Step;
            }
        }
    }

    /// <summary>
    /// "first step 10.6 s after start (the step itself 6.2 s, the next 0.1 s: …)": why the first was slower is said
    /// only where the driver compiles at first launch and the first step took over twice the next and a second.
    /// </summary>
    public string Describe()
    {
        string S(TimeSpan t) => t.TotalSeconds.ToString(t.TotalSeconds < 1 ? "F2" : "F1", CultureInfo.InvariantCulture) + " s";
        var text = $"first step {S(_sinceStart ?? TimeSpan.Zero)} after start (the step itself {S(Step)}";
        if (Next is not { } next) return text + ")";
        text += $", the next {S(next)}";
        // A first step is slower anyway (buffers touched for the first time): twice the next and a second more is
        // what compiling takes (warm ResNet-18 at batch 8 here: 4.6 s, then 2.5 s; cold: 21.1 s).
        return text + (CompilesAtLaunch && Step > 2 * next + Patience
            ? ": PoCL compiled the kernels at their first launch, and keeps them for the next run)"
            : ")");
    }

    public void Dispose() => _timer?.Dispose();
}
