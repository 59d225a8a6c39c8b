using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Autodiff;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;

namespace NeuroDsl.Compiler.Ops;

/// <summary>
/// Fused attention, O = softmax(scale·Q·Kᵀ + mask)·V, as the compiler writes it for the pattern a model spells out from
/// primitives (<see cref="Fusion.AttentionFuser"/>); no surface op. Q is [B…, Tq, dk], K [B…, Tk, dk], V [B…, Tk, dv],
/// the additive mask any shape that broadcasts to [B…, Tq, Tk], or none, or the causal flag (key j ≤ query i) in
/// its place. The kernels stream over keys with an online softmax (Milakov and Gimelshein 2018; FlashAttention, Dao
/// et al. 2022), so no Tq×Tk tensor is stored: the forward kernel keeps a running maximum and sum per query and
/// rescales its accumulator when the maximum grows, and stores the row's log-sum-exp beside O; the backward kernels
/// recompute each probability from it (FlashAttention-2, Dao 2023): P = exp(S − lse), D = rowsum(dO·O),
/// dS = P·(dO·Vᵀ − D), dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO.
/// Inputs of every op but <see cref="Delta"/>: (q, k, v[, mask]), and for the gradients then (dO, lse, D).
/// With the <c>heads</c> attribute H set, q, k, v, O, dO and the gradients of q, k and v are stored as the model
/// holds them before its head split and after its merge, [B, T, H·d] (head h's row t is columns h·d … h·d + d − 1
/// of row t), and the kernels read and write that layout with strides: the split's and merge's permutes never run
/// (<see cref="Fusion.AttentionFuser"/>). The log-sum-exp and D stay [B, H, Tq]. With <c>columns</c> set as well,
/// q, k and v are one value [B, T, 3·H·d] (a projection's output before its split), read at those column offsets,
/// and one <see cref="GradQkv"/> node writes its whole gradient.
/// </summary>
public sealed class Attention : OpFamily
{
    /// <summary>O [B…, Tq, dv]; its kernel also stores the log-sum-exp node named by the <c>lse</c> attribute.</summary>
    public static readonly OpDef Forward = new AttentionOp("attention", Role.Output);

    /// <summary>[B…, Tq]: log Σ_j exp(s_ij) per query, computed by the forward node's kernel.</summary>
    public static readonly OpDef LogSumExp = new AttentionOp("attention_lse", Role.Lse);

    /// <summary>(dO, O) → [B…, Tq]: D_i = Σ_d dO_id·O_id.</summary>
    public static readonly OpDef Delta = new AttentionOp("attention_delta", Role.Delta);

    public static readonly OpDef GradQ = new AttentionOp("attention_grad_q", Role.GradQ);
    public static readonly OpDef GradK = new AttentionOp("attention_grad_k", Role.GradK);
    public static readonly OpDef GradV = new AttentionOp("attention_grad_v", Role.GradV);

    /// <summary>dQ, dK and dV in one launch, into the one [B, T, 3·H·d] value q, k and v are read from (<c>columns</c>).</summary>
    public static readonly OpDef GradQkv = new AttentionOp("attention_grad_qkv", Role.GradQkv);

    /// <summary>
    /// The additive mask's gradient, dS = P·(dO·Vᵀ − D), summed over the queries where the mask broadcasts over them:
    /// [B…, Tq or 1, Tk], then summed to the mask's shape. Computed only when the mask needs a gradient (it is a float
    /// input, or computed from one, and input gradients are asked for), as the form as written gives it one.
    /// </summary>
    public static readonly OpDef GradMask = new AttentionOp("attention_grad_mask", Role.GradMask);

    internal enum Role
    {
        Output,
        Lse,
        Delta,
        GradQ,
        GradK,
        GradV,
        GradMask,
        GradQkv,
    }

    /// <summary>Whether the mask varies along the queries (else its gradient is summed over them in the kernel).</summary>
    internal static bool MaskPerQuery(Shape mask) => mask.Rank >= 2 && mask[mask.Rank - 2] != (Dim)1;

    /// <summary>The attributes every attention node carries: the scale, and how it is masked.</summary>
    internal static Dictionary<string, object> Attrs(double scale, bool causal, bool masked, long lse, long heads = 0,
        long[]? columns = null)
    {
        var attrs = new Dictionary<string, object>
        {
            ["scale"] = scale, ["causal"] = causal, ["masked"] = masked, ["lse"] = lse, ["heads"] = heads,
        };
        if (columns is not null) attrs["columns"] = columns;
        return attrs;
    }

    /// <summary>Where q, k and v start in the one value they are read from (the <c>columns</c> attribute), or null.</summary>
    public static long[]? Columns(Node node) => node.Attrs.ContainsKey("columns") ? node.AttrInts("columns") : null;

    /// <summary>The [B, H, T, d] shape of q, k or v as the node stores it.</summary>
    internal static Shape Operand(Node node, Shape stored)
    {
        var logical = Logical(stored, Heads(node));
        if (Columns(node) is null) return logical;
        var r = logical.Rank;
        return new Shape(logical.Dims.Take(r - 1).Append(logical[r - 1].Coef / 3).ToArray());
    }

    /// <summary>H when the node's q, k, v and O are stored as [B, T, H·d]; 0 when they are [B…, T, d].</summary>
    public static long Heads(Node node) => node.Attrs.ContainsKey("heads") ? node.AttrInt("heads") : 0;

    /// <summary>The [B, H, T, d] shape of an operand stored as [B, T, H·d] (heads &gt; 0); the shape itself otherwise.</summary>
    internal static Shape Logical(Shape stored, long heads)
    {
        if (heads == 0) return stored;
        var r = stored.Rank;
        return new Shape(stored.Dims.Take(r - 2).Append(heads).Append(stored[r - 2]).Append(stored[r - 1].Coef / heads).ToArray());
    }

    /// <inheritdoc cref="Logical(Shape, long)"/>
    internal static long[] Logical(long[] stored, long heads) =>
        heads == 0 ? stored
            : stored.Take(stored.Length - 2).Append(heads).Append(stored[stored.Length - 2]).Append(stored[stored.Length - 1] / heads).ToArray();

    /// <summary>
    /// Columns <paramref name="offset"/> … + H·d of [B, T, C] → [B, H, T, d] (<paramref name="toHeads"/>), or back into
    /// <paramref name="into"/>, for the reference.
    /// </summary>
    internal static double[] Relayout(double[] x, long[] stored, long heads, bool toHeads, long offset = 0, long parts = 1,
        double[]? into = null)
    {
        if (heads == 0) return x;
        long t = stored[stored.Length - 2], width = stored[stored.Length - 1], d = width / parts / heads;
        var batch = (toHeads ? x.Length : into?.Length ?? x.Length) / (t * width);
        var y = toHeads ? new double[batch * heads * t * d] : into ?? new double[x.Length];
        for (long b = 0; b < batch; b++)
            for (long h = 0; h < heads; h++)
                for (long i = 0; i < t; i++)
                    for (long c = 0; c < d; c++)
                    {
                        var packed = (b * t + i) * width + offset + h * d + c;
                        var split = ((b * heads + h) * t + i) * d + c;
                        if (toHeads) y[split] = x[packed];
                        else y[packed] = x[split];
                    }
        return y;
    }

    private sealed class AttentionOp : OpDef
    {
        private readonly Role _role;

        public AttentionOp(string name, Role role) : base(name, PrimKind.Custom, -1) => _role = role;

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy)
        {
            if (_role != Role.Output) return null;
            var (q, k, v) = (g.In(node, 0), g.In(node, 1), g.In(node, 2));
            var lse = g.Of((int)node.AttrInt("lse"));
            var heads = Heads(node);
            var o = Logical(node.Shape, heads);
            var rows = new Shape(o.Dims.Take(o.Rank - 1).ToArray());
            var delta = g.Op(Delta, rows, node.Attrs, node, dy, node);
            var inputs = node.Inputs.Select(g.Of).Append(dy).Append(lse).Append(delta).ToArray();
            var grads = new Node?[node.Inputs.Count];
            if (Columns(node) is not null)
                grads[0] = g.Op(GradQkv, q.Shape, node.Attrs, node, inputs); // q, k and v are one value: one gradient
            else
            {
                grads[0] = g.Op(GradQ, q.Shape, node.Attrs, node, inputs);
                grads[1] = g.Op(GradK, k.Shape, node.Attrs, node, inputs);
                grads[2] = g.Op(GradV, v.Shape, node.Attrs, node, inputs);
            }
            if (node.AttrBool("masked"))
            {
                var mask = g.In(node, 3);
                var (lq, lk) = (Operand(node, q.Shape), Operand(node, k.Shape));
                var rank = lq.Rank;
                var queries = MaskPerQuery(mask.Shape) ? lq[rank - 2] : (Dim)1;
                var shape = new Shape(lq.Dims.Take(rank - 2).Append(queries).Append(lk[rank - 2]).ToArray());
                grads[3] = g.SumTo(g.Op(GradMask, shape, node.Attrs, node, inputs), mask.Shape, node);
            }
            return grads;
        }

        public override double[] Reference(RefCall call) => AttentionReference.Evaluate(call, _role);

        public override NodeLaunch Lower(KernelCall call) => AttentionKernels.Lower(call, _role);

        public override string Detail(Node node) =>
            (node.AttrBool("causal") ? "causal, " : node.AttrBool("masked") ? "masked, " : "")
            + "scale " + node.AttrDouble("scale").ToString("G6", System.Globalization.CultureInfo.InvariantCulture)
            + (Heads(node) > 0 ? $", {Heads(node)} heads in [B, T, H·d]" : "");
    }
}

/// <summary>The float64 definition of the attention ops: every score and probability computed and kept.</summary>
internal static class AttentionReference
{
    /// <summary>
    /// Stored [B, T, H·d] operands (the <c>heads</c> attribute) are moved to [B, H, T, d], the definition below runs on
    /// them, and a result of q's, k's, v's or O's shape is moved back.
    /// </summary>
    public static double[] Evaluate(RefCall call, Attention.Role role)
    {
        var heads = Attention.Heads(call.Node);
        if (heads == 0) return EvaluateSplit(call, role, call.Inputs, call.InputShapes);
        var inputs = call.Inputs.ToArray();
        var shapes = call.InputShapes.ToArray();
        var masked = call.Node.AttrBool("masked");
        var columns = Attention.Columns(call.Node);
        for (var i = 0; i < inputs.Length; i++)
        {
            // q, k, v, dO (and O for D) are stored; the mask, lse and D are not.
            var stored = role == Attention.Role.Delta || i < 3 || i == (masked ? 4 : 3);
            if (!stored) continue;
            var packed = role != Attention.Role.Delta && i < 3 && columns is not null;
            inputs[i] = Attention.Relayout(call.Inputs[i], call.InputShapes[i], heads, toHeads: true, packed ? columns![i] : 0,
                packed ? 3 : 1);
            shapes[i] = packed ? Attention.Operand(call.Node, new Shape(call.InputShapes[i])).Dims.Select(d => d.Coef).ToArray()
                : Attention.Logical(call.InputShapes[i], heads);
        }
        if (role == Attention.Role.GradQkv)
        {
            // dQ, dK and dV, each moved back into its columns of the one value.
            var qkv = new double[call.Inputs[0].Length];
            var parts = new[] { Attention.Role.GradQ, Attention.Role.GradK, Attention.Role.GradV };
            for (var i = 0; i < 3; i++)
                Attention.Relayout(EvaluateSplit(call, parts[i], inputs, shapes), call.InputShapes[0], heads, toHeads: false,
                    columns![i], 3, qkv);
            return qkv;
        }
        var result = EvaluateSplit(call, role, inputs, shapes);
        var like = role switch
        {
            Attention.Role.Output => call.OutShape,
            Attention.Role.GradQ => call.InputShapes[0],
            Attention.Role.GradK => call.InputShapes[1],
            Attention.Role.GradV => call.InputShapes[2],
            _ => null,
        };
        return like is null ? result : Attention.Relayout(result, like, heads, toHeads: false);
    }

    private static double[] EvaluateSplit(RefCall call, Attention.Role role, IReadOnlyList<double[]> inputs, IReadOnlyList<long[]> inputShapes)
    {
        var node = call.Node;
        if (role == Attention.Role.Delta)
        {
            var (dOut, o) = (inputs[0], inputs[1]);
            var width = inputShapes[0][inputShapes[0].Length - 1];
            var d = new double[dOut.Length / width];
            for (var r = 0; r < d.Length; r++)
                for (var c = 0; c < width; c++) d[r] += dOut[r * width + c] * o[r * width + c];
            return d;
        }
        var (q, k, v) = (inputs[0], inputs[1], inputs[2]);
        var (sq, sk, sv) = (inputShapes[0], inputShapes[1], inputShapes[2]);
        var rank = sq.Length;
        long tq = sq[rank - 2], dk = sq[rank - 1], tk = sk[rank - 2], dv = sv[rank - 1];
        var batch = q.Length / (tq * dk);
        var scale = node.AttrDouble("scale");
        var causal = node.AttrBool("causal");
        var masked = node.AttrBool("masked");
        var scoreShape = sq.Take(rank - 2).Append(tq).Append(tk).ToArray();
        var maskAt = masked ? ReferenceInterpreter.BroadcastMap(inputShapes[3], scoreShape) : null;
        var mask = masked ? inputs[3] : null;

        // P per batch element, as softmax would compute it (a row of −∞ only gives NaN, as there).
        var p = new double[batch * tq * tk];
        var lse = new double[batch * tq];
        for (long b = 0; b < batch; b++)
            for (long i = 0; i < tq; i++)
            {
                var s = new double[tk];
                for (long j = 0; j < tk; j++)
                {
                    var dot = 0.0;
                    for (long c = 0; c < dk; c++) dot += q[(b * tq + i) * dk + c] * k[(b * tk + j) * dk + c];
                    s[j] = scale * dot + (mask is null ? 0 : mask[maskAt!((int)((b * tq + i) * tk + j))])
                        + (causal && j > i ? double.NegativeInfinity : 0);
                }
                var m = s.Max();
                var sum = s.Sum(x => Math.Exp(x - m));
                lse[b * tq + i] = m + Math.Log(sum);
                for (long j = 0; j < tk; j++) p[(b * tq + i) * tk + j] = Math.Exp(s[j] - m) / sum;
            }
        if (role == Attention.Role.Lse) return lse;
        if (role == Attention.Role.Output)
        {
            var o = new double[batch * tq * dv];
            for (long b = 0; b < batch; b++)
                for (long i = 0; i < tq; i++)
                    for (long j = 0; j < tk; j++)
                    {
                        var pij = p[(b * tq + i) * tk + j];
                        if (pij == 0) continue;
                        for (long c = 0; c < dv; c++) o[(b * tq + i) * dv + c] += pij * v[(b * tk + j) * dv + c];
                    }
            return o;
        }

        // The gradients from dO (and D = rowsum(dO·O), which the definition recomputes from P rather than trusts).
        var offset = masked ? 4 : 3;
        var dO = inputs[offset];
        var perQuery = role == Attention.Role.GradMask && Attention.MaskPerQuery(new Shape(inputShapes[3]));
        var grad = new double[role switch
        {
            Attention.Role.GradQ => q.Length,
            Attention.Role.GradK => k.Length,
            Attention.Role.GradV => v.Length,
            _ => batch * (perQuery ? tq : 1) * tk,
        }];
        for (long b = 0; b < batch; b++)
            for (long i = 0; i < tq; i++)
            {
                var dp = new double[tk];
                var dot = 0.0;
                for (long j = 0; j < tk; j++)
                {
                    for (long c = 0; c < dv; c++) dp[j] += dO[(b * tq + i) * dv + c] * v[(b * tk + j) * dv + c];
                    dot += p[(b * tq + i) * tk + j] * dp[j];
                }
                for (long j = 0; j < tk; j++)
                {
                    var pij = p[(b * tq + i) * tk + j];
                    var ds = pij * (dp[j] - dot) * scale;
                    switch (role)
                    {
                        case Attention.Role.GradQ:
                            for (long c = 0; c < dk; c++) grad[(b * tq + i) * dk + c] += ds * k[(b * tk + j) * dk + c];
                            break;
                        case Attention.Role.GradK:
                            for (long c = 0; c < dk; c++) grad[(b * tk + j) * dk + c] += ds * q[(b * tq + i) * dk + c];
                            break;
                        case Attention.Role.GradMask:
                            grad[((perQuery ? b * tq + i : b)) * tk + j] += pij * (dp[j] - dot);
                            break;
                        default:
                            for (long c = 0; c < dv; c++) grad[(b * tk + j) * dv + c] += pij * dO[(b * tq + i) * dv + c];
                            break;
                    }
                }
            }
        return grad;
    }
}
