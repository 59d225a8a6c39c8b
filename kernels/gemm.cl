// GEMM: C[M, N] = op(A) · op(B) (+ bias[N]), row-major, op = transpose when ta/tb is 1.
// One work-item per element of C; global size (N, M). A register-blocked, vectorized version
// tuned per device replaces this in the performance work; this one is the correct baseline.
__kernel void nd_gemm_f32(const int M, const int N, const int K, const int ta, const int tb,
                          __global const float* restrict A, __global const float* restrict B,
                          __global const float* restrict bias, const int has_bias,
                          __global float* restrict C)
{
    const int j = get_global_id(0);
    const int i = get_global_id(1);
    if (i >= M || j >= N) return;
    // Strides of op(A)[i, p] and op(B)[p, j] in memory.
    const int a_row = ta ? 1 : K;
    const int a_col = ta ? M : 1;
    const int b_row = tb ? 1 : N;
    const int b_col = tb ? K : 1;
    float acc = has_bias ? bias[j] : 0.0f;
    for (int p = 0; p < K; p++)
        acc = fma(A[i * a_row + p * a_col], B[p * b_row + j * b_col], acc);
    C[i * N + j] = acc;
}
