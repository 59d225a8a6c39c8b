using System;
using System.IO;
using System.Threading;
using NeuroDsl.Runtime.OpenCl;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// What a cold start shows: slow program builds announced while they run, quick ones (cache hits) silent; the first
/// step announced while it runs and then timed.
/// </summary>
public sealed class ColdStartTests
{
    [Fact]
    public void SlowBuilds_AreShownWithTheirTime_QuickOnesPrintNothing()
    {
        WithBuildProgress(err =>
        {
            var quick = new ProgramBuild("Quick", "N=2", 900, null);
            ProgramCache.Building!(quick);
            ProgramCache.Building!(quick with { Elapsed = TimeSpan.FromMilliseconds(30) });
            Thread.Sleep(BuildProgress.Delay * 2); // a timer that fired late would print now
            Assert.Equal("", err.ToString());

            var slow = new ProgramBuild("LeNet5", "N=64", 42_169, null);
            ProgramCache.Building!(slow);
            Assert.True(SpinWait.SpinUntil(() => err.ToString().Length > 0, TimeSpan.FromSeconds(20)),
                "the slow build was never shown");
            Assert.Equal("building OpenCL program LeNet5 (N=64, 41 KB)… ", err.ToString());
            ProgramCache.Building!(slow with { Elapsed = TimeSpan.FromSeconds(1.31) });
            Assert.Equal("building OpenCL program LeNet5 (N=64, 41 KB)… 1.3 s" + Environment.NewLine, err.ToString());
        });
    }

    [Fact]
    public void FirstStep_SaysHowLongAfterStart_AndAnnouncesASlowStepWhileItRuns()
    {
        using var first = new FirstStep(compilesAtLaunch: true);
        var announced = 0;
        first.Start(() => Interlocked.Increment(ref announced));
        // Timers run late on a loaded host: wait for the announcement, however late, then a little past it.
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref announced) == 1, TimeSpan.FromSeconds(20)),
            "the slow step was never announced");
        Thread.Sleep(300);
        first.Stepped();
        first.Stepped(); // a quick second step
        first.Stepped(); // later steps change nothing
        Assert.Equal(1, announced);
        Assert.True(first.Step > FirstStep.Patience, first.Step.ToString());
        Assert.Matches(@"^first step \d+\.\d+ s after start \(the step itself \d+\.\d+ s, the next 0\.\d\d s: "
            + @"PoCL compiled the kernels at their first launch, and keeps them for the next run\)$", first.Describe());

        using var quick = new FirstStep(compilesAtLaunch: true);
        quick.Start(() => Interlocked.Increment(ref announced));
        quick.Stepped();
        Thread.Sleep(FirstStep.Patience + TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, announced); // never announced once the step ended
        Assert.Matches(@"^first step \d+\.\d+ s after start \(the step itself 0\.\d\d s\)$", quick.Describe());
        quick.Stepped();
        Assert.Matches(@"^first step \d+\.\d+ s after start \(the step itself 0\.\d\d s, the next \d+\.\d+ s\)$", quick.Describe());
    }

    [Fact]
    public void AFailedBuild_EndsItsLine()
    {
        WithBuildProgress(err =>
        {
            var broken = new ProgramBuild("Broken", "", 2048, null);
            ProgramCache.Building!(broken);
            Assert.True(SpinWait.SpinUntil(() => err.ToString().Length > 0, TimeSpan.FromSeconds(20)), "the build was never shown");
            ProgramCache.Building!(broken with { Elapsed = TimeSpan.FromSeconds(2), Failed = true });
            Assert.Equal("building OpenCL program Broken (2 KB)… failed" + Environment.NewLine, err.ToString());
        });
    }

    /// <summary>
    /// Runs <paramref name="test"/> with <see cref="BuildProgress"/> installed and stderr captured, then restores both.
    /// `train --verbose` earlier in this process sets NEURODSL_VERBOSE, which makes the line whole from the start: it is
    /// cleared meanwhile.
    /// </summary>
    private static void WithBuildProgress(Action<StringWriter> test)
    {
        var old = Console.Error;
        var err = new StringWriter();
        var verbose = Environment.GetEnvironmentVariable("NEURODSL_VERBOSE");
        Environment.SetEnvironmentVariable("NEURODSL_VERBOSE", null);
        Console.SetError(err);
        try
        {
            BuildProgress.Install();
            test(err);
        }
        finally
        {
            Console.SetError(old);
            Environment.SetEnvironmentVariable("NEURODSL_VERBOSE", verbose);
            ProgramCache.Building = null;
        }
    }
}
