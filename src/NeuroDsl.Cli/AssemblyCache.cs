using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.OpenCl;

namespace NeuroDsl.Cli;

/// <summary>
/// Model assemblies compiled from generated C#, cached on disk so that a warm run neither compiles nor loads Roslyn.
/// An entry is keyed by a hash of the C#, the runtime library it binds to (its MVID), Roslyn's version and .NET's; it
/// carries a checksum of its bytes (<see cref="CacheFile"/>), and one that is truncated, corrupt or does not load is
/// compiled again and rewritten.
/// </summary>
internal static class AssemblyCache
{
    private static readonly byte[] Magic = "NDMA1\n"u8.ToArray();

    /// <summary>
    /// <c>assemblies</c> inside <c>NEURODSL_CACHE</c> when it is set (it holds the programs themselves), else beside
    /// the program cache's folder: <c>~/.cache/neurodsl/assemblies</c>.
    /// </summary>
    public static string Directory
    {
        get
        {
            var explicitDir = Environment.GetEnvironmentVariable("NEURODSL_CACHE");
            return string.IsNullOrEmpty(explicitDir)
                ? Path.Combine(Path.GetDirectoryName(ProgramCache.Directory)!, "assemblies")
                : Path.Combine(explicitDir, "assemblies");
        }
    }

    /// <summary>The name the model's assembly is compiled under.</summary>
    public static string AssemblyName(string model) => "NeuroDsl.Dynamic." + model;

    /// <summary>
    /// The model type <paramref name="name"/> of <paramref name="csharp"/>, from the cache in
    /// <paramref name="directory"/> or compiled; the outcome is "cache hit", "built", "cache entry corrupt, rebuilt"
    /// or "cache entry refused, rebuilt".
    /// </summary>
    public static (Type Type, string Outcome) Load(string name, string csharp, string directory)
    {
        var path = PathFor(directory, name, csharp);
        string outcome;
        if (CacheFile.TryRead(path, Magic) is { } cached)
        {
            if (TryLoad(name, cached) is { } type) return (type, "cache hit");
            outcome = "cache entry refused, rebuilt";
        }
        else
        {
            outcome = File.Exists(path) ? "cache entry corrupt, rebuilt" : "built";
        }
        var bytes = Compile(name, csharp);
        var built = ModelType(Assembly.Load(bytes), name);
        // Written only once it has loaded: the cache never holds an assembly this process could not use.
        CacheFile.TryWrite(path, Magic, bytes);
        return (built, outcome);
    }

    internal static string PathFor(string directory, string name, string csharp) =>
        Path.Combine(directory, Key(name, csharp) + ".dll");

    // Roslyn's types appear only behind this call, which is not inlined: compiling Load must not load Roslyn.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte[] Compile(string name, string csharp) => RoslynCompiler.Emit(name, csharp);

    private static Type? TryLoad(string name, byte[] bytes)
    {
        try
        {
            return ModelType(Assembly.Load(bytes), name);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever an entry does wrong when loaded (a bad image, a missing type or member, no model in it), it is
            // compiled again.
            return null;
        }
    }

    private static Type ModelType(Assembly assembly, string name) =>
        assembly.GetTypes().First(t => t.Name == name && typeof(CompiledModel).IsAssignableFrom(t));

    internal static string Key(string name, string csharp)
    {
        var runtime = typeof(CompiledModel).Assembly.ManifestModule.ModuleVersionId.ToString("N");
        // This assembly's build too: it holds how the C# is compiled (RoslynCompiler's options and references). Builds
        // are deterministic, so only a real change of the command line makes new entries.
        var cli = typeof(AssemblyCache).Assembly.ManifestModule.ModuleVersionId.ToString("N");
        var text = string.Join("\u0001", Encoding.ASCII.GetString(Magic), name, csharp, runtime, cli, RoslynVersion.Value,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription, Environment.Version.ToString());
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToLowerInvariant();
    }

    /// <summary>
    /// Roslyn's version, read from the file the tool would load (its informational version names the commit) without
    /// loading it.
    /// </summary>
    private static readonly Lazy<string> RoslynVersion = new(() =>
    {
        const string file = "Microsoft.CodeAnalysis.CSharp.dll";
        var referenced = typeof(AssemblyCache).Assembly.GetReferencedAssemblies()
            .FirstOrDefault(a => a.Name == Path.GetFileNameWithoutExtension(file))?.Version?.ToString() ?? "";
        var path = ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(p => Path.GetFileName(p) == file);
        return path is not null && File.Exists(path)
            ? referenced + " " + FileVersionInfo.GetVersionInfo(path).ProductVersion
            : referenced;
    });
}
