using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>Kernels for fusion groups: elementwise chains in one kernel, and convolutions with an elementwise epilogue.</summary>
public static partial class OpenClKernels
{
    /// <summary>The launches of a node, or of the fusion group it roots, its kernels not yet named.</summary>
    /// <param name="views">A loop body's inputs read in place from their sequences (<see cref="StepView"/>).</param>
    /// <param name="writes">A loop body's values written into sequences at step t as well (<see cref="StepWrite"/>): an
    /// elementwise kernel writing one of them stores it there too.</param>
    /// <param name="shared">Values whose buffer another value of the kernel shares (a state computed in place): their
    /// pointers are not <c>restrict</c>.</param>
    public static NodeLaunch Emit(Graph graph, Node node, FusionGroup? group, IReadOnlyDictionary<int, StepView>? views = null,
        IReadOnlyList<StepWrite>? writes = null, ISet<int>? shared = null)
    {
        if (group is null || node.Def == Ops.Attention.Forward) return Emit(graph, node);
        if (group.Rows is { } rows) return RowKernels.Emit(graph, node, group, rows);
        var members = group.Inlined.Select(id => graph[id]).ToList();
        var gemm = members.FirstOrDefault(m => m.Def.Kind == PrimKind.Gemm);
        if (gemm is not null) return Ops.MatMul.Launch(gemm, gemm.Inputs.Select(i => graph[i]).ToArray(), node);
        var conv = members.FirstOrDefault(m => m.Def.Fusion == Ops.FusionRole.EpilogueHead);
        var chain = members.Where(m => m != conv).Append(node).ToList();
        return conv is null
            ? FusedElementwise(graph, node, chain, group.Stored ?? System.Array.Empty<int>(), views, writes, shared)
            : FusedConv(graph, conv, chain);
    }

    /// <summary>
    /// The code computing a chain of elementwise nodes, each in its own scope with its inputs bound to a, b, c:
    /// inlined values are locals t&lt;id&gt;, external tensors e&lt;k&gt; read at their broadcast index, constants literals.
    /// Returns the external inputs in parameter order; the chain's value ends in t&lt;root&gt;.
    /// </summary>
    internal static (List<Node> External, string Code) ChainCode(Graph graph, IReadOnlyList<Node> chain, int? head, Shape shape, string indent,
        string type = "float", ISet<int>? axes = null, IReadOnlyDictionary<int, StepView>? views = null)
    {
        StepView? View(Node input) => views is not null && views.TryGetValue(input.Id, out var view) ? view : null;
        var inside = new HashSet<int>(chain.Select(n => n.Id));
        if (head is { } h) inside.Add(h);
        var external = new List<Node>();
        var sb = new StringBuilder();
        foreach (var n in chain)
        {
            if (Ops.Slicing.IsRemap(n))
            {
                // A slice or a slice's gradient of the chain's shape: its input, external, read in place.
                var source = graph[n.Inputs[0]];
                if (axes is null) throw new System.InvalidOperationException($"{n.Op} needs its position");
                var e = external.IndexOf(source);
                if (e < 0)
                {
                    external.Add(source);
                    e = external.Count - 1;
                }
                var (read, used) = Ops.Slicing.RemapRead(n, source, "e" + e.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    View(source) is { } v ? (v.Strides, v.Start) : null);
                axes.UnionWith(used);
                sb.Append(indent).Append($"const {type} {Local(chain, head, n.Id)} = {read};\n");
                continue;
            }
            var prim = (Ops.ElementwiseOp)n.Def;
            sb.Append(indent).Append($"{type} {Local(chain, head, n.Id)};\n").Append(indent).Append("{\n");
            for (var k = 0; k < n.Inputs.Count; k++)
            {
                var input = graph[n.Inputs[k]];
                string value;
                if (inside.Contains(input.Id)) value = Local(chain, head, input.Id);
                else if (input.Kind == NodeKind.Const) value = Lit(input.ConstValue);
                else
                {
                    var e = external.IndexOf(input);
                    if (e < 0)
                    {
                        external.Add(input);
                        e = external.Count - 1;
                    }
                    if (View(input) is { } view)
                    {
                        // A step of a sequence [N, F] (or [N, 1], a row's length mask) in a kernel of [N, F]: read at the
                        // kernel's coordinates.
                        if (axes is null || !StepView.Fits(input.Shape, shape))
                            throw new System.InvalidOperationException($"{input.Name} is read in place only by a kernel of its rows");
                        var column = input.Shape[1].Equals(shape[1]);
                        axes.UnionWith(column ? new[] { 0, 1 } : new[] { 0 });
                        value = view.Read($"e{e}", "c0", column ? "c1" : "0");
                    }
                    else value = $"e{e}[{BroadcastIndex(input.Shape, shape)}]";
                }
                sb.Append(indent).Append($"    const {type} {Letters[k]} = {value};\n");
            }
            // A member that reads its own position (one_hot's class) finds it from the kernel's coordinates; only a
            // kernel that declares them (axes given) takes one.
            if (prim.UsesIndex && axes is null) throw new System.InvalidOperationException($"{n.Op} needs its position");
            if (prim.UsesIndex) axes!.UnionWith(AxesRead(n.Shape, shape));
            sb.Append(indent).Append($"    {Local(chain, head, n.Id)} = {Template(prim, n, BroadcastIndex(n.Shape, shape))};\n")
                .Append(indent).Append("}\n");
        }
        return (external, sb.ToString());
    }

    /// <summary>
    /// The local holding a chain member's value: t0 for the head (a convolution's accumulator), t1… in chain order,
    /// so identical chains in different layers give identical kernels.
    /// </summary>
    internal static string Local(IReadOnlyList<Node> chain, int? head, int id)
    {
        if (head == id) return "t0";
        for (var i = 0; i < chain.Count; i++)
            if (chain[i].Id == id) return "t" + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        throw new System.ArgumentException($"%{id} is not in the chain");
    }

    /// <summary>
    /// One kernel for a chain, writing the root's value and the <paramref name="stored"/> members' (the roots of the
    /// kernels a multi-output fusion merged into this one), each at the kernel's element, and of those a loop writes
    /// into sequences (<paramref name="writes"/>), each there too, at step t.
    /// </summary>
    internal static NodeLaunch FusedElementwise(Graph graph, Node root, List<Node> chain, IReadOnlyList<int> stored,
        IReadOnlyDictionary<int, StepView>? views = null, IReadOnlyList<StepWrite>? writes = null, ISet<int>? shared = null)
    {
        const string name = KernelTemplate.Self;
        string Restrict(int id) => shared is not null && shared.Contains(id) ? "" : "restrict ";
        var axes = new HashSet<int>();
        var laned = Laned(root.Shape);
        var indent = laned ? "        " : "    "; // the body is written first (it finds the axes); ElementStart's indent
        var (external, body) = ChainCode(graph, chain, null, root.Shape, indent, axes: axes, views: views);
        var written = new HashSet<int>(stored.Append(root.Id));
        var mine = (writes ?? System.Array.Empty<StepWrite>()).Select((w, k) => (w, k)).Where(x => written.Contains(x.w.Value)).ToList();
        foreach (var (w, _) in mine)
        {
            if (!StepView.Fits(graph[w.Value].Shape, root.Shape) || !graph[w.Value].Shape.Equals(root.Shape))
                throw new System.InvalidOperationException($"{graph[w.Value].Name} is written into its sequence only by a kernel of its shape");
            axes.UnionWith(new[] { 0, 1 });
        }
        var timed = (views is not null && external.Any(e => views.ContainsKey(e.Id))) || mine.Count > 0;
        var sb = new StringBuilder();
        sb.Append("// Fused: ").Append(string.Join(" -> ", chain.Select(n => n.Op))).Append('\n');
        sb.Append("__kernel void ").Append(name).Append('(')
            .Append(string.Join(", ", external.Select((e, k) => $"__global const {CType(e)}* {Restrict(e.Id)}e{k}")
                .Append($"__global float* {Restrict(root.Id)}out")
                .Concat(stored.Select((id, k) => $"__global float* {Restrict(id)}s{k}"))
                .Concat(mine.Select((_, k) => $"__global float* restrict w{k}")).Concat(timed ? new[] { "const int t" } : new string[0])))
            .AppendLine(")\n{");
        axes.UnionWith(external.SelectMany(e => AxesRead(e.Shape, root.Shape)));
        ElementStart(sb, root.Shape, axes, laned);
        sb.Append(body);
        for (var k = 0; k < stored.Count; k++) sb.Append($"{indent}s{k}[i] = {Local(chain, null, stored[k])};\n");
        for (var k = 0; k < mine.Count; k++)
            sb.Append($"{indent}w{k}[{mine[k].w.View.At("c0", "c1")}] = {Local(chain, null, mine[k].w.Value)};\n");
        sb.Append($"{indent}out[i] = {Local(chain, null, root.Id)};\n");
        ElementEnd(sb, laned);
        var args = ArgSpec.Nodes(external.Append(root).ToArray()).Concat(stored.Select(ArgSpec.Node))
            .Concat(mine.Select(x => (ArgSpec)new ArgSpec.StepWriteBuffer(x.k))).ToList();
        if (timed) args.Add(new ArgSpec.Runtime(Planning.RuntimeScalar.Time));
        return new NodeLaunch(name, args, new[] { root.Shape.Numel }, sb.ToString(), Lanes: laned);
    }

    // The convolution kernel, with the chain applied to each output value before it is stored: on the whole
    // accumulator vector when the chain reads no other tensor, otherwise per value with its coordinates.
    internal static NodeLaunch FusedConv(Graph graph, Node conv, List<Node> chain)
    {
        var inputs = conv.Inputs.Select(i => graph[i]).ToArray();
        return ConvolutionKernels.Forward(new Ops.KernelCall(graph, conv, inputs),
            new ConvolutionKernels.Epilogue(graph, conv, chain));
    }
}
