// The tiled GEMM's GPU shape: C[M, N] = act(op(A)·B (+ bias[N])) with local-memory tiles, in the shape of CLBlast's
// xgemm and Cedric Nugteren's myGEMM (kernels 6–7). Read after gemm.cl: it takes that file's epilogues (nd_act_float,
// nd_gate_float), ND_GEMM_KBLOCK and ND_GEMM_PANEL, and the same packed B ([ceil(N/P)][K][P], zero-padded, P the
// panel width), so a plan's pack and product launches run either shape with the same arguments.
//
// A work-group of WM×WN work-items computes a TSM×TSN tile of C (TSM = WM·TM, TSN = WN·TN): per step of TK values of
// k it stages a TSM×TK tile of op(A) and a TK×TSN tile of the panels in __local memory, every work-item loading a few
// values of each (consecutive work-items on consecutive addresses: coalesced), then a barrier, then each work-item
// multiplies its TM×TN register tile from there, then a barrier before the next step overwrites the tiles. The register
// tile is strided (rows tm + WM·r, columns tn + WN·c), so a warp's reads of the B tile are consecutive (no bank
// conflicts), its reads of the A tile one broadcast, and its stores of C consecutive columns.
//
// Launch: global size (WM·ceil(M/TSM), WN·ceil(N/TSN)(, batch)), local size (WM, WN(, 1)); dimension 0 is M as in the
// CPU shapes (LaunchGemm's tiles), the device numbers a group's work-items dimension 0 first, and the kernel renumbers
// them so consecutive ones take consecutive columns.
#ifndef ND_GEMM_GPU_WM
#define ND_GEMM_GPU_WM 16
#endif
#ifndef ND_GEMM_GPU_WN
#define ND_GEMM_GPU_WN 16
#endif
#ifndef ND_GEMM_GPU_TM
#define ND_GEMM_GPU_TM 4
#endif
#ifndef ND_GEMM_GPU_TN
#define ND_GEMM_GPU_TN 4
#endif
#ifndef ND_GEMM_GPU_TK
#define ND_GEMM_GPU_TK 16
#endif
#define ND_G_ITEMS (ND_GEMM_GPU_WM * ND_GEMM_GPU_WN)
#define ND_G_TSM (ND_GEMM_GPU_WM * ND_GEMM_GPU_TM)
#define ND_G_TSN (ND_GEMM_GPU_WN * ND_GEMM_GPU_TN)
// The A tile's rows are one float longer: with A not transposed, consecutive work-items store down a column of it.
#define ND_G_ASTRIDE (ND_G_TSM + 1)
// 32 KiB is the least local memory an OpenCL GPU offers (GemmGpuTile.IsValid checks the same).
#if ND_GEMM_GPU_TM > 8 || ND_GEMM_GPU_TN > 8 || ND_G_ITEMS > 1024 || (ND_G_ASTRIDE + ND_G_TSN) * ND_GEMM_GPU_TK * 4 > 32768
#error "ND_GEMM_GPU_*: at most 8×8 per work-item, 1024 work-items and 32 KiB of local tiles"
#endif

// The tile of C at rows i0… and columns j0… of one work-group, staged through As ([TK][TSM + 1]) and Bs ([TK][TSN]).
static inline void nd_gemm_local_tile(const int M, const int N, const int K, const int ta,
                                      __global const float* restrict A, __global const float* restrict packed,
                                      __global const float* restrict bias, const int has_bias,
                                      __global float* restrict C, const int act, const int i0, const int j0,
                                      __local float* As, __local float* Bs)
{
    const int id = get_local_id(0) + ND_GEMM_GPU_WM * get_local_id(1);
    const int tn = id % ND_GEMM_GPU_WN;
    const int tm = id / ND_GEMM_GPU_WN;
    float acc[ND_GEMM_GPU_TM][ND_GEMM_GPU_TN];
    float part[ND_GEMM_GPU_TM][ND_GEMM_GPU_TN];
#pragma unroll
    for (int r = 0; r < ND_GEMM_GPU_TM; r++)
#pragma unroll
        for (int c = 0; c < ND_GEMM_GPU_TN; c++) acc[r][c] = 0.0f;
    // Each block of ND_GEMM_KBLOCK values of k is summed into fresh accumulators, then added (gemm.cl's accuracy); a
    // step of TK that crosses the block's end or K loads zeros there, whose products add nothing.
    for (int k0 = 0; k0 < K; k0 += ND_GEMM_KBLOCK)
    {
        const int k1 = min(k0 + ND_GEMM_KBLOCK, K);
#pragma unroll
        for (int r = 0; r < ND_GEMM_GPU_TM; r++)
#pragma unroll
            for (int c = 0; c < ND_GEMM_GPU_TN; c++) part[r][c] = 0.0f;
        for (int kt = k0; kt < k1; kt += ND_GEMM_GPU_TK)
        {
            // op(A)[i, k]: A[k·M + i] transposed (consecutive work-items on consecutive i), else A[i·K + k] (on
            // consecutive k). Rows past M load zeros too: their sums are never stored.
            for (int e = id; e < ND_G_TSM * ND_GEMM_GPU_TK; e += ND_G_ITEMS)
            {
                const int ii = ta ? e % ND_G_TSM : e / ND_GEMM_GPU_TK;
                const int kk = ta ? e / ND_G_TSM : e % ND_GEMM_GPU_TK;
                const int i = i0 + ii, k = kt + kk;
                As[kk * ND_G_ASTRIDE + ii] = i < M && k < k1 ? A[ta ? k * M + i : i * K + k] : 0.0f;
            }
            // Row k of the packed panels: column j at (j / P)·K·P + k·P + j % P, P consecutive floats per panel.
            for (int e = id; e < ND_GEMM_GPU_TK * ND_G_TSN; e += ND_G_ITEMS)
            {
                const int kk = e / ND_G_TSN, jj = e % ND_G_TSN;
                const int j = j0 + jj, k = kt + kk;
                Bs[kk * ND_G_TSN + jj] = j < N && k < k1
                    ? packed[(j / ND_GEMM_PANEL) * K * ND_GEMM_PANEL + k * ND_GEMM_PANEL + j % ND_GEMM_PANEL] : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
            for (int kk = 0; kk < ND_GEMM_GPU_TK; kk++)
            {
                float a[ND_GEMM_GPU_TM], b[ND_GEMM_GPU_TN];
#pragma unroll
                for (int r = 0; r < ND_GEMM_GPU_TM; r++) a[r] = As[kk * ND_G_ASTRIDE + tm + r * ND_GEMM_GPU_WM];
#pragma unroll
                for (int c = 0; c < ND_GEMM_GPU_TN; c++) b[c] = Bs[kk * ND_G_TSN + tn + c * ND_GEMM_GPU_WN];
#pragma unroll
                for (int r = 0; r < ND_GEMM_GPU_TM; r++)
#pragma unroll
                    for (int c = 0; c < ND_GEMM_GPU_TN; c++) part[r][c] = fma(a[r], b[c], part[r][c]);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
#pragma unroll
        for (int r = 0; r < ND_GEMM_GPU_TM; r++)
#pragma unroll
            for (int c = 0; c < ND_GEMM_GPU_TN; c++) acc[r][c] += part[r][c];
    }
    // gemm.cl's epilogues: bias and activation 1–4, or for 5–7 the gradient gate read where bias points.
#pragma unroll
    for (int r = 0; r < ND_GEMM_GPU_TM; r++)
    {
        const int i = i0 + tm + r * ND_GEMM_GPU_WM;
        if (i >= M) continue;
#pragma unroll
        for (int c = 0; c < ND_GEMM_GPU_TN; c++)
        {
            const int j = j0 + tn + c * ND_GEMM_GPU_WN;
            if (j >= N) continue;
            C[i * N + j] = act >= 5 ? nd_gate_float(acc[r][c], bias[i * N + j], act)
                                    : nd_act_float(acc[r][c] + (has_bias ? bias[j] : 0.0f), act);
        }
    }
}

// Same arguments as nd_gemm_tiled_f32 (packed B).
__attribute__((reqd_work_group_size(ND_GEMM_GPU_WM, ND_GEMM_GPU_WN, 1)))
__kernel void nd_gemm_local_f32(const int M, const int N, const int K, const int ta,
                                __global const float* restrict A, __global const float* restrict packed,
                                __global const float* restrict bias, const int has_bias,
                                __global float* restrict C, const int act)
{
    __local float As[ND_GEMM_GPU_TK * ND_G_ASTRIDE];
    __local float Bs[ND_GEMM_GPU_TK * ND_G_TSN];
    nd_gemm_local_tile(M, N, K, ta, A, packed, bias, has_bias, C, act, get_group_id(0) * ND_G_TSM,
                       get_group_id(1) * ND_G_TSN, As, Bs);
}

// Same arguments as nd_gemm_tiled_batched_f32: the batch is dimension 2; stride_packed is 0 when B is broadcast.
__attribute__((reqd_work_group_size(ND_GEMM_GPU_WM, ND_GEMM_GPU_WN, 1)))
__kernel void nd_gemm_local_batched_f32(const int M, const int N, const int K, const int ta,
                                        __global const float* restrict A, __global const float* restrict packed,
                                        __global float* restrict C, const int act,
                                        const int stride_a, const int stride_packed)
{
    __local float As[ND_GEMM_GPU_TK * ND_G_ASTRIDE];
    __local float Bs[ND_GEMM_GPU_TK * ND_G_TSN];
    const int batch = get_group_id(2);
    nd_gemm_local_tile(M, N, K, ta, A + batch * stride_a, packed + batch * stride_packed, C, 0, C + batch * M * N,
                       act, get_group_id(0) * ND_G_TSM, get_group_id(1) * ND_G_TSN, As, Bs);
}
