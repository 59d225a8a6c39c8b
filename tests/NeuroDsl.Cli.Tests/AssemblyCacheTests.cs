using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Training;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>The on-disk cache of compiled model assemblies within one process (AssemblyCacheProcessTests: several).</summary>
public sealed class AssemblyCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli-assemblies").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    internal static ModelOutput Xor(int hidden = 2)
    {
        var source = File.ReadAllText(CliTests.Model("xor_mlp.nd"))
            .Replace("dense(2,", $"dense({hidden},").Replace("expect params == 9", $"expect params == {4 * hidden + 1}")
            .Replace("expect flops == 6", "");
        var result = NeuroCompiler.Compile("xor_mlp.nd", source);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Models.Single();
    }

    private (Type Type, string Outcome) Load(ModelOutput model) => AssemblyCache.Load(model.Name, model.CSharp, _dir);

    private string[] Entries() => Directory.GetFiles(_dir, "*.dll");

    private static void AssertWhole(string entry)
    {
        var bytes = File.ReadAllBytes(entry);
        Assert.Equal("NDMA1\n"u8.ToArray(), bytes.AsSpan(0, 6).ToArray());
        Assert.Equal(bytes.AsSpan(6, 32).ToArray(), SHA256.HashData(bytes.AsSpan(38)));
    }

    [Fact]
    public void AMiss_CompilesAndWritesOneWholeEntry_ThenAHitLoadsItUnchanged()
    {
        var model = Xor();
        var (built, first) = Load(model);
        Assert.Equal("built", first);
        var entry = Assert.Single(Entries());
        AssertWhole(entry);
        Assert.Equal(AssemblyCache.PathFor(_dir, model.Name, model.CSharp), entry);
        var written = File.ReadAllBytes(entry);

        var (cached, second) = Load(model);
        Assert.Equal("cache hit", second);
        Assert.Equal(written, File.ReadAllBytes(entry));
        // A separate load of the same bytes: a type of its own, of the same model.
        Assert.NotSame(built, cached);
        Assert.Equal("XorMlp", cached.Name);
        Assert.True(typeof(CompiledModel).IsAssignableFrom(cached));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void TheCachedModel_ComputesItsForwardPass_AsTheFloat64Reference()
    {
        var model = Xor(hidden: 3);
        Load(model);
        var (type, outcome) = Load(model);
        Assert.Equal("cache hit", outcome);
        using var device = Device.Open();
        const int n = 5;
        using var instance = ModelLoader.Create(model, type, device, new Dictionary<string, long> { ["N"] = n }, 11);
        var rng = new Random(20261203);
        var x = Enumerable.Range(0, n * 2).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        instance.SetInput("x", x);
        instance.SetInput("target", new float[n]);
        instance.Forward();
        var y = instance.Read("y");

        // Two dense layers in order, each a weight matrix and a bias vector.
        var p = instance.Parameters.Select(t => (t.Shape, Values: instance.Read(t.Name))).ToList();
        Assert.Equal([2, 1, 2, 1], p.Select(t => t.Shape.Length));
        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        for (var i = 0; i < n; i++)
        {
            var h = new double[3];
            for (var j = 0; j < 3; j++)
                h[j] = Sigmoid(Weight(p[0], 2, 0, j) * x[i * 2] + Weight(p[0], 2, 1, j) * x[i * 2 + 1]
                    + p[1].Values[j]);
            var want = Sigmoid(Enumerable.Range(0, 3).Sum(j => Weight(p[2], 3, j, 0) * h[j]) + p[3].Values[0]);
            Assert.True(Math.Abs(y[i] - want) < 1e-6, $"row {i}: {y[i]} vs {want}");
        }
    }

    // The weight from input unit i to output unit o, stored [inputs, outputs] or [outputs, inputs] (3 hidden units make
    // the two tell apart).
    private static double Weight((long[] Shape, float[] Values) w, int inputs, int i, int o) =>
        w.Shape[0] == inputs ? w.Values[i * w.Shape[1] + o] : w.Values[o * w.Shape[1] + i];

    [Theory]
    [InlineData("flipped")]
    [InlineData("truncated")]
    [InlineData("magic only")]
    [InlineData("empty")]
    public void ACorruptOrTruncatedEntry_IsCompiledAgain_AndRewrittenWhole(string damage)
    {
        var model = Xor();
        Load(model);
        var entry = Assert.Single(Entries());
        var bytes = File.ReadAllBytes(entry);
        switch (damage)
        {
            case "flipped": bytes[bytes.Length / 2] ^= 0x40; File.WriteAllBytes(entry, bytes); break;
            case "truncated": File.WriteAllBytes(entry, bytes[..(bytes.Length / 2)]); break;
            case "magic only": File.WriteAllBytes(entry, bytes[..6]); break;
            case "empty": File.WriteAllBytes(entry, []); break;
        }
        var (type, outcome) = Load(model);
        Assert.Equal("cache entry corrupt, rebuilt", outcome);
        Assert.Equal("XorMlp", type.Name);
        AssertWhole(Assert.Single(Entries()));
        Assert.Equal("cache hit", Load(model).Outcome);
    }

    [Fact]
    public void AnEntryWithAValidChecksumThatDoesNotLoad_IsCompiledAgain_AndRewritten()
    {
        var model = Xor();
        var entry = AssemblyCache.PathFor(_dir, model.Name, model.CSharp);
        // Whole as a cache entry, but not an assembly; then an assembly without the model's type.
        var notAModel = File.ReadAllBytes(typeof(AssemblyCacheTests).Assembly.Location);
        foreach (var body in new[] { "MZ not a PE file"u8.ToArray(), notAModel })
        {
            File.WriteAllBytes(entry, [.. "NDMA1\n"u8, .. SHA256.HashData(body), .. body]);
            var (type, outcome) = Load(model);
            Assert.Equal("cache entry refused, rebuilt", outcome);
            Assert.Equal("XorMlp", type.Name);
            AssertWhole(entry);
            Assert.Equal("cache hit", Load(model).Outcome);
        }
    }

    [Fact]
    public void AChangedModel_GetsANewEntry_AndTheOldOneStillHits()
    {
        var two = Xor(hidden: 2);
        var four = Xor(hidden: 4);
        Assert.NotEqual(two.CSharp, four.CSharp);
        Assert.Equal("built", Load(two).Outcome);
        Assert.Equal("built", Load(four).Outcome);
        Assert.Equal(2, Entries().Length);
        Assert.Equal("cache hit", Load(two).Outcome);
        Assert.Equal("cache hit", Load(four).Outcome);
        Assert.NotEqual(AssemblyCache.Key(two.Name, two.CSharp), AssemblyCache.Key(four.Name, four.CSharp));
    }

    [Fact]
    public void AnUnwritableCache_OnlyCostsTheCompile()
    {
        // A file where the cache's folder should be: nothing can be created under it.
        var blocked = Path.Combine(_dir, "blocked");
        File.WriteAllText(blocked, "");
        var model = Xor();
        for (var i = 0; i < 2; i++)
        {
            var (type, outcome) = AssemblyCache.Load(model.Name, model.CSharp, Path.Combine(blocked, "assemblies"));
            Assert.Equal("built", outcome);
            Assert.Equal("XorMlp", type.Name);
        }
    }

    [Fact]
    public void TheCacheFolder_IsInsideNeuroDslCache_WhenItIsSet()
    {
        var old = Environment.GetEnvironmentVariable("NEURODSL_CACHE");
        try
        {
            Environment.SetEnvironmentVariable("NEURODSL_CACHE", _dir);
            Assert.Equal(Path.Combine(_dir, "assemblies"), AssemblyCache.Directory);
            Environment.SetEnvironmentVariable("NEURODSL_CACHE", null);
            var programs = Runtime.OpenCl.ProgramCache.Directory;
            Assert.Equal(Path.Combine(Path.GetDirectoryName(programs)!, "assemblies"), AssemblyCache.Directory);
        }
        finally
        {
            Environment.SetEnvironmentVariable("NEURODSL_CACHE", old);
        }
    }
}
