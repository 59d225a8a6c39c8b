using System;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Planning;

namespace NeuroDsl.Cli;

/// <summary>
/// Fused attention from the command line: <c>NEURODSL_ATTENTION=unfused</c> compiles attention as written (scores
/// stored), <c>fused</c> or unset rewrites it into the streaming kernels; and the memory line <c>neurodsl plan</c>
/// prints for a model with fused sites, the same plan compiled both ways.
/// </summary>
internal static class AttentionSetting
{
    public const string Variable = "NEURODSL_ATTENTION";

    /// <summary>The compile options the environment asks for; a value other than fused or unfused is a usage error.</summary>
    public static CompileOptions FromEnvironment() => Environment.GetEnvironmentVariable(Variable) switch
    {
        null or "" or "fused" => CompileOptions.Default,
        "unfused" => new CompileOptions(FuseAttention: false),
        var other => throw new UsageException($"{Variable} is 'fused' or 'unfused', not '{other}'"),
    };

    /// <summary>
    /// "device memory with N = T = n, fused / unfused: …" for a model whose plan fuses attention; empty otherwise.
    /// </summary>
    public static string MemoryLine(ModelOutput fused, string path)
    {
        if (fused.Plan.FusedAttention.Count == 0) return "";
        var unfused = NeuroCompiler.Compile(path, File.ReadAllText(path), options: new CompileOptions(FuseAttention: false))
            .Models.First(m => m.Name == fused.Name);
        var symbols = fused.Ir.Symbols;
        var sizes = new[] { 1L, 128L, 1024L };
        var figures = sizes.Select(n =>
        {
            var values = symbols.ToDictionary(s => s, _ => n);
            var a = BufferPlanner.Elements(fused.Plan, values).Planned * 4;
            var b = BufferPlanner.Elements(unfused.Plan, values).Planned * 4;
            return $"{n}: {Mib(a)} / {Mib(b)}";
        });
        var with = symbols.Count == 0 ? "" : " with " + string.Join(" = ", symbols) + " = n";
        return $"# device memory{with}, fused / unfused attention (planned): {string.Join(", ", figures)}\n";
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " MiB";
}
