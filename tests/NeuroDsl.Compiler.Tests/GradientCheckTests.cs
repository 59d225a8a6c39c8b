using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// Every op's gradient rule, checked on the float64 reference: the backward graph the differentiator built must
/// agree with central finite differences of the forward graph, for every parameter and float input element.
/// </summary>
public sealed class GradientCheckTests
{
    public static IEnumerable<object[]> Models() =>
        ReferenceOps.Compile().SelectMany(m => ReferenceOps.HasModes(m.Ir)
            ? new[] { new object[] { m.Name, true }, new object[] { m.Name, false } }
            : new[] { new object[] { m.Name, true } });

    [Theory]
    [MemberData(nameof(Models))]
    public void Backward_MatchesCentralDifferences(string name, bool training)
    {
        var model = ReferenceOps.Compile().Single(m => m.Name == name).Ir;
        var graph = model.Graph;
        var symbols = new Dictionary<string, long>
        {
            ["N"] = 3, [ReferenceInterpreter.TrainingSymbol] = training ? 1 : 0,
            [ReferenceInterpreter.SeedSymbol] = 77, [ReferenceInterpreter.StepSymbol] = 5,
        };
        var rng = new Random(1234 + name.Length);
        var leaves = graph.Inputs.Concat(graph.Params).ToDictionary(l => l.Id, l => ReferenceOps.RandomLeaf(model, l, symbols, rng));
        var values = ReferenceInterpreter.Run(graph, symbols, leaves);
        var lossId = graph.LossId!.Value;

        Assert.NotEmpty(graph.Gradients);
        foreach (var (leafId, gradId) in graph.Gradients)
        {
            var leaf = leaves[leafId];
            var analytic = values[gradId];
            Assert.Equal(leaf.Length, analytic.Length);
            for (var i = 0; i < leaf.Length; i++)
            {
                const double h = 1e-6;
                var saved = leaf[i];
                leaf[i] = saved + h;
                var up = ReferenceInterpreter.Run(graph, symbols, leaves)[lossId][0];
                leaf[i] = saved - h;
                var down = ReferenceInterpreter.Run(graph, symbols, leaves)[lossId][0];
                leaf[i] = saved;
                var numeric = (up - down) / (2 * h);
                Assert.True(Math.Abs(numeric - analytic[i]) <= 1e-6 + 1e-5 * Math.Abs(numeric),
                    $"{name}: d loss / d {graph[leafId].Name}[{i}] = {analytic[i]} by the backward graph, {numeric} by finite differences");
            }
        }
    }

    [Fact]
    public void EveryPrimitive_WithAForwardUse_HasAGradientRuleAndIsCoveredByOpsNd()
    {
        var ops = ReferenceOps.Compile();
        var used = ops.SelectMany(m => m.Ir.Graph.Nodes).Where(n => n.Kind == NodeKind.Op).Select(n => n.Op).ToHashSet();
        var forward = new[] { "add", "sub", "mul", "div", "neg", "relu", "tanh", "sigmoid", "sign", "step", "exp", "log",
            "softmax", "linear", "matmul", "reshape", "mean", "mse", "bce", "bce_logits", "perceptron", "cross_entropy",
            "conv2d", "pool2d", "concat", "bn_apply", "dropout", "scaled_tanh", "rbf",
            "leaky_relu", "sum", "conv_transpose2d", "pad2d", "pad_axis", "instance_norm", "lrn" };
        foreach (var op in forward)
        {
            Assert.True(Autodiff.GradientRules.TryGet(op, out _), $"no gradient rule for {op}");
            Assert.Contains(op, used);
        }
        // Every primitive the backward passes use is itself a known primitive with a reference.
        foreach (var op in used) Assert.True(Prims.TryGet(op, out _), op);
    }
}
