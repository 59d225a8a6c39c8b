using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The kernels of fused attention (<see cref="Attention"/>): one work-item per block of <see cref="Lanes"/> query rows
/// (forward, dQ) or key rows (dK, dV) of one head, streaming over the other axis (AttentionKernels.Blocks.cs); D is a
/// work-item per query row. No score matrix exists anywhere. Sizes are compile-time constants. Each block kernel also
/// has a GPU form (AttentionKernels.Gpu.cs) under <c>#if ND_GPU</c>, with the same arguments.
/// </summary>
internal static partial class AttentionKernels
{
    /// <summary>The widest head the kernels keep in private arrays; wider heads stay unfused.</summary>
    public const long MaxHead = 256;

    /// <param name="Heads">H when q, k, v and O are stored as [B, T, H·d] (<see cref="Attention.Heads"/>), else 0.</param>
    /// <param name="QS">The distance between q's rows (d, or the width of the value q is read from); KS, VS, OS likewise.</param>
    /// <param name="Columns">Where q, k and v start in their rows (<see cref="Attention.Columns"/>).</param>
    private sealed record Sizes(string Tq, string Tk, string Dk, string Dv, string Scale, bool Causal, bool Masked,
        string MaskBatch, string MaskI, string MaskJ, long Heads = 0, string QS = "", string KS = "", string VS = "",
        string OS = "", long[]? Columns = null)
    {
        /// <summary>Where head b's first row of an operand starts.</summary>
        private string Base(string rows, string width, string stride, long column) => Heads == 0
            ? $"b * ({rows} * {width})"
            : $"(b / {Heads}) * ({rows} * {stride}) + (b % {Heads}) * {width}" + (column == 0 ? "" : $" + {column}");

        public string QBase => Base(Tq, Dk, QS, Columns?[0] ?? 0);
        public string KBase => Base(Tk, Dk, KS, Columns?[1] ?? 0);
        public string VBase => Base(Tk, Dv, VS, Columns?[2] ?? 0);
        public string OBase => Base(Tq, Dv, OS, 0);
    }

    /// <summary>The sizes of a node's kernels: the heads' extents, and how q, k, v and O are laid out.</summary>
    private static Sizes SizesOf(Node node, Node[] inputs, bool masked, out Shape q, out Shape k)
    {
        var heads = Attention.Heads(node);
        (q, k) = (Attention.Operand(node, inputs[0].Shape), Attention.Operand(node, inputs[1].Shape));
        var v = Attention.Operand(node, inputs[2].Shape);
        var rank = q.Rank;
        string Stride(Node x, Shape logical) => heads == 0 ? logical[rank - 1].ToC() : x.Shape[x.Shape.Rank - 1].ToC();
        var sizes = new Sizes(q[rank - 2].ToC(), k[rank - 2].ToC(), q[rank - 1].ToC(), v[rank - 1].ToC(),
            OpenClKernels.Lit(node.AttrDouble("scale")), node.AttrBool("causal"), masked, "0", "0", "0", heads,
            Stride(inputs[0], q), Stride(inputs[1], k), Stride(inputs[2], v),
            heads == 0 ? v[rank - 1].ToC() : (heads * v[rank - 1].Coef).ToString(CultureInfo.InvariantCulture), Attention.Columns(node));
        return masked ? MaskIndexing(sizes, inputs[3].Shape, q) : sizes;
    }

    public static NodeLaunch Lower(KernelCall call, Attention.Role role)
    {
        var node = call.Node;
        if (role == Attention.Role.Delta) return DeltaKernel(call);
        var masked = node.AttrBool("masked");
        var sizes = SizesOf(node, call.Inputs, masked, out var q, out var k);
        var rank = q.Rank;
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
        var batch = q.Numel.DivideBy(q[rank - 2] * q[rank - 1])!.Value;
        // The fuser keeps heads of constant width only (AttentionFuser), so the GPU forms size their blocks from them.
        var tile = TileFor(q[rank - 1].Coef, Attention.Operand(node, call.Inputs[2].Shape)[rank - 1].Coef);
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
                return Blocks(call.Name, args, q[rank - 2], batch, GpuForward(sizes, tile, writeO, call.Name, ps), sb, tile);
            case Attention.Role.GradMask:
                ps.Add("__global float* restrict out");
                args.Add(ArgSpec.Node(node.Id));
                Header(sb, call.Name, ps, tiled: false);
                GradMaskBody(sb, sizes, Attention.MaskPerQuery(call.Inputs[3].Shape));
                return new NodeLaunch(call.Name, args, new[] { node.Shape.Numel }, sb.ToString());
            case Attention.Role.GradQkv:
                ps.Add("__global float* restrict out");
                args.Add(ArgSpec.Node(node.Id));
                Header(sb, call.Name, ps);
                GradQkvBody(sb, sizes);
                return new NodeLaunch(call.Name, args, new[] { q[rank - 2], batch, (Dim)2 },
                    ConvolutionKernels.Shapes(GpuBackward(sizes, tile, role, call.Name, ps), sb.ToString()),
                    Tile: new long[] { Lanes, 1, 1 }, Gpu: new[] { q[rank - 2], batch, (Dim)2 }, GpuGroup: tile.Groups);
            case Attention.Role.GradQ:
                ps.Add("__global float* restrict out");
                args.Add(ArgSpec.Node(node.Id));
                Header(sb, call.Name, ps);
                GradQBody(sb, sizes);
                return Blocks(call.Name, args, q[rank - 2], batch, GpuBackward(sizes, tile, role, call.Name, ps), sb, tile);
            default:
                ps.Add("__global float* restrict out");
                args.Add(ArgSpec.Node(node.Id));
                Header(sb, call.Name, ps);
                GradKvBody(sb, sizes, role == Attention.Role.GradK ? KeyGrads.K : KeyGrads.V);
                return Blocks(call.Name, args, k[rank - 2], batch, GpuBackward(sizes, tile, role, call.Name, ps), sb, tile);
        }
    }

    // A work-item per block of Lanes rows of one head: global ceil(rows / Lanes) × heads, work-groups of one; the GPU
    // form (under #if ND_GPU) a work-group per block of the tile's rows.
    private static NodeLaunch Blocks(string name, List<ArgSpec> args, Dim rows, Dim batch, string gpu, StringBuilder sb,
        GpuTile tile) =>
        new(name, args, new[] { rows, batch }, ConvolutionKernels.Shapes(gpu, sb.ToString()), Tile: new long[] { Lanes, 1 },
            Gpu: new[] { rows, batch }, GpuGroup: tile.Groups);

    private static void Header(StringBuilder sb, string name, List<string> ps, bool tiled = true) =>
        sb.Append(tiled ? "__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void " : "__kernel void ").Append(name).Append('(').Append(string.Join(", ", ps)).AppendLine(")\n{");

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

    /// <summary>
    /// The mask's gradient, one work-item per element of [B…, Tq or 1, Tk]: dS_ij = P_ij·(dO_i·V_j − D_i), summed over
    /// the queries where the mask broadcasts over them. Plain scalar code: it runs only when input gradients are asked.
    /// </summary>
    private static void GradMaskBody(StringBuilder sb, Sizes z, bool perQuery)
    {
        sb.Append($@"    const int e = get_global_id(0);
    const int j = e % {z.Tk};
    const int b = e / {z.Tk}{(perQuery ? $" / {z.Tq}" : "")};
    const int first = {(perQuery ? $"e / {z.Tk} % {z.Tq}" : "0")};
    const int last = {(perQuery ? "first + 1" : z.Tq)};
    const __global float* mrow = mask + {z.MaskBatch};
    const __global float* kj = k + {z.KBase} + j * {z.KS};
    const __global float* vj = v + {z.VBase} + j * {z.VS};
    float acc = 0.0f;
    for (int i = first; i < last; i++)
    {{
        const __global float* qi = q + {z.QBase} + i * {z.QS};
        const __global float* gi = dO + {z.OBase} + i * {z.OS};
        float s = 0.0f;
        for (int c = 0; c < {z.Dk}; c++) s = fma(qi[c], kj[c], s);
        s = s * {z.Scale} + mrow[i * {z.MaskI} + j * {z.MaskJ}];
        float dp = 0.0f;
        for (int c = 0; c < {z.Dv}; c++) dp = fma(gi[c], vj[c], dp);
        acc += exp(s - lse[b * {z.Tq} + i]) * (dp - delta[b * {z.Tq} + i]);
    }}
    out[e] = acc;
}}
");
    }

    private static NodeLaunch DeltaKernel(KernelCall call)
    {
        var (dO, o) = (call.Inputs[0], call.Inputs[1]);
        var heads = Attention.Heads(call.Node);
        var logical = Attention.Logical(dO.Shape, heads);
        var width = logical[logical.Rank - 1].ToC();
        var rows = logical[logical.Rank - 2].ToC();
        var os = heads == 0 ? width : (heads * logical[logical.Rank - 1].Coef).ToString(CultureInfo.InvariantCulture);
        var z = new Sizes(rows, rows, width, width, "", false, false, "", "", "", heads, OS: os);
        var sb = new StringBuilder();
        Header(sb, call.Name, new List<string>
        {
            "__global const float* restrict dO", "__global const float* restrict o", "__global float* restrict out",
        }, tiled: false);
        // 16 lane sums at once, then across the lanes (one dependent addition per element bound the scalar loop:
        // 0.22 ms against 0.06 ms for the Transformer layer's 4,096 rows of 64 on PoCL); a tail stays scalar.
        var head = logical[logical.Rank - 1];
        var whole = head.IsConstant ? head.Coef / 16 * 16 : 0;
        sb.Append($@"    // D_i = Σ_c dO_ic · O_ic, the row term of the softmax gradient.
    const int row = get_global_id(0);
    const int b = row / {rows};
    const int at = {z.OBase} + row % {rows} * {z.OS};
    float16 v = 0.0f;
    for (int c = 0; c < {I((int)whole)}; c += 16) v = fma(vload16(0, dO + at + c), vload16(0, o + at + c), v);
    float d = {OpenClKernels.LaneSum("v", 16)};
    for (int c = {I((int)whole)}; c < {width}; c++) d += dO[at + c] * o[at + c];
    out[row] = d;
}}
");
        return new NodeLaunch(call.Name, ArgSpec.Nodes(dO, o, call.Node), new[] { call.Node.Shape.Numel }, sb.ToString());
    }
}
