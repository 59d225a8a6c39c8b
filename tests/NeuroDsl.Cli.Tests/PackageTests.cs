using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// The packages as a user meets them, through .ci/pack: the solution packed (no rebuild: this test's own build
/// configuration) into a local feed, the consumer app of tests/NeuroDsl.Consumer restored from it, built and run (it
/// trains XOR on the default OpenCL device), the app without the analyzer warned about (ND1001), and the tool
/// installed into a tool path and run.
/// </summary>
public sealed class PackageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pack").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "NeuroDsl.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("NeuroDsl.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public async System.Threading.Tasks.Task Pack_ThenAConsumerAppRestoredFromTheFeed_TrainsAnNdModel_AndTheToolInstalls()
    {
        var root = RepositoryRoot();
        // bin/<Configuration>/net10.0/: pack what this test run already built.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var info = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir,
        };
        foreach (var a in new[] { Path.Combine(root, ".ci", "pack"), _dir, "--no-build", "-c", configuration }) info.ArgumentList.Add(a);
        info.Environment.Remove("NEURODSL_PACK_VERSION");
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using (var limit = new System.Threading.CancellationTokenSource(TimeSpan.FromMinutes(10)))
            await process.WaitForExitAsync(limit.Token);
        var text = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, text);

        // The feed holds exactly the two packages, of one version.
        var packages = Directory.GetFiles(Path.Combine(_dir, "feed"), "*.nupkg").Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var version = Regex.Match(text, @"pack: ok \((\S+)\)").Groups[1].Value;
        Assert.Equal(new[] { "NeuroDsl." + version + ".nupkg", "NeuroDsl.Tool." + version + ".nupkg" }, packages);

        // The package's layout: the library, the generator and Sprache as an analyzer, the MSBuild files.
        using (var zip = System.IO.Compression.ZipFile.OpenRead(Path.Combine(_dir, "feed", packages[0]!)))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            foreach (var e in new[]
                     {
                         "lib/net10.0/NeuroDsl.Runtime.dll", "analyzers/dotnet/cs/NeuroDsl.Generator.dll", "analyzers/dotnet/cs/Sprache.dll",
                         "build/NeuroDsl.props", "build/NeuroDsl.targets", "buildTransitive/NeuroDsl.props", "buildTransitive/NeuroDsl.targets",
                     })
                Assert.True(entries.Contains(e), e + " is not in the package: " + string.Join(", ", entries));
        }

        // The app trained: the loss of step 300 is below the loss of step 1.
        var trained = Regex.Match(text, @"XorMlp on .+: loss (\d+\.\d+) -> (\d+\.\d+) in 300 steps");
        Assert.True(trained.Success, text);
        Assert.True(float.Parse(trained.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)
                    < float.Parse(trained.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), trained.Value);
        Assert.Contains("warning ND1001", text);
        Assert.Contains("neurodsl", text.Substring(text.IndexOf("pack: dotnet tool install", StringComparison.Ordinal)));
        Assert.True(File.Exists(Path.Combine(_dir, "tools", "neurodsl")), text);
    }
}
