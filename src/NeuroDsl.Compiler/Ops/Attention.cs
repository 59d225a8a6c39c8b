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
    }

    /// <summary>Whether the mask varies along the queries (else its gradient is summed over them in the kernel).</summary>
    internal static bool MaskPerQuery(Shape mask) => mask.Rank >= 2 && mask[mask.Rank - 2] != (Dim)1;

    /// <summary>The attributes every attention node carries: the scale, and how it is masked.</summary>
    internal static Dictionary<string, object> Attrs(double scale, bool causal, bool masked, long lse) => new()
    {
        ["scale"] = scale, ["causal"] = causal, ["masked"] = masked, ["lse"] = lse,
    };

    private sealed class AttentionOp : OpDef
    {
        private readonly Role _role;

        public AttentionOp(string name, Role role) : base(name, PrimKind.Custom, -1) => _role = role;

        public override Node?[]? Gradient(GradBuilder g, Node node, Node dy)
        {
            if (_role != Role.Output) return null;
            var (q, k, v) = (g.In(node, 0), g.In(node, 1), g.In(node, 2));
            var lse = g.Of((int)node.AttrInt("lse"));
            var rows = new Shape(node.Shape.Dims.Take(node.Shape.Rank - 1).ToArray());
            var delta = g.Op(Delta, rows, node.Attrs, node, dy, node);
            var inputs = node.Inputs.Select(g.Of).Append(dy).Append(lse).Append(delta).ToArray();
            var grads = new Node?[node.Inputs.Count];
            grads[0] = g.Op(GradQ, q.Shape, node.Attrs, node, inputs);
            grads[1] = g.Op(GradK, k.Shape, node.Attrs, node, inputs);
            grads[2] = g.Op(GradV, v.Shape, node.Attrs, node, inputs);
            if (node.AttrBool("masked"))
            {
                var mask = g.In(node, 3);
                var rank = q.Shape.Rank;
                var queries = MaskPerQuery(mask.Shape) ? q.Shape[rank - 2] : (Dim)1;
                var shape = new Shape(q.Shape.Dims.Take(rank - 2).Append(queries).Append(k.Shape[rank - 2]).ToArray());
                grads[3] = g.SumTo(g.Op(GradMask, shape, node.Attrs, node, inputs), mask.Shape, node);
            }
            return grads;
        }

        public override double[] Reference(RefCall call) => AttentionReference.Evaluate(call, _role);

        public override NodeLaunch Lower(KernelCall call) => AttentionKernels.Lower(call, _role);

        public override string Detail(Node node) =>
            (node.AttrBool("causal") ? "causal, " : node.AttrBool("masked") ? "masked, " : "")
            + "scale " + node.AttrDouble("scale").ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>The float64 definition of the attention ops: every score and probability computed and kept.</summary>
internal static class AttentionReference
{
    public static double[] Evaluate(RefCall call, Attention.Role role)
    {
        var node = call.Node;
        if (role == Attention.Role.Delta)
        {
            var (dOut, o) = (call.Inputs[0], call.Inputs[1]);
            var width = call.InputShapes[0][call.InputShapes[0].Length - 1];
            var d = new double[dOut.Length / width];
            for (var r = 0; r < d.Length; r++)
                for (var c = 0; c < width; c++) d[r] += dOut[r * width + c] * o[r * width + c];
            return d;
        }
        var (q, k, v) = (call.Inputs[0], call.Inputs[1], call.Inputs[2]);
        var (sq, sk, sv) = (call.InputShapes[0], call.InputShapes[1], call.InputShapes[2]);
        var rank = sq.Length;
        long tq = sq[rank - 2], dk = sq[rank - 1], tk = sk[rank - 2], dv = sv[rank - 1];
        var batch = q.Length / (tq * dk);
        var scale = node.AttrDouble("scale");
        var causal = node.AttrBool("causal");
        var masked = node.AttrBool("masked");
        var scoreShape = sq.Take(rank - 2).Append(tq).Append(tk).ToArray();
        var maskAt = masked ? ReferenceInterpreter.BroadcastMap(call.InputShapes[3], scoreShape) : null;
        var mask = masked ? call.Inputs[3] : null;

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
        var dO = call.Inputs[offset];
        var perQuery = role == Attention.Role.GradMask && Attention.MaskPerQuery(new Shape(call.InputShapes[3]));
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
