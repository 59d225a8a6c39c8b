using System;
using System.Globalization;
using System.Linq;
using System.Text;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The bodies of the fused attention kernels. A work-item owns <see cref="Lanes"/> query rows (forward, dQ) or key rows
/// (dK, dV) of one head and holds their head vectors transposed, one <c>float16</c> per head element with a row in
/// each lane; it walks the other axis <see cref="Step"/> rows at a time, so every score, probability and accumulator
/// update is a 16-lane <c>fma</c> of a lane vector by a broadcast scalar read from a row of the other side (a
/// register-tiled product of Lanes × Step scores, as FlashAttention-2 tiles a thread block's), and the online
/// softmax's maximum, sum and rescaling are lane-wise: no horizontal reduction anywhere. PoCL keeps scalar code
/// scalar; these vectors reach AVX-512 (measured in the README's Performance section).
/// </summary>
internal static partial class AttentionKernels
{
    /// <summary>Rows a work-item owns: the lanes of its vectors.</summary>
    public const int Lanes = 16;

    /// <summary>Rows of the other side read per step: the scores of a Lanes × Step tile are held in registers.</summary>
    public const int Step = 8;

    private static readonly string L = Lanes.ToString(CultureInfo.InvariantCulture);
    private static readonly string Vec = "float" + L;
    private static readonly string Iota = $"(int{L})(" + string.Join(", ", Enumerable.Range(0, Lanes)) + ")";

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>One line per index, <paramref name="line"/> given it.</summary>
    private static string Each(int count, Func<int, string> line, string indent) =>
        string.Concat(Enumerable.Range(0, count).Select(u => indent + line(u) + "\n"));

    /// <summary>A lane vector built from one scalar expression per lane.</summary>
    private static string Gather(Func<int, string> lane) =>
        $"({Vec})(" + string.Join(", ", Enumerable.Range(0, Lanes).Select(lane)) + ")";

    /// <summary>Lane r's element of a vector.</summary>
    private static string Lane(string v, int r) => $"{v}.s{r:x}";

    /// <summary>
    /// Row pointers of the block's own rows (clamped to the last row, so a partial block reads valid memory) and the
    /// transposed copy <c>name[c]</c> of their head vectors, times a factor.
    /// </summary>
    private static string Transposed(string name, string source, string rows, string width, string stride, string factor) =>
        Each(Lanes, r => $"const __global float* {name}{r} = {source} + min(r0 + {r}, {rows} - 1) * {stride};", "    ")
        + $"    {Vec} {name}t[{width}];\n"
        + $"    for (int c = 0; c < {width}; c++) {name}t[c] = {Gather(r => $"{name}{r}[c]")}{factor};\n";

    /// <summary>Stores lane r of <c>name[c]</c>·factor into row r0 + r of the output, for the rows that exist.</summary>
    private static string StoreTransposed(string name, string rows, string width, string stride, string factor) =>
        $@"    for (int c = 0; c < {width}; c++)
    {{
        const {Vec} x = {name}[c]{factor};
        if (r0 + {L} <= {rows})
        {{
{Each(Lanes, r => $"dst[{r} * {stride} + c] = {Lane("x", r)};", "            ")}        }}
        else
        {{
{Each(Lanes, r => $"if (r0 + {r} < {rows}) dst[{r} * {stride} + c] = {Lane("x", r)};", "            ")}        }}
    }}
";

    /// <summary>The additive mask for the lanes of one score vector: a scalar where it broadcasts over the lanes.</summary>
    private static string MaskTerm(Sizes z, bool lanesAreQueries, string other)
    {
        var (laneStride, otherStride, laneRows) = lanesAreQueries ? (z.MaskI, z.MaskJ, z.Tq) : (z.MaskJ, z.MaskI, z.Tk);
        if (laneStride == "0") return $"mrow[({other}) * {otherStride}]";
        return Gather(r => $"mrow[min(r0 + {r}, {laneRows} - 1) * {laneStride} + ({other}) * {otherStride}]");
    }

    /// <summary>
    /// The start of every block kernel: head b (the second coordinate), its first row r0 and the rows of the lanes
    /// (<paramref name="lanes"/>), and the head's q, k and v (and dO, <paramref name="gradient"/>).
    /// </summary>
    private static string HeadStart(Sizes z, string lanes, bool gradient) =>
        $@"    const int b = get_global_id(1);
    const int r0 = get_global_id(0) * {L};
    const int{L} {lanes} = r0 + {Iota};
    const __global float* qb = q + {z.QBase};
    const __global float* kb = k + {z.KBase};
    const __global float* vb = v + {z.VBase};
" + (gradient ? $"    const __global float* gb = dO + {z.OBase};\n" : "");

    private static void ForwardBody(StringBuilder sb, Sizes z, bool writeO)
    {
        sb.Append($@"    // Queries r0 … r0 + {L} of head b, one per lane: the scores of {Step} keys at a time, a running maximum m and sum l per
    // query, the output accumulators (transposed: ot[c] holds element c of every query's row) rescaled when m grows.
{HeadStart(z, "iq", false)}");
        if (z.Masked) sb.Append($"    const __global float* mrow = mask + {z.MaskBatch};\n");
        sb.Append(Transposed("q", "qb", z.Tq, z.Dk, z.QS, " * " + z.Scale));
        if (writeO) sb.Append($"    {Vec} ot[{z.Dv}];\n    for (int c = 0; c < {z.Dv}; c++) ot[c] = 0.0f;\n");
        sb.Append($@"    {Vec} m = -INFINITY;
    {Vec} l = 0.0f;
    const int end = {(z.Causal ? $"min({z.Tk}, r0 + {L})" : z.Tk)};
    for (int j0 = 0; j0 < end; j0 += {Step})
    {{
{Each(Step, u => $"const __global float* k{u} = kb + min(j0 + {u}, end - 1) * {z.KS};", "        ")}{Each(Step, u => $"{Vec} s{u} = 0.0f;", "        ")}        for (int c = 0; c < {z.Dk}; c++)
        {{
            const {Vec} x = qt[c];
{Each(Step, u => $"s{u} = fma(({Vec})(k{u}[c]), x, s{u});", "            ")}        }}
{Each(Step, u => ScoreMask(z, u), "        ")}        {Vec} mn = m;
{Each(Step, u => $"mn = fmax(mn, s{u});", "        ")}        const {Vec} base = select(mn, ({Vec})(0.0f), isinf(mn));
        const {Vec} corr = exp(m - base);
        m = mn;
{Each(Step, u => $"const {Vec} p{u} = exp(s{u} - base);", "        ")}        l = fma(l, corr, {string.Join(" + ", Enumerable.Range(0, Step).Select(u => $"p{u}"))});
");
        if (writeO)
            sb.Append($@"{Each(Step, u => $"const __global float* v{u} = vb + min(j0 + {u}, end - 1) * {z.VS};", "        ")}        for (int c = 0; c < {z.Dv}; c++)
        {{
            {Vec} o = ot[c] * corr;
{Each(Step, u => $"o = fma(p{u}, ({Vec})(v{u}[c]), o);", "            ")}            ot[c] = o;
        }}
");
        sb.Append("    }\n");
        if (writeO)
            sb.Append($"    const {Vec} inv = 1.0f / l;\n    __global float* dst = out + {z.OBase} + r0 * {z.OS};\n")
                .Append(StoreTransposed("ot", z.Tq, z.Dv, z.OS, " * inv"));
        sb.Append($"    const {Vec} L = m + log(l);\n")
            .Append(Each(Lanes, r => $"if (r0 + {r} < {z.Tq}) lse[b * {z.Tq} + r0 + {r}] = {Lane("L", r)};", "    "))
            .Append("}\n");
    }

    /// <summary>Key j0 + u's scores for the block's queries: −∞ past the end and (causal) after the query, plus the mask.</summary>
    private static string ScoreMask(Sizes z, int u)
    {
        var line = $"if (j0 + {u} >= end) s{u} = -INFINITY;";
        if (z.Causal) line += $" s{u} = select(s{u}, ({Vec})(-INFINITY), iq < j0 + {u});";
        if (z.Masked) line += $" s{u} += {MaskTerm(z, true, $"min(j0 + {u}, {z.Tk} - 1)")};";
        return line;
    }

    private static void GradQBody(StringBuilder sb, Sizes z)
    {
        sb.Append($@"    // dQ_i = scale · Σ_j P_ij (dO_i·V_j − D_i) K_j for queries r0 … r0 + {L} of head b, one per lane, {Step} keys at a
    // time; P_ij = exp(s_ij − lse_i) recomputed.
{HeadStart(z, "iq", true)}");
        if (z.Masked) sb.Append($"    const __global float* mrow = mask + {z.MaskBatch};\n");
        sb.Append(Transposed("q", "qb", z.Tq, z.Dk, z.QS, " * " + z.Scale))
            .Append(Transposed("g", "gb", z.Tq, z.Dv, z.OS, ""))
            .Append($"    const {Vec} L = {Gather(r => $"lse[b * {z.Tq} + min(r0 + {r}, {z.Tq} - 1)]")};\n")
            .Append($"    const {Vec} D = {Gather(r => $"delta[b * {z.Tq} + min(r0 + {r}, {z.Tq} - 1)]")};\n")
            .Append($"    {Vec} acc[{z.Dk}];\n    for (int c = 0; c < {z.Dk}; c++) acc[c] = 0.0f;\n");
        sb.Append($@"    const int end = {(z.Causal ? $"min({z.Tk}, r0 + {L})" : z.Tk)};
    for (int j0 = 0; j0 < end; j0 += {Step})
    {{
{Each(Step, u => $"const __global float* k{u} = kb + min(j0 + {u}, end - 1) * {z.KS};", "        ")}{Each(Step, u => $"const __global float* v{u} = vb + min(j0 + {u}, end - 1) * {z.VS};", "        ")}{Each(Step, u => $"{Vec} s{u} = 0.0f;", "        ")}{Each(Step, u => $"{Vec} t{u} = 0.0f;", "        ")}        for (int c = 0; c < {z.Dk}; c++)
        {{
            const {Vec} x = qt[c];
{Each(Step, u => $"s{u} = fma(({Vec})(k{u}[c]), x, s{u});", "            ")}        }}
        for (int c = 0; c < {z.Dv}; c++)
        {{
            const {Vec} x = gt[c];
{Each(Step, u => $"t{u} = fma(({Vec})(v{u}[c]), x, t{u});", "            ")}        }}
{Each(Step, u => ScoreMask(z, u), "        ")}{Each(Step, u => $"const {Vec} d{u} = exp(s{u} - L) * (t{u} - D);", "        ")}        for (int c = 0; c < {z.Dk}; c++)
        {{
            {Vec} a = acc[c];
{Each(Step, u => $"a = fma(d{u}, ({Vec})(k{u}[c]), a);", "            ")}            acc[c] = a;
        }}
    }}
    __global float* dst = out + {z.QBase} + r0 * {z.QS};
");
        sb.Append(StoreTransposed("acc", z.Tq, z.Dk, z.QS, " * " + z.Scale)).Append("}\n");
    }

    /// <summary>
    /// dQ, dK and dV of q, k and v read from one value, into its gradient: the third coordinate picks a block of query
    /// rows of dQ (0) or of key rows of both dK and dV (1), which share their scores and probabilities (work-groups of
    /// one run in any order, so the two kinds interleave).
    /// </summary>
    private static void GradQkvBody(StringBuilder sb, Sizes z)
    {
        string Block(System.Action<StringBuilder> body)
        {
            var inner = new StringBuilder();
            body(inner);
            // The body closes the kernel: here it closes the block instead.
            return string.Concat(inner.ToString().TrimEnd('\n').Split('\n').Select(l => l.Length == 0 ? "\n" : "    " + l + "\n"));
        }
        sb.Append("    // One block of rows of dQ (0), or of dK and dV (1), written into their columns of the one gradient.\n")
            .Append("    if (get_global_id(2) == 0)\n    {\n").Append(Block(b => GradQBody(b, z)))
            .Append("    else\n    {\n").Append(Block(b => GradKvBody(b, z, KeyGrads.Both)))
            .Append("}\n");
    }

    /// <summary>Which of dK and dV a key block computes.</summary>
    private enum KeyGrads
    {
        K,
        V,
        Both,
    }

    /// <summary>
    /// dK, dV or both for keys r0 … r0 + Lanes of head b: both share each step's scores and probabilities (one pass over
    /// the queries where two would compute them twice, FlashAttention-2's key loop).
    /// </summary>
    private static void GradKvBody(StringBuilder sb, Sizes z, KeyGrads which)
    {
        var (gradK, gradV) = (which != KeyGrads.V, which != KeyGrads.K);
        var what = which switch
        {
            KeyGrads.K => "dK_j = scale · Σ_i P_ij (dO_i·V_j − D_i) Q_i",
            KeyGrads.V => "dV_j = Σ_i P_ij dO_i",
            _ => "dK_j = scale · Σ_i P_ij (dO_i·V_j − D_i) Q_i and dV_j = Σ_i P_ij dO_i",
        };
        sb.Append($@"    // {what} for keys r0 … r0 + {L} of head b, one
    // per lane, {Step} queries at a time; P_ij = exp(s_ij − lse_i) recomputed.
{HeadStart(z, "jk", true)}    const __global float* Lb = lse + b * {z.Tq};
");
        if (gradK) sb.Append($"    const __global float* Db = delta + b * {z.Tq};\n");
        if (z.Masked) sb.Append($"    const __global float* mrow = mask + {z.MaskBatch};\n");
        sb.Append(Transposed("k", "kb", z.Tk, z.Dk, z.KS, " * " + z.Scale));
        if (gradK)
            sb.Append(Transposed("v", "vb", z.Tk, z.Dv, z.VS, ""))
                .Append($"    {Vec} acc[{z.Dk}];\n    for (int c = 0; c < {z.Dk}; c++) acc[c] = 0.0f;\n");
        if (gradV) sb.Append($"    {Vec} accv[{z.Dv}];\n    for (int c = 0; c < {z.Dv}; c++) accv[c] = 0.0f;\n");
        string Mask(int u)
        {
            var line = $"if (i0 + {u} >= {z.Tq}) s{u} = -INFINITY;";
            if (z.Causal) line += $" s{u} = select(s{u}, ({Vec})(-INFINITY), jk > i0 + {u});";
            if (z.Masked) line += $" s{u} += {MaskTerm(z, false, $"min(i0 + {u}, {z.Tq} - 1)")};";
            return line;
        }
        sb.Append($@"    for (int i0 = {(z.Causal ? "r0" : "0")}; i0 < {z.Tq}; i0 += {Step})
    {{
{Each(Step, u => $"const int n{u} = min(i0 + {u}, {z.Tq} - 1);", "        ")}{Each(Step, u => $"const __global float* q{u} = qb + n{u} * {z.QS};", "        ")}{Each(Step, u => $"const __global float* g{u} = gb + n{u} * {z.OS};", "        ")}{Each(Step, u => $"{Vec} s{u} = 0.0f;", "        ")}        for (int c = 0; c < {z.Dk}; c++)
        {{
            const {Vec} x = kt[c];
{Each(Step, u => $"s{u} = fma(({Vec})(q{u}[c]), x, s{u});", "            ")}        }}
{Each(Step, Mask, "        ")}{Each(Step, u => $"const {Vec} p{u} = exp(s{u} - Lb[n{u}]);", "        ")}");
        if (gradK)
            sb.Append($@"{Each(Step, u => $"{Vec} t{u} = 0.0f;", "        ")}        for (int c = 0; c < {z.Dv}; c++)
        {{
            const {Vec} x = vt[c];
{Each(Step, u => $"t{u} = fma(({Vec})(g{u}[c]), x, t{u});", "            ")}        }}
{Each(Step, u => $"const {Vec} d{u} = p{u} * (t{u} - Db[n{u}]);", "        ")}        for (int c = 0; c < {z.Dk}; c++)
        {{
            {Vec} a = acc[c];
{Each(Step, u => $"a = fma(d{u}, ({Vec})(q{u}[c]), a);", "            ")}            acc[c] = a;
        }}
");
        if (gradV)
            sb.Append($@"        for (int c = 0; c < {z.Dv}; c++)
        {{
            {Vec} a = accv[c];
{Each(Step, u => $"a = fma(p{u}, ({Vec})(g{u}[c]), a);", "            ")}            accv[c] = a;
        }}
");
        sb.Append("    }\n");
        if (gradK)
            sb.Append($"    __global float* dst = out + {z.KBase} + r0 * {z.KS};\n")
                .Append(StoreTransposed("acc", z.Tk, z.Dk, z.KS, " * " + z.Scale));
        if (gradV)
            sb.Append(gradK ? "    dst = " : "    __global float* dst = ").Append($"out + {z.VBase} + r0 * {z.VS};\n")
                .Append(StoreTransposed("accv", z.Tk, z.Dv, z.VS, ""));
        sb.Append("}\n");
    }
}
