using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Planning;
using NeuroDsl.Compiler.Reference;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>Cells and scan: the IR shows both loops, the plan keeps its launch budgets, the C# loops over t.</summary>
public sealed class ScanTests
{
    private static ModelOutput Model(string file) =>
        NeuroCompiler.Compile(file, File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Models", file))).Models.First();

    private static ModelOutput Case(string name, string file = "scan.nd") =>
        NeuroCompiler.Compile(file, File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Cases", "Ops", file)))
            .Models.Single(m => m.Name == name);

    [Fact]
    public void Lstm_Ir_ShowsTheCellAndTheReverseTimeScanDerivedFromIt()
    {
        var ir = Model("lstm.nd").Ir.Graph;
        var scan = Assert.Single(ir.Forward, n => n.Op == "scan");
        var grad = Assert.Single(ir.Backward, n => n.Op == "scan_grad");
        Assert.Equal(new[] { "h", "c" }, scan.Body!.Outputs.Select(o => o.Key)); // the state the cell returns
        Assert.Contains(grad.Body!.Nodes, n => n.Op == "sigmoid_grad");
        var text = ir.Print();
        Assert.Contains("scan_grad(", text);
        Assert.Contains("  %", text); // the bodies print nested under their scans
        Assert.Contains("output grad.bias_hh = ", text);
        // weight_hh's gradient, Σ over steps and rows of dzᵀ·h_prev, is one GEMM over N·T rows after the loop (the loop
        // stacks h_prev; dz is the stacked gradient of xw): not a thin GEMM and an accumulation per step.
        var weight = ir.Params.Single(p => p.Name == "weight_hh_l0");
        var gradient = ir[ir.Gradients[weight.Id]];
        Assert.Equal("matmul", gradient.Op);
        Assert.Equal(new Dim(1, "N*T"), ir[gradient.Inputs[0]].Shape[0]);
        Assert.Equal(1, grad.AttrInt("stacked"));
    }

    [Fact]
    public void Lstm_Plan_InputProjectionIsOneGemmBeforeTheLoop_AndAStepIsThreeLaunchesForwardThreeBackward()
    {
        var plan = Model("lstm.nd").Plan;
        var outside = plan.Forward.Where(l => l.Loop is null).ToList();
        var step = plan.Forward.Where(l => l.Loop is not null).ToList();
        // x[N, T, 64] @ weight_ih_l0ᵀ for every step at once: one GEMM over N·T rows.
        Assert.Single(outside, l => l.Kernel.StartsWith("nd_gemm_tiled", StringComparison.Ordinal)
            && l.Args[0].Int == new Dim(1, "N*T"));
        // Per step: the recurrent GEMM, bias + xw (xw_t read in place from xw at step t; z written into the reserve
        // space at t as well), and one kernel for c' and h' (multi-output fusion: reading the gates from z in place;
        // c' computed in the carried c, h' in the carried h, both written into the trajectory). No slice kernel: the
        // gates are read where they are used; no copy of z, h' or c' (keep, store): the kernels computing them write
        // them where they go. The weights are packed once, before the loop.
        Assert.Equal(3, step.Count);
        Assert.DoesNotContain(step, l => l.Kernel.EndsWith("_keep", StringComparison.Ordinal) || l.Kernel.EndsWith("_store", StringComparison.Ordinal));
        Assert.Single(step, l => l.Args.Any(a => a.Buffer >= 0 && plan.Buffers[a.Buffer].Name == "y_c.1"));
        Assert.All(step.Where(l => !l.Kernel.StartsWith("nd_gemm", StringComparison.Ordinal)), l => Assert.True(l.Lanes, l.Kernel));
        Assert.Single(step, l => l.Args.Any(a => a.Buffer >= 0 && plan.Buffers[a.Buffer].Name.StartsWith("y_c.1.saved", StringComparison.Ordinal)));
        Assert.DoesNotContain(step, l => l.Kernel.Contains("read_", StringComparison.Ordinal));
        Assert.Single(step, l => l.Args.Any(a => a.Buffer >= 0 && plan.Buffers[a.Buffer].Name == "xw") && l.Args.Any(a => a.Runtime == RuntimeScalar.Time));
        Assert.DoesNotContain(plan.Forward.Concat(plan.Backward), l => l.Loop is not null && l.Kernel.Contains("strided_slice", StringComparison.Ordinal));
        Assert.Single(step, l => l.Kernel.StartsWith("nd_gemm", StringComparison.Ordinal));
        Assert.DoesNotContain(plan.Forward.Concat(plan.Backward), l => l.Loop is not null && l.Kernel.StartsWith("nd_gemm_pack", StringComparison.Ordinal)
            && l.Args.Any(a => a.Buffer >= 0 && plan.Buffers[a.Buffer].Name == "weight_hh_l0"));
        Assert.All(plan.Backward.Where(l => l.Loop is not null), l => Assert.True(l.Loop!.Reverse));
        // Backward per step: the gradient into h (one GEMM); z is read as the forward loop kept it, not recomputed
        // (no GEMM), and neither xw nor h_{t-1} is read (the weight gradient's h_{t-1} is the trajectory shifted, one
        // launch after the loop); no weight-gradient GEMM. One kernel computes the gates, tanh(c') and their gradients
        // (multi-output fusion: five math-library calls, vectorized over its own lanes), adding up the state's total
        // gradient (∂y_t read in place); one gathers them into ∂z.
        var backStep = plan.Backward.Where(l => l.Loop is not null).ToList();
        Assert.Equal(1, backStep.Count(l => l.Kernel.StartsWith("nd_gemm_tiled", StringComparison.Ordinal)));
        Assert.DoesNotContain(backStep, l => l.Args.Any(a => a.Buffer >= 0 && plan.Buffers[a.Buffer].Name == "xw"));
        Assert.Single(plan.Backward, l => l.Loop is null && l.Kernel.Contains("stack_previous_h", StringComparison.Ordinal));
        // The elementwise kernel (reading c_{t-1} in place, one step back in the trajectory), the gather (writing ∂z
        // into ∂xw at t too), the GEMM (∂h_{t-1} straight into the carried gradient; the elementwise kernel computes
        // ∂c_{t-1} in its carry): no copies.
        Assert.Equal(3, backStep.Count);
        Assert.DoesNotContain(backStep, l => l.Kernel.Contains("carry", StringComparison.Ordinal) || l.Kernel.EndsWith("_keep", StringComparison.Ordinal)
            || l.Kernel.Contains("read_", StringComparison.Ordinal));
        // The biases' gradients are the rows' sums of the stacked ∂z, one reduction each after the loop, not a sum and an
        // accumulation per step.
        Assert.DoesNotContain(plan.Backward, l => l.Loop is not null && (l.Kernel.Contains("sum_to", StringComparison.Ordinal)
            || l.Kernel.Contains("accumulate", StringComparison.Ordinal)));
        Assert.Equal(2, plan.Backward.Count(l => l.Loop is null && l.Kernel.Contains("sum_to", StringComparison.Ordinal)
            && l.Args.Any(a => a.Buffer >= 0 && plan.Buffers[a.Buffer].Name.StartsWith("grad.bias_", StringComparison.Ordinal))));
    }

    [Theory]
    [InlineData("elman.nd")]
    [InlineData("lstm.nd")]
    [InlineData("gru.nd")]
    public void TheReverseLoop_RunsInEveryTrainingStep_NotOnlyWhenInputGradientsAreAsked(string file)
    {
        // Every launch of a loop serves the scan: the step's first kernel once lent the whole loop its own flags, and
        // a reverse loop beginning with a kernel of the body (no copy before it) was marked as serving input
        // gradients only, so a training step skipped it and the recurrent weights' gradients were never summed.
        var plan = Model(file).Plan;
        var loop = plan.Backward.Where(l => l.Loop is not null).ToList();
        Assert.NotEmpty(loop);
        Assert.All(loop, l => Assert.False(l.InputGradientOnly, l.Kernel));
        Assert.All(plan.Forward.Concat(plan.Backward).Where(l => l.Loop is not null), l => Assert.Single(l.Nodes));
    }

    [Fact]
    public void AProductTheCellNeverUses_IsNotKept_AndAPerExampleGain_IsNotTakenForABias()
    {
        // A review found both: an unused product was kept (no buffer: an internal error), and a shared [4, 1] gain
        // whose gradient has as many elements as a row (the batch a constant 4) was summed like a bias.
        var dead = Assert.Single(NeuroCompiler.Compile("d.nd", "cell DeadStep(u, v)(x, h) {\n  unused = h @ v\n  return tanh(x + h @ u)\n}\n"
            + "model M {\n  input x: f32[N, 4, 3]\n  input r: f32[N, 4, 3]\n  param u: f32[3, 3]\n  param v: f32[3, 3]\n"
            + "  output y = scan(DeadStep(u, v), x, state: 3)\n  loss mean(y * r)\n}\n").Models);
        Assert.DoesNotContain(dead.Plan.Buffers, b => b.Name.Contains("unused", StringComparison.Ordinal));
        GradientCheckTests.AssertBackwardMatchesCentralDifferences(dead.Ir, training: true, new Random(3));
        var gain = Assert.Single(NeuroCompiler.Compile("g.nd", "cell GainStep(u, g)(x, h) {\n  return tanh(x + h @ u) * g\n}\n"
            + "model M {\n  input x: f32[4, 5, 4]\n  input r: f32[4, 5, 4]\n  param u: f32[4, 4]\n  param g: f32[4, 1]\n"
            + "  output y = scan(GainStep(u, g), x, state: 4)\n  loss mean(y * r)\n}\n").Models);
        GradientCheckTests.AssertBackwardMatchesCentralDifferences(gain.Ir, training: true, new Random(5));
    }

    [Fact]
    public void BuffersALoopTouches_LiveThroughTheWholeLoop()
    {
        var plan = Model("lstm.nd").Plan;
        var sequence = plan.Forward.Concat(plan.Backward).ToList();
        foreach (var group in sequence.Select((l, i) => (l, i)).Where(x => x.l.Loop is not null).GroupBy(x => x.l.Loop!.Id))
        {
            var (start, end) = (group.Min(x => x.i), group.Max(x => x.i));
            var inLoop = group.SelectMany(x => x.l.Args).Where(a => a.Buffer >= 0).Select(a => plan.Buffers[a.Buffer]).ToList();
            foreach (var buffer in inLoop.Where(b => b.Slot >= 0))
            {
                // No other buffer of its slot is touched from the loop's start to its end.
                var others = sequence.Skip(start).Take(end - start + 1).SelectMany(l => l.Args).Where(a => a.Buffer >= 0)
                    .Select(a => plan.Buffers[a.Buffer]).Where(b => b.Slot == buffer.Slot && b.Index != buffer.Index);
                Assert.Empty(others);
            }
        }
    }

    [Fact]
    public void GeneratedCSharp_LoopsOverTime_ForwardAndReversed()
    {
        var lstm = Model("lstm.nd").CSharp;
        Assert.Contains("for (var step = 0L; step < (long)_T; step++)", lstm);
        Assert.Contains("var t = (int)step;", lstm);
        Assert.Contains("var t = (int)((long)_T - 1L - step);", lstm); // backpropagation through time runs backwards
        Assert.Contains("KernelArg.Of(t));", lstm);
        var reversed = Case("OpScanReverse").CSharp;
        Assert.Contains("var t = (int)(4L - 1L - step);", reversed);
        Assert.Contains("var t = (int)step;", reversed); // its gradient runs forwards in time
    }

    [Fact]
    public void TruncatedBptt_IsTheGradientOfTheChunkedScanWithTheStateStoppedBetweenChunks()
    {
        // OpScanTruncated's scans cut the state's gradient every 2 steps; OpScanTruncatedChunks writes the definition
        // out. Same parameters and inputs (by name) give the same loss and the same gradients.
        var truncated = Case("OpScanTruncated", "scan_layers.nd").Ir.Graph;
        var chunks = Case("OpScanTruncatedChunks", "scan_layers.nd").Ir.Graph;
        var symbols = new Dictionary<string, long> { ["N"] = 3, [ReferenceInterpreter.TrainingSymbol] = 1 };
        var rng = new Random(5);
        var values = truncated.Inputs.Concat(truncated.Params).ToDictionary(l => l.Name, l =>
            Enumerable.Range(0, (int)ReferenceInterpreter.Numel(l.Shape.Eval(symbols))).Select(_ => rng.NextDouble() * 2 - 1).ToArray());
        Dictionary<string, double[]> Run(Graph graph)
        {
            var result = ReferenceInterpreter.Run(graph, symbols,
                graph.Inputs.Concat(graph.Params).ToDictionary(l => l.Id, l => values[l.Name]));
            return graph.Gradients.ToDictionary(g => graph[g.Key].Name, g => result[g.Value])
                .Append(new KeyValuePair<string, double[]>("loss", result[graph.LossId!.Value])).ToDictionary(p => p.Key, p => p.Value);
        }
        var (a, b) = (Run(truncated), Run(chunks));
        Assert.Equal(b.Keys.OrderBy(k => k), a.Keys.OrderBy(k => k));
        foreach (var (name, expected) in b)
            for (var i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - a[name][i]) <= 1e-12, $"{name}[{i}]: {a[name][i]} truncated, {expected[i]} in chunks");
        Assert.Contains(truncated.Nodes, n => n.Op == "scan_grad" && n.AttrInt("truncate") == 2);
    }

    [Fact]
    public void Lengths_ZeroTheStepsPastEachLength_AndKeepTheState()
    {
        // OpScanLengths: h, c = scan(…, x[N, 5, 3], init: [h0, h0], lengths: lengths); y = h.
        var graph = Case("OpScanLengths", "scan_layers.nd").Ir.Graph;
        var symbols = new Dictionary<string, long> { ["N"] = 4, [ReferenceInterpreter.TrainingSymbol] = 1 };
        var lengths = new double[] { 5, 2, 0, 7 };
        var rng = new Random(2);
        var leaves = graph.Inputs.Concat(graph.Params).ToDictionary(l => l.Id, l => l.Name == "lengths" ? lengths
            : Enumerable.Range(0, (int)ReferenceInterpreter.Numel(l.Shape.Eval(symbols))).Select(_ => rng.NextDouble() - 0.5).ToArray());
        var values = ReferenceInterpreter.Run(graph, symbols, leaves);
        var y = values[graph.Outputs.Single(o => o.Key == "y").Value];
        var scan = graph.Nodes.First(n => n.Op == "scan");
        var trajectory = values[scan.Id]; // [N, 5, 3 + 3]: h and c, the carried states themselves
        for (var n = 0; n < 4; n++)
            for (var t = 0; t < 5; t++)
                for (var f = 0; f < 3; f++)
                {
                    var at = (n * 5 + t) * 3 + f;
                    if (t >= lengths[n]) Assert.Equal(0.0, y[at]);
                    else Assert.NotEqual(0.0, y[at]);
                    // Past the length the state is the one after the last real step (the initial state if none).
                    var state = trajectory[(n * 5 + t) * 6 + f];
                    var kept = t >= lengths[n] ? (lengths[n] == 0 ? leaves[graph.Inputs.Single(i => i.Name == "h0").Id][n * 3 + f]
                        : trajectory[(n * 5 + (int)lengths[n] - 1) * 6 + f]) : state;
                    Assert.Equal(kept, state);
                }
    }
}
