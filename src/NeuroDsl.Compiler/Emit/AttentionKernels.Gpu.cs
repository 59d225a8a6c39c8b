using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ops;
using NeuroDsl.Compiler.Planning;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The attention kernels' GPU forms, compiled under <c>#if ND_GPU</c> in place of the CPU forms (FlashAttention's
/// shape, Dao et al. 2022/2023): a work-group of <see cref="GroupSize"/> work-items owns a block of query rows
/// (forward, dQ) or key rows (dK, dV) of one head, <see cref="GpuTile.Lanes"/> work-items per row, each holding a
/// strided slice of the row's output or gradient (at most 16 floats: no large private arrays). The block's own rows and
/// each tile of the other side's rows are staged in __local memory by the whole work-group (consecutive work-items on
/// consecutive elements of a row: coalesced), the tile's scores are computed from there, one per work-item at a time,
/// into a __local score block, and each row's lanes then fold it into their slices, with the online softmax's running
/// maximum and sum (forward) or the stored log-sum-exp and D (backward). Same arguments and buffers as the CPU forms.
/// </summary>
internal static partial class AttentionKernels
{
    /// <summary>Work-items per work-group of every GPU form.</summary>
    public const int GroupSize = 64;

    /// <summary>
    /// A GPU form's blocking: <paramref name="Rows"/> own rows per work-group, <paramref name="Lanes"/> work-items per row
    /// (Rows · Lanes = <see cref="GroupSize"/>), <paramref name="Step"/> rows of the other side per tile.
    /// </summary>
    private sealed record GpuTile(int Rows, int Lanes, int Step, long Dk, long Dv)
    {
        /// <summary>The private slice of a row of width <paramref name="width"/>: columns lane, lane + Lanes, ….</summary>
        public long Slice(long width) => (width + Lanes - 1) / Lanes;

        public GpuGroups Groups => new(Rows, GroupSize);
    }

    /// <summary>
    /// The blocking for heads of dk and dv: the fewest lanes per row that keep a slice within 16 floats, and the longest
    /// tile (32, 16 or 8 rows) whose staged rows and score blocks fit 32 KiB of local memory in every kernel, the packed
    /// projection's (both bodies in one) the largest (NVIDIA GPUs give a work-group 48 KiB without opting in).
    /// </summary>
    private static GpuTile TileFor(long dk, long dv)
    {
        var widest = Math.Max(dk, dv);
        var lanes = 1;
        while (lanes < 16 && (widest + lanes - 1) / lanes > 16) lanes *= 2;
        var rows = GroupSize / lanes;
        foreach (var step in new[] { 32, 16, 8 })
        {
            // Every staged array at the larger of the block's and the tile's rows: the packed projection's kernel holds
            // both bodies (dQ and dK/dV) and declares each array once, at the larger size.
            var floats = 2L * Math.Max(rows, step) * (dk + dv + 3) + 2L * rows * (step + 1);
            if (floats * 4 <= 32 * 1024 || step == 8) return new GpuTile(rows, lanes, step, dk, dv);
        }
        throw new InvalidOperationException("unreachable");
    }

    private static string PerRow(GpuTile g) => g.Lanes == 1 ? "a work-item each" : $"{g.Lanes} work-items each";

    private static string GpuHeader(string name, IEnumerable<string> ps) =>
        $"__kernel __attribute__((reqd_work_group_size({I(GroupSize)}, 1, 1))) void {name}({string.Join(", ", ps)})\n{{\n";

    /// <summary>
    /// The __local arrays a body uses, declared at the kernel's scope (OpenCL wants them there); a kernel with two bodies
    /// (dQ and dK/dV) declares each name once, at the larger size.
    /// </summary>
    private sealed class Locals
    {
        private readonly SortedDictionary<string, long> _sizes = new(StringComparer.Ordinal);

        public void Need(string name, long floats) => _sizes[name] = Math.Max(floats, _sizes.TryGetValue(name, out var f) ? f : 0);

        public string Declarations() =>
            string.Concat(_sizes.Select(s => $"    __local float {s.Key}[{s.Value}];\n"));
    }

    /// <summary>The head's pointers and the work-item's place: its row r of the block, and its lane along that row.</summary>
    private static string GpuStart(Sizes z, GpuTile g, bool gradient) =>
        $@"    const int lid = get_local_id(0);
    const int b = get_global_id(1);
    const int r0 = get_group_id(0) * {I(g.Rows)};
    const int r = lid / {I(g.Lanes)};
    const int lane = lid % {I(g.Lanes)};
    const __global float* qb = q + {z.QBase};
    const __global float* kb = k + {z.KBase};
    const __global float* vb = v + {z.VBase};
" + (gradient ? $"    const __global float* gb = dO + {z.OBase};\n" : "")
        + (z.Masked ? $"    const __global float* mrow = mask + {z.MaskBatch};\n" : "");

    /// <summary>
    /// Rows first … first + count − 1 (below <paramref name="limit"/>, zeros past it) of a head's operand into a local
    /// block with rows width + 1 apart (the pad keeps a score pass's work-items, which read one row each, on different
    /// banks); consecutive work-items load consecutive elements of a row.
    /// </summary>
    private static string Stage(Locals locals, string dst, string src, int count, string first, string limit, long width,
        string stride, string factor = "")
    {
        locals.Need(dst, count * (width + 1));
        return $@"    for (int e = lid; e < {I((int)(count * width))}; e += {I(GroupSize)})
    {{
        const int t = e / {width}, c = e % {width};
        {dst}[t * {width + 1} + c] = {first} + t < {limit} ? {src}[({first} + t) * {stride} + c]{factor} : 0.0f;
    }}
";
    }

    /// <summary>Row statistics (lse or D) of rows first … first + count − 1 of head b into a local array.</summary>
    private static string StageRows(Locals locals, string dst, string src, int count, string first, string rows)
    {
        locals.Need(dst, count);
        return $"    for (int t = lid; t < {I(count)}; t += {I(GroupSize)}) "
            + $"{dst}[t] = {src}[b * {rows} + min({first} + t, {rows} - 1)];\n";
    }

    /// <summary>Dot product of row <paramref name="a"/> of one local block with row <paramref name="b"/> of another.</summary>
    private static string Dot(string acc, string x, string a, string y, string bRow, long width) =>
        $"for (int c = 0; c < {width}; c++) {acc} = fma({x}[{a} * {width + 1} + c], {y}[{bRow} * {width + 1} + c], {acc});";

    /// <summary>A loop over the work-item's slice of a row of <paramref name="width"/>: w its index, c the column.</summary>
    private static string EachColumn(GpuTile g, long width, string body, string indent)
    {
        var guard = width % g.Lanes == 0 ? "" : $"if (c < {width}) ";
        return $"{indent}#pragma unroll\n{indent}for (int w = 0; w < {g.Slice(width)}; w++)\n{indent}{{\n"
            + $"{indent}    const int c = lane + w * {I(g.Lanes)};\n{indent}    {guard}{body}\n{indent}}}\n";
    }

    /// <summary>Whether (i, j) is a score: i a query and j a key that exist, j ≤ i where causal.</summary>
    private static string Valid(Sizes z, string i, string j, string end) =>
        $"{j} < {end} && {i} < {z.Tq}" + (z.Causal ? $" && {j} <= {i}" : "");

    private static string MaskRead(Sizes z, string i, string j) => z.Masked ? $" + mrow[{i} * {z.MaskI} + {j} * {z.MaskJ}]" : "";

    private static string GpuForward(Sizes z, GpuTile g, bool writeO, string name, IEnumerable<string> ps)
    {
        var locals = new Locals();
        var (R, C) = (g.Rows, g.Step);
        var body = new StringBuilder();
        body.Append($"    // Queries r0 … r0 + {R} of head b, {PerRow(g)}; keys {C} at a time through local memory.\n")
            .Append(GpuStart(z, g, false))
            .Append(Stage(locals, "Qs", "qb", R, "r0", z.Tq, g.Dk, z.QS, " * " + z.Scale));
        if (writeO) body.Append($"    float o[{g.Slice(g.Dv)}];\n").Append(EachColumn(g, g.Dv, "o[w] = 0.0f;", "    "));
        locals.Need("Ss", R * (C + 1L));
        body.Append($@"    float m = -INFINITY, l = 0.0f;
    const int end = {(z.Causal ? $"min({z.Tk}, r0 + {I(R)})" : z.Tk)};
    for (int j0 = 0; j0 < end; j0 += {I(C)})
    {{
        barrier(CLK_LOCAL_MEM_FENCE); // the previous tile is read
{Indent(Stage(locals, "Ks", "kb", C, "j0", "end", g.Dk, z.KS))}{(writeO ? Indent(Stage(locals, "Vs", "vb", C, "j0", "end", g.Dv, z.VS)) : "")}        barrier(CLK_LOCAL_MEM_FENCE);
        for (int e = lid; e < {I(R * C)}; e += {I(GroupSize)})
        {{
            const int t = e / {I(C)}, u = e % {I(C)};
            float s = -INFINITY;
            if ({Valid(z, "r0 + t", "j0 + u", "end")})
            {{
                s = 0.0f;
                {Dot("s", "Qs", "t", "Ks", "u", g.Dk)}
{(z.Masked ? $"                s = s{MaskRead(z, "(r0 + t)", "(j0 + u)")};\n" : "")}            }}
            Ss[t * {I(C + 1)} + u] = s;
        }}
        barrier(CLK_LOCAL_MEM_FENCE);
        // Row r's running maximum and sum, each of its lanes alike; its slice of O rescaled when the maximum grows.
        const __local float* srow = Ss + r * {I(C + 1)};
        float mn = m;
        for (int u = 0; u < {I(C)}; u++) mn = fmax(mn, srow[u]);
        const float base = isinf(mn) ? 0.0f : mn;
        const float corr = exp(m - base);
        m = mn;
        float sum = 0.0f;
{(writeO ? EachColumn(g, g.Dv, "o[w] *= corr;", "        ") : "")}        for (int u = 0; u < {I(C)}; u++)
        {{
            const float p = exp(srow[u] - base);
            sum += p;
{(writeO ? EachColumn(g, g.Dv, $"o[w] = fma(p, Vs[u * {g.Dv + 1} + c], o[w]);", "            ") : "")}        }}
        l = fma(l, corr, sum);
    }}
    const int i = r0 + r;
    if (i >= {z.Tq}) return;
");
        if (writeO)
            body.Append($"    const float inv = 1.0f / l;\n    __global float* dst = out + {z.OBase} + i * {z.OS};\n")
                .Append(EachColumn(g, g.Dv, "dst[c] = o[w] * inv;", "    "));
        body.Append($"    if (lane == 0) lse[b * {z.Tq} + i] = m + log(l);\n}}\n");
        return GpuHeader(name, ps) + locals.Declarations() + body;
    }

    /// <summary>dQ for queries r0 … r0 + Rows of head b: dS = P·(dO·Vᵀ − D) a tile at a time, times K.</summary>
    private static string GpuGradQ(Sizes z, GpuTile g, Locals locals)
    {
        var (R, C) = (g.Rows, g.Step);
        locals.Need("Ss", R * (C + 1L));
        return $@"    // dQ_i = scale · Σ_j P_ij (dO_i·V_j − D_i) K_j for queries r0 … r0 + {R} of head b, {PerRow(g)};
    // keys {C} at a time through local memory, P_ij = exp(s_ij − lse_i) recomputed.
{Stage(locals, "Qs", "qb", R, "r0", z.Tq, g.Dk, z.QS, " * " + z.Scale)}{Stage(locals, "Gs", "gb", R, "r0", z.Tq, g.Dv, z.OS)}{StageRows(locals, "Ls", "lse", R, "r0", z.Tq)}{StageRows(locals, "Ds", "delta", R, "r0", z.Tq)}    float acc[{g.Slice(g.Dk)}];
{EachColumn(g, g.Dk, "acc[w] = 0.0f;", "    ")}    const int end = {(z.Causal ? $"min({z.Tk}, r0 + {I(R)})" : z.Tk)};
    for (int j0 = 0; j0 < end; j0 += {I(C)})
    {{
        barrier(CLK_LOCAL_MEM_FENCE); // the previous tile is read (and the block's rows are staged)
{Indent(Stage(locals, "Ks", "kb", C, "j0", "end", g.Dk, z.KS))}{Indent(Stage(locals, "Vs", "vb", C, "j0", "end", g.Dv, z.VS))}        barrier(CLK_LOCAL_MEM_FENCE);
        for (int e = lid; e < {I(R * C)}; e += {I(GroupSize)})
        {{
            const int t = e / {I(C)}, u = e % {I(C)};
            float ds = 0.0f;
            if ({Valid(z, "r0 + t", "j0 + u", "end")})
            {{
                float s = 0.0f, dp = 0.0f;
                {Dot("s", "Qs", "t", "Ks", "u", g.Dk)}
                {Dot("dp", "Gs", "t", "Vs", "u", g.Dv)}
                ds = exp(s{MaskRead(z, "(r0 + t)", "(j0 + u)")} - Ls[t]) * (dp - Ds[t]);
            }}
            Ss[t * {I(C + 1)} + u] = ds;
        }}
        barrier(CLK_LOCAL_MEM_FENCE);
        const __local float* srow = Ss + r * {I(C + 1)};
        for (int u = 0; u < {I(C)}; u++)
        {{
            const float d = srow[u];
{EachColumn(g, g.Dk, $"acc[w] = fma(d, Ks[u * {g.Dk + 1} + c], acc[w]);", "            ")}        }}
    }}
    const int i = r0 + r;
    if (i < {z.Tq})
    {{
        __global float* dst = out + {z.QBase} + i * {z.QS};
{EachColumn(g, g.Dk, $"dst[c] = acc[w] * {z.Scale};", "        ")}    }}
";
    }

    /// <summary>dK, dV or both for keys r0 … r0 + Rows of head b: one pass over the queries, sharing P.</summary>
    private static string GpuGradKv(Sizes z, GpuTile g, Locals locals, KeyGrads which)
    {
        var (gradK, gradV) = (which != KeyGrads.V, which != KeyGrads.K);
        var (R, C) = (g.Rows, g.Step);
        locals.Need("Ps", R * (C + 1L));
        if (gradK) locals.Need("Ss", R * (C + 1L));
        var sb = new StringBuilder();
        sb.Append($"    // {(gradK ? "dK_j = scale · Σ_i P_ij (dO_i·V_j − D_i) Q_i" : "")}{(gradK && gradV ? " and " : "")}")
            .Append($"{(gradV ? "dV_j = Σ_i P_ij dO_i" : "")} for keys r0 … r0 + {R} of head b,\n")
            .Append($"    // {PerRow(g)}; queries {C} at a time through local memory, P_ij = exp(s_ij − lse_i) recomputed.\n")
            .Append(Stage(locals, "Ks", "kb", R, "r0", z.Tk, g.Dk, z.KS, " * " + z.Scale));
        if (gradK)
            sb.Append(Stage(locals, "Vs", "vb", R, "r0", z.Tk, g.Dv, z.VS))
                .Append($"    float acc[{g.Slice(g.Dk)}];\n").Append(EachColumn(g, g.Dk, "acc[w] = 0.0f;", "    "));
        if (gradV) sb.Append($"    float accv[{g.Slice(g.Dv)}];\n").Append(EachColumn(g, g.Dv, "accv[w] = 0.0f;", "    "));
        sb.Append($@"    for (int i0 = {(z.Causal ? "r0" : "0")}; i0 < {z.Tq}; i0 += {I(C)})
    {{
        barrier(CLK_LOCAL_MEM_FENCE); // the previous tile is read (and the block's rows are staged)
{Indent(Stage(locals, "Qs", "qb", C, "i0", z.Tq, g.Dk, z.QS))}{Indent(Stage(locals, "Gs", "gb", C, "i0", z.Tq, g.Dv, z.OS))}{Indent(StageRows(locals, "Ls", "lse", C, "i0", z.Tq))}{(gradK ? Indent(StageRows(locals, "Ds", "delta", C, "i0", z.Tq)) : "")}        barrier(CLK_LOCAL_MEM_FENCE);
        for (int e = lid; e < {I(R * C)}; e += {I(GroupSize)})
        {{
            const int t = e / {I(C)}, u = e % {I(C)};
            float p = 0.0f{(gradK ? ", ds = 0.0f" : "")};
            if ({Valid(z, "i0 + u", "r0 + t", z.Tk)})
            {{
                float s = 0.0f;
                {Dot("s", "Ks", "t", "Qs", "u", g.Dk)}
                p = exp(s{MaskRead(z, "(i0 + u)", "(r0 + t)")} - Ls[u]);
");
        if (gradK)
            sb.Append($@"                float dp = 0.0f;
                {Dot("dp", "Vs", "t", "Gs", "u", g.Dv)}
                ds = p * (dp - Ds[u]);
");
        sb.Append($@"            }}
            Ps[t * {I(C + 1)} + u] = p;
{(gradK ? $"            Ss[t * {I(C + 1)} + u] = ds;\n" : "")}        }}
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int u = 0; u < {I(C)}; u++)
        {{
");
        if (gradK)
            sb.Append($"            const float d = Ss[r * {I(C + 1)} + u];\n")
                .Append(EachColumn(g, g.Dk, $"acc[w] = fma(d, Qs[u * {g.Dk + 1} + c], acc[w]);", "            "));
        if (gradV)
            sb.Append($"            const float p = Ps[r * {I(C + 1)} + u];\n")
                .Append(EachColumn(g, g.Dv, $"accv[w] = fma(p, Gs[u * {g.Dv + 1} + c], accv[w]);", "            "));
        sb.Append($"        }}\n    }}\n    const int j = r0 + r;\n    if (j < {z.Tk})\n    {{\n");
        if (gradK)
            sb.Append($"        __global float* dk = out + {z.KBase} + j * {z.KS};\n")
                .Append(EachColumn(g, g.Dk, $"dk[c] = acc[w] * {z.Scale};", "        "));
        if (gradV)
            sb.Append($"        __global float* dv = out + {z.VBase} + j * {z.VS};\n")
                .Append(EachColumn(g, g.Dv, "dv[c] = accv[w];", "        "));
        return sb.Append("    }\n").ToString();
    }

    /// <summary>The GPU form of a backward kernel: dQ, dK, dV, or (qkv) dQ and dK/dV by the third coordinate.</summary>
    private static string GpuBackward(Sizes z, GpuTile g, Attention.Role role, string name, IEnumerable<string> ps)
    {
        var locals = new Locals();
        var body = role switch
        {
            Attention.Role.GradQ => GpuGradQ(z, g, locals),
            Attention.Role.GradK => GpuGradKv(z, g, locals, KeyGrads.K),
            Attention.Role.GradV => GpuGradKv(z, g, locals, KeyGrads.V),
            // The whole work-group runs one part (the third coordinate is its own), so the barriers stay uniform. Each part
            // is a loop run once or not at all rather than an if/else: PoCL 3.1 miscompiled the if/else, both branches
            // holding barriers (its work-items stored past the end of the gradient), and handles such loops as it does
            // the tile loops.
            _ => "    // dQ where the third coordinate is 0, dK and dV where it is 1.\n"
                + "    for (int part = get_global_id(2); part < 1; part++)\n    {\n" + Indent(GpuGradQ(z, g, locals))
                + "    }\n    for (int part = 1 - get_global_id(2); part < 1; part++)\n    {\n"
                + Indent(GpuGradKv(z, g, locals, KeyGrads.Both)) + "    }\n",
        };
        return GpuHeader(name, ps) + locals.Declarations() + GpuStart(z, g, true) + body + "}\n";
    }

    private static string Indent(string text) =>
        string.Concat(text.TrimEnd('\n').Split('\n').Select(l => (l.Length == 0 ? "" : "    " + l) + "\n"));
}
