using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Compiler.Planning;

/// <summary>
/// Turns a differentiated graph into a <see cref="Plan"/>, in passes: the parameter and gradient arenas; fusion
/// (which nodes share a kernel); lowering (each launched node to its kernel launches, through its op definition);
/// the kernel table (identical kernels kept once); buffers for every live value (views share, constants are
/// inlined); and the shared slots of temporaries (<see cref="BufferPlanner"/>).
/// </summary>
public static partial class Planner
{
    public static Plan Build(ModelIr model)
    {
        var graph = model.Graph;
        var plan = new Plan();
        var gradOf = new Dictionary<int, int>(graph.Gradients);
        var live = Liveness(graph, gradOf.Values);
        var storage = new Dictionary<int, int>();

        var claimed = Arenas(plan, graph, gradOf, live, storage);
        foreach (var input in graph.Inputs)
        {
            storage[input.Id] = AddBuffer(plan, input.Name, input.Shape.Numel, input.DType, StorageKind.Input, 0);
            plan.Inputs.Add(new NamedBuffer(input.Name, storage[input.Id], input.Shape, input.DType));
        }

        // Fusion: which nodes are computed inline in another node's kernel (no buffer, no launch of their own).
        var pinned = new HashSet<int>(graph.Outputs.Select(o => o.Value).Concat(gradOf.Values));
        if (graph.LossId is { } lossNode) pinned.Add(lossNode);
        // The nodes that serve parameter gradients (the rest of the backward pass serves only input gradients, skipped
        // unless the caller asks for them).
        var paramOnly = Liveness(graph, graph.Params.Where(p => gradOf.ContainsKey(p.Id)).Select(p => gradOf[p.Id]));
        var groups = FusionPlanner.Plan(graph, live, pinned, paramOnly);

        var lowered = Lower(graph, model.Source, live, groups);
        foreach (var node in graph.Forward.Where(n => live.Contains(n.Id) && n.Def == Ops.Attention.Forward))
        {
            var heads = Ops.Attention.Heads(node);
            var (keys, o) = (Ops.Attention.Operand(node, graph[node.Inputs[1]].Shape), Ops.Attention.Logical(node.Shape, heads));
            plan.FusedAttention.Add((node.Name, new Shape(o.Dims.Take(o.Rank - 1).Append(keys[keys.Rank - 2]).ToArray())));
        }

        // The forward launches that no output needs (the loss's own kernels, and what only the backward pass reads) run
        // only when the caller wants the loss (CompiledModel.ComputeLoss; an inference pass that reads outputs skips them).
        var forOutputs = graph.LossId is null ? null : Ancestors(graph, graph.Outputs.Select(o => o.Value));
        Schedule(plan, graph, model.Source, lowered, storage, paramOnly, forOutputs: forOutputs);
        CopyGradients(plan, graph, gradOf, claimed, storage);

        foreach (var o in graph.Outputs)
            plan.Outputs.Add(new NamedBuffer(o.Key, storage[o.Value], graph[o.Value].Shape, graph[o.Value].DType));
        if (graph.LossId is { } loss)
            plan.Loss = new NamedBuffer("loss", storage[loss], Shape.Scalar, DType.F32);
        foreach (var input in graph.Inputs)
            if (gradOf.TryGetValue(input.Id, out var g) && storage.TryGetValue(g, out var b))
                plan.InputGradients.Add(new NamedBuffer("grad." + input.Name, b, input.Shape, DType.F32));
        BufferPlanner.Assign(plan);
        return plan;
    }

    /// <summary>
    /// The parameter arena (trainable parameters first, so the optimizer updates one prefix in one launch) and the
    /// gradient arena laid out like it; returns the gradient nodes computed straight into the gradient arena.
    /// </summary>
    private static HashSet<int> Arenas(Plan plan, Graph graph, Dictionary<int, int> gradOf, HashSet<int> live, Dictionary<int, int> storage)
    {
        var offset = 0L;
        foreach (var p in Ordered(graph))
        {
            if (!p.Param!.Trainable && plan.TrainableElements < 0) plan.TrainableElements = offset;
            var numel = p.Shape.Numel.PerExample;
            plan.Params.Add(new ParamSlot(p.Name, p.Shape, offset, p.Param!.Init, p.Param.FanIn, p.Param.FanOut, p.Param.Trainable, p.Param.Mask));
            storage[p.Id] = AddBuffer(plan, p.Name, p.Shape.Numel, DType.F32, StorageKind.Param, offset);
            offset += (numel + Plan.ArenaAlignment - 1) / Plan.ArenaAlignment * Plan.ArenaAlignment;
        }
        plan.ArenaElements = Math.Max(offset, Plan.ArenaAlignment);
        if (plan.TrainableElements < 0) plan.TrainableElements = plan.ArenaElements;

        var claimed = new HashSet<int>();
        foreach (var p in Ordered(graph))
        {
            if (!gradOf.TryGetValue(p.Id, out var g)) continue;
            var gn = graph[g];
            var slot = plan.Params.First(s => s.Name == p.Name);
            if (gn.Kind == NodeKind.Op && gn.Def.Kind != PrimKind.View && !claimed.Contains(g) && !graph.Params.Any(q => q.Id == g))
            {
                claimed.Add(g);
                storage[g] = AddBuffer(plan, "grad." + p.Name, p.Shape.Numel, DType.F32, StorageKind.Grad, slot.Offset);
            }
            else if (gn.Kind == NodeKind.Op && gn.Def.Kind == PrimKind.View && !claimed.Contains(g)
                     && graph[gn.Inputs[0]] is { Kind: NodeKind.Op } under && under.Def.Kind != PrimKind.View
                     && !claimed.Contains(under.Id) && !gradOf.ContainsValue(under.Id)
                     && graph.Nodes.Count(n => live.Contains(n.Id) && n.Inputs.Contains(under.Id)) == 1)
            {
                // A gradient that is a view of a value nothing else reads (C5's weight gradient, a reshaped GEMM
                // result): that value is computed straight into the arena, and the view aliases it.
                claimed.Add(g);
                claimed.Add(under.Id);
                storage[under.Id] = AddBuffer(plan, "grad." + p.Name, p.Shape.Numel, DType.F32, StorageKind.Grad, slot.Offset);
            }
        }
        return claimed;
    }

    /// <summary>Parameters in arena order: trainable first.</summary>
    private static IEnumerable<Node> Ordered(Graph graph) =>
        graph.Params.Where(p => p.Param!.Trainable).Concat(graph.Params.Where(p => !p.Param!.Trainable));

    /// <summary>Gradients that are not computed into the arena (shared, or a view) are copied there.</summary>
    private static void CopyGradients(Plan plan, Graph graph, Dictionary<int, int> gradOf, HashSet<int> claimed, Dictionary<int, int> storage)
    {
        foreach (var p in Ordered(graph))
        {
            if (!gradOf.TryGetValue(p.Id, out var g) || claimed.Contains(g)) continue;
            var slot = plan.Params.First(s => s.Name == p.Name);
            var dst = AddBuffer(plan, "grad." + p.Name, p.Shape.Numel, DType.F32, StorageKind.Grad, slot.Offset);
            var src = graph[g];
            var name = "nd_copy_grad_" + Identifier(p.Name);
            if (src.Kind == NodeKind.Const)
            {
                plan.Kernels.Add(new KernelSource(name, "", $"__kernel void {name}(__global float* restrict out)\n{{\n    out[get_global_id(0)] = {OpenClKernels.Lit(src.ConstValue)};\n}}\n"));
                plan.Backward.Add(new Launch(name, new[] { LaunchArg.Of(dst) }, new[] { p.Shape.Numel }, p.Span.Line, "", new[] { g }, false));
            }
            else
            {
                plan.Kernels.Add(new KernelSource(name, "", $"__kernel void {name}(__global const float* restrict in0, __global float* restrict out)\n{{\n    const int i = get_global_id(0);\n    out[i] = in0[i];\n}}\n"));
                plan.Backward.Add(new Launch(name, new[] { LaunchArg.Of(storage[g]), LaunchArg.Of(dst) }, new[] { p.Shape.Numel }, p.Span.Line, "", new[] { g }, false));
            }
        }
    }

    private static int AddBuffer(Plan plan, string name, Dim elements, DType dtype, StorageKind kind, long offset)
    {
        var index = plan.Buffers.Count;
        plan.Buffers.Add(new BufferPlan(index, name, elements, dtype, kind, offset));
        return index;
    }

    /// <summary>Nodes the outputs, the loss and the given roots depend on.</summary>
    private static HashSet<int> Liveness(Graph graph, IEnumerable<int> roots)
    {
        var all = roots.Concat(graph.Outputs.Select(o => o.Value));
        return Ancestors(graph, graph.LossId is { } l ? all.Append(l) : all);
    }

    /// <summary>The nodes <paramref name="roots"/> are computed from, the roots included.</summary>
    private static HashSet<int> Ancestors(Graph graph, IEnumerable<int> roots)
    {
        var live = new HashSet<int>();
        var stack = new Stack<int>(roots);
        while (stack.Count > 0)
        {
            var id = stack.Pop();
            if (!live.Add(id)) continue;
            foreach (var i in graph[id].Inputs) stack.Push(i);
        }
        return live;
    }
}
