// GEMM: C[M, N] = act(op(A) · op(B) (+ bias[N])), row-major, op = transpose when ta/tb is 1.
// act is the fused activation epilogue: 0 none, 1 relu, 2 tanh, 3 sigmoid, 4 LeCun's 1.7159·tanh(2x/3); or, for a
// product without a bias, the gradient of an activation from its output g = gate[M, N], read where the bias pointer
// points (cuBLASLt's DRELU epilogue with its auxiliary buffer): 5 relu's (g > 0 ? v : 0), 6 tanh's v·(1 − g²),
// 7 sigmoid's v·g·(1 − g).
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
ND_ACT(float4)
ND_ACT(float8)
ND_ACT(float16)

// The gradient epilogues (act 5–7) of v given the activation's output g, as the compiler's relu_grad, tanh_grad and
// sigmoid_grad compute them.
#define ND_GATE(T) \
static T nd_gate_##T(T v, T g, const int act) \
{ \
    switch (act) \
    { \
        case 5: return select((T)(0.0f), v, g > (T)(0.0f)); \
        case 6: return v * ((T)(1.0f) - g * g); \
        default: return v * g * ((T)(1.0f) - g); \
    } \
}
static float nd_gate_float(float v, float g, const int act)
{
    switch (act)
    {
        case 5: return g > 0.0f ? v : 0.0f;
        case 6: return v * (1.0f - g * g);
        default: return v * g * (1.0f - g);
    }
}
ND_GATE(float4)
ND_GATE(float8)
ND_GATE(float16)

// Long sums are added in blocks: each block of ND_GEMM_KBLOCK values of k is summed into fresh accumulators that are
// then added to the totals, so an element of a product with a long K (a weight gradient's K is the batch) rounds like
// KBLOCK + K / KBLOCK additions rather than K, as a BLAS's K panels do; it costs one addition per block.
#ifndef ND_GEMM_KBLOCK
#define ND_GEMM_KBLOCK 256
#endif

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
    float acc = 0.0f;
    for (int p0 = 0; p0 < K; p0 += ND_GEMM_KBLOCK)
    {
        float part = 0.0f;
        const int p1 = min(p0 + ND_GEMM_KBLOCK, K);
        for (int p = p0; p < p1; p++)
            part = fma(A[i * a_row + p * a_col], B[p * b_row + j * b_col], part);
        acc += part;
    }
    C[i * N + j] = act >= 5 ? nd_gate_float(acc, bias[i * N + j], act) : nd_act_float(acc + (has_bias ? bias[j] : 0.0f), act);
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
// B is first packed into contiguous panels [ceil(N/P)][K][P] (zero-padded) of P = ND_GEMM_PANEL columns, so no row
// stride of a multiple of 4 KiB is ever streamed (cache-set aliasing). Each work-item then holds an R×P tile of C
// (R = ND_GEMM_ROWS) in R·V named accumulators of type floatW (V = ND_GEMM_VECS vectors of W = ND_GEMM_WIDTH
// floats: registers, not a private array) and per k does V vector loads of B and R scalar broadcasts of A with
// explicit fma. Global size (ceil(M/R), ceil(N/P)), local size 1: consecutive work-items walk down M and reuse the
// same B panel from cache. The runtime picks R, V, W and the K unroll per device (GemmConfig: a default table by
// CPU class, or the tuner's cached choice) and passes them as build options; these defaults are AVX-512's.
// P divides 32, so the scratch the compiler sizes for 32-column panels (ceil(N/32)·32·K) holds every layout.
#ifndef ND_GEMM_ROWS
#define ND_GEMM_ROWS 12
#endif
#ifndef ND_GEMM_WIDTH
#define ND_GEMM_WIDTH 16
#endif
#ifndef ND_GEMM_VECS
#define ND_GEMM_VECS 2
#endif
// The K loop's unroll factor; 0 leaves it to the compiler.
#ifndef ND_GEMM_UNROLL
#define ND_GEMM_UNROLL 0
#endif
// The rows of the tile for products too small to keep every core busy with R-row tiles (same panels).
#ifndef ND_GEMM_SMALL_ROWS
#define ND_GEMM_SMALL_ROWS 4
#endif
// The rows of the tile when A is read row by row (not transposed): each row of the tile is then a stream of loads of
// its own, and on a CPU fewer streams can beat more rows (a transposed A, a weight gradient's, gives all of the
// tile's rows as one contiguous run per k). Absent: ND_GEMM_ROWS.
#ifndef ND_GEMM_STREAM_ROWS
#define ND_GEMM_STREAM_ROWS ND_GEMM_ROWS
#endif
#define ND_GEMM_PANEL (ND_GEMM_WIDTH * ND_GEMM_VECS)
#if 32 % ND_GEMM_PANEL != 0 || ND_GEMM_ROWS > 16 || ND_GEMM_SMALL_ROWS > 16 || ND_GEMM_STREAM_ROWS > 16 || ND_GEMM_VECS > 4
#error "ND_GEMM_*: the panel must divide 32, at most 16 rows and 4 vectors"
#endif

#define ND_CAT_(a, b) a##b
#define ND_CAT(a, b) ND_CAT_(a, b)
#define ND_STR_(x) #x
#define ND_PRAGMA(x) _Pragma(ND_STR_(x))
#define ND_UNROLL(n) ND_PRAGMA(unroll n)
#if ND_GEMM_UNROLL > 0
#define ND_K_UNROLL ND_UNROLL(ND_GEMM_UNROLL)
#else
#define ND_K_UNROLL
#endif
#define ND_VEC ND_CAT(float, ND_GEMM_WIDTH)
#define ND_VLOAD ND_CAT(vload, ND_GEMM_WIDTH)
#define ND_VSTORE ND_CAT(vstore, ND_GEMM_WIDTH)
#define ND_ACT_VEC ND_CAT(nd_act_, ND_VEC)

// X(0) … X(n-1): the rows of a tile, and X(r, 0) … X(r, V-1): the vectors of row r.
#define ND_R1(X) X(0)
#define ND_R2(X) ND_R1(X) X(1)
#define ND_R3(X) ND_R2(X) X(2)
#define ND_R4(X) ND_R3(X) X(3)
#define ND_R5(X) ND_R4(X) X(4)
#define ND_R6(X) ND_R5(X) X(5)
#define ND_R7(X) ND_R6(X) X(6)
#define ND_R8(X) ND_R7(X) X(7)
#define ND_R9(X) ND_R8(X) X(8)
#define ND_R10(X) ND_R9(X) X(9)
#define ND_R11(X) ND_R10(X) X(10)
#define ND_R12(X) ND_R11(X) X(11)
#define ND_R13(X) ND_R12(X) X(12)
#define ND_R14(X) ND_R13(X) X(13)
#define ND_R15(X) ND_R14(X) X(14)
#define ND_R16(X) ND_R15(X) X(15)
#define ND_ROWS(n, X) ND_CAT(ND_R, n)(X)
#define ND_V1(X, r) X(r, 0)
#define ND_V2(X, r) ND_V1(X, r) X(r, 1)
#define ND_V3(X, r) ND_V2(X, r) X(r, 2)
#define ND_V4(X, r) ND_V3(X, r) X(r, 3)
#define ND_VECS(X, r) ND_CAT(ND_V, ND_GEMM_VECS)(X, r)

// A transposed B (a dense layer's weight W[n, k], read as Wᵀ) in a full 32-column chunk, K a multiple of 8: work-item
// r of the chunk's K takes 8 values of k (k0 = 8·(r / 8)) of 4 columns (4·(r % 8)…), as 4 contiguous float8 loads,
// and stores them as 8 float4 (a 4×8 transpose in registers); the 8 work-items of a k0 read 32 B of each of the
// chunk's 32 rows of W, which the next k0 continues. A scalar gather per column was ~3.6 cycles per element here.
#define ND_PACK_T_ROW(kk) \
    vstore4((float4)(v0.s##kk, v1.s##kk, v2.s##kk, v3.s##kk), 0, dst + (k0 + 0x##kk) * ND_GEMM_PANEL);
static inline void nd_gemm_pack_t8(const int K, __global const float* restrict B, __global float* restrict packed,
                                   const int chunk, const int r)
{
    const int k0 = (r >> 3) << 3;
    const int c = (r & 7) << 2;                       /* the first of the 4 columns, within the chunk */
    const int col = chunk * 32 + c;
    const int panel = chunk * (32 / ND_GEMM_PANEL) + c / ND_GEMM_PANEL;
    __global float* dst = packed + panel * K * ND_GEMM_PANEL + c % ND_GEMM_PANEL;
    const float8 v0 = vload8(0, B + (col + 0) * K + k0);
    const float8 v1 = vload8(0, B + (col + 1) * K + k0);
    const float8 v2 = vload8(0, B + (col + 2) * K + k0);
    const float8 v3 = vload8(0, B + (col + 3) * K + k0);
    ND_PACK_T_ROW(0) ND_PACK_T_ROW(1) ND_PACK_T_ROW(2) ND_PACK_T_ROW(3)
    ND_PACK_T_ROW(4) ND_PACK_T_ROW(5) ND_PACK_T_ROW(6) ND_PACK_T_ROW(7)
}

// Row k of the 32-column chunk c (j = c·K + k): that row of each of the chunk's 32/P panels.
static inline void nd_gemm_pack_row(const int K, const int N, const int tb,
                                    __global const float* restrict B, __global float* restrict packed, const int j)
{
    const int chunk = j / K;
    const int k = j - chunk * K;
    if (tb && (K & 7) == 0 && chunk * 32 + 32 <= N)
    {
        nd_gemm_pack_t8(K, B, packed, chunk, k);
        return;
    }
    for (int q = 0; q < 32 / ND_GEMM_PANEL; q++)
    {
        const int panel = chunk * (32 / ND_GEMM_PANEL) + q;
        const int col0 = panel * ND_GEMM_PANEL;
        __global float* dst = packed + (panel * K + k) * ND_GEMM_PANEL;
        if (!tb && col0 + ND_GEMM_PANEL <= N)
        {
            const __global float* src = B + k * N + col0;
            for (int v = 0; v < ND_GEMM_VECS; v++) ND_VSTORE(ND_VLOAD(v, src), v, dst);
            continue;
        }
        for (int l = 0; l < ND_GEMM_PANEL; l++)
        {
            const int col = col0 + l;
            dst[l] = col < N ? (tb ? B[col * K + k] : B[k * N + col]) : 0.0f;
        }
    }
}

// One work-item per (32-column chunk, k): global size ceil(N/32)·K, whatever the panel width.
__kernel void nd_gemm_pack_b_f32(const int K, const int N, const int tb,
                                 __global const float* restrict B, __global float* restrict packed)
{
    nd_gemm_pack_row(K, N, tb, B, packed, get_global_id(0));
}

// Stores the first `cols` values of x (all of them when cols ≥ W; none when cols ≤ 0) at c.
static void nd_store_vec(__global float* c, const ND_VEC x, const int cols)
{
    if (cols >= ND_GEMM_WIDTH)
    {
        ND_VSTORE(x, 0, c);
        return;
    }
    float lanes[ND_GEMM_WIDTH];
    ND_VSTORE(x, 0, lanes);
    for (int l = 0; l < cols; l++) c[l] = lanes[l];
}

// The bias of columns j…j+W-1 (zero past N, or without a bias).
static ND_VEC nd_bias_vec(__global const float* restrict bias, const int has_bias, const int j, const int N)
{
    float lanes[ND_GEMM_WIDTH];
    for (int l = 0; l < ND_GEMM_WIDTH; l++) lanes[l] = has_bias && j + l < N ? bias[j + l] : 0.0f;
    return ND_VLOAD(0, lanes);
}

// The store's value of x, the first `cols` of which go to C at offset `at`: act(x), or for act 5–7 the gradient
// epilogue with the activation's output read from `gate` at the same offset (x carries no bias then).
static ND_VEC nd_epilogue(const ND_VEC x, const int act, __global const float* restrict gate, const int at, const int cols)
{
    if (act < 5) return ND_ACT_VEC(x, act);
    if (cols >= ND_GEMM_WIDTH) return ND_CAT(nd_gate_, ND_VEC)(x, ND_VLOAD(0, gate + at), act);
    float lanes[ND_GEMM_WIDTH];
    for (int l = 0; l < ND_GEMM_WIDTH; l++) lanes[l] = l < cols ? gate[at + l] : 0.0f;
    return ND_CAT(nd_gate_, ND_VEC)(x, ND_VLOAD(0, lanes), act);
}

#define ND_T_ACC(r, v) ND_VEC t##r##_##v = (ND_VEC)(0.0f);
#define ND_T_DECL(r) const __global float* a##r = A + min(i0 + r, M - 1) * a_row; ND_VECS(ND_T_ACC, r)
#define ND_T_NEXT(r) a##r += ND_GEMM_KBLOCK * a_col;
#define ND_T_ZERO_VEC(r, v) ND_VEC c##r##_##v = (ND_VEC)(0.0f);
#define ND_T_ZERO(r) ND_VECS(ND_T_ZERO_VEC, r)
#define ND_T_ADD_VEC(r, v) t##r##_##v += c##r##_##v;
#define ND_T_ADD(r) ND_VECS(ND_T_ADD_VEC, r)
#define ND_T_LOAD(r, v) const ND_VEC b##v = ND_VLOAD(0, bk + bo##v);
#define ND_T_OFFSET(last, v) const int bo##v = min(v * ND_GEMM_WIDTH, (last));
#define ND_T_FMA(r, v) c##r##_##v = fma(s, b##v, c##r##_##v);
#define ND_T_STEP(r) { const ND_VEC s = (ND_VEC)(a##r[p]); ND_VECS(ND_T_FMA, r) }
#define ND_T_BIAS(r, v) const ND_VEC bias##v = nd_bias_vec(bias, has_bias, j0 + v * ND_GEMM_WIDTH, N);
#define ND_T_STORE_VEC(r, v) \
    nd_store_vec(C + (i0 + r) * N + j0 + v * ND_GEMM_WIDTH, \
                 nd_epilogue(t##r##_##v + bias##v, act, bias, (i0 + r) * N + j0 + v * ND_GEMM_WIDTH, N - j0 - v * ND_GEMM_WIDTH), \
                 N - j0 - v * ND_GEMM_WIDTH);
#define ND_T_STORE(r) if (i0 + r < M) { ND_VECS(ND_T_STORE_VEC, r) }

// One block of COUNT values of k from bp and the rows' A pointers: summed into fresh accumulators, then into the tile's.
#define ND_T_KLOOP(ROWS, COUNT, B_STRIDE) \
    ND_ROWS(ROWS, ND_T_ZERO) \
    ND_K_UNROLL \
    for (int k = 0; k < (COUNT); k++) \
    { \
        const __global float* bk = bp + k * (B_STRIDE); \
        ND_VECS(ND_T_LOAD, _) \
        const int p = k * a_col; \
        ND_ROWS(ROWS, ND_T_STEP) \
    } \
    ND_ROWS(ROWS, ND_T_ADD)

// NAME: the ROWS×P tile of C at rows i0… and columns of panel `panel`, in one work-item, reading row k of the panel at
// B_BASE + k·B_STRIDE: the packed panel (stride P), or B itself when it is not transposed (stride N, B_BASE B + j0).
// Vector v of a row is read at offset min(v·W, B_LAST): past N, B itself has no columns to read (its last panel may be
// part-filled), so a vector wholly past N reads the last one again, and its columns are never stored.
#define ND_GEMM_TILE(NAME, ROWS) \
    ND_GEMM_TILE_OF(NAME, ROWS, ND_GEMM_PANEL, packed + panel * K * ND_GEMM_PANEL, ND_GEMM_PANEL - ND_GEMM_WIDTH)
#define ND_GEMM_TILE_OF(NAME, ROWS, B_STRIDE, B_BASE, B_LAST) \
static inline void NAME(const int M, const int N, const int K, const int ta, \
                        __global const float* restrict A, __global const float* restrict packed, \
                        __global const float* restrict bias, const int has_bias, \
                        __global float* restrict C, const int act, const int i0, const int panel) \
{ \
    const int j0 = panel * ND_GEMM_PANEL; \
    /* op(A)[i, p] = A[i * a_row + p * a_col] */ \
    const int a_row = ta ? 1 : K; \
    const int a_col = ta ? M : 1; \
    ND_ROWS(ROWS, ND_T_DECL) \
    const __global float* bp = B_BASE; \
    ND_VECS(ND_T_OFFSET, B_LAST) \
    /* Whole blocks of a constant ND_GEMM_KBLOCK values of k, then the rest: each block's loop is the plain loop over \
       its K rows, its A rows and B panel rows advanced as its bases. */ \
    int k0 = 0; \
    for (; k0 + ND_GEMM_KBLOCK <= K; k0 += ND_GEMM_KBLOCK) \
    { \
        ND_T_KLOOP(ROWS, ND_GEMM_KBLOCK, B_STRIDE) \
        ND_ROWS(ROWS, ND_T_NEXT) \
        bp += ND_GEMM_KBLOCK * (B_STRIDE); \
    } \
    { \
        ND_T_KLOOP(ROWS, K - k0, B_STRIDE) \
    } \
    ND_VECS(ND_T_BIAS, _) \
    ND_ROWS(ROWS, ND_T_STORE) \
}

ND_GEMM_TILE(nd_gemm_tile, ND_GEMM_ROWS)
ND_GEMM_TILE(nd_gemm_tile_small, ND_GEMM_SMALL_ROWS)
ND_GEMM_TILE(nd_gemm_tile_stream, ND_GEMM_STREAM_ROWS)

__attribute__((reqd_work_group_size(1, 1, 1)))
__kernel void nd_gemm_tiled_f32(const int M, const int N, const int K, const int ta,
                                __global const float* restrict A, __global const float* restrict packed,
                                __global const float* restrict bias, const int has_bias,
                                __global float* restrict C, const int act)
{
    nd_gemm_tile(M, N, K, ta, A, packed, bias, has_bias, C, act, get_global_id(0) * ND_GEMM_ROWS, get_global_id(1));
}

// The same product in tiles of ND_GEMM_SMALL_ROWS rows: global size (ceil(M/ND_GEMM_SMALL_ROWS), ceil(N/P)).
__attribute__((reqd_work_group_size(1, 1, 1)))
__kernel void nd_gemm_tiled_small_f32(const int M, const int N, const int K, const int ta,
                                      __global const float* restrict A, __global const float* restrict packed,
                                      __global const float* restrict bias, const int has_bias,
                                      __global float* restrict C, const int act)
{
    nd_gemm_tile_small(M, N, K, ta, A, packed, bias, has_bias, C, act, get_global_id(0) * ND_GEMM_SMALL_ROWS,
                       get_global_id(1));
}

// The same product in tiles of ND_GEMM_STREAM_ROWS rows, for an A that is not transposed: global size
// (ceil(M/ND_GEMM_STREAM_ROWS), ceil(N/P)).
__attribute__((reqd_work_group_size(1, 1, 1)))
__kernel void nd_gemm_tiled_stream_f32(const int M, const int N, const int K, const int ta,
                                       __global const float* restrict A, __global const float* restrict packed,
                                       __global const float* restrict bias, const int has_bias,
                                       __global float* restrict C, const int act)
{
    nd_gemm_tile_stream(M, N, K, ta, A, packed, bias, has_bias, C, act, get_global_id(0) * ND_GEMM_STREAM_ROWS,
                        get_global_id(1));
}

// ---- The same tiles reading B in place -----------------------------------------------------------------------
// When B is not transposed and N is a multiple of the vector width, row k of a panel is already P contiguous floats of
// B (at B + k·N + j0; of the last panel, its vectors up to N): these kernels read them there, with the same arguments as the kernels above but B itself where
// those take the packed panels, and no pack launch before them. For a product with few rows of C the pack is not paid
// back by reuse: on PoCL 3.1 (2-core EPYC, AVX-512) the MLP's 128×784 by 784×256 took 123 µs in place against
// 27 + 197 µs packed, and 32×256 by 256×1024 72 against 37 + 80 µs; for 1024 rows and a 1024×1024 B, whose rows 4 KiB
// apart alias in the cache, packing stays faster (1414 against 1500 µs). GemmConfig.ReadsInPlace chooses.
#define ND_GEMM_DIRECT(NAME, ROWS) ND_GEMM_TILE_OF(NAME, ROWS, N, packed + panel * ND_GEMM_PANEL, N - j0 - ND_GEMM_WIDTH)
ND_GEMM_DIRECT(nd_gemm_tile_direct, ND_GEMM_ROWS)
ND_GEMM_DIRECT(nd_gemm_tile_direct_small, ND_GEMM_SMALL_ROWS)
ND_GEMM_DIRECT(nd_gemm_tile_direct_stream, ND_GEMM_STREAM_ROWS)

// nd_gemm_tiled_f32 with B (N a multiple of W) in place of the packed panels.
__attribute__((reqd_work_group_size(1, 1, 1)))
__kernel void nd_gemm_direct_f32(const int M, const int N, const int K, const int ta,
                                 __global const float* restrict A, __global const float* restrict B,
                                 __global const float* restrict bias, const int has_bias,
                                 __global float* restrict C, const int act)
{
    nd_gemm_tile_direct(M, N, K, ta, A, B, bias, has_bias, C, act, get_global_id(0) * ND_GEMM_ROWS, get_global_id(1));
}

// nd_gemm_tiled_small_f32 with B in place.
__attribute__((reqd_work_group_size(1, 1, 1)))
__kernel void nd_gemm_direct_small_f32(const int M, const int N, const int K, const int ta,
                                       __global const float* restrict A, __global const float* restrict B,
                                       __global const float* restrict bias, const int has_bias,
                                       __global float* restrict C, const int act)
{
    nd_gemm_tile_direct_small(M, N, K, ta, A, B, bias, has_bias, C, act, get_global_id(0) * ND_GEMM_SMALL_ROWS,
                              get_global_id(1));
}

// nd_gemm_tiled_stream_f32 with B in place.
__attribute__((reqd_work_group_size(1, 1, 1)))
__kernel void nd_gemm_direct_stream_f32(const int M, const int N, const int K, const int ta,
                                        __global const float* restrict A, __global const float* restrict B,
                                        __global const float* restrict bias, const int has_bias,
                                        __global float* restrict C, const int act)
{
    nd_gemm_tile_direct_stream(M, N, K, ta, A, B, bias, has_bias, C, act, get_global_id(0) * ND_GEMM_STREAM_ROWS,
                               get_global_id(1));
}

// ---- Batched products: C[b] = act(op(A[b])·op(B[b])) for every b of the batch, in one launch ---------------
// The batch is dimension 2 of the NDRange (the pack's dimension 1). stride_a and stride_b are the elements from
// one matrix of A (B) to the next: M·K (K·N) for a batch of matrices, 0 for one matrix every product shares
// (a broadcast operand). C is the batch of M×N results, contiguous. The 2-D kernels above are these with a
// batch of one; they keep their own entry points so a plain product has exactly its old arguments. The GPU shape of
// the tiled products (local-memory tiles) is kernels/gemm_gpu.cl.

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

// Global size (ceil(M/R), ceil(N/P), batch); stride_packed is 0 when B is broadcast (packed once).
__attribute__((reqd_work_group_size(1, 1, 1)))
__kernel void nd_gemm_tiled_batched_f32(const int M, const int N, const int K, const int ta,
                                        __global const float* restrict A, __global const float* restrict packed,
                                        __global float* restrict C, const int act,
                                        const int stride_a, const int stride_packed)
{
    const int batch = get_global_id(2);
    nd_gemm_tile(M, N, K, ta, A + batch * stride_a, packed + batch * stride_packed, C, 0, C + batch * M * N, act,
                 get_global_id(0) * ND_GEMM_ROWS, get_global_id(1));
}
