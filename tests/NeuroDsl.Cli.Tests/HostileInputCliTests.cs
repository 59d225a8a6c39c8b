using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// `neurodsl check` and `summary` on input built to break a compiler — nesting 100,000 deep, a 10 MB line, random
/// bytes — exit 65 with a located diagnostic. The nesting case runs the real executable in its own process, where a
/// stack overflow would show as exit 134 instead of taking the test run down.
/// </summary>
public sealed class HostileInputCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli-hostile").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string Nested(int depth) =>
        "model M {\n  input x: f32[N, 4]\n  output y = " + new string('(', depth) + "x" + new string(')', depth) + "\n}\n";

    [Fact]
    public async System.Threading.Tasks.Task Check_Nesting100000Deep_ExitsWithND0004_InItsOwnProcess()
    {
        var file = Write("deep.nd", Nested(100_000));
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "neurodsl.dll"));
        start.ArgumentList.Add("check");
        start.ArgumentList.Add(file);
        using var process = Process.Start(start)!;
        var errTask = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        var err = await errTask;
        Assert.True(process.WaitForExit(120_000), "neurodsl check did not finish in 2 minutes");
        Assert.True(process.ExitCode == 65, $"exit {process.ExitCode}\n{output}\n{err}");
        Assert.Contains("deep.nd(3,270): error ND0004: Nest expressions at most 256 deep", err);
    }

    [Fact]
    public void CheckAndSummary_TenMegabyteLine_AndRandomBytes_ExitWithDiagnostics()
    {
        var line = new StringBuilder("model M { input x: f32[N, 4] output y = x");
        while (line.Length < 10_000_000) line.Append(" + x");
        var files = new[]
        {
            Write("line.nd", line.Append(" }").ToString()),
            Write("random.nd", RandomText(1 << 16, 7)),
            Write("deep_calls.nd", "model M {\n  input x: f32[N, 4]\n  output y = "
                + new StringBuilder().Insert(0, "relu(", 100_000) + "x" + new string(')', 100_000) + "\n}\n"),
        };
        foreach (var file in files)
        {
            foreach (var command in new[] { "check", "summary" })
            {
                var (code, _, err) = CliTests.Run(command, file);
                Assert.True(code == 65, $"{command} {Path.GetFileName(file)}: exit {code}\n{err}");
                Assert.Contains(": error ND", err);
                if (file.EndsWith("line.nd", StringComparison.Ordinal)) Assert.Contains("error ND0007", err);
                Assert.DoesNotContain("ND0999", err);
                Assert.DoesNotContain("   at ", err);
            }
        }
    }

    private static string RandomText(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return "model M {\n  input x: f32[N, 4]\n  output y = " + Encoding.UTF8.GetString(bytes);
    }
}
