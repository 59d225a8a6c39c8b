using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Semantics;

namespace NeuroDsl.Compiler.Planning;

/// <summary>
/// Turns a differentiated graph into a <see cref="Plan"/>: drops dead nodes, gives every live value a buffer
/// (views share, constants are inlined, parameters and their gradients live in two arenas), and lists the
/// launches of the forward and backward passes with the source line each came from.
/// </summary>
public static class Planner
{
    public static Plan Build(ModelIr model, string sourceText)
    {
        var graph = model.Graph;
        var plan = new Plan();

        // Parameter gradients must land in the gradient arena: give each its own node to write there.
        var gradOf = new Dictionary<int, int>(graph.Gradients);
        var live = Liveness(graph, gradOf.Values);
        var storage = new Dictionary<int, int>();

        // Parameter arena: one slice per parameter, aligned for sub-buffers.
        // Trainable parameters first: the optimizer updates that prefix of the arena in one launch.
        var offset = 0L;
        var ordered = graph.Params.Where(p => p.Param!.Trainable).Concat(graph.Params.Where(p => !p.Param!.Trainable)).ToList();
        foreach (var p in ordered)
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
        foreach (var p in ordered)
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

        foreach (var input in graph.Inputs)
        {
            storage[input.Id] = AddBuffer(plan, input.Name, input.Shape.Numel, input.DType, StorageKind.Input, 0);
            plan.Inputs.Add(new NamedBuffer(input.Name, storage[input.Id], input.Shape, input.DType));
        }

        // Which backward nodes only serve input gradients (skipped unless the caller asks for them).
        var paramOnly = Liveness(graph, graph.Params.Where(p => gradOf.ContainsKey(p.Id)).Select(p => gradOf[p.Id]));

        // Fusion: which nodes are computed inline in another node's kernel (no buffer, no launch of their own).
        var pinned = new HashSet<int>(graph.Outputs.Select(o => o.Value).Concat(gradOf.Values));
        if (graph.LossId is { } lossNode) pinned.Add(lossNode);
        var groups = FusionPlanner.Plan(graph, live, pinned);
        var inlined = new HashSet<int>(groups.Values.SelectMany(g => g.Inlined));

        var lines = sourceText.Replace("\r\n", "\n").Split('\n');
        var shared = new Dictionary<string, SharedKernel>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            if (!live.Contains(node.Id) || node.Kind != NodeKind.Op || inlined.Contains(node.Id)) continue;
            if (node.Def.Kind == PrimKind.View)
            {
                storage[node.Id] = storage[node.Inputs[0]];
                continue;
            }
            if (!storage.ContainsKey(node.Id))
                storage[node.Id] = AddBuffer(plan, node.Name, node.Shape.Numel, node.DType, StorageKind.Temp, 0);

            // A fused kernel covers the source lines of every node it computes; list them all, in order.
            groups.TryGetValue(node.Id, out var group);
            var covered = (group?.Inlined ?? Array.Empty<int>()).Select(id => graph[id].Span.Line).Append(node.Span.Line)
                .Where(l => l >= 1 && l <= lines.Length).Distinct().OrderBy(l => l).ToList();
            var line = node.Span.Line;
            var text = line >= 1 && line <= lines.Length ? lines[line - 1].Trim() : "";
            var comment = covered.Count <= 1
                ? Escaping.Comment($"{node.Span.File}:{line}  {text}")
                : string.Join("\n// ", covered.Select(l => Escaping.Comment($"{node.Span.File}:{l}  {lines[l - 1].Trim()}")));
            var launch = OpenClKernels.Emit(graph, node, comment, group);
            var scratch = launch.Scratch is { } elements
                ? AddBuffer(plan, node.Name + ".packed", elements, DType.F32, StorageKind.Temp, 0)
                : -1;
            var padded = launch.Padded is { } copy
                ? AddBuffer(plan, node.Name + ".padded", copy, DType.F32, StorageKind.Temp, 0)
                : -1;
            var target = node.IsBackward ? plan.Backward : plan.Forward;
            foreach (var step in launch.Steps())
            {
                var kernel = step.Code is null ? step.Kernel : Share(plan, shared, step, launch.Kernel, $"{node.Span.File}:{line}");
                var args = step.Args.Select(a => a switch
                {
                    int id => LaunchArg.Of(storage.TryGetValue(id, out var b) ? b : throw new InvalidOperationException($"no buffer for %{id} ({graph[id].Op})")),
                    "$scratch" => LaunchArg.Of(scratch),
                    "$padded" => LaunchArg.Of(padded),
                    string runtime => LaunchArg.RuntimeValue(runtime.TrimStart('$')),
                    _ => LaunchArg.Size((Dim)a),
                }).ToList();
                target.Add(new Launch(kernel, args, step.Global, line, text, new[] { node.Id },
                    node.IsBackward && !paramOnly.Contains(node.Id), step.Tile,
                    covered.Where(l => l != line).Select(l => (l, lines[l - 1].Trim())).ToList()));
            }
        }

        foreach (var k in shared.Values.Where(k => k.Users.Count > 1))
        {
            var source = plan.Kernels[k.Index];
            var users = k.Users.Distinct().ToList();
            var note = $"// The same code serves {k.Users.Count} launches: " + string.Join(", ", users.Take(8)) + (users.Count > 8 ? ", …" : "") + "\n";
            var at = source.Code.IndexOf("__kernel", StringComparison.Ordinal);
            var header = source.Code.Substring(0, at);
            var tableEnd = header.LastIndexOf("//", StringComparison.Ordinal);
            plan.Kernels[k.Index] = source with { Code = source.Code.Insert(header.IndexOf('\n', tableEnd) + 1, note) };
        }

        // Gradients that are not computed into the arena (shared, or a view) are copied there.
        foreach (var p in ordered)
        {
            if (!gradOf.TryGetValue(p.Id, out var g) || claimed.Contains(g)) continue;
            var slot = plan.Params.First(s => s.Name == p.Name);
            var dst = AddBuffer(plan, "grad." + p.Name, p.Shape.Numel, DType.F32, StorageKind.Grad, slot.Offset);
            var src = graph[g];
            var name = "nd_copy_grad" + plan.Params.IndexOf(slot);
            if (src.Kind == NodeKind.Const)
            {
                plan.Kernels.Add(new KernelSource(name, $"__kernel void {name}(__global float* restrict out)\n{{\n    out[get_global_id(0)] = {OpenClKernels.Lit(src.ConstValue)};\n}}\n"));
                plan.Backward.Add(new Launch(name, new[] { LaunchArg.Of(dst) }, new[] { p.Shape.Numel }, p.Span.Line, "", new[] { g }, false));
            }
            else
            {
                plan.Kernels.Add(new KernelSource(name, $"__kernel void {name}(__global const float* restrict in0, __global float* restrict out)\n{{\n    const int i = get_global_id(0);\n    out[i] = in0[i];\n}}\n"));
                plan.Backward.Add(new Launch(name, new[] { LaunchArg.Of(storage[g]), LaunchArg.Of(dst) }, new[] { p.Shape.Numel }, p.Span.Line, "", new[] { g }, false));
            }
        }

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

    private sealed class SharedKernel
    {
        public SharedKernel(int index) => Index = index;
        public int Index { get; }
        public List<string> Users { get; } = new();
    }

    /// <summary>
    /// Identical generated kernels (the repeated blocks of a ResNet, say) become one kernel with several launches:
    /// code is compared without its comments and its name, so a model compiles each distinct kernel once.
    /// </summary>
    private static string Share(Plan plan, Dictionary<string, SharedKernel> shared, NodeLaunch step, string baseName, string user)
    {
        var body = Regex.Replace(step.Code!, @"^//[^\n]*\n", "", RegexOptions.Multiline);
        body = Regex.Replace(body, Regex.Escape(baseName) + "(?![0-9])", "@");
        if (shared.TryGetValue(body, out var known))
        {
            known.Users.Add(user);
            return plan.Kernels[known.Index].Name;
        }
        var entry = new SharedKernel(plan.Kernels.Count);
        entry.Users.Add(user);
        shared[body] = entry;
        plan.Kernels.Add(new KernelSource(step.Kernel, step.Code!));
        return step.Kernel;
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
        var live = new HashSet<int>();
        var stack = new Stack<int>(roots.Concat(graph.Outputs.Select(o => o.Value)));
        if (graph.LossId is { } l) stack.Push(l);
        while (stack.Count > 0)
        {
            var id = stack.Pop();
            if (!live.Add(id)) continue;
            foreach (var i in graph[id].Inputs) stack.Push(i);
        }
        return live;
    }
}
