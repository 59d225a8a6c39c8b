// GEMM: C[M, N] = act(op(A) · op(B) (+ bias[N])), row-major, op = transpose when ta/tb is 1.
// act is the fused activation epilogue: 0 none, 1 relu, 2 tanh, 3 sigmoid, 4 LeCun's 1.7159·tanh(2x/3).
#define ND_ACT(T) \
static T nd_act_##T(T v, const int act) \
{ \
    switch (act) \
    { \
        case 1: return fmax(v, (T)(0.0f)); \
        case 2: return tanh(v); \
        case 3: return (T)(1.0f) / ((T)(1.0f) + exp(-v)); \
        case 4: return (T)(1.7159f) * tanh((T)(0.6666667f) * v); \
        default: return v; \
    } \
}
ND_ACT(float)
ND_ACT(float16)

// One element of C = act(op(A)·op(B) (+ bias)): the body of the kernels for products too small to tile.
static inline void nd_gemm_element(const int M, const int N, const int K, const int ta, const int tb,
                                   __global const float* restrict A, __global const float* restrict B,
                                   __global const float* restrict bias, const int has_bias,
                                   __global float* restrict C, const int act, const int i, const int j)
{
    if (i >= M || j >= N) return;
    // Strides of op(A)[i, p] and op(B)[p, j] in memory.
    const int a_row = ta ? 1 : K;
    const int a_col = ta ? M : 1;
    const int b_row = tb ? 1 : N;
    const int b_col = tb ? K : 1;
    float acc = has_bias ? bias[j] : 0.0f;
    for (int p = 0; p < K; p++)
        acc = fma(A[i * a_row + p * a_col], B[p * b_row + j * b_col], acc);
    C[i * N + j] = nd_act_float(acc, act);
}

// One work-item per element of C; global size (N, M).
__kernel void nd_gemm_f32(const int M, const int N, const int K, const int ta, const int tb,
                          __global const float* restrict A, __global const float* restrict B,
                          __global const float* restrict bias, const int has_bias,
                          __global float* restrict C, const int act)
{
    nd_gemm_element(M, N, K, ta, tb, A, B, bias, has_bias, C, act, get_global_id(1), get_global_id(0));
}

// ---- Register-tiled GEMM for the CPU (PoCL) and large shapes -------------------------------------------
// B is first packed into contiguous panels [ceil(N/32)][K][32] (zero-padded), so no row stride of a
// multiple of 4 KiB is ever streamed (cache-set aliasing). Each work-item then holds a 12×32 tile of C in
// 24 named float16 accumulators (registers, not a private array) and per k does two vload16 of B and
// twelve scalar broadcasts of A with explicit fma. Global size (ceil(M/12), ceil(N/32)), local size 1:
// consecutive work-items walk down M and reuse the same B panel from cache.

// Row k of panel p (j = p·K + k): the 32 values of that row of op(B), stored as two float16.
static inline void nd_gemm_pack_row(const int K, const int N, const int tb,
                                    __global const float* restrict B, __global float* restrict packed, const int j)
{
    const int panel = j / K;
    const int k = j - panel * K;
    const int col0 = panel * 32;
    __global float* dst = packed + j * 32;
    if (!tb && col0 + 32 <= N)
    {
        const __global float* src = B + k * N + col0;
        vstore16(vload16(0, src), 0, dst);
        vstore16(vload16(1, src), 1, dst);
        return;
    }
    float lanes[32];
    for (int l = 0; l < 32; l++)
    {
        const int col = col0 + l;
        lanes[l] = col < N ? (tb ? B[col * K + k] : B[k * N + col]) : 0.0f;
    }
    vstore16(vload16(0, lanes), 0, dst);
    vstore16(vload16(1, lanes), 1, dst);
}

// One work-item per (panel, k).
__kernel void nd_gemm_pack_b_f32(const int K, const int N, const int tb,
                                 __global const float* restrict B, __global float* restrict packed)
{
    nd_gemm_pack_row(K, N, tb, B, packed, get_global_id(0));
}

#define ND_T_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define ND_T_DECL(r) const __global float* a##r = A + min(i0 + r, M - 1) * a_row; \
    float16 c##r##a = (float16)(0.0f), c##r##b = (float16)(0.0f);
#define ND_T_STEP(r) { const float16 s = (float16)(a##r[p]); c##r##a = fma(s, b0, c##r##a); c##r##b = fma(s, b1, c##r##b); }
#define ND_T_STORE(r) if (i0 + r < M) { nd_store_row(C + (i0 + r) * N + j0, c##r##a, c##r##b, bias0, bias1, N - j0, act); }

static void nd_store_row(__global float* c, float16 lo, float16 hi, float16 bias0, float16 bias1, int cols, const int act)
{
    lo = nd_act_float16(lo + bias0, act);
    hi = nd_act_float16(hi + bias1, act);
    if (cols >= 32)
    {
        vstore16(lo, 0, c);
        vstore16(hi, 1, c);
        return;
    }
    float lanes[32];
    vstore16(lo, 0, lanes);
    vstore16(hi, 1, lanes);
    for (int l = 0; l < cols; l++) c[l] = lanes[l];
}

// The 12×32 tile of C at rows i0… and columns of panel `panel`, in one work-item.
static inline void nd_gemm_tile(const int M, const int N, const int K, const int ta,
                                __global const float* restrict A, __global const float* restrict packed,
                                __global const float* restrict bias, const int has_bias,
                                __global float* restrict C, const int act, const int i0, const int panel)
{
    const int j0 = panel * 32;
    // op(A)[i, p] = A[i * a_row + p * a_col]
    const int a_row = ta ? 1 : K;
    const int a_col = ta ? M : 1;
    ND_T_ROWS(ND_T_DECL)
    const __global float* bp = packed + panel * K * 32;
    for (int k = 0; k < K; k++)
    {
        const float16 b0 = vload16(0, bp + k * 32);
        const float16 b1 = vload16(1, bp + k * 32);
        const int p = k * a_col;
        ND_T_ROWS(ND_T_STEP)
    }
    float16 bias0 = (float16)(0.0f), bias1 = (float16)(0.0f);
    if (has_bias)
    {
        float lanes[32];
        for (int l = 0; l < 32; l++) lanes[l] = j0 + l < N ? bias[j0 + l] : 0.0f;
        bias0 = vload16(0, lanes);
        bias1 = vload16(1, lanes);
    }
    ND_T_ROWS(ND_T_STORE)
}

__attribute__((reqd_work_group_size(1, 1, 1)))
__kernel void nd_gemm_tiled_f32(const int M, const int N, const int K, const int ta,
                                __global const float* restrict A, __global const float* restrict packed,
                                __global const float* restrict bias, const int has_bias,
                                __global float* restrict C, const int act)
{
    nd_gemm_tile(M, N, K, ta, A, packed, bias, has_bias, C, act, get_global_id(0) * 12, get_global_id(1));
}

// ---- The same tiles for a GPU -----------------------------------------------------------------------------
// A work-group of 32 work-items computes one 12×32 tile of C: work-item l owns column j0 + l for the 12 rows.
// Per k, the 32 lanes read one packed panel row (consecutive addresses: one coalesced load) and the 12 A values
// of the tile's rows (the same address in every lane: a broadcast). Global size (ceil(M/12), 32·ceil(N/32)),
// local size (1, 32). Same arguments and packed layout as nd_gemm_tiled_f32, so a plan runs either.

#define ND_W_DECL(r) const __global float* a##r = A + min(i0 + r, M - 1) * a_row; float c##r = 0.0f;
#define ND_W_STEP(r) c##r = fma(a##r[p], b, c##r);
#define ND_W_STORE(r) if (i0 + r < M) C[(i0 + r) * N + j] = nd_act_float(c##r + bj, act);

// Column j (lane `lane` of panel `panel`) of the 12-row tile at rows i0…: one work-item of a 32-wide group.
static inline void nd_gemm_tile_lane(const int M, const int N, const int K, const int ta,
                                     __global const float* restrict A, __global const float* restrict packed,
                                     __global const float* restrict bias, const int has_bias,
                                     __global float* restrict C, const int act, const int i0, const int panel,
                                     const int lane)
{
    const int j = panel * 32 + lane;
    const int a_row = ta ? 1 : K;
    const int a_col = ta ? M : 1;
    ND_T_ROWS(ND_W_DECL)
    const __global float* bp = packed + panel * K * 32 + lane;
    for (int k = 0; k < K; k++)
    {
        const float b = bp[k * 32];
        const int p = k * a_col;
        ND_T_ROWS(ND_W_STEP)
    }
    if (j >= N) return;
    const float bj = has_bias ? bias[j] : 0.0f;
    ND_T_ROWS(ND_W_STORE)
}

__attribute__((reqd_work_group_size(1, 32, 1)))
__kernel void nd_gemm_tiled_f32_wg(const int M, const int N, const int K, const int ta,
                                   __global const float* restrict A, __global const float* restrict packed,
                                   __global const float* restrict bias, const int has_bias,
                                   __global float* restrict C, const int act)
{
    nd_gemm_tile_lane(M, N, K, ta, A, packed, bias, has_bias, C, act, get_group_id(0) * 12, get_group_id(1),
                      get_local_id(1));
}

// ---- Batched products: C[b] = act(op(A[b])·op(B[b])) for every b of the batch, in one launch ---------------
// The batch is dimension 2 of the NDRange (the pack's dimension 1). stride_a and stride_b are the elements from
// one matrix of A (B) to the next: M·K (K·N) for a batch of matrices, 0 for one matrix every product shares
// (a broadcast operand). C is the batch of M×N results, contiguous. The 2-D kernels above are these with a
// batch of one; they keep their own entry points so a plain product has exactly its old arguments.

// Global size (N, M, batch).
__kernel void nd_gemm_batched_f32(const int M, const int N, const int K, const int ta, const int tb,
                                  __global const float* restrict A, __global const float* restrict B,
                                  __global float* restrict C, const int act, const int stride_a, const int stride_b)
{
    const int batch = get_global_id(2);
    nd_gemm_element(M, N, K, ta, tb, A + batch * stride_a, B + batch * stride_b, C, 0, C + batch * M * N, act,
                    get_global_id(1), get_global_id(0));
}

// Global size (ceil(N/32)·K, batches of B): the panels of each matrix of B, stride_packed = ceil(N/32)·32·K apart.
__kernel void nd_gemm_pack_b_batched_f32(const int K, const int N, const int tb,
                                         __global const float* restrict B, __global float* restrict packed,
                                         const int stride_b)
{
    const int batch = get_global_id(1);
    const int stride_packed = (N + 31) / 32 * 32 * K;
    nd_gemm_pack_row(K, N, tb, B + batch * stride_b, packed + batch * stride_packed, get_global_id(0));
}

// Global size (ceil(M/12), ceil(N/32), batch); stride_packed is 0 when B is broadcast (packed once).
__attribute__((reqd_work_group_size(1, 1, 1)))
__kernel void nd_gemm_tiled_batched_f32(const int M, const int N, const int K, const int ta,
                                        __global const float* restrict A, __global const float* restrict packed,
                                        __global float* restrict C, const int act,
                                        const int stride_a, const int stride_packed)
{
    const int batch = get_global_id(2);
    nd_gemm_tile(M, N, K, ta, A + batch * stride_a, packed + batch * stride_packed, C, 0, C + batch * M * N, act,
                 get_global_id(0) * 12, get_global_id(1));
}

// The GPU shape of the batched tiles: global size (ceil(M/12), 32·ceil(N/32), batch), local size (1, 32, 1).
__attribute__((reqd_work_group_size(1, 32, 1)))
__kernel void nd_gemm_tiled_batched_f32_wg(const int M, const int N, const int K, const int ta,
                                           __global const float* restrict A, __global const float* restrict packed,
                                           __global float* restrict C, const int act,
                                           const int stride_a, const int stride_packed)
{
    const int batch = get_group_id(2);
    nd_gemm_tile_lane(M, N, K, ta, A + batch * stride_a, packed + batch * stride_packed, C, 0, C + batch * M * N,
                      act, get_group_id(0) * 12, get_group_id(1), get_local_id(1));
}
