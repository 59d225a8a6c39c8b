using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The kernels of fused attention (<see cref="Attention"/>): one work-item per query row (forward, dQ, D) or per key
/// row (dK, dV) of one head, streaming over the other axis in blocks of <see cref="Block"/> keys; a row's vectors
/// live in private arrays of the head size, so no score matrix exists anywhere. Sizes are compile-time constants.
/// </summary>
internal static class AttentionKernels
{
    /// <summary>Keys per block of the forward kernel: scores of a block are kept, and the running sum rescaled once.</summary>
    public const int Block = 32;

    /// <summary>The widest head the kernels keep in private arrays; wider heads stay unfused.</summary>
    public const long MaxHead = 256;

    private sealed record Sizes(string Tq, string Tk, string Dk, string Dv, string Scale, bool Causal, bool Masked,
        string MaskBatch, string MaskI, string MaskJ);

    public static NodeLaunch Lower(KernelCall call, Attention.Role role)
    {
        var node = call.Node;
        if (role == Attention.Role.Delta) return DeltaKernel(call);
        var (q, k, v) = (call.Inputs[0], call.Inputs[1], call.Inputs[2]);
        var masked = node.AttrBool("masked");
        var rank = q.Shape.Rank;
        var sizes = new Sizes(q.Shape[rank - 2].ToC(), k.Shape[rank - 2].ToC(), q.Shape[rank - 1].ToC(),
            v.Shape[rank - 1].ToC(), OpenClKernels.Lit(node.AttrDouble("scale")), node.AttrBool("causal"), masked,
            "0", "0", "0");
        if (masked) sizes = MaskIndexing(sizes, call.Inputs[3].Shape, q.Shape);
        var ps = new List<string>();
        var args = new List<ArgSpec>();
        string[] names = masked
            ? new[] { "q", "k", "v", "mask", "dO", "lse", "delta" }
            : new[] { "q", "k", "v", "dO", "lse", "delta" };
        for (var i = 0; i < call.Inputs.Length; i++)
        {
            ps.Add($"__global const float* restrict {names[i]}");
            args.Add(ArgSpec.Node(call.Inputs[i].Id));
        }
        var batch = q.Shape.Numel.DivideBy(q.Shape[rank - 2] * q.Shape[rank - 1])!.Value;
        var sb = new StringBuilder();
        switch (role)
        {
            case Attention.Role.Output:
            case Attention.Role.Lse:
                var writeO = role == Attention.Role.Output;
                if (writeO)
                {
                    ps.Add("__global float* restrict out");
                    args.Add(ArgSpec.Node(node.Id));
                }
                // The forward node stores its log-sum-exp node too; the lse node alone computes only that.
                ps.Add("__global float* restrict lse");
                args.Add(ArgSpec.Node(writeO ? (int)node.AttrInt("lse") : node.Id));
                Header(sb, call.Name, ps);
                ForwardBody(sb, sizes, writeO);
                return new NodeLaunch(call.Name, args, new[] { batch * q.Shape[rank - 2] }, sb.ToString());
            case Attention.Role.GradQ:
                ps.Add("__global float* restrict out");
                args.Add(ArgSpec.Node(node.Id));
                Header(sb, call.Name, ps);
                GradQBody(sb, sizes);
                return new NodeLaunch(call.Name, args, new[] { batch * q.Shape[rank - 2] }, sb.ToString());
            default:
                ps.Add("__global float* restrict out");
                args.Add(ArgSpec.Node(node.Id));
                Header(sb, call.Name, ps);
                GradKvBody(sb, sizes, role == Attention.Role.GradK);
                return new NodeLaunch(call.Name, args, new[] { batch * k.Shape[rank - 2] }, sb.ToString());
        }
    }

    private static void Header(StringBuilder sb, string name, List<string> ps) =>
        sb.Append("__kernel void ").Append(name).Append('(').Append(string.Join(", ", ps)).AppendLine(")\n{");

    /// <summary>
    /// Where a (batch, i, j) score reads the mask: an offset for the batch element (from its coordinates along the
    /// axes the mask does not broadcast) and strides for i and j (0 where the mask broadcasts).
    /// </summary>
    private static Sizes MaskIndexing(Sizes sizes, Shape mask, Shape q)
    {
        var rank = q.Rank;
        var dims = Enumerable.Repeat((Dim)1, rank - mask.Rank).Concat(mask.Dims).ToArray();
        var strides = new Shape(dims).Strides();
        string Stride(int axis) => dims[axis] == (Dim)1 ? "0" : strides[axis].ToC();
        var terms = new List<string>();
        var divisor = "";
        for (var d = rank - 3; d >= 0; d--)
        {
            var extent = q[d].ToC();
            if (dims[d] != (Dim)1)
                terms.Add($"(b{divisor} % {extent}) * {Stride(d)}");
            divisor += $" / {extent}";
        }
        var batch = terms.Count == 0 ? "0" : string.Join(" + ", terms);
        return sizes with { MaskBatch = batch, MaskI = Stride(rank - 2), MaskJ = Stride(rank - 1) };
    }

    private static string Masked(Sizes z, string i, string j, string indent) =>
        z.Masked ? $"{indent}s += mrow[{i} * {z.MaskI} + {j} * {z.MaskJ}];\n" : "";

    // A head's vectors in float16/8/4 lanes where its size allows (PoCL keeps scalar code scalar): the widest of 16, 8,
    // 4 that divides it, else 1 (plain floats).
    private static int Width(string size) =>
        int.TryParse(size, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)
            ? new[] { 16, 8, 4 }.FirstOrDefault(w => n % w == 0) is var w && w > 0 ? w : 1
            : 1;

    private static string V(int w) => w == 1 ? "float" : "float" + w.ToString(CultureInfo.InvariantCulture);

    private static string Load(int w, string index, string pointer) =>
        w == 1 ? $"{pointer}[{index}]" : $"vload{w}({index}, {pointer})";

    private static string Store(int w, string value, string index, string pointer) =>
        w == 1 ? $"{pointer}[{index}] = {value}" : $"vstore{w}({value}, {index}, {pointer})";

    private static string Sum(int w, string v) => w switch
    {
        1 => v,
        4 => $"dot({v}, (float4)(1.0f))",
        _ => OpenClKernels.LaneSum(v, w),
    };

    private static string Count(string size, int w) =>
        w == 1 ? size : (int.Parse(size, CultureInfo.InvariantCulture) / w).ToString(CultureInfo.InvariantCulture);

    /// <summary>`float s = Σ a[c]·b[c]` over a head: a a private vector array, b a global row.</summary>
    private static string Dot(string result, string a, string b, string size, int w, string indent) =>
        $"{indent}{V(w)} {result}v = 0.0f;\n"
        + $"{indent}for (int c = 0; c < {Count(size, w)}; c++) {result}v = fma({a}[c], {Load(w, "c", b)}, {result}v);\n"
        + $"{indent}float {result} = {Sum(w, result + "v")};\n";

    private static void ForwardBody(StringBuilder sb, Sizes z, bool writeO)
    {
        var bk = Block.ToString(CultureInfo.InvariantCulture);
        var (wk, wv) = (Width(z.Dk), Width(z.Dv));
        sb.Append($@"    // One query row: scores of {bk} keys at a time, a running maximum m and sum l, the output rescaled when m grows.
    const int row = get_global_id(0);
    const int b = row / {z.Tq};
    const int i = row - b * {z.Tq};
    const __global float* qi = q + row * {z.Dk};
    const __global float* kb = k + b * ({z.Tk} * {z.Dk});
");
        if (z.Masked) sb.Append($"    const __global float* mrow = mask + {z.MaskBatch};\n");
        sb.Append($"    {V(wk)} qs[{Count(z.Dk, wk)}];\n    for (int c = 0; c < {Count(z.Dk, wk)}; c++) qs[c] = {Load(wk, "c", "qi")} * {z.Scale};\n");
        if (writeO)
            sb.Append($@"    const __global float* vb = v + b * ({z.Tk} * {z.Dv});
    {V(wv)} acc[{Count(z.Dv, wv)}];
    for (int c = 0; c < {Count(z.Dv, wv)}; c++) acc[c] = 0.0f;
");
        sb.Append($@"    float m = -INFINITY;
    float l = 0.0f;
    const int end = {(z.Causal ? "i + 1" : z.Tk)};
    for (int j0 = 0; j0 < end; j0 += {bk})
    {{
        const int n = min({bk}, end - j0);
        float s_[{bk}];
        float bm = -INFINITY;
        for (int jj = 0; jj < n; jj++)
        {{
            const __global float* kj = kb + (j0 + jj) * {z.Dk};
{Dot("s", "qs", "kj", z.Dk, wk, "            ")}{Masked(z, "i", "(j0 + jj)", "            ")}            s_[jj] = s;
            bm = fmax(bm, s);
        }}
        if (bm == -INFINITY) continue;
        const float mn = fmax(m, bm);
        const float corr = exp(m - mn);
        l *= corr;
");
        if (writeO) sb.Append($"        for (int c = 0; c < {Count(z.Dv, wv)}; c++) acc[c] *= corr;\n");
        sb.Append(@"        m = mn;
        for (int jj = 0; jj < n; jj++)
        {
            const float p = exp(s_[jj] - m);
            l += p;
");
        if (writeO)
            sb.Append($@"            const __global float* vj = vb + (j0 + jj) * {z.Dv};
            for (int c = 0; c < {Count(z.Dv, wv)}; c++) acc[c] = fma(({V(wv)})(p), {Load(wv, "c", "vj")}, acc[c]);
");
        sb.Append("        }\n    }\n");
        if (writeO)
            sb.Append($"    const float inv = 1.0f / l;\n    __global float* o = out + row * {z.Dv};\n"
                + $"    for (int c = 0; c < {Count(z.Dv, wv)}; c++) {Store(wv, "acc[c] * inv", "c", "o")};\n");
        sb.Append("    lse[row] = m + log(l);\n}\n");
    }

    private static void GradQBody(StringBuilder sb, Sizes z)
    {
        var (wk, wv) = (Width(z.Dk), Width(z.Dv));
        sb.Append($@"    // dQ_i = scale · Σ_j P_ij (dO_i·V_j − D_i) K_j, P_ij = exp(s_ij − lse_i) recomputed key by key.
    const int row = get_global_id(0);
    const int b = row / {z.Tq};
    const int i = row - b * {z.Tq};
    const __global float* qi = q + row * {z.Dk};
    const __global float* kb = k + b * ({z.Tk} * {z.Dk});
    const __global float* vb = v + b * ({z.Tk} * {z.Dv});
    const __global float* dOi = dO + row * {z.Dv};
");
        if (z.Masked) sb.Append($"    const __global float* mrow = mask + {z.MaskBatch};\n");
        sb.Append($@"    {V(wk)} qs[{Count(z.Dk, wk)}];
    {V(wk)} acc[{Count(z.Dk, wk)}];
    {V(wv)} g[{Count(z.Dv, wv)}];
    for (int c = 0; c < {Count(z.Dk, wk)}; c++) {{ qs[c] = {Load(wk, "c", "qi")} * {z.Scale}; acc[c] = 0.0f; }}
    for (int c = 0; c < {Count(z.Dv, wv)}; c++) g[c] = {Load(wv, "c", "dOi")};
    const float L = lse[row];
    const float D = delta[row];
    const int end = {(z.Causal ? "i + 1" : z.Tk)};
    for (int j = 0; j < end; j++)
    {{
        const __global float* kj = kb + j * {z.Dk};
        const __global float* vj = vb + j * {z.Dv};
{Dot("s", "qs", "kj", z.Dk, wk, "        ")}{Masked(z, "i", "j", "        ")}        if (s == -INFINITY) continue;
        const float p = exp(s - L);
{Dot("dp", "g", "vj", z.Dv, wv, "        ")}        const float ds = p * (dp - D);
        for (int c = 0; c < {Count(z.Dk, wk)}; c++) acc[c] = fma(({V(wk)})(ds), {Load(wk, "c", "kj")}, acc[c]);
    }}
    __global float* dq = out + row * {z.Dk};
    for (int c = 0; c < {Count(z.Dk, wk)}; c++) {Store(wk, "acc[c] * " + z.Scale, "c", "dq")};
}}
");
    }

    private static void GradKvBody(StringBuilder sb, Sizes z, bool gradK)
    {
        var (wk, wv) = (Width(z.Dk), Width(z.Dv));
        var (width, w) = gradK ? (z.Dk, wk) : (z.Dv, wv);
        sb.Append($@"    // {(gradK ? "dK_j = scale · Σ_i P_ij (dO_i·V_j − D_i) Q_i" : "dV_j = Σ_i P_ij dO_i")}, P_ij = exp(s_ij − lse_i) recomputed query by query.
    const int row = get_global_id(0);
    const int b = row / {z.Tk};
    const int j = row - b * {z.Tk};
    const __global float* qb = q + b * ({z.Tq} * {z.Dk});
    const __global float* kj = k + row * {z.Dk};
    const __global float* dOb = dO + b * ({z.Tq} * {z.Dv});
    const __global float* Lb = lse + b * {z.Tq};
");
        if (gradK) sb.Append($"    const __global float* Db = delta + b * {z.Tq};\n    const __global float* vj = v + row * {z.Dv};\n");
        if (z.Masked) sb.Append($"    const __global float* mrow = mask + {z.MaskBatch};\n");
        sb.Append($"    {V(wk)} ks[{Count(z.Dk, wk)}];\n    for (int c = 0; c < {Count(z.Dk, wk)}; c++) ks[c] = {Load(wk, "c", "kj")} * {z.Scale};\n");
        if (gradK) sb.Append($"    {V(wv)} vr[{Count(z.Dv, wv)}];\n    for (int c = 0; c < {Count(z.Dv, wv)}; c++) vr[c] = {Load(wv, "c", "vj")};\n");
        sb.Append($@"    {V(w)} acc[{Count(width, w)}];
    for (int c = 0; c < {Count(width, w)}; c++) acc[c] = 0.0f;
    for (int i = {(z.Causal ? "j" : "0")}; i < {z.Tq}; i++)
    {{
        const __global float* qi = qb + i * {z.Dk};
        const __global float* dOi = dOb + i * {z.Dv};
{Dot("s", "ks", "qi", z.Dk, wk, "        ")}{Masked(z, "i", "j", "        ")}        if (s == -INFINITY) continue;
        const float p = exp(s - Lb[i]);
");
        if (gradK)
            sb.Append($@"{Dot("dp", "vr", "dOi", z.Dv, wv, "        ")}        const float ds = p * (dp - Db[i]);
        for (int c = 0; c < {Count(z.Dk, wk)}; c++) acc[c] = fma(({V(wk)})(ds), {Load(wk, "c", "qi")}, acc[c]);
    }}
    __global float* dk = out + row * {z.Dk};
    for (int c = 0; c < {Count(z.Dk, wk)}; c++) {Store(wk, "acc[c] * " + z.Scale, "c", "dk")};
}}
");
        else
            sb.Append($@"        for (int c = 0; c < {Count(z.Dv, wv)}; c++) acc[c] = fma(({V(wv)})(p), {Load(wv, "c", "dOi")}, acc[c]);
    }}
    __global float* dv = out + row * {z.Dv};
    for (int c = 0; c < {Count(z.Dv, wv)}; c++) {Store(wv, "acc[c]", "c", "dv")};
}}
");
    }

    private static NodeLaunch DeltaKernel(KernelCall call)
    {
        var (dO, o) = (call.Inputs[0], call.Inputs[1]);
        var width = dO.Shape[dO.Shape.Rank - 1].ToC();
        var sb = new StringBuilder();
        Header(sb, call.Name, new List<string>
        {
            "__global const float* restrict dO", "__global const float* restrict o", "__global float* restrict out",
        });
        sb.Append($@"    // D_i = Σ_c dO_ic · O_ic, the row term of the softmax gradient.
    const int row = get_global_id(0);
    float d = 0.0f;
    for (int c = 0; c < {width}; c++) d += dO[row * {width} + c] * o[row * {width} + c];
    out[row] = d;
}}
");
        return new NodeLaunch(call.Name, ArgSpec.Nodes(dO, o, call.Node), new[] { call.Node.Shape.Numel }, sb.ToString());
    }
}
