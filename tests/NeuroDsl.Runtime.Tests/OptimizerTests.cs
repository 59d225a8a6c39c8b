using System;
using System.Linq;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>SGD and Adam device kernels against the torch.optim formulas computed on the host.</summary>
public sealed class OptimizerTests
{
    private static (float[] Params, float[] Grads) Snapshot(CompiledModel m) =>
        (m.Parameters.SelectMany(p => m.Read(p.Name)).ToArray(), m.Gradients.SelectMany(g => m.Read(g.Name)).ToArray());

    private static void ForwardBackward(CompiledModel m, Random rng)
    {
        m.SetInput("x", Enumerable.Range(0, 4 * 5).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        m.SetInput("r", Enumerable.Range(0, 4 * 3).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        m.Forward();
        m.Backward();
    }

    [Fact]
    public void Sgd_WithMomentumAndWeightDecay_MatchesTorchFormula()
    {
        using var m = new OpDense(TestDevice.Instance, 4, seed: 3);
        var sgd = new Sgd(0.1f, momentum: 0.9f, weightDecay: 0.01f);
        var rng = new Random(1);
        var (p, _) = Snapshot(m);
        var v = new double[p.Length];
        var expected = p.Select(x => (double)x).ToArray();
        for (var step = 0; step < 3; step++)
        {
            ForwardBackward(m, rng);
            var (_, g) = Snapshot(m);
            for (var i = 0; i < expected.Length; i++)
            {
                var d = g[i] + 0.01 * expected[i];
                v[i] = 0.9 * v[i] + d;
                expected[i] -= 0.1 * v[i];
            }
            m.Step(sgd);
            var actual = Snapshot(m).Params;
            for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
            expected = actual.Select(x => (double)x).ToArray();
        }
    }

    [Fact]
    public void Adam_MatchesTorchFormula_WithBiasCorrection()
    {
        using var m = new OpDense(TestDevice.Instance, 4, seed: 4);
        var adam = new Adam(1e-2f);
        var rng = new Random(2);
        var (p, _) = Snapshot(m);
        var expected = p.Select(x => (double)x).ToArray();
        var m1 = new double[p.Length];
        var m2 = new double[p.Length];
        for (var t = 1; t <= 3; t++)
        {
            ForwardBackward(m, rng);
            var (_, g) = Snapshot(m);
            for (var i = 0; i < expected.Length; i++)
            {
                m1[i] = 0.9 * m1[i] + 0.1 * g[i];
                m2[i] = 0.999 * m2[i] + 0.001 * g[i] * g[i];
                var mh = m1[i] / (1 - Math.Pow(0.9, t));
                var vh = m2[i] / (1 - Math.Pow(0.999, t));
                expected[i] -= 1e-2 * mh / (Math.Sqrt(vh) + 1e-8);
            }
            m.Step(adam);
            var actual = Snapshot(m).Params;
            for (var i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 2e-6, $"t={t} [{i}] {actual[i]} vs {expected[i]}");
            expected = actual.Select(x => (double)x).ToArray();
        }
        Assert.Equal(3, adam.StepCount);
    }

    [Fact]
    public void OptimizerStep_IsOneLaunch_OverTheArena_AndLeavesPaddingZero()
    {
        using var m = new OpDense(TestDevice.Instance, 4, seed: 3);
        ForwardBackward(m, new Random(3));
        m.Step(new Adam(0.1f));
        var arena = m.ParameterArena.ReadFloats();
        var used = m.Spec.Parameters.SelectMany(p => Enumerable.Range((int)p.Offset, (int)p.Elements)).ToHashSet();
        for (var i = 0; i < arena.Length; i++)
            if (!used.Contains(i)) Assert.Equal(0f, arena[i]);
    }
}
