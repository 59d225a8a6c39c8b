using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Models;
using NeuroDsl.Runtime.Checkpoints;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// An optimizer step rewrites the packs the forward pass keeps of the weights (kernels/optim.cl's
/// nd_gemm_pack_many_f32, one launch per eight packs), so the next forward pass launches no pack: training gives the
/// same bits as with the forward pass's own packs, in fewer launches, and every other change of the parameters still
/// packs again.
/// </summary>
public sealed class OptimizerPacksTests
{
    public static TheoryData<string, string> Cases => new()
    {
        // Mlp: 784 × 256 and 256 × 256 in 16 × 16 blocks, 256 × 10 as the pack kernel does it.
        { "Mlp", "adam" },
        { "Mlp", "sgd" },
        // Four transposed weights of 256 and 1024.
        { "TransformerEncoderLayer", "adam" },
        // Seventeen packs (three launches of the pack kernel), sixteen of them of weights not transposed ([K, N]), at 9
        // sequences of 64 (576 rows: more than a CPU's tile reads such a B in place for, GemmConfig.ReadsInPlace).
        { "CharGpt", "sgd" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TrainingSteps_PacksRewrittenByTheOptimizer_MatchThePackLaunchesBitForBit(string name, string rule)
    {
        using var rewritten = Create(name);
        using var launched = Create(name);
        var rng = new Random(5);
        foreach (var input in rewritten.Inputs)
        {
            var count = (int)input.Buffer.Elements;
            if (input.Buffer.IsInt)
            {
                var limit = rewritten.InputRanges.TryGetValue(input.Name, out var range) ? (int)range.Limit : 2;
                var ints = Enumerable.Range(0, count).Select(_ => rng.Next(limit)).ToArray();
                rewritten.SetInput(input.Name, ints);
                launched.SetInput(input.Name, ints);
            }
            else
            {
                var floats = Enumerable.Range(0, count).Select(_ => (float)rng.NextDouble()).ToArray();
                rewritten.SetInput(input.Name, floats);
                launched.SetInput(input.Name, floats);
            }
        }
        var optimizer = NewOptimizer(rule);
        var reference = NewOptimizer(rule);
        reference.RewritesPacks = false;

        for (var step = 0; step < 4; step++)
        {
            var (modelBefore, optimizerBefore) = (rewritten.LaunchCount, optimizer.LaunchCount);
            var (referenceBefore, referenceOptimizerBefore) = (launched.LaunchCount, reference.LaunchCount);
            Assert.Equal(Train(launched, reference), Train(rewritten, optimizer)); // the losses, bit for bit
            Assert.Equal(launched.ParameterArena.ReadFloats(), rewritten.ParameterArena.ReadFloats());

            var packs = rewritten.KeptPacks.Count;
            Assert.True(packs >= 3, $"{name} keeps {packs} packs");
            Assert.All(rewritten.KeptPacks, p => Assert.False(rewritten.PackIsStale(p.Kernel)));
            Assert.All(launched.KeptPacks, p => Assert.True(launched.PackIsStale(p.Kernel)));
            // The first forward pass packs them in both; after that only the one whose optimizer does not rewrite them.
            var saved = step == 0 ? 0 : packs;
            Assert.Equal(launched.LaunchCount - referenceBefore - saved, rewritten.LaunchCount - modelBefore);
            Assert.Equal(1, reference.LaunchCount - referenceOptimizerBefore);
            Assert.Equal(1 + (packs + 7) / 8, optimizer.LaunchCount - optimizerBefore);
        }

        // The packs the optimizer wrote are those the forward pass makes from the parameters.
        launched.Forward();
        Assert.Equal(launched.KeptPacks.Select(p => p.Kernel.Name), rewritten.KeptPacks.Select(p => p.Kernel.Name));
        for (var i = 0; i < rewritten.KeptPacks.Count; i++)
            Assert.Equal(launched.KeptPacks[i].Packed.ReadFloats(), rewritten.KeptPacks[i].Packed.ReadFloats());
        var before = rewritten.LaunchCount;
        rewritten.Forward();
        Assert.Equal(launched.Outputs.Select(o => launched.Read(o.Name)), rewritten.Outputs.Select(o => rewritten.Read(o.Name)));
        var forward = rewritten.LaunchCount - before;
        before = launched.LaunchCount;
        launched.Forward();
        Assert.Equal(launched.LaunchCount - before, forward); // neither packs again: the parameters did not change
    }

    [Fact]
    public void CheckpointLoad_AfterAStep_PacksAgain()
    {
        var path = Path.Combine(Path.GetTempPath(), $"nd-optimizer-packs-{Environment.ProcessId}.safetensors");
        try
        {
            using var model = new Mlp(TestDevice.Instance, N: 4, seed: 1);
            using var fresh = new Mlp(TestDevice.Instance, N: 4, seed: 2);
            var rng = new Random(3);
            var image = Enumerable.Range(0, 4 * 784).Select(_ => (float)rng.NextDouble()).ToArray();
            var labels = new[] { 1, 2, 3, 4 };
            model.SetInputs(image, labels);
            fresh.SetInputs(image, labels);
            var adam = new Adam(learningRate: 0.01f);
            Train(model, adam);
            Checkpoint.Save(path, model);
            Train(model, adam);
            Assert.All(model.KeptPacks, p => Assert.False(model.PackIsStale(p.Kernel)));

            // Back to the checkpoint's parameters: the packs of the step after it are stale and run again.
            Checkpoint.Load(path, model);
            Assert.All(model.KeptPacks, p => Assert.True(model.PackIsStale(p.Kernel)));
            var before = model.LaunchCount;
            model.Forward();
            var first = model.LaunchCount - before;
            model.Forward();
            Assert.Equal(3, first - (model.LaunchCount - before - first)); // the three packs
            Checkpoint.Load(path, fresh);
            fresh.Forward();
            Assert.Equal(fresh.Read("logits"), model.Read("logits"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void CopyAndHostWrites_AfterAStep_PackAgain()
    {
        using var model = new Mlp(TestDevice.Instance, N: 4, seed: 1);
        using var other = new Mlp(TestDevice.Instance, N: 4, seed: 2);
        var image = Enumerable.Range(0, 4 * 784).Select(i => (i % 7) / 7f).ToArray();
        model.SetInputs(image, new[] { 0, 1, 2, 3 });
        var sgd = new Sgd(learningRate: 0.1f, momentum: 0.9f);
        Train(model, sgd);
        long Packs()
        {
            var before = model.LaunchCount;
            model.Forward();
            return model.LaunchCount - before - 5;
        }
        Assert.Equal(0, Packs());
        model.CopyParametersFrom(other);
        Assert.Equal(3, Packs());
        Train(model, sgd);
        model.WriteParameter("h1.bias", new float[256]);
        Assert.Equal(3, Packs());
        // A host write before a step: the step packs what the arena holds after its update.
        model.WriteParameter("h2.weight", other.Read("h2.weight"));
        Train(model, sgd);
        Assert.Equal(0, Packs());
        var launched = model.KeptPacks.Select(p => p.Packed.ReadFloats()).ToList();
        model.ParametersChanged();
        Assert.Equal(3, Packs());
        Assert.Equal(launched, model.KeptPacks.Select(p => p.Packed.ReadFloats()));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(16)]
    public void PackMany_AnyShapesAndPanels_MatchesThePackKernel(int panel)
    {
        // (K, N, transposed): 16 × 16 blocks, the pack kernel's 8-row transposed path, its scalar tail, rows of a [K, N].
        var shapes = new[] { (32, 48, true), (24, 40, true), (13, 7, true), (784, 10, true), (16, 64, false), (9, 33, false),
            (48, 16, true), (5, 5, false), (64, 32, true) };
        var device = TestDevice.Instance;
        // The device's panel, or the library built with another (a tuner's choice on another device).
        var config = panel == 0 ? device.Gemm.Config : device.Gemm.Config with { Width = panel, Vectors = 1 };
        Assert.True(config.IsValid);
        var program = panel == 0 ? LibraryKernels.Program(device)
            : OpenCl.ProgramCache.Get(device, LibraryKernels.Source, LibraryKernels.Options + config.Options, "library " + config);
        var rng = new Random(9);
        var offsets = new int[shapes.Length];
        var total = 0;
        for (var s = 0; s < shapes.Length; s++)
        {
            offsets[s] = total;
            total += (shapes[s].Item1 * shapes[s].Item2 + 63) / 64 * 64;
        }
        using var arena = DeviceBuffer.Allocate(device, total);
        arena.Write<float>(Enumerable.Range(0, total).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray());
        var packs = shapes.Select(s => DeviceBuffer.Allocate(device, (s.Item2 + 31) / 32 * 32 * s.Item1)).ToArray();
        var expected = new float[shapes.Length][];
        using var pack = new Kernel(device, program, "nd_gemm_pack_b_f32");
        for (var s = 0; s < shapes.Length; s++)
        {
            var (k, n, t) = shapes[s];
            using var weight = arena.Slice(offsets[s], k * n);
            pack.SetArgs(KernelArg.Of(k), KernelArg.Of(n), KernelArg.Of(t ? 1 : 0), weight, packs[s]);
            pack.Launch((n + 31) / 32 * k);
            expected[s] = packs[s].ReadFloats();
            packs[s].Fill(float.NaN);
        }
        using var many = new Kernel(device, program, "nd_gemm_pack_many_f32");
        for (var first = 0; first < shapes.Length; first += 8)
        {
            var mine = Enumerable.Range(first, Math.Min(8, shapes.Length - first)).ToArray();
            using var table = DeviceBuffer.Allocate(device, 4 * mine.Length, isInt: true);
            table.Write<int>(mine.SelectMany(s => new[] { offsets[s], shapes[s].Item1, shapes[s].Item2, shapes[s].Item3 ? 1 : 0 }).ToArray());
            var args = new List<KernelArg> { arena, KernelArg.Of(mine.Length), table };
            args.AddRange(Enumerable.Range(0, 8).Select(i => (KernelArg)packs[mine[Math.Min(i, mine.Length - 1)]]));
            many.SetArgs(args.ToArray());
            many.Launch(mine.Sum(s => shapes[s] is (var k, var n, var t) && t && k % 16 == 0 && n % 16 == 0
                ? k * n / 256 : (n + 31) / 32 * k));
        }
        for (var s = 0; s < shapes.Length; s++) Assert.Equal(expected[s], packs[s].ReadFloats());
        foreach (var p in packs) p.Dispose();
    }

    private static CompiledModel Create(string name) => name switch
    {
        "Mlp" => new Mlp(TestDevice.Instance, N: 8, seed: 1),
        "TransformerEncoderLayer" => new TransformerEncoderLayer(TestDevice.Instance, N: 2, T: 8, seed: 1),
        "CharGpt" => new CharGpt(TestDevice.Instance, N: 9, seed: 1),
        _ => throw new ArgumentException(name),
    };

    private static Optimizer NewOptimizer(string rule) => rule == "adam"
        ? new Adam(learningRate: 0.01f, weightDecay: 0.01f)
        : new Sgd(learningRate: 0.05f, momentum: 0.9f, nesterov: true);

    private static float Train(CompiledModel model, Optimizer optimizer)
    {
        model.Forward();
        model.Backward();
        model.Step(optimizer);
        return model.ReadLoss();
    }
}
