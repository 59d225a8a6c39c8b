using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Planning;

public static partial class Planner
{
    /// <summary>
    /// A live node after lowering, in graph order: a view (no launch), or its launches with their kernels' text not
    /// yet named (the key that finds identical kernels), the stable name its kernels take, and the lines it covers.
    /// </summary>
    private sealed record Lowered(Node Node, NodeLaunch? Launch, string Name, string Comment,
        IReadOnlyList<int> Covered, IReadOnlyList<int> Stored, IReadOnlyList<int> Computed, LoweredLoop? Loop = null);

    /// <summary>Lowering: each launched node (a fusion group's root stands for its group) through its op definition.</summary>
    private static List<Lowered> Lower(Graph graph, SourceLines lines, HashSet<int> live, IReadOnlyDictionary<int, FusionGroup> groups,
        HashSet<string>? names = null, IReadOnlyDictionary<int, StepView>? views = null, IReadOnlyList<StepWrite>? writes = null,
        ISet<int>? shared = null)
    {
        var inlined = new HashSet<int>(groups.Values.SelectMany(g => g.Inlined));
        names ??= new HashSet<string>(StringComparer.Ordinal);
        var result = new List<Lowered>();
        foreach (var node in graph.Nodes)
        {
            if (!live.Contains(node.Id) || node.Kind != NodeKind.Op || inlined.Contains(node.Id)) continue;
            // A loop over time lowers its body (Planner.Scan.cs); the loop writes its results' buffers itself.
            if (Ops.Scan.IsPart(node)) continue;
            if (node.Body is not null)
            {
                result.Add(LowerLoop(graph, node, lines, names));
                continue;
            }
            if (node.Def.Kind == PrimKind.View)
            {
                result.Add(new Lowered(node, null, "", "", Array.Empty<int>(), Array.Empty<int>(), Array.Empty<int>()));
                continue;
            }
            // A fused kernel covers the source lines of every node it computes; list them all, in order.
            groups.TryGetValue(node.Id, out var group);
            var covered = (group?.Inlined ?? Array.Empty<int>()).Select(id => graph[id].Span.Line).Append(node.Span.Line)
                .Where(lines.Has).Distinct().OrderBy(l => l).ToList();
            var comment = covered.Count <= 1
                ? Escaping.Comment($"{node.Span.File}:{node.Span.Line}  {lines[node.Span.Line]}")
                : string.Join("\n// ", covered.Select(l => Escaping.Comment($"{node.Span.File}:{l}  {lines[l]}")));
            var name = KernelName(node, group is not null, names);
            result.Add(new Lowered(node, OpenClKernels.Emit(graph, node, group, views, writes, shared), name, comment, covered,
                group?.Rows?.Stored ?? group?.Stored ?? Array.Empty<int>(),
                (group?.Rows?.Roles.Keys ?? group?.Inlined ?? Array.Empty<int>()).Append(node.Id).Distinct().ToList()));
        }
        return result;
    }

    /// <summary>
    /// A kernel's name, stable when layers are added elsewhere: from the value it computes and its op
    /// (<c>nd_c1_conv2d</c>, <c>nd_grad_c3_conv2d_grad_weight</c>, <c>nd_fused_f6_tanh</c>), numbered on a clash.
    /// </summary>
    private static string KernelName(Node node, bool fused, HashSet<string> used)
    {
        var value = Identifier(node.Name);
        var stem = (fused ? "nd_fused_" : "nd_") + (value == node.Op || value.EndsWith("_" + node.Op, StringComparison.Ordinal)
            ? value : value + "_" + node.Op);
        var name = stem;
        for (var k = 2; !used.Add(name); k++) name = stem + "_" + k.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return name;
    }

    private static string Identifier(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (var ch in name) sb.Append(char.IsLetterOrDigit(ch) && ch < 128 ? ch : '_');
        return sb.ToString().Trim('_');
    }

    /// <summary>
    /// Buffers for every launched value, and the launch lists; a kernel whose unnamed text is already in the table is
    /// launched again rather than compiled again (the repeated blocks of a ResNet), and says whom it serves.
    /// </summary>
    /// <param name="writeBuffers">In a loop's body, the buffers of its <see cref="StepWrite"/>s, by index.</param>
    /// <param name="forOutputs">The nodes the outputs are computed from: a forward launch computing none of them is
    /// <see cref="Launch.LossOnly"/>. Null where no launch is (a loop's body, a model without a loss).</param>
    private static void Schedule(Plan plan, Graph graph, SourceLines lines, List<Lowered> lowered, Dictionary<int, int> storage,
        HashSet<int> paramOnly, IReadOnlyList<int>? writeBuffers = null, HashSet<int>? forOutputs = null)
    {
        var table = new Dictionary<string, SharedKernel>(StringComparer.Ordinal);
        // A view of a value a merged kernel stores (MultiOutputFusion) comes before that kernel in graph order: it takes
        // the value's buffer once the kernel has one (no kernel reads the view before the merged kernel runs).
        var pending = new List<Node>();
        void Resolve()
        {
            for (var found = true; found;)
            {
                found = false;
                foreach (var view in pending.ToList())
                    if (storage.TryGetValue(view.Inputs[0], out var under))
                    {
                        storage[view.Id] = under;
                        pending.Remove(view);
                        found = true;
                    }
            }
        }
        foreach (var item in lowered)
        {
            Resolve();
            var node = item.Node;
            if (item.Loop is { } loop)
            {
                ScheduleLoop(plan, graph, lines, item.Node, loop, storage, paramOnly);
                continue;
            }
            if (item.Launch is not { } launch)
            {
                pending.Add(node);
                continue;
            }
            // The root's buffer, and those of the members a row kernel stores for later kernels.
            foreach (var id in item.Stored.Append(node.Id))
                if (!storage.ContainsKey(id))
                    storage[id] = AddBuffer(plan, graph[id].Name, graph[id].Shape.Numel, graph[id].DType, StorageKind.Temp, 0);
            // The helper functions of every op the kernel computes (a fused chain's nd_pow, dropout's hash).
            foreach (var id in item.Computed)
                if (graph[id].Def.Prelude is { } prelude && !plan.Preludes.Contains(prelude)) plan.Preludes.Add(prelude);
            // The forward pass's pack of a parameter (a dense layer's weight) keeps its own buffer, so it need not run again
            // until the parameters change; other packs (activations, the backward's) share the temporaries' slots.
            var keepsPacked = !node.IsBackward && launch.Before is { Kernel: PackKernel } pack
                && pack.Args[3] is ArgSpec.NodeBuffer { Id: var packed } && graph[packed].Kind == NodeKind.Param;
            var scratch = launch.Scratch is { } elements
                ? AddBuffer(plan, node.Name + ".packed", elements, DType.F32, keepsPacked ? StorageKind.Packed : StorageKind.Temp, 0)
                : -1;
            var padded = launch.Padded is { } copy
                ? AddBuffer(plan, node.Name + ".padded", copy, DType.F32, StorageKind.Temp, 0)
                : -1;
            var target = node.IsBackward ? plan.Backward : plan.Forward;
            var lossOnly = forOutputs is not null && !node.IsBackward
                && item.Computed.Concat(item.Stored).Append(node.Id).All(id => !forOutputs.Contains(id));
            var line = node.Span.Line;
            var user = $"{node.Span.File}:{line}";
            foreach (var step in launch.Steps())
            {
                var kernel = step.Code is null ? step.Kernel : Share(plan, table, step, item.Name, item.Comment, user);
                var args = step.Args.Select(a => a switch
                {
                    ArgSpec.NodeBuffer n => LaunchArg.Of(storage.TryGetValue(n.Id, out var b) ? b
                        : throw new InvalidOperationException($"no buffer for %{n.Id} ({graph[n.Id].Op}) read by %{node.Id} ({node.Op}) with [{string.Join(",", item.Computed)}]")),
                    ArgSpec.SizeValue s => LaunchArg.Size(s.Value),
                    ArgSpec.ScratchBuffer => LaunchArg.Of(scratch),
                    ArgSpec.PaddedBuffer => LaunchArg.Of(padded),
                    ArgSpec.Runtime r => LaunchArg.RuntimeValue(r.Value),
                    ArgSpec.StepWriteBuffer w when writeBuffers is not null => LaunchArg.Of(writeBuffers[w.Index]),
                    _ => throw new InvalidOperationException($"unknown argument {a}"),
                }).ToList();
                target.Add(new Launch(kernel, args, step.Global, line, lines[line], new[] { node.Id },
                    node.IsBackward && item.Stored.Append(node.Id).All(id => !paramOnly.Contains(id)), step.Tile,
                    item.Covered.Where(l => l != line).Select(l => (l, lines[l])).ToList(), step.Rows, step.Variant,
                    Lanes: step.Lanes, KeepsPacked: keepsPacked && step.Kernel == PackKernel, Gpu: step.Gpu, GpuRows: step.GpuRows,
                    ByConvPixels: step.ByConvPixels, GpuGroup: step.GpuGroup, LossOnly: lossOnly));
            }
        }

        Resolve();
        if (pending.Count > 0)
            throw new InvalidOperationException($"no buffer for %{pending[0].Inputs[0]} under the view %{pending[0].Id} ({pending[0].Name})");

        foreach (var k in table.Values.Where(k => k.Users.Count > 1))
        {
            var users = k.Users.Distinct().ToList();
            var source = plan.Kernels[k.Index];
            plan.Kernels[k.Index] = source with
            {
                Comment = source.Comment + $"\n// The same code serves {k.Users.Count} launches: " + string.Join(", ", users.Take(8))
                    + (users.Count > 8 ? ", …" : ""),
            };
        }
    }

    /// <summary>The library kernel that packs a GEMM's B into panels (kernels/gemm.cl).</summary>
    private const string PackKernel = "nd_gemm_pack_b_f32";

    private sealed class SharedKernel
    {
        public SharedKernel(int index) => Index = index;
        public int Index { get; }
        public List<string> Users { get; } = new();
    }

    /// <summary>
    /// The kernel a step launches: the first with the same unnamed text, or a new entry of the table, rendered with the
    /// stable name <paramref name="name"/> of the node it was lowered for.
    /// </summary>
    private static string Share(Plan plan, Dictionary<string, SharedKernel> table, NodeLaunch step, string name,
        string comment, string user)
    {
        if (table.TryGetValue(step.Code!, out var known))
        {
            known.Users.Add(user);
            return plan.Kernels[known.Index].Name;
        }
        var entry = new SharedKernel(plan.Kernels.Count);
        entry.Users.Add(user);
        table[step.Code!] = entry;
        var kernel = KernelTemplate.Render(step.Kernel, name);
        plan.Kernels.Add(new KernelSource(kernel, comment, KernelTemplate.Render(step.Code!, name)));
        return kernel;
    }
}
