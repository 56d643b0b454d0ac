/* int8 x int8 linear layer for the CPU: y = x W^T, with int8 weights (one scale per output
 * row) and activations quantized per row here (over the row's range, 256 levels).
 *
 * Built by inference/native.py with the system C compiler into the app's cache folder, and
 * called through ctypes. Why our own: fbgemm's GEMM, reached through quantized tensors torch
 * deprecates, reads weights at 17-25 GB/s while decoding one token on 2 cores where the
 * machine reads 30-33 GB/s; these loops reach 27-30 GB/s on Zen 4 with and without AVX-512
 * (issue 17). The weights stay in plain row-major int8 (no packed copy, nothing to prepare).
 *
 * Each row of activations is quantized to u8 over its own range with a zero point z, so both
 * kernels multiply u8 by s8:  sum_k (u_k - z) w_k = sum_k u_k w_k - z * rowsum(w), and
 * rowsum is passed in.
 * AVX-512 VNNI: vpdpbusd sums four products into int32. AVX2: both widened to int16, vpmaddwd
 * sums pairs into int32 (see dots_avx2). Both exact, so both give the same sums to the bit
 * from the same 8-bit weights.
 *
 * A row can be quantized in two passes (`passes` = 2): the second quantizes what the first
 * rounded away, over its own much smaller range, and both are multiplied by the same weights
 * in one read of them. For inputs whose range is set by a few huge channels (the MLP's inner
 * activation) that keeps the small channels; the cost is arithmetic, which one token does not
 * run out of.
 *
 * Work is split over output rows in blocks of 64 with OpenMP; in a process that has imported
 * torch, libgomp.so.1 is torch's own (same soname), so both share one thread pool.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ROWS_PER_BLOCK 64
#define TOKENS_PER_PASS 16
/* Fewer rows of activations than this are multiplied one weight row at a time (each row read
 * once from memory, then from L1 for the next token) rather than in tiles of 4 weight rows:
 * on a 2-vCPU Zen 4, 8 tokens took 28 ms per Qwen2.5-0.5B step one row at a time against
 * 39 ms in tiles (AVX-512; AVX2 37 against 46), 16 tokens 48 against 44. */
#define FEW_TOKENS 12

/* One row of activations to u8 over its own range [min, max] (asymmetric: 256 levels even
 * when the row is skewed): x ~ (q - zero) * scale. */
static void quantize_row(const float *x, int K, uint8_t *q, float *scale, int32_t *zero) {
    float lo = 0.f, hi = 0.f; /* the range includes 0, so 0 is exact */
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (int k = 0; k < K; k++) {
        lo = x[k] < lo ? x[k] : lo;
        hi = x[k] > hi ? x[k] : hi;
    }
    float s = hi > lo ? (hi - lo) / 255.f : 1.f;
    float inv = 1.f / s;
    int32_t z = (int32_t)(-lo * inv + 0.5f); /* in [0, 255] */
    float offset = (float)z + 0.5f;
#pragma omp simd
    for (int k = 0; k < K; k++) {
        float v = x[k] * inv + offset; /* in [0, 256): truncation rounds half up */
        v = v < 0.f ? 0.f : (v > 255.f ? 255.f : v);
        q[k] = (uint8_t)(int)v;
    }
    *scale = s;
    *zero = z;
}

/* A row as `passes` rows of u8 (1 or 2): the second holds what the first missed,
 * x - (q0 - z0) * s0, over its own range, so the two together keep about twice the bits
 * (for inputs with a few huge channels, such as the MLP's inner activation). */
static void quantize_passes(const float *x, int K, int passes, uint8_t *q, float *scale,
                            int32_t *zero, float *scratch) {
    quantize_row(x, K, q, scale, zero);
    if (passes < 2) return;
    float s = scale[0], z = (float)zero[0];
#pragma omp simd
    for (int k = 0; k < K; k++) scratch[k] = x[k] - ((float)q[k] - z) * s;
    quantize_row(scratch, K, q + K, scale + 1, zero + 1);
}

/* The four sums of four accumulators, in one vector (a transpose-and-add: 3 hadds). */
__attribute__((target("avx2,fma"))) static inline __m128i sum4_256(__m256i a, __m256i b,
                                                                 __m256i c, __m256i d) {
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static inline __m128i
sum4_512(__m512i a, __m512i b, __m512i c, __m512i d) {
#define HALVES(v) _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1))
    return sum4_256(HALVES(a), HALVES(b), HALVES(c), HALVES(d));
#undef HALVES
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
dots_vnni(const int8_t *W, const uint8_t *xq, int M, int K, int n0, int n1, int32_t *out,
          int ld) {
    int n = n0;
    if (M < FEW_TOKENS) n = n1; /* row at a time (below): streams best for a few tokens */
    for (; n + 4 <= n1; n += 4) {
        const int8_t *w0 = W + (size_t)n * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
        int m = 0;
        for (; m + 4 <= M; m += 4) { /* 4 rows x 4 tokens: each load feeds four products */
            const uint8_t *x0 = xq + (size_t)m * K, *x1 = x0 + K, *x2 = x1 + K, *x3 = x2 + K;
            __m512i a[16];
            for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_si512();
            for (int k = 0; k + 64 <= K; k += 64) {
                __m512i b0 = _mm512_loadu_si512(w0 + k), b1 = _mm512_loadu_si512(w1 + k);
                __m512i b2 = _mm512_loadu_si512(w2 + k), b3 = _mm512_loadu_si512(w3 + k);
                const uint8_t *xs[4] = {x0, x1, x2, x3};
                for (int i = 0; i < 4; i++) {
                    __m512i v = _mm512_loadu_si512(xs[i] + k);
                    a[i * 4 + 0] = _mm512_dpbusd_epi32(a[i * 4 + 0], v, b0);
                    a[i * 4 + 1] = _mm512_dpbusd_epi32(a[i * 4 + 1], v, b1);
                    a[i * 4 + 2] = _mm512_dpbusd_epi32(a[i * 4 + 2], v, b2);
                    a[i * 4 + 3] = _mm512_dpbusd_epi32(a[i * 4 + 3], v, b3);
                }
            }
            for (int i = 0; i < 4; i++)
                _mm_storeu_si128((__m128i *)(out + (size_t)(m + i) * ld + (n - n0)),
                                 sum4_512(a[i * 4], a[i * 4 + 1], a[i * 4 + 2], a[i * 4 + 3]));
        }
        for (; m < M; m++) { /* the tokens left: one at a time, four rows */
            const uint8_t *x = xq + (size_t)m * K;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
            for (int k = 0; k + 64 <= K; k += 64) {
                __m512i v = _mm512_loadu_si512(x + k);
                a0 = _mm512_dpbusd_epi32(a0, v, _mm512_loadu_si512(w0 + k));
                a1 = _mm512_dpbusd_epi32(a1, v, _mm512_loadu_si512(w1 + k));
                a2 = _mm512_dpbusd_epi32(a2, v, _mm512_loadu_si512(w2 + k));
                a3 = _mm512_dpbusd_epi32(a3, v, _mm512_loadu_si512(w3 + k));
            }
            int32_t *o = out + (size_t)m * ld + (n - n0);
            o[0] = _mm512_reduce_add_epi32(a0);
            o[1] = _mm512_reduce_add_epi32(a1);
            o[2] = _mm512_reduce_add_epi32(a2);
            o[3] = _mm512_reduce_add_epi32(a3);
        }
    }
    if (M < FEW_TOKENS) n = n0;
    for (; n < n1; n++) { /* one row at a time: few tokens, or rows left over */
        const int8_t *w = W + (size_t)n * K;
        for (int m = 0; m < M; m++) {
            const uint8_t *x = xq + (size_t)m * K;
            __m512i a = _mm512_setzero_si512();
            for (int k = 0; k + 64 <= K; k += 64)
                a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(x + k), _mm512_loadu_si512(w + k));
            out[(size_t)m * ld + (n - n0)] = _mm512_reduce_add_epi32(a);
        }
    }
}

__attribute__((target("avx2,fma"))) static inline int32_t hsum256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_hadd_epi32(s, s);
    s = _mm_hadd_epi32(s, s);
    return _mm_cvtsi128_si32(s);
}

/* AVX-VNNI (VEX-encoded vpdpbusd on 256-bit registers): what Intel's laptop chips since the
 * 12th generation have in place of AVX-512, and Zen 4 and later. The VNNI path's exact u8 x s8
 * sums with half-width registers: 4 rows x 2 tokens per tile (16 registers). Compilers before
 * GCC 11 / clang 12 do not know the instruction: then isa 3 runs the AVX2 path. */
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11)
#define HAVE_AVXVNNI 1
__attribute__((target("avx2,fma,avxvnni"))) static void
dots_avxvnni(const int8_t *W, const uint8_t *xq, int M, int K, int n0, int n1, int32_t *out,
             int ld) {
    int n = n0;
    if (M < FEW_TOKENS) n = n1; /* row at a time (below): streams best for a few tokens */
    for (; n + 4 <= n1; n += 4) {
        const int8_t *w0 = W + (size_t)n * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
        int m = 0;
        for (; m + 2 <= M; m += 2) {
            const uint8_t *x0 = xq + (size_t)m * K, *x1 = x0 + K;
            __m256i a[8];
            for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_si256();
            for (int k = 0; k + 32 <= K; k += 32) {
                __m256i b0 = _mm256_loadu_si256((const __m256i *)(w0 + k));
                __m256i b1 = _mm256_loadu_si256((const __m256i *)(w1 + k));
                __m256i b2 = _mm256_loadu_si256((const __m256i *)(w2 + k));
                __m256i b3 = _mm256_loadu_si256((const __m256i *)(w3 + k));
                __m256i v = _mm256_loadu_si256((const __m256i *)(x0 + k));
                a[0] = _mm256_dpbusd_avx_epi32(a[0], v, b0);
                a[1] = _mm256_dpbusd_avx_epi32(a[1], v, b1);
                a[2] = _mm256_dpbusd_avx_epi32(a[2], v, b2);
                a[3] = _mm256_dpbusd_avx_epi32(a[3], v, b3);
                v = _mm256_loadu_si256((const __m256i *)(x1 + k));
                a[4] = _mm256_dpbusd_avx_epi32(a[4], v, b0);
                a[5] = _mm256_dpbusd_avx_epi32(a[5], v, b1);
                a[6] = _mm256_dpbusd_avx_epi32(a[6], v, b2);
                a[7] = _mm256_dpbusd_avx_epi32(a[7], v, b3);
            }
            for (int i = 0; i < 2; i++)
                _mm_storeu_si128((__m128i *)(out + (size_t)(m + i) * ld + (n - n0)),
                                 sum4_256(a[i * 4], a[i * 4 + 1], a[i * 4 + 2], a[i * 4 + 3]));
        }
        for (; m < M; m++) {
            const uint8_t *x = xq + (size_t)m * K;
            __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
            for (int k = 0; k + 32 <= K; k += 32) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(x + k));
                a0 = _mm256_dpbusd_avx_epi32(a0, v, _mm256_loadu_si256((const __m256i *)(w0 + k)));
                a1 = _mm256_dpbusd_avx_epi32(a1, v, _mm256_loadu_si256((const __m256i *)(w1 + k)));
                a2 = _mm256_dpbusd_avx_epi32(a2, v, _mm256_loadu_si256((const __m256i *)(w2 + k)));
                a3 = _mm256_dpbusd_avx_epi32(a3, v, _mm256_loadu_si256((const __m256i *)(w3 + k)));
            }
            _mm_storeu_si128((__m128i *)(out + (size_t)m * ld + (n - n0)), sum4_256(a0, a1, a2, a3));
        }
    }
    if (M < FEW_TOKENS) n = n0;
    for (; n < n1; n++) {
        const int8_t *w = W + (size_t)n * K;
        for (int m = 0; m < M; m++) {
            const uint8_t *x = xq + (size_t)m * K;
            __m256i a = _mm256_setzero_si256(), b = a;
            for (int k = 0; k + 64 <= K; k += 64) {
                a = _mm256_dpbusd_avx_epi32(a, _mm256_loadu_si256((const __m256i *)(x + k)),
                                            _mm256_loadu_si256((const __m256i *)(w + k)));
                b = _mm256_dpbusd_avx_epi32(b, _mm256_loadu_si256((const __m256i *)(x + k + 32)),
                                            _mm256_loadu_si256((const __m256i *)(w + k + 32)));
            }
            out[(size_t)m * ld + (n - n0)] = hsum256(_mm256_add_epi32(a, b));
        }
    }
}
#else
#define HAVE_AVXVNNI 0
#endif

/* 1 when this build has the AVX-VNNI path (isa 3). */
int avxvnni_built(void) { return HAVE_AVXVNNI; }

/* 16 int8 weights widened to int16 (one vpmovsxbw from memory). */
__attribute__((target("avx2,fma"))) static inline __m256i wide16(const int8_t *p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

/* acc + pairwise sums of x * w, 16 int16 inputs each: exact (255 * 127 * 2 fits int32). */
__attribute__((target("avx2,fma"))) static inline __m256i madd16(__m256i acc, __m256i x,
                                                               __m256i w) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w));
}

/* AVX2: activations (u8 values held in int16, widened once per row by the caller) times
 * weights widened to int16 as they are read. vpmaddubsw would multiply u8 by s8 directly, at
 * about 3/4 of the arithmetic, but sums pairs into a saturating int16: exact only with 7-bit
 * weights (bench quality on Qwen2.5-0.5B: top-1 96.3%, KL 0.009) or 7-bit activations
 * (96.15%, KL 0.008), against VNNI's 97.4%, KL 0.0036. This way the sums are VNNI's to the
 * bit from the same 8-bit weights (97.05%, KL 0.0036); the cost, capped to AVX2 on a Zen 4:
 * prefill about 205 -> 160 tok/s, decoding unchanged (~34 tok/s, memory-bound). */
__attribute__((target("avx2,fma"))) static void
dots_avx2(const int8_t *W, const int16_t *xw, int M, int K, int n0, int n1, int32_t *out,
          int ld) {
    int n = n0;
    if (M < FEW_TOKENS) n = n1; /* row at a time (below): streams best for a few tokens */
    for (; n + 4 <= n1; n += 4) {
        const int8_t *w0 = W + (size_t)n * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
        int m = 0;
        for (; m + 2 <= M; m += 2) { /* 4 rows x 2 tokens (16 registers on AVX2) */
            const int16_t *x0 = xw + (size_t)m * K, *x1 = x0 + K;
            __m256i a[8];
            for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_si256();
            for (int k = 0; k + 16 <= K; k += 16) {
                __m256i b0 = wide16(w0 + k), b1 = wide16(w1 + k);
                __m256i b2 = wide16(w2 + k), b3 = wide16(w3 + k);
                __m256i v = _mm256_loadu_si256((const __m256i *)(x0 + k));
                a[0] = madd16(a[0], v, b0);
                a[1] = madd16(a[1], v, b1);
                a[2] = madd16(a[2], v, b2);
                a[3] = madd16(a[3], v, b3);
                v = _mm256_loadu_si256((const __m256i *)(x1 + k));
                a[4] = madd16(a[4], v, b0);
                a[5] = madd16(a[5], v, b1);
                a[6] = madd16(a[6], v, b2);
                a[7] = madd16(a[7], v, b3);
            }
            for (int i = 0; i < 2; i++)
                _mm_storeu_si128((__m128i *)(out + (size_t)(m + i) * ld + (n - n0)),
                                 sum4_256(a[i * 4], a[i * 4 + 1], a[i * 4 + 2], a[i * 4 + 3]));
        }
        for (; m < M; m++) {
            const int16_t *x = xw + (size_t)m * K;
            __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
            for (int k = 0; k + 16 <= K; k += 16) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(x + k));
                a0 = madd16(a0, v, wide16(w0 + k));
                a1 = madd16(a1, v, wide16(w1 + k));
                a2 = madd16(a2, v, wide16(w2 + k));
                a3 = madd16(a3, v, wide16(w3 + k));
            }
            int32_t *o = out + (size_t)m * ld + (n - n0);
            _mm_storeu_si128((__m128i *)o, sum4_256(a0, a1, a2, a3));
        }
    }
    if (M < FEW_TOKENS) n = n0;
    for (; n < n1; n++) {
        const int8_t *w = W + (size_t)n * K;
        for (int m = 0; m < M; m++) {
            const int16_t *x = xw + (size_t)m * K;
            __m256i a = _mm256_setzero_si256(), b = a;
            for (int k = 0; k + 32 <= K; k += 32) {
                a = madd16(a, _mm256_loadu_si256((const __m256i *)(x + k)), wide16(w + k));
                b = madd16(b, _mm256_loadu_si256((const __m256i *)(x + k + 16)),
                           wide16(w + k + 16));
            }
            out[(size_t)m * ld + (n - n0)] = hsum256(_mm256_add_epi32(a, b));
        }
    }
}

/* The u8 rows as int16: AVX2 multiplies in 16 bits. */
__attribute__((target("avx2,fma"))) static void widen(const uint8_t *q, int16_t *out,
                                                      size_t count) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i),
                            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(q + i))));
    for (; i < count; i++) out[i] = q[i];
}

/* y[M, N] = sum over passes p of ((xq_p . W^T) - zero_p[m] * wsum[n]) * xscale_p[m]
 *           * wscale[n] + bias[n]
 * K must be a multiple of 64 (the caller checks). isa: 2 = AVX-512 VNNI, 3 = AVX-VNNI,
 * 1 = AVX2.
 * passes: 1, or 2 to add the second row of quantize_passes.
 * Returns 0, or -1 when out of memory. */
int int8_linear(const int8_t *W, const float *wscale, const int32_t *wsum, const float *bias,
                const float *x, int M, int K, int N, float *y, int threads, int isa, int passes) {
    int rows = M * passes; /* quantized rows: pass p of token m is row m * passes + p */
    uint8_t *xq = (uint8_t *)malloc((size_t)rows * K);
    float *xscale = (float *)malloc(sizeof(float) * (size_t)rows);
    int32_t *zero = (int32_t *)malloc(sizeof(int32_t) * (size_t)rows);
    float *scratch = passes > 1 ? (float *)malloc(sizeof(float) * (size_t)M * K) : NULL;
    if (!xq || !xscale || !zero || (passes > 1 && !scratch)) {
        free(xq);
        free(xscale);
        free(zero);
        free(scratch);
        return -1;
    }
#pragma omp parallel for num_threads(threads) schedule(static) if (M > 1)
    for (int m = 0; m < M; m++)
        quantize_passes(x + (size_t)m * K, K, passes, xq + (size_t)m * passes * K,
                        xscale + m * passes, zero + m * passes,
                        scratch ? scratch + (size_t)m * K : NULL);
    if (isa == 3 && !HAVE_AVXVNNI) isa = 1;
    int16_t *xw = NULL;
    if (isa == 1) {
        xw = (int16_t *)malloc(sizeof(int16_t) * (size_t)rows * K);
        if (!xw) {
            free(xq);
            free(xscale);
            free(zero);
            free(scratch);
            return -1;
        }
        widen(xq, xw, (size_t)rows * K);
    }
    int blocks = (N + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int b = 0; b < blocks; b++) {
        int n0 = b * ROWS_PER_BLOCK;
        int n1 = n0 + ROWS_PER_BLOCK < N ? n0 + ROWS_PER_BLOCK : N;
        int32_t sums[ROWS_PER_BLOCK * TOKENS_PER_PASS];
        /* TOKENS_PER_PASS is even: a token's passes stay in one pass over the weights */
        for (int r0 = 0; r0 < rows; r0 += TOKENS_PER_PASS) {
            int rr = rows - r0 < TOKENS_PER_PASS ? rows - r0 : TOKENS_PER_PASS;
            const uint8_t *xb = xq + (size_t)r0 * K;
            if (isa == 2)
                dots_vnni(W, xb, rr, K, n0, n1, sums, n1 - n0);
#if HAVE_AVXVNNI
            else if (isa == 3)
                dots_avxvnni(W, xb, rr, K, n0, n1, sums, n1 - n0);
#endif
            else
                dots_avx2(W, xw + (size_t)r0 * K, rr, K, n0, n1, sums, n1 - n0);
            for (int r = 0; r < rr; r += passes) {
                float *row = y + (size_t)((r0 + r) / passes) * N;
                for (int n = n0; n < n1; n++) {
                    float v = 0.f;
                    for (int p = 0; p < passes; p++) {
                        const int32_t *s = sums + (size_t)(r + p) * (n1 - n0);
                        v += (float)(s[n - n0] - zero[r0 + r + p] * wsum[n]) * xscale[r0 + r + p];
                    }
                    v *= wscale[n];
                    row[n] = bias ? v + bias[n] : v;
                }
            }
        }
    }
    free(xq);
    free(xw);
    free(xscale);
    free(zero);
    free(scratch);
    return 0;
}

/* ---- Decoder layers of the Llama / Qwen2 family for a few tokens (llama_forward.py) ----
 *
 * What Layer.forward does for a decoded token (or a prompt-lookup draft of a few), in one call
 * instead of ~35 torch ops and four kernel calls per layer from Python (a quarter of a decode
 * step was spent between the products). Longer prefill chunks and anything not on this kernel
 * keep the Python path. */

typedef struct {
    const int8_t *weight;
    const float *scales;
    const int32_t *row_sums;
    const float *bias; /* or NULL */
    int out_features, in_features, passes;
} Linear;

typedef struct {
    Linear qkv, o, gate_up, down;
    const float *attn_norm, *mlp_norm; /* RMSNorm weight * sqrt(dim) (llama_forward.RMSNorm) */
    float attn_eps, mlp_eps;           /* sqrt(dim * eps) */
    int heads, kv_heads, head_dim, inner;
    float scaling;
} Layer;

static int run_linear(const Linear *l, const float *x, int M, float *y, int threads, int isa) {
    return int8_linear(l->weight, l->scales, l->row_sums, l->bias, x, M, l->in_features,
                       l->out_features, y, threads, isa, l->passes);
}

/* x * w / hypot(|x|, eps): llama_forward.RMSNorm for one row. */
static void rms_norm(const float *x, const float *w, float eps, int D, float *out) {
    double sum = 0.0;
    for (int i = 0; i < D; i++) sum += (double)x[i] * x[i];
    float inv = 1.f / (float)sqrt(sum + (double)eps * eps);
#pragma omp simd
    for (int i = 0; i < D; i++) out[i] = x[i] * (w[i] * inv);
}

/* x * cos + roll(x, half) * signed_sin, in place, for one head (llama_forward._rotate). */
static void rotate(float *x, const float *cos, const float *sin, int dim) {
    int half = dim / 2;
    float r[512];
    for (int i = 0; i < dim; i++) r[i] = x[(i + half) % dim];
    for (int i = 0; i < dim; i++) x[i] = x[i] * cos[i] + r[i] * sin[i];
}

/* x [n, D] is the residual stream of n tokens at positions pos..pos+n-1, updated in place.
 * keys / values: this layer's cache, [kv_heads, capacity, head_dim]; the tokens are written at
 * their positions, and token j attends to 0..pos+j (causal). cos / sin: the rotary table's
 * rows for those positions, [n, head_dim] (sin with rotate_half's sign folded in).
 * Returns 0, or -1 when out of memory. */
int decode_layer(const Layer *L, float *x, int n, const float *cos, const float *sin,
                 float *keys, float *values, int capacity, int pos, int threads, int isa) {
    int D = L->o.out_features, dim = L->head_dim, H = L->heads, KV = L->kv_heads;
    int width = L->qkv.out_features, G = L->gate_up.out_features, I = L->inner;
    int q_width = H * dim, kv_width = KV * dim, last = pos + n;
    if (dim > 512) return -1;
    size_t floats = (size_t)n * (D + width + q_width + D + G + I) + (size_t)H * n * last;
    float *buf = (float *)malloc(sizeof(float) * floats);
    if (!buf) return -1;
    float *h = buf, *qkv = h + (size_t)n * D, *attn = qkv + (size_t)n * width;
    float *tmp = attn + (size_t)n * q_width, *gu = tmp + (size_t)n * D;
    float *act = gu + (size_t)n * G, *scores = act + (size_t)n * I;
    int failed = 0;

    for (int j = 0; j < n; j++)
        rms_norm(x + (size_t)j * D, L->attn_norm, L->attn_eps, D, h + (size_t)j * D);
    failed |= run_linear(&L->qkv, h, n, qkv, threads, isa);
    for (int j = 0; j < n; j++) {
        float *q = qkv + (size_t)j * width, *k = q + q_width, *v = k + kv_width;
        const float *c = cos + (size_t)j * dim, *s = sin + (size_t)j * dim;
        for (int i = 0; i < H; i++) rotate(q + i * dim, c, s, dim);
        for (int i = 0; i < KV; i++) {
            rotate(k + i * dim, c, s, dim);
            size_t at = ((size_t)i * capacity + pos + j) * dim;
            memcpy(keys + at, k + i * dim, sizeof(float) * dim);
            memcpy(values + at, v + i * dim, sizeof(float) * dim);
        }
    }
    int groups = H / KV;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int hj = 0; hj < H * n; hj++) {
        int i = hj / n, j = hj % n, length = pos + j + 1;
        const float *qi = qkv + (size_t)j * width + i * dim;
        const float *kh = keys + (size_t)(i / groups) * capacity * dim;
        const float *vh = values + (size_t)(i / groups) * capacity * dim;
        float *s = scores + (size_t)hj * last, top = -INFINITY, total = 0.f;
        for (int t = 0; t < length; t++) {
            float dot = 0.f;
#pragma omp simd reduction(+ : dot)
            for (int d = 0; d < dim; d++) dot += qi[d] * kh[(size_t)t * dim + d];
            s[t] = dot * L->scaling;
            top = s[t] > top ? s[t] : top;
        }
        for (int t = 0; t < length; t++) {
            s[t] = expf(s[t] - top);
            total += s[t];
        }
        float *out = attn + (size_t)j * q_width + i * dim;
        for (int d = 0; d < dim; d++) out[d] = 0.f;
        for (int t = 0; t < length; t++) {
            float p = s[t] / total;
#pragma omp simd
            for (int d = 0; d < dim; d++) out[d] += p * vh[(size_t)t * dim + d];
        }
    }
    failed |= run_linear(&L->o, attn, n, tmp, threads, isa);
    if (failed) goto done;
    for (size_t i = 0; i < (size_t)n * D; i++) x[i] += tmp[i];

    for (int j = 0; j < n; j++)
        rms_norm(x + (size_t)j * D, L->mlp_norm, L->mlp_eps, D, h + (size_t)j * D);
    failed |= run_linear(&L->gate_up, h, n, gu, threads, isa);
    for (int j = 0; j < n; j++)
        for (int t = 0; t < I; t++) {
            float g = gu[(size_t)j * G + t];
            act[(size_t)j * I + t] = g / (1.f + expf(-g)) * gu[(size_t)j * G + I + t];
        }
    failed |= run_linear(&L->down, act, n, tmp, threads, isa);
    if (!failed)
        for (size_t i = 0; i < (size_t)n * D; i++) x[i] += tmp[i];
done:
    free(buf);
    return failed ? -1 : 0;
}

/* out[n] = sum_k W[n, k] (the zero point's term in int8_linear), at memory speed: torch's
 * sum to int32 widens its input first (0.66 s for Qwen2.5-0.5B's weights at every start). */
__attribute__((target("avx2,fma"))) void row_sums(const int8_t *W, int N, int K, int32_t *out,
                                                   int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int n = 0; n < N; n++) {
        const int8_t *w = W + (size_t)n * K;
        __m256i a = _mm256_setzero_si256();
        int k = 0;
        for (; k + 16 <= K; k += 16) a = _mm256_add_epi32(a, _mm256_madd_epi16(wide16(w + k),
                                                                              _mm256_set1_epi16(1)));
        int32_t s = hsum256(a);
        for (; k < K; k++) s += w[k];
        out[n] = s;
    }
}

/* decode_layer over a model's layers in turn, in one call: the caller's thread takes Python's
 * GIL once per forward pass instead of once per layer (in the window, where the UI thread
 * also runs Python, each retake can wait). keys / values: every layer's cache, layer i at
 * i * layer_stride floats. Returns 0, or -1 when out of memory. */
int decode_layers(const Layer *layers, int count, float *x, int n, const float *cos,
                  const float *sin, float *keys, float *values, size_t layer_stride,
                  int capacity, int pos, int threads, int isa) {
    for (int i = 0; i < count; i++)
        if (decode_layer(layers + i, x, n, cos, sin, keys + i * layer_stride,
                         values + i * layer_stride, capacity, pos, threads, isa))
            return -1;
    return 0;
}

/* ---- A large output layer in two 4-bit planes, for the shortlist head (head.py) ----
 *
 * Decoding reads the whole lm_head at every token (Qwen2.5-0.5B: 136 MB of its 0.49 GB of
 * int8 weights). head.py keeps it as two planes of nibbles instead: the high four bits of each
 * int8 weight (w >> 4, in [-8, 7], stored + 8) and the low four (w & 15, in [0, 15]), so that
 * w = 16 * high + low. Ranking the tokens reads only the high plane, as a 4-bit weight
 * 16 * high + 7.5 (the low bits' middle), then the likeliest few are computed exactly from
 * both planes: half the bytes per token, and no more memory than the int8 rows.
 * In each block of 64 weights, byte j holds weight j (low nibble) and weight 32 + j (high). */

/* W [N, K] int8 -> high and low planes [N, K / 2], high_sum [N] = sum of the rows' w >> 4. */
void nibble_split(const int8_t *W, int N, int K, uint8_t *high, uint8_t *low,
                  int32_t *high_sum, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int n = 0; n < N; n++) {
        const int8_t *w = W + (size_t)n * K;
        uint8_t *h = high + (size_t)n * (K / 2), *l = low + (size_t)n * (K / 2);
        int32_t sum = 0;
        for (int k0 = 0; k0 < K; k0 += 64)
            for (int j = 0; j < 32; j++) {
                int a = w[k0 + j], b = w[k0 + 32 + j];
                int ha = a >> 4, hb = b >> 4; /* arithmetic shift: floor(w / 16) */
                sum += ha + hb;
                h[k0 / 2 + j] = (uint8_t)((ha + 8) | ((hb + 8) << 4));
                l[k0 / 2 + j] = (uint8_t)((a & 15) | ((b & 15) << 4));
            }
        high_sum[n] = sum;
    }
}

/* 64 nibbles (32 bytes) as 64 signed bytes in weight order. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static inline __m512i
nibbles512(const uint8_t *p) {
    __m256i b = _mm256_loadu_si256((const __m256i *)p), mask = _mm256_set1_epi8(0x0F);
    __m256i lo = _mm256_and_si256(b, mask);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), mask);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    return _mm512_sub_epi8(v, _mm512_set1_epi8(8));
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
dots4_vnni(const uint8_t *W4, const uint8_t *xq, int M, int K, int n0, int n1, float *y,
           const float *xscale, const int32_t *zero, const float *scale4, const int32_t *sum4,
           const float *offset, const float *xsum, int N) {
    for (int n = n0; n < n1; n++) {
        const uint8_t *w = W4 + (size_t)n * (K / 2);
        for (int m = 0; m < M; m++) { /* a row is 448 bytes: read once, then from L1 */
            const uint8_t *x = xq + (size_t)m * K;
            __m512i a = _mm512_setzero_si512();
            for (int k = 0; k + 64 <= K; k += 64)
                a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(x + k), nibbles512(w + k / 2));
            int32_t dot = _mm512_reduce_add_epi32(a);
            y[(size_t)m * N + n] =
                (float)(dot - zero[m] * sum4[n]) * xscale[m] * scale4[n] + offset[n] * xsum[m];
        }
    }
}

/* AVX2: 16 bytes of nibbles widened to int16 give weights j..j+15 (low) and 32+j.. (high). */
__attribute__((target("avx2,fma"))) static void
dots4_avx2(const uint8_t *W4, const int16_t *xw, int M, int K, int n0, int n1, float *y,
           const float *xscale, const int32_t *zero, const float *scale4, const int32_t *sum4,
           const float *offset, const float *xsum, int N) {
    const __m256i mask = _mm256_set1_epi16(0x0F), eight = _mm256_set1_epi16(8);
    for (int n = n0; n < n1; n++) {
        const uint8_t *w = W4 + (size_t)n * (K / 2);
        for (int m = 0; m < M; m++) {
            const int16_t *x = xw + (size_t)m * K;
            __m256i a = _mm256_setzero_si256(), b = a;
            for (int k = 0; k + 64 <= K; k += 64) {
                for (int h = 0; h < 32; h += 16) {
                    __m256i v =
                        _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w + k / 2 + h)));
                    __m256i lo = _mm256_sub_epi16(_mm256_and_si256(v, mask), eight);
                    __m256i hi = _mm256_sub_epi16(_mm256_srli_epi16(v, 4), eight);
                    a = madd16(a, _mm256_loadu_si256((const __m256i *)(x + k + h)), lo);
                    b = madd16(b, _mm256_loadu_si256((const __m256i *)(x + k + 32 + h)), hi);
                }
            }
            int32_t dot = hsum256(_mm256_add_epi32(a, b));
            y[(size_t)m * N + n] =
                (float)(dot - zero[m] * sum4[n]) * xscale[m] * scale4[n] + offset[n] * xsum[m];
        }
    }
}

#if HAVE_AVXVNNI
/* AVX-VNNI: 32 bytes of nibbles are weights j (low) and 32 + j (high), j < 32. */
__attribute__((target("avx2,fma,avxvnni"))) static void
dots4_avxvnni(const uint8_t *W4, const uint8_t *xq, int M, int K, int n0, int n1, float *y,
              const float *xscale, const int32_t *zero, const float *scale4, const int32_t *sum4,
              const float *offset, const float *xsum, int N) {
    const __m256i mask = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
    for (int n = n0; n < n1; n++) {
        const uint8_t *w = W4 + (size_t)n * (K / 2);
        for (int m = 0; m < M; m++) {
            const uint8_t *x = xq + (size_t)m * K;
            __m256i a = _mm256_setzero_si256(), b = a;
            for (int k = 0; k + 64 <= K; k += 64) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(w + k / 2));
                __m256i lo = _mm256_sub_epi8(_mm256_and_si256(v, mask), eight);
                __m256i hi = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 4), mask), eight);
                a = _mm256_dpbusd_avx_epi32(a, _mm256_loadu_si256((const __m256i *)(x + k)), lo);
                b = _mm256_dpbusd_avx_epi32(b, _mm256_loadu_si256((const __m256i *)(x + k + 32)), hi);
            }
            int32_t dot = hsum256(_mm256_add_epi32(a, b));
            y[(size_t)m * N + n] =
                (float)(dot - zero[m] * sum4[n]) * xscale[m] * scale4[n] + offset[n] * xsum[m];
        }
    }
}
#endif

/* y[M, N] = x (scale4[n] * q4 + offset[n])^T, q4 the signed nibbles of W4 (a plane of
 * nibble_split), activations quantized per row as in int8_linear (their sum exact).
 * K must be a multiple of 64. Returns 0, or -1 when out of memory. */
int int4_scores(const uint8_t *W4, const float *scale4, const int32_t *sum4,
                const float *offset, const float *x, int M, int K, int N, float *y, int threads,
                int isa) {
    uint8_t *xq = (uint8_t *)malloc((size_t)M * K);
    float *xscale = (float *)malloc(sizeof(float) * (size_t)M * 2), *xsum = xscale + M;
    int32_t *zero = (int32_t *)malloc(sizeof(int32_t) * (size_t)M);
    if (isa == 3 && !HAVE_AVXVNNI) isa = 1;
    int16_t *xw = isa == 1 ? (int16_t *)malloc(sizeof(int16_t) * (size_t)M * K) : NULL;
    if (!xq || !xscale || !zero || (isa == 1 && !xw)) {
        free(xq);
        free(xscale);
        free(zero);
        free(xw);
        return -1;
    }
    for (int m = 0; m < M; m++) {
        const float *row = x + (size_t)m * K;
        double sum = 0.0;
        for (int k = 0; k < K; k++) sum += row[k];
        xsum[m] = (float)sum;
        quantize_row(row, K, xq + (size_t)m * K, xscale + m, zero + m);
    }
    if (xw) widen(xq, xw, (size_t)M * K);
    int blocks = (N + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int b = 0; b < blocks; b++) {
        int n0 = b * ROWS_PER_BLOCK;
        int n1 = n0 + ROWS_PER_BLOCK < N ? n0 + ROWS_PER_BLOCK : N;
        if (isa == 2)
            dots4_vnni(W4, xq, M, K, n0, n1, y, xscale, zero, scale4, sum4, offset, xsum, N);
#if HAVE_AVXVNNI
        else if (isa == 3)
            dots4_avxvnni(W4, xq, M, K, n0, n1, y, xscale, zero, scale4, sum4, offset, xsum, N);
#endif
        else
            dots4_avx2(W4, xw, M, K, n0, n1, y, xscale, zero, scale4, sum4, offset, xsum, N);
    }
    free(xq);
    free(xscale);
    free(zero);
    free(xw);
    return 0;
}

/* y[m, s] = the int8 head's logit of token ids[m, s] (int8_linear's arithmetic to the bit:
 * the same activation quantization, exact int32 sums, the same float steps), its int8 weight
 * read from the two planes of nibble_split. */
__attribute__((target("avx2,fma"))) int planes_linear(
    const uint8_t *high, const uint8_t *low, const float *wscale, const int32_t *wsum,
    const float *bias, const int64_t *ids, int S, const float *x, int M, int K, float *y) {
    uint8_t *xq = (uint8_t *)malloc((size_t)K);
    int16_t *xw = (int16_t *)malloc(sizeof(int16_t) * (size_t)K);
    if (!xq || !xw) {
        free(xq);
        free(xw);
        return -1;
    }
    const __m256i mask = _mm256_set1_epi16(0x0F), eight = _mm256_set1_epi16(8);
    for (int m = 0; m < M; m++) {
        float xscale;
        int32_t zero;
        quantize_row(x + (size_t)m * K, K, xq, &xscale, &zero);
        widen(xq, xw, (size_t)K);
        for (int s = 0; s < S; s++) {
            int64_t n = ids[(size_t)m * S + s];
            const uint8_t *h = high + (size_t)n * (K / 2), *l = low + (size_t)n * (K / 2);
            __m256i a = _mm256_setzero_si256();
            for (int k = 0; k + 64 <= K; k += 64)
                for (int j = 0; j < 32; j += 16) {
                    __m256i hv = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(h + k / 2 + j)));
                    __m256i lv = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(l + k / 2 + j)));
                    /* w = 16 * (nibble - 8) + low nibble, for weights k + j.. (low nibbles)
                     * and k + 32 + j.. (high nibbles) */
                    __m256i w0 = _mm256_add_epi16(
                        _mm256_slli_epi16(_mm256_sub_epi16(_mm256_and_si256(hv, mask), eight), 4),
                        _mm256_and_si256(lv, mask));
                    __m256i w1 = _mm256_add_epi16(
                        _mm256_slli_epi16(_mm256_sub_epi16(_mm256_srli_epi16(hv, 4), eight), 4),
                        _mm256_srli_epi16(lv, 4));
                    a = madd16(a, _mm256_loadu_si256((const __m256i *)(xw + k + j)), w0);
                    a = madd16(a, _mm256_loadu_si256((const __m256i *)(xw + k + 32 + j)), w1);
                }
            float v = 0.f;
            v += (float)(hsum256(a) - zero * wsum[n]) * xscale;
            v *= wscale[n];
            y[(size_t)m * S + s] = bias ? v + bias[n] : v;
        }
    }
    free(xq);
    free(xw);
    return 0;
}
