// Optimizers over the whole parameter arena in one launch: parameters, gradients and state are laid
// out alike, so element i of each belongs to the same weight. Padding between parameters has zero
// gradient and zero value, and stays zero under both rules (weight decay of 0 is 0).

// SGD with momentum and L2 weight decay, as torch.optim.SGD (dampening 0):
//   d = g + wd·p;  v = μ·v + d;  d = nesterov ? d + μ·v : v;  p -= lr·d
__kernel void nd_sgd_f32(__global float* restrict p, __global const float* restrict g,
                         __global float* restrict v, const float lr, const float momentum,
                         const float weight_decay, const int nesterov)
{
    const int i = get_global_id(0);
    float d = g[i] + weight_decay * p[i];
    if (momentum != 0.0f)
    {
        const float b = momentum * v[i] + d;
        v[i] = b;
        d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
}

// Adam (Kingma & Ba 2015) as torch.optim.Adam with L2 weight decay; bc1 = 1 - β1^t, bc2 = 1 - β2^t:
//   m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;  p -= lr · (m / bc1) / (sqrt(v / bc2) + ε)
__kernel void nd_adam_f32(__global float* restrict p, __global const float* restrict g,
                          __global float* restrict m, __global float* restrict v,
                          const float lr, const float beta1, const float beta2, const float eps,
                          const float bc1, const float bc2, const float weight_decay)
{
    const int i = get_global_id(0);
    const float grad = g[i] + weight_decay * p[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * grad;
    const float vi = beta2 * v[i] + (1.0f - beta2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
}

// ---- The packs of the weights, rewritten after an update. ND_GEMM_PANEL and nd_gemm_pack_row come from kernels/gemm.cl,
// which the library program holds before this file (its files in name order), built with the device's GEMM options.

// Columns n … n + 15 (n a multiple of 16) of row k of B into the panels: one 64-byte store, or one per panel.
static inline void nd_pack_store16(__global float* restrict q, const int K, const int n, const int k, const float16 x)
{
#if ND_GEMM_PANEL >= 16
    vstore16(x, 0, q + ((n / ND_GEMM_PANEL) * K + k) * ND_GEMM_PANEL + n % ND_GEMM_PANEL);
#elif ND_GEMM_PANEL == 8
    vstore8(x.lo, 0, q + ((n / 8) * K + k) * 8);
    vstore8(x.hi, 0, q + ((n / 8 + 1) * K + k) * 8);
#else
    vstore4(x.s0123, 0, q + ((n / 4) * K + k) * 4);
    vstore4(x.s4567, 0, q + ((n / 4 + 1) * K + k) * 4);
    vstore4(x.s89ab, 0, q + ((n / 4 + 2) * K + k) * 4);
    vstore4(x.scdef, 0, q + ((n / 4 + 3) * K + k) * 4);
#endif
}

// A 16 × 16 block of a weight W[n, k] (n0 … n0 + 15, k0 … k0 + 15) into the panels, transposed in registers so that
// each k is a store of 16 columns (the pack's own kernel stores 4 at a time). Four perfect shuffles (row i of the next
// from the even, then the odd, values of rows 2i and 2i + 1) transpose it.
static inline void nd_pack_block16(const int K, const int N, __global const float* restrict w, __global float* restrict q,
                                   const int n0, const int k0)
{
    float16 a[16], b[16];
#pragma unroll
    for (int i = 0; i < 16; i++) a[i] = vload16(0, w + (n0 + i) * K + k0);
#pragma unroll
    for (int s = 0; s < 4; s++)
    {
#pragma unroll
        for (int i = 0; i < 8; i++)
        {
            b[i] = (float16)(a[2 * i].even, a[2 * i + 1].even);
            b[i + 8] = (float16)(a[2 * i].odd, a[2 * i + 1].odd);
        }
#pragma unroll
        for (int i = 0; i < 16; i++) a[i] = b[i];
    }
#pragma unroll
    for (int i = 0; i < 16; i++) nd_pack_store16(q, K, n0, k0 + i, a[i]);
    // The last block of a row of blocks also zeroes the 16 columns that pad N to the 32-column chunks, as the pack does.
    if (n0 + 16 == N && (N & 31) != 0)
    {
#pragma unroll
        for (int i = 0; i < 16; i++) nd_pack_store16(q, K, N, k0 + i, (float16)0.0f);
    }
}

// The packs of the weights a forward pass keeps in the GEMM's panels (kernels/gemm.cl), rewritten in one launch after
// an update: up to 8 weights, weight s = seg[4·s …] = (offset in the arena, K, N, whether B is the weight transposed)
// into qs, exactly as nd_gemm_pack_b_f32 packs it. A transposed weight whose K and N are multiples of 16 takes
// one work-item per 16 × 16 block (K·N / 256 of them); any other one work-item per (32-column chunk, k), as the pack
// kernel (ceil(N/32)·K); weight after weight, one launch instead of one per weight.
__kernel void nd_gemm_pack_many_f32(__global const float* restrict p, const int packs, __global const int* restrict seg,
                                    __global float* q0, __global float* q1, __global float* q2, __global float* q3,
                                    __global float* q4, __global float* q5, __global float* q6, __global float* q7)
{
    int j = get_global_id(0);
    for (int s = 0; s < packs; s++)
    {
        const int4 e = vload4(s, seg);
        const int K = e.y, N = e.z;
        const int blocks = e.w && (K & 15) == 0 && (N & 15) == 0;
        const int items = blocks ? (K >> 4) * (N >> 4) : (N + 31) / 32 * K;
        if (j < items)
        {
            __global float* q = s == 0 ? q0 : s == 1 ? q1 : s == 2 ? q2 : s == 3 ? q3 : s == 4 ? q4 : s == 5 ? q5
                : s == 6 ? q6 : q7;
            if (!blocks)
            {
                nd_gemm_pack_row(K, N, e.w, p + e.x, q, j);
                return;
            }
            const int n = j / (K >> 4);
            nd_pack_block16(K, N, p + e.x, q, n << 4, (j - n * (K >> 4)) << 4);
            return;
        }
        j -= items;
    }
}
