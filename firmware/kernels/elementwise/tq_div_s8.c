/*
 * DIV, int8, with broadcasting (see tq_elementwise.h): reference_ops::DivElementwise /
 * BroadcastDivSlowQuantized per element, with TFLite's GetReciprocal and CountLeadingSignBits.
 */
#include "tq_activation.h"
#include "tq_elementwise.h"

/* CountLeadingSignBits: the redundant sign bits of x (31 for 0). */
static int32_t count_leading_sign_bits(int32_t x)
{
    return tq_clz32(x >= 0 ? (uint32_t)x : ~(uint32_t)x) - 1;
}

/*
 * RoundingDivideByPOT(x, e) as TFLite's x86-64 build computes it for any e >= 0: for e <= 31 the
 * rounding right shift; beyond, gemmlowp's expressions (mask = (1 << e) - 1 in 64 bits, narrowed to
 * int32; remainder = x & mask; threshold = (mask >> 1) + [x < 0]; (x >> e) + [remainder > threshold])
 * with the shift counts the processor applies: e mod 64 for the 64-bit shift, e mod 32 for the
 * 32-bit one. For 32 <= e < 64 a zero x gives 1, not 0.
 */
static int32_t rounding_divide_by_pot_x86(int32_t x, int32_t e)
{
    if (e <= 31) {
        return tq_rounding_divide_by_pot(x, e);
    }
    const int32_t mask = (int32_t)(uint32_t)((((uint64_t)1) << (e & 63)) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> (e & 31)) + (remainder > threshold ? 1 : 0);
}

tq_status tq_div_s8(const tq_div_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    const tq_bcast_s8 s = p->shape;
    /* CheckNonZero: a divisor at its zero point stops the model, as TFLite's Eval does (the walk
     * reads every element of in2). */
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        if (in2[it.i2] + p->in2_offset == 0) {
            return TQ_ARG_ERROR;
        }
    }
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        int32_t v1 = in1[it.i1] + p->in1_offset;
        int32_t v2 = in2[it.i2] + p->in2_offset;
        if (v2 < 0) {
            v1 = -v1;
            v2 = -v2;
        }
        /* GetReciprocal(v2, 31): 2^recip_shift / v2 in Q0.31. */
        const int32_t headroom_plus_one = tq_clz32((uint32_t)v2);
        const int32_t recip_shift = 31 - headroom_plus_one;
        const int32_t shifted = (int32_t)(((uint32_t)v2 << headroom_plus_one) - 0x80000000u);
        const int32_t inv = tq_fp_one_over_one_plus_x(shifted);
        /* MultiplyByQuantizedMultiplierGreaterThanOne(v1, inv, headroom). */
        const int32_t headroom = count_leading_sign_bits(v1);
        const int32_t quotient = tq_sat_rounding_doubling_high_mul((int32_t)((uint32_t)v1 << headroom), inv);
        /* MultiplyByQuantizedMultiplierSmallerThanOneExp(quotient, out_mult, total_shift). */
        const int32_t e = recip_shift + headroom - p->out_shift;
        const int32_t r = rounding_divide_by_pot_x86(tq_sat_rounding_doubling_high_mul(quotient, p->out_mult), e) + p->out_offset;
        out[it.k] = (int8_t)TQ_CLAMP(r, p->act_min, p->act_max);
    }
    return TQ_OK;
}
