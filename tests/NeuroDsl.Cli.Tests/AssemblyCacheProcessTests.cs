using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// The cache of model assemblies as the command line meets it: several processes on one cold cache, and a warm run
/// that must not load Roslyn at all (seen through a startup hook that lists the child's assemblies as it exits).
/// </summary>
public sealed class AssemblyCacheProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli-assembly-processes").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private const string Hook = """
        internal static class StartupHook
        {
            public static void Initialize()
            {
                var path = System.Environment.GetEnvironmentVariable("NEURODSL_TEST_LOADED_ASSEMBLIES")!;
                System.AppDomain.CurrentDomain.ProcessExit += (_, _) => System.IO.File.WriteAllLines(path,
                    System.Linq.Enumerable.Select(System.AppDomain.CurrentDomain.GetAssemblies(),
                        a => a.GetName().Name ?? ""));
            }
        }
        """;

    /// <summary>The startup hook, compiled here (this process has Roslyn loaded anyway).</summary>
    private string CompileHook()
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p) is "System.Runtime.dll" or "System.Linq.dll"
                or "System.Private.CoreLib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("ListAssemblies", [CSharpSyntaxTree.ParseText(Hook)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable));
        var path = Path.Combine(_dir, "ListAssemblies.dll");
        var emitted = compilation.Emit(path);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        return path;
    }

    private static Process Start(string cache, string hook, string loadedList)
    {
        var exe = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "neurodsl.exe" : "neurodsl");
        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "bench", "step", CliTests.Model("xor_mlp.nd"), "--batch", "4", "--steps", "1" })
            info.ArgumentList.Add(a);
        info.Environment["NEURODSL_CACHE"] = cache;
        info.Environment["DOTNET_STARTUP_HOOKS"] = hook;
        info.Environment["NEURODSL_TEST_LOADED_ASSEMBLIES"] = loadedList;
        return Process.Start(info)!;
    }

    private static void Finish(Process p)
    {
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, output.Result + errors);
        p.Dispose();
    }

    private static bool LoadedRoslyn(string list) =>
        File.ReadAllLines(list).Any(n => n.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal));

    [Fact]
    public void ProcessesSharingAColdCache_AllSucceed_LeaveOneWholeEntry_AndAWarmRunNeverLoadsRoslyn()
    {
        var cache = Path.Combine(_dir, "cache");
        var hook = CompileHook();
        var cold = Enumerable.Range(0, 3).Select(i => Path.Combine(_dir, $"cold{i}.txt")).ToList();
        foreach (var p in cold.Select(list => Start(cache, hook, list)).ToList()) Finish(p);
        // At least the first to look found the cache empty and compiled: the hook sees Roslyn when it is there.
        Assert.Contains(cold, LoadedRoslyn);

        var folder = Path.Combine(cache, "assemblies");
        var entry = Assert.Single(Directory.GetFiles(folder, "*.dll"));
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
        var bytes = File.ReadAllBytes(entry);
        Assert.Equal("NDMA1\n"u8.ToArray(), bytes.AsSpan(0, 6).ToArray());
        Assert.Equal(bytes.AsSpan(6, 32).ToArray(), SHA256.HashData(bytes.AsSpan(38)));

        var warm = Path.Combine(_dir, "warm.txt");
        Finish(Start(cache, hook, warm));
        var loaded = File.ReadAllLines(warm);
        Assert.Contains("NeuroDsl.Dynamic.XorMlp", loaded);
        Assert.DoesNotContain(loaded, n => n.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal));
        // The hit read the entry and left it as it was (each compile's bytes differ: a new MVID).
        Assert.Equal(bytes, File.ReadAllBytes(entry));
    }
}
