/* FULLY_CONNECTED, int16 activations, int8 weights: the fast twin of tq_fully_connected_s16 (see tq_int16_fast.h). */
#include "tq_int16_fast.h"

/* Leading zero bits of a non-zero x. */
static int32_t tq_fc16_clz64(uint64_t x)
{
#if defined(__GNUC__)
    return (int32_t)__builtin_clzll(x);
#else
    int32_t n = 0;
    while ((x & ((uint64_t)1 << 63)) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/*
 * TFLite's static_cast<int32_t>(std::round((double)acc * scale)) in integers: scale = m * 2^e
 * (2^52 <= m < 2^53), |acc| < 2^63. The product |acc| * m is formed exactly in 128 bits, rounded to
 * 53 bits to nearest-even as the double multiply does, then to an integer half away from zero as
 * std::round does. A result outside int32 is INT32_MIN, what the reference interpreter's conversion
 * gives on its x86 host (the clamp then gives act_min).
 */
static int32_t tq_fc16_round_int(int64_t acc, uint64_t m, int32_t e)
{
    const uint64_t a = acc < 0 ? (uint64_t)0 - (uint64_t)acc : (uint64_t)acc;
    const uint64_t a0 = (uint32_t)a, a1 = a >> 32, m0 = (uint32_t)m, m1 = m >> 32;
    const uint64_t p00 = a0 * m0, p01 = a0 * m1, p10 = a1 * m0, p11 = a1 * m1;
    const uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    const uint64_t lo = (mid << 32) | (uint32_t)p00;
    const uint64_t hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    uint64_t man = lo, q;
    int32_t s = 0, t;
    if (a == 0u) {
        return 0;
    }
    {
        const int32_t bits = hi != 0u ? 128 - tq_fc16_clz64(hi) : 64 - tq_fc16_clz64(lo);
        if (bits > 53) { /* at most 116 bits: 1 <= s <= 63 */
            const uint64_t half = (uint64_t)1 << (bits - 54);
            const uint64_t rem = lo & ((half << 1) - 1u);
            s = bits - 53;
            man = (lo >> s) | (hi << (64 - s));
            if (rem > half || (rem == half && (man & 1u))) {
                if (++man == ((uint64_t)1 << 53)) {
                    man >>= 1;
                    ++s;
                }
            }
        }
    }
    t = s + e; /* |value| = man * 2^t */
    if (t >= 0) {
        q = (t > 31 || man > (((uint64_t)1 << 31) >> t)) ? ((uint64_t)1 << 31) : man << t;
    } else if (t <= -54) {
        q = 0;
    } else {
        q = (man + ((uint64_t)1 << (-t - 1))) >> -t;
    }
    if (q >= ((uint64_t)1 << 31)) {
        return INT32_MIN;
    }
    return acc < 0 ? -(int32_t)q : (int32_t)q;
}

/*
 * tq_fc16_round_int in a few instructions where the answer is clear. N = |acc| * (m >> 21) (one
 * UMULL, |acc| < 2^31) is below the exact |acc| * m / 2^21 by less than |acc|, and the double
 * rounding moves that by at most 2^9. With k = g - 32 for the G = -21 - e fraction bits (33..63):
 * the integer part is the high word >> k, and the fraction's top 32 bits F (the low bits dropped)
 * are within M = ((|acc| + 512) >> k) + 2 of the exact fraction; F at least M away from the half
 * decides the rounding, anything closer goes to the exact tq_fc16_round_int.
 */
static inline int32_t tq_fc16_round(int64_t acc, uint64_t m, int32_t e)
{
    const int32_t k = -53 - e;
    const int32_t acc32 = (int32_t)acc;
    if (acc32 == acc && acc32 != INT32_MIN && (uint32_t)(k - 1) <= 30u) {
        const uint32_t a = (uint32_t)(acc32 < 0 ? -acc32 : acc32);
        const uint64_t n = (uint64_t)a * (uint32_t)(m >> 21);
        const uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n;
        const uint32_t f = (hi << (32 - k)) | (lo >> k), margin = ((a + 512u) >> k) + 2u;
        uint32_t q = hi >> k;
        if (f >= 0x80000000u + margin || f + margin < 0x80000000u) {
            q += f >> 31;
            if (q >= 0x80000000u) {
                return INT32_MIN;
            }
            return acc32 < 0 ? -(int32_t)q : (int32_t)q;
        }
    }
    return tq_fc16_round_int(acc, m, e);
}

#if defined(TQ_S16_MVE)
/*
 * Helium: tq_fc16_round of four sums s[0..3] (rows with scales m[0..3] * 2^e[0..3]) at once, lane by
 * lane tq_fc16_round's fast path: 1 with the results in *v where every lane's sum fits int32 (not
 * INT32_MIN), 1 <= k <= 31, the truncated fraction decides the rounding and the result fits; else 0
 * (the caller rounds each sum by tq_fc16_round).
 */
static int tq_fc16_round4(const int64_t *s, const uint64_t *m, const int32_t *e, int32x4_t *v)
{
    static const uint32_t words[4] = {0u, 2u, 4u, 6u};
    const uint32x4_t off = vld1q_u32(words), half = vdupq_n_u32(0x80000000u);
    int32_t a32[4], j;
    for (j = 0; j < 4; ++j) {
        a32[j] = (int32_t)s[j];
        if (a32[j] != s[j] || a32[j] == INT32_MIN) {
            return 0;
        }
    }
    {
        const int32x4_t acc = vld1q_s32(a32);
        const int32x4_t k = vsubq_s32(vdupq_n_s32(-53), vld1q_s32(e)), nk = vnegq_s32(k);
        const uint32x4_t mlo = vldrwq_gather_shifted_offset_u32((const uint32_t *)m, off);
        const uint32x4_t mhi = vldrwq_gather_shifted_offset_u32((const uint32_t *)m + 1, off);
        const uint32x4_t m21 = vorrq_u32(vshlq_n_u32(mhi, 11), vshrq_n_u32(mlo, 21));
        const uint32x4_t a = vreinterpretq_u32_s32(vabsq_s32(acc));
        const uint32x4_t lo = vmulq_u32(a, m21), hi = vmulhq_u32(a, m21);
        const uint32x4_t f = vorrq_u32(vshlq_u32(hi, vsubq_s32(vdupq_n_s32(32), k)), vshlq_u32(lo, nk));
        const uint32x4_t margin = vaddq_u32(vshlq_u32(vaddq_u32(a, vdupq_n_u32(512u)), nk), vdupq_n_u32(2u));
        uint32x4_t q;
        if (vcmphiq_u32(vreinterpretq_u32_s32(vsubq_s32(k, vdupq_n_s32(1))), vdupq_n_u32(30u)) != 0) {
            return 0;
        }
        if ((vcmpcsq_u32(f, vaddq_u32(half, margin)) | vcmphiq_u32(half, vaddq_u32(f, margin))) != 0xFFFFu) {
            return 0;
        }
        q = vaddq_u32(vshlq_u32(hi, nk), vshrq_n_u32(f, 31));
        if (vcmpcsq_u32(q, half) != 0) {
            return 0;
        }
        *v = vnegq_m_s32(vreinterpretq_s32_u32(q), vreinterpretq_s32_u32(q), vcmpltq_n_s32(acc, 0));
    }
    return 1;
}

/* Rows four at a time (two row pairs) for as many whole quads as there are, their sums rounded by
   tq_fc16_round4 where it decides; returns the rows done. */
static int32_t tq_fc16_quads_mve(const tq_fully_connected_s16_fast_params *p, const int16_t *x, int64_t offset_sum,
                                 int16_t *output)
{
    const int32_t depth = p->accum_depth, units = p->out_depth, chunk = p->chunk;
    const int32_t kpad = (depth + 7) & -8;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int8_t *w = p->weights;
    int32_t c, r, start;
    for (c = 0; c + 4 <= units; c += 4) {
        int64_t s[4];
        int32x4_t v;
        for (r = 0; r < 4; r += 2, w += 2 * kpad) {
            s[r] = p->bias[c + r] + offset_sum;
            s[r + 1] = p->bias[c + r + 1] + offset_sum;
            for (start = 0; start < depth; start += chunk) {
                int32_t acc[2] = {0, 0};
                tq_s16_dot2x1(w + 2 * start, x + start, TQ_MIN(chunk, depth - start), 8, acc);
                s[r] += acc[0];
                s[r + 1] += acc[1];
            }
        }
        if (!tq_fc16_round4(s, p->scale_m + c, p->scale_e + c, &v)) {
            int32_t t[4];
            for (r = 0; r < 4; ++r) {
                t[r] = tq_fc16_round(s[r], p->scale_m[c + r], p->scale_e[c + r]);
            }
            v = vld1q_s32(t);
        }
        vstrhq_s32(output + c, vminq_s32(vmaxq_s32(v, lo), hi));
    }
    return c;
}
#endif

#if defined(TQ_S16_DSP)
/* acc[0..3] += rows 0..3 . a over n values (any n), a at any even address: w the first row pair's
   weights, v the second's, from a group's start (tq_s16_dot2x1's layout, g 4). Per 4 of k two LDR of
   the input shared by the four rows, two LDRD of weights, 8 SXTB16, 8 SMLAD: 22 instructions per 16
   MACs (13 per 8 in row pairs). */
static void tq_fc16_dot4(const int8_t *w, const int8_t *v, const int16_t *a, int32_t n, int32_t *acc)
{
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3], i, j;
    if (n >= 4) {
        const int16_t *end = a + (n & ~3);
        int32_t x0, x1, p0, p1, t;
        __asm__ volatile("1:\n\t"
                         "ldr    %[x0], [%[a]], #4\n\t"
                         "ldr    %[x1], [%[a]], #4\n\t"
                         "ldrd   %[p0], %[p1], [%[w]], #8\n\t"
                         "sxtb16 %[t], %[p0]\n\t"
                         "smlad  %[s0], %[t], %[x0], %[s0]\n\t"
                         "sxtb16 %[p0], %[p0], ror #8\n\t"
                         "smlad  %[s0], %[p0], %[x1], %[s0]\n\t"
                         "sxtb16 %[t], %[p1]\n\t"
                         "smlad  %[s1], %[t], %[x0], %[s1]\n\t"
                         "sxtb16 %[p1], %[p1], ror #8\n\t"
                         "smlad  %[s1], %[p1], %[x1], %[s1]\n\t"
                         "ldrd   %[p0], %[p1], [%[v]], #8\n\t"
                         "sxtb16 %[t], %[p0]\n\t"
                         "smlad  %[s2], %[t], %[x0], %[s2]\n\t"
                         "sxtb16 %[p0], %[p0], ror #8\n\t"
                         "smlad  %[s2], %[p0], %[x1], %[s2]\n\t"
                         "sxtb16 %[t], %[p1]\n\t"
                         "smlad  %[s3], %[t], %[x0], %[s3]\n\t"
                         "sxtb16 %[p1], %[p1], ror #8\n\t"
                         "smlad  %[s3], %[p1], %[x1], %[s3]\n\t"
                         "cmp    %[a], %[end]\n\t"
                         "bne    1b\n\t"
                         : [s0] "+&r"(s0), [s1] "+&r"(s1), [s2] "+&r"(s2), [s3] "+&r"(s3), [a] "+&r"(a), [w] "+&r"(w),
                           [v] "+&r"(v), [x0] "=&r"(x0), [x1] "=&r"(x1), [p0] "=&r"(p0), [p1] "=&r"(p1), [t] "=&r"(t)
                         : [end] "r"(end)
                         : "cc", "memory");
        n &= 3;
    }
    for (i = 0; i < n; ++i) {
        j = TQ_S16_PERM(i, 4);
        s0 = (int32_t)((uint32_t)s0 + (uint32_t)((int32_t)w[j] * a[i]));
        s1 = (int32_t)((uint32_t)s1 + (uint32_t)((int32_t)w[4 + j] * a[i]));
        s2 = (int32_t)((uint32_t)s2 + (uint32_t)((int32_t)v[j] * a[i]));
        s3 = (int32_t)((uint32_t)s3 + (uint32_t)((int32_t)v[4 + j] * a[i]));
    }
    acc[0] = s0;
    acc[1] = s1;
    acc[2] = s2;
    acc[3] = s3;
}
#endif

tq_status tq_fully_connected_s16_fast(const tq_fully_connected_s16_fast_params *p, const int16_t *input, int16_t *output)
{
    const int32_t depth = p->accum_depth, units = p->out_depth, chunk = p->chunk, g = p->group;
    const int32_t kpad = (depth + g - 1) & -g;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t b, c, start, i;

    for (b = 0; b < p->batches; ++b, output += units) {
        const int16_t *x = input + (size_t)b * (size_t)depth;
        const int8_t *w = p->weights;
        int64_t offset_sum = 0; /* w_offset * sum x: per-tensor weights' zero point */
        if (p->w_offset != 0) {
            for (i = 0; i < depth; ++i) {
                offset_sum += x[i];
            }
            offset_sum *= p->w_offset;
        }
#if defined(TQ_S16_MVE)
        c = tq_fc16_quads_mve(p, x, offset_sum, output);
        w += (size_t)c * (size_t)kpad;
#else
        c = 0;
#endif
#if defined(TQ_S16_DSP)
        for (; c + 4 <= units; c += 4, w += 4 * kpad) { /* two row pairs at a time */
            int64_t s[4];
            int32_t r;
            for (r = 0; r < 4; ++r) {
                s[r] = p->bias[c + r] + offset_sum;
            }
            for (start = 0; start < depth; start += chunk) {
                int32_t acc[4] = {0, 0, 0, 0};
                tq_fc16_dot4(w + 2 * start, w + 2 * kpad + 2 * start, x + start, TQ_MIN(chunk, depth - start), acc);
                for (r = 0; r < 4; ++r) {
                    s[r] += acc[r];
                }
            }
            for (r = 0; r < 4; ++r) {
                const int32_t v = tq_fc16_round(s[r], p->scale_m[c + r], p->scale_e[c + r]);
                output[c + r] = (int16_t)TQ_CLAMP(v, lo, hi);
            }
        }
#endif
        for (; c < units; c += 2, w += 2 * kpad) {
            int64_t s0 = p->bias[c] + offset_sum, s1 = offset_sum;
            for (start = 0; start < depth; start += chunk) {
                int32_t acc[2] = {0, 0};
                tq_s16_dot2x1(w + 2 * start, x + start, TQ_MIN(chunk, depth - start), g, acc);
                s0 += acc[0];
                s1 += acc[1];
            }
            {
                const int32_t v0 = tq_fc16_round(s0, p->scale_m[c], p->scale_e[c]);
                output[c] = (int16_t)TQ_CLAMP(v0, lo, hi);
            }
            if (c + 1 < units) {
                const int32_t v1 = tq_fc16_round(s1 + p->bias[c + 1], p->scale_m[c + 1], p->scale_e[c + 1]);
                output[c + 1] = (int16_t)TQ_CLAMP(v1, lo, hi);
            }
        }
    }
    return TQ_OK;
}
