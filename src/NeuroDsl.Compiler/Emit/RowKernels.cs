using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Fusion;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// Row kernels (<see cref="RowFusion"/>): one work-item per row. Each head loops over its group, computing the
/// elementwise producers of its operand at every element; the row's elementwise values follow; a last loop over the
/// group computes the chain that ends in the root and stores it. Members that other kernels read are stored as they
/// are computed. Locals are named by position (t0, t1, … in graph order), so the same block in two layers gives the
/// same kernel.
/// </summary>
internal static class RowKernels
{
    public static NodeLaunch Emit(Graph graph, Node root, FusionGroup group, RowPlan plan)
    {
        const string name = KernelTemplate.Self;
        var space = plan.Space;
        var members = plan.Roles.Keys.OrderBy(id => id).ToList();
        var externals = new List<Node>();
        var rowAxes = new HashSet<int>();
        var emitted = new HashSet<int>();
        var window = space.WindowAxis >= 0;
        var count = (window ? (Dim)1 : space.Axes.Aggregate((Dim)1, (a, d) => a * space.Input[(int)d])).ToC();
        var mean = $"(float){count}";

        string Local(int id) => "t" + OpenClKernels.I(members.IndexOf(id));
        string Store(int id) => "s" + OpenClKernels.I(plan.Stored.ToList().IndexOf(id));
        string Ext(Node u, Shape over, string flat, ISet<int> used)
        {
            var e = externals.IndexOf(u);
            if (e < 0)
            {
                externals.Add(u);
                e = externals.Count - 1;
            }
            used.UnionWith(OpenClKernels.AxesRead(u.Shape, over));
            return $"e{OpenClKernels.I(e)}[{(u.Shape.Equals(over) ? flat : OpenClKernels.BroadcastIndex(u.Shape, over))}]";
        }
        bool PerRow(int id) => plan.Roles.TryGetValue(id, out var r) && r is RowRole.Head or RowRole.Row;

        // The value of input u where a member computed in `loop` (the ids computed in this loop body, or null for the
        // row level) reads it.
        string Value(Node u, ISet<int>? loop, ISet<int> used)
        {
            if (u.Kind == NodeKind.Const) return OpenClKernels.Lit(u.ConstValue);
            if (PerRow(u.Id) || (loop?.Contains(u.Id) ?? false)) return Local(u.Id);
            return loop is null ? Ext(u, space.Rows, "i", used) : Ext(u, space.Input, "at", used);
        }

        void Member(StringBuilder sb, string indent, Node n, ISet<int>? loop, ISet<int> used)
        {
            var op = (Ops.ElementwiseOp)n.Def;
            sb.Append(indent).Append($"float {Local(n.Id)};\n").Append(indent).Append("{\n");
            for (var k = 0; k < n.Inputs.Count; k++)
                sb.Append(indent).Append($"    const float {OpenClKernels.Letters[k]} = {Value(graph[n.Inputs[k]], loop, used)};\n");
            // Inside a loop the element is `at` of the group's input; at the row level, row `i`.
            sb.Append(indent).Append($"    {Local(n.Id)} = {OpenClKernels.Template(op, n, loop is null ? "i" : "at")};\n")
                .Append(indent).Append("}\n");
        }

        var code = new StringBuilder();
        var emittedVector = new HashSet<int>();

        // With one lane per row, a sum over a contiguous group of constant length runs Vector floats at a time (PoCL
        // does not vectorize these loops across rows, and a scalar exp costs ~15 ns there): possible when every
        // value in the loop is an elementwise expression that is valid on vectors and reads only the group's
        // elements (vload), values of the row, or constants.
        var runs = window ? null : Runs(space.Input, space.Axes);
        var vectorLength = runs is { Count: 1 } && runs[0].Stride == (Dim)1 && runs[0].Size.IsConstant
            && runs[0].Size.Coef >= Vector ? runs[0].Size.Coef / Vector * Vector : 0;
        var last = space.Input.Rank - 1;
        // A tensor along the last axis alone ([D], a bias), when the group is that axis: element e of it.
        bool AlongGroup(Node u) => vectorLength > 0 && runs![0].Size == space.Input[last]
            && OpenClKernels.AxesRead(u.Shape, space.Input).SequenceEqual(new[] { last });
        bool VectorSafe(Node n, ISet<int> loop) => n.Def is Ops.ElementwiseOp op && VectorExpression(op.CExpr)
            && n.Inputs.Select(i => graph[i]).All(u => u.Kind == NodeKind.Const || PerRow(u.Id) || loop.Contains(u.Id)
                || u.DType == DType.F32 && (u.Shape.Equals(space.Input) || u.Shape.Equals(space.Rows) || AlongGroup(u)));
        bool Vectorizable(IReadOnlyList<int> loopMembers, Node operand)
        {
            var loop = new HashSet<int>(loopMembers);
            return vectorLength > 0 && loopMembers.All(m => VectorSafe(graph[m], loop))
                && (loop.Contains(operand.Id) || PerRow(operand.Id) || operand.Kind != NodeKind.Const
                    && operand.DType == DType.F32 && operand.Shape.Equals(space.Input));
        }
        string VectorValue(Node u, ISet<int> loop)
        {
            if (u.Kind == NodeKind.Const) return OpenClKernels.Lit(u.ConstValue);
            if (PerRow(u.Id) || loop.Contains(u.Id)) return Local(u.Id);
            var unused = new HashSet<int>();
            var whole = u.Shape.Equals(space.Input);
            var along = !whole && AlongGroup(u);
            var read = Ext(u, whole || along ? space.Input : space.Rows, whole ? "at" : "i", unused);
            // e3[at] → vload8(0, e3 + at); a value of the row stays a scalar, widened where a vector meets it.
            var name = read.Substring(0, read.IndexOf('['));
            return whole ? $"vload{Vector}(0, {name} + at)" : along ? $"vload{Vector}(0, {name} + e)" : read;
        }
        void VectorMember(StringBuilder sb, string indent, Node n, ISet<int> loop)
        {
            var op = (Ops.ElementwiseOp)n.Def;
            sb.Append(indent).Append($"float{Vector} {Local(n.Id)};\n").Append(indent).Append("{\n");
            for (var k = 0; k < n.Inputs.Count; k++)
                sb.Append(indent).Append($"    const float{Vector} {OpenClKernels.Letters[k]} = {VectorValue(graph[n.Inputs[k]], loop)};\n");
            sb.Append(indent).Append($"    {Local(n.Id)} = {OpenClKernels.Template(op, n, "at")};\n").Append(indent).Append("}\n");
        }

        // A sum over the group, Vector elements at a time while whole vectors remain, then the rest one by one (with
        // lanes, the lanes' strided loop as before): `accumulate` adds `v` to `t`.
        void SumLoop(string t, IReadOnlyList<int> producers, Node operand, System.Action<StringBuilder, string, ISet<int>> body,
            System.Func<string, string, string> accumulate)
        {
            if (!Vectorizable(producers, operand))
            {
                Loop(code, body);
                return;
            }
            var loop = new HashSet<int>(producers);
            code.AppendLine("#if ND_ROW_LANES == 1");
            code.AppendLine("    {");
            code.AppendLine($"        float{Vector} {t}_v = 0.0f;");
            code.AppendLine($"        for (int e = 0; e < {OpenClKernels.I(vectorLength)}; e += {Vector})");
            code.AppendLine("        {");
            code.AppendLine("            const int at = base + e;");
            var inner = new StringBuilder();
            foreach (var m in producers)
            {
                VectorMember(inner, "            ", graph[m], loop);
                if (plan.Stored.Contains(m) && plan.Roles[m] == RowRole.Producer && !emittedVector.Contains(m)
                    && !emitted.Contains(m))
                    inner.AppendLine($"            vstore{Vector}({Local(m)}, 0, {Store(m)} + at);");
            }
            inner.AppendLine($"            const float{Vector} v = {VectorValue(operand, loop)};");
            inner.AppendLine("            " + accumulate(t + "_v", "v"));
            code.Append(inner).AppendLine("        }");
            code.AppendLine($"        {t} += {OpenClKernels.LaneSum(t + "_v", Vector)};");
            code.AppendLine("    }");
            code.AppendLine($"    for (int e = {OpenClKernels.I(vectorLength)}; e < {count}; e++)");
            code.AppendLine("#else");
            code.AppendLine($"    for (int e = lane; e < {count}; e += ND_ROW_LANES)");
            code.AppendLine("#endif");
            LoopBody(code, body, "    ");
            foreach (var m in producers) emittedVector.Add(m);
        }

        // The loop over a head's group (or the root's), its body written by `body` with the element's flat index `at`.
        void Loop(StringBuilder sb, System.Action<StringBuilder, string, ISet<int>> body)
        {
            var inner = new StringBuilder();
            var used = new HashSet<int>();
            string indent;
            if (window)
            {
                var ax = space.WindowAxis;
                var size = space.Input[ax].ToC();
                var stride = Stride(space.Input, ax).ToC();
                sb.AppendLine($"    for (int j = max(0, c{ax} - {OpenClKernels.I(space.Before)}); " +
                    $"j <= min({size} - 1, c{ax} + {OpenClKernels.I(space.After)}); j++)");
                indent = "    ";
                sb.Append(indent).AppendLine("{");
                sb.Append(indent).AppendLine($"    const int at = i + (j - c{ax}) * {stride};");
            }
            else
            {
                // The lanes of the row's work-group take its elements in turn: neighbouring lanes read neighbouring
                // elements when the last axis is reduced.
                sb.AppendLine($"    for (int e = lane; e < {count}; e += ND_ROW_LANES)");
                LoopBody(sb, body, "    ");
                return;
            }
            body(inner, indent + "    ", used);
            // Coordinates of the element, for the inputs read broadcast (none when every input has the group's shape).
            OpenClKernels.Coordinates(sb, space.Input, "at", indent + "    ", used);
            sb.Append(inner).Append(indent).AppendLine("}");
        }

        // The body of a loop over the group's elements e (the `for` written before it).
        void LoopBody(StringBuilder sb, System.Action<StringBuilder, string, ISet<int>> body, string indent)
        {
            var inner = new StringBuilder();
            var used = new HashSet<int>();
            sb.Append(indent).AppendLine("{");
            sb.Append(indent).AppendLine($"    const int at = base + {Offset(runs!)};");
            body(inner, indent + "    ", used);
            OpenClKernels.Coordinates(sb, space.Input, "at", indent + "    ", used);
            sb.Append(inner).Append(indent).AppendLine("}");
        }

        // The local holding each mean head's value, by the operand it averages.
        var means = new Dictionary<int, string>();

        foreach (var id in members.Where(PerRow))
        {
            var n = graph[id];
            if (plan.Roles[id] == RowRole.Row) Member(code, "    ", n, null, rowAxes);
            else Head(n);
            if (plan.Stored.Contains(id)) code.AppendLine($"    {(window ? "" : "if (lane == 0) ")}{Store(id)}[i] = {Local(id)};");
        }

        void Head(Node head)
        {
            var (_, mode) = ((IRowHead)head.Def).Head(head, graph[head.Inputs[0]].Shape)!.Value;
            var t = Local(head.Id);
            var producers = plan.ProducersOf.TryGetValue(head.Id, out var p) ? p : System.Array.Empty<int>();
            var inLoop = new HashSet<int>(producers);
            // The producers' values at the element, stored the first time a loop computes them.
            void Operand(StringBuilder sb, string indent, ISet<int> used)
            {
                foreach (var m in producers)
                {
                    Member(sb, indent, graph[m], inLoop, used);
                    if (plan.Stored.Contains(m) && !PerRow(m) && plan.Roles[m] == RowRole.Producer && emitted.Add(m))
                        sb.Append(indent).AppendLine($"{Store(m)}[at] = {Local(m)};");
                }
                sb.Append(indent).AppendLine($"const float v = {Value(graph[head.Inputs[0]], inLoop, used)};");
            }
            code.AppendLine($"    // {head.Op}{head.Def.Detail(head)}");
            switch (mode)
            {
                case Accumulate.Max or Accumulate.Min:
                    code.AppendLine($"    float {t} = {(mode == Accumulate.Max ? "-INFINITY" : "INFINITY")};");
                    // The first extreme in order; the first NaN wins and stays.
                    Loop(code, (sb, indent, used) =>
                    {
                        Operand(sb, indent, used);
                        sb.Append(indent).AppendLine($"if (!isnan({t}) && (isnan(v) || v {(mode == Accumulate.Max ? ">" : "<")} {t})) {t} = v;");
                    });
                    Combine(t, $"if (!isnan({t}) && (isnan(o) || o {(mode == Accumulate.Max ? ">" : "<")} {t})) {t} = o;");
                    break;
                case Accumulate.Var:
                    // The mean of a mean head over the same operand, computed before (layer norm's): the same sum in
                    // the same order, so the same value, without another pass over the row.
                    if (means.TryGetValue(head.Inputs[0], out var known))
                        code.AppendLine($"    const float {t}_mean = {known};");
                    else
                    {
                        code.AppendLine($"    float {t}_mean = 0.0f;");
                        SumLoop($"{t}_mean", producers, graph[head.Inputs[0]], (sb, indent, used) =>
                        {
                            Operand(sb, indent, used);
                            sb.Append(indent).AppendLine($"{t}_mean += v;");
                        }, (acc, v) => $"{acc} += {v};");
                        Combine($"{t}_mean", $"{t}_mean += o;");
                        code.AppendLine($"    {t}_mean /= {mean};");
                    }
                    code.AppendLine($"    float {t} = 0.0f;");
                    SumLoop(t, producers, graph[head.Inputs[0]], (sb, indent, used) =>
                    {
                        Operand(sb, indent, used);
                        sb.Append(indent).AppendLine($"const float d = v - {t}_mean;");
                        sb.Append(indent).AppendLine($"{t} += d * d;");
                    }, (acc, v) => $"{acc} += ({v} - {t}_mean) * ({v} - {t}_mean);");
                    Combine(t, $"{t} += o;");
                    code.AppendLine($"    {t} /= {mean};");
                    break;
                default:
                    code.AppendLine($"    float {t} = 0.0f;");
                    SumLoop(t, producers, graph[head.Inputs[0]], (sb, indent, used) =>
                    {
                        Operand(sb, indent, used);
                        sb.Append(indent).AppendLine($"{t} += v;");
                    }, (acc, v) => $"{acc} += {v};");
                    Combine(t, $"{t} += o;");
                    if (mode == Accumulate.Mean)
                    {
                        code.AppendLine($"    {t} /= {mean};");
                        if (!means.ContainsKey(head.Inputs[0])) means[head.Inputs[0]] = t;
                    }
                    break;
            }
        }

        // The lanes' partial results of a head, combined: each lane leaves its own in local memory, then every lane
        // folds all of them in lane order (a few dozen reads; no loop around a barrier, the same result in every lane).
        // With one lane per row there is nothing to combine.
        void Combine(string t, string step)
        {
            if (window) return;
            code.AppendLine("#if ND_ROW_LANES > 1");
            code.AppendLine($"    part[lane] = {t};");
            code.AppendLine("    barrier(CLK_LOCAL_MEM_FENCE);");
            code.AppendLine($"    {t} = part[0];");
            code.AppendLine("    for (int k = 1; k < ND_ROW_LANES; k++)");
            code.AppendLine($"    {{ const float o = part[k]; {step} }}");
            code.AppendLine("    barrier(CLK_LOCAL_MEM_FENCE);");
            code.AppendLine("#endif");
        }

        if (plan.Roles[root.Id] == RowRole.Loop)
        {
            var inLoop = new HashSet<int>(plan.LoopMembers);
            void Body(StringBuilder sb, string indent, ISet<int> used)
            {
                foreach (var m in plan.LoopMembers)
                {
                    Member(sb, indent, graph[m], inLoop, used);
                    if (plan.Stored.Contains(m)) sb.Append(indent).AppendLine($"{Store(m)}[at] = {Local(m)};");
                }
                sb.Append(indent).AppendLine($"out[at] = {Local(root.Id)};");
            }
            // With one lane per row, the last loop too runs Vector elements at a time where every member is valid on
            // vectors, as the sums do: PoCL leaves it scalar (the Transformer layer's layer norm over [1024, 256],
            // 0.33 → 0.20 ms a launch).
            if (vectorLength > 0 && plan.LoopMembers.Contains(root.Id) && plan.LoopMembers.All(m => VectorSafe(graph[m], inLoop)))
            {
                code.AppendLine("#if ND_ROW_LANES == 1");
                code.AppendLine($"    for (int e = 0; e < {OpenClKernels.I(vectorLength)}; e += {Vector})");
                code.AppendLine("    {");
                code.AppendLine("        const int at = base + e;");
                foreach (var m in plan.LoopMembers)
                {
                    VectorMember(code, "        ", graph[m], inLoop);
                    if (plan.Stored.Contains(m)) code.AppendLine($"        vstore{Vector}({Local(m)}, 0, {Store(m)} + at);");
                }
                code.AppendLine($"        vstore{Vector}({Local(root.Id)}, 0, out + at);");
                code.AppendLine("    }");
                code.AppendLine($"    for (int e = {OpenClKernels.I(vectorLength)}; e < {count}; e++)");
                code.AppendLine("#else");
                code.AppendLine($"    for (int e = lane; e < {count}; e += ND_ROW_LANES)");
                code.AppendLine("#endif");
                LoopBody(code, Body, "    ");
            }
            else Loop(code, Body);
        }
        else code.AppendLine($"    {(window ? "" : "if (lane == 0) ")}out[i] = {Local(root.Id)};");

        var sig = externals.Select((e, k) => $"__global const {OpenClKernels.CType(e)}* restrict e{OpenClKernels.I(k)}")
            .Append("__global float* restrict out")
            .Concat(plan.Stored.Select(id => $"__global float* restrict {Store(id)}"));
        var sb = new StringBuilder();
        if (!window) sb.Append("#ifndef ND_ROW_LANES\n#define ND_ROW_LANES 1\n#endif\n");
        sb.Append("// Fused rows: ").Append(string.Join(" -> ", members.Select(id => graph[id].Op))).Append('\n');
        if (window) sb.Append("__kernel void ").Append(name);
        else sb.Append("__kernel\n#if ND_ROW_LANES > 1\n__attribute__((reqd_work_group_size(ND_ROW_LANES, 1, 1)))\n#endif\nvoid ")
            .Append(name);
        sb.Append('(').Append(string.Join(", ", sig)).AppendLine(")\n{");
        if (window) sb.AppendLine("    const int i = get_global_id(0);");
        else
        {
            // One work-group per row: row i, lane of ND_ROW_LANES. With one lane, a plain range of rows that the
            // driver groups as it likes (PoCL vectorizes across neighbouring rows).
            sb.AppendLine("#if ND_ROW_LANES > 1");
            sb.AppendLine("    const int i = get_group_id(0);");
            sb.AppendLine("    const int lane = get_local_id(0);");
            sb.AppendLine("    __local float part[ND_ROW_LANES];");
            sb.AppendLine("#else");
            sb.AppendLine("    const int i = get_global_id(0);");
            sb.AppendLine("    const int lane = 0;");
            sb.AppendLine("#endif");
        }
        if (window)
        {
            rowAxes.Add(space.WindowAxis);
            OpenClKernels.Coordinates(sb, space.Input, "i", "    ", rowAxes);
        }
        else
        {
            var kept = Enumerable.Range(0, space.Input.Rank)
                .Where(d => !space.Axes.Contains(d) && space.Input[d] != (Dim)1).ToList();
            Ops.Axes.Coordinates(sb, space.Input, kept);
            var terms = kept.Select(d => Stride(space.Input, d) == (Dim)1 ? $"c{d}" : $"c{d} * {Stride(space.Input, d).ToC()}").ToList();
            sb.Append("    const int base = ").Append(terms.Count == 0 ? "0" : string.Join(" + ", terms)).AppendLine(";");
        }
        sb.Append(code).AppendLine("}");
        var args = ArgSpec.Nodes(externals.Append(root).ToArray()).Concat(plan.Stored.Select(ArgSpec.Node)).ToList();
        return new NodeLaunch(name, args, new[] { space.Rows.Numel }, sb.ToString(), Rows: !window);
    }

    /// <summary>The offset from the row's base of its element e, the runs walked in row-major order.</summary>
    private static string Offset(List<(Dim Size, Dim Stride)> runs)
    {
        var terms = new List<string>();
        var inner = (Dim)1;
        for (var r = runs.Count - 1; r >= 0; r--)
        {
            var index = inner == (Dim)1 ? "e" : $"(e / {inner.ToC()})";
            if (r > 0) index = $"({index} % {runs[r].Size.ToC()})";
            terms.Insert(0, runs[r].Stride == (Dim)1 ? index : $"{index} * {runs[r].Stride.ToC()}");
            inner = inner * runs[r].Size;
        }
        return terms.Count == 0 ? "0" : string.Join(" + ", terms);
    }

    internal static Dim Stride(Shape shape, int axis) => shape.Strides()[axis];

    /// <summary>The width of the vectors a one-lane row loop sums with.</summary>
    private const int Vector = 8;

    /// <summary>
    /// Whether an elementwise expression means the same on float vectors: no selection (a vector condition with
    /// scalar branches is not OpenCL C), no comparisons or logic (a vector comparison is an integer vector of −1 and
    /// 0), no casts, no helper functions of scalars, no position.
    /// </summary>
    private static bool VectorExpression(string cExpr) =>
        !cExpr.Contains('?') && !cExpr.Contains("(int)") && !cExpr.Contains("(float)") && !cExpr.Contains("nd_")
        && !cExpr.Contains("INDEX") && !cExpr.Contains("isnan") && cExpr.IndexOfAny(new[] { '<', '>', '=', '!', '&', '|' }) < 0;

    /// <summary>The reduced axes as loops: adjacent axes merged into one run, axes of size 1 left out.</summary>
    internal static List<(Dim Size, Dim Stride)> Runs(Shape shape, long[] axes)
    {
        var runs = new List<(Dim Size, Dim Stride)>();
        foreach (var d in axes.Select(a => (int)a).Where(d => shape[d] != (Dim)1))
        {
            if (runs.Count > 0 && runs[runs.Count - 1].Stride == Stride(shape, d) * shape[d])
                runs[runs.Count - 1] = (runs[runs.Count - 1].Size * shape[d], Stride(shape, d));
            else runs.Add((shape[d], Stride(shape, d)));
        }
        return runs;
    }
}
