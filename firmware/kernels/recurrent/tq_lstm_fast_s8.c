/*
 * UNIDIRECTIONAL_SEQUENCE_LSTM int8, the fast twin of tq_lstm_s8 (see tq_recurrent.h): the gate and
 * projection products as dot products over two weight rows per read of the vector (tq_dot_fast.h), the
 * fixed-point sigmoid and tanh without branches where they had them; the rest of the step is
 * tq_lstm_s8_core.h, shared with the reference kernel.
 */
#include "tq_dot_fast.h"
#include "tq_lstm_s8_core.h"

/* ------------------------------------------------------------------ gemmlowp's 16-bit fixed point, faster */

/*
 * tq_lstm_s8.c's fx_logistic and fx_tanh with the same value for every int16 input and every `bits` the
 * kernel uses (tests/test_ops_lstm.py compares all 65536 inputs), on int16 values held in int32:
 * - SaturatingRoundingDoublingHighMul: (a b + nudge) / 2^15 truncated, nudge 2^14 or 1 - 2^14 by the
 *   sign of a b, is floor((a b + 2^14) / 2^15): one add and an arithmetic shift; only INT16_MIN^2
 *   exceeds INT16_MAX and saturates;
 * - the saturating left shift is the product clamped to int16;
 * - gemmlowp's int32 constants rescaled to int16 (RoundingDivideByPOT by 16) written as their values.
 */
static inline int32_t fq_wrap(int32_t v)
{
    return (int16_t)(uint16_t)(uint32_t)v;
}

static inline int32_t fq_mul(int32_t a, int32_t b)
{
    const int32_t r = (a * b + (1 << 14)) >> 15;
    return r > INT16_MAX ? INT16_MAX : r;
}

static inline int32_t fq_shl(int32_t x, int32_t exponent)
{
    const int32_t v = x * ((int32_t)1 << exponent);
    return TQ_CLAMP(v, INT16_MIN, INT16_MAX);
}

/* exp(a) for a in [-1/4, 0), Q0.15 in and out: constant term exp(-1/8) 28918, one third 10923. */
static inline int32_t fq_exp_quarter(int32_t a)
{
    const int32_t x = fq_wrap(a + (1 << 12));
    const int32_t x2 = fq_mul(x, x);
    const int32_t x3 = fq_mul(x2, x);
    const int32_t x4 = fq_mul(x2, x2);
    const int32_t x4_over_4 = tq_rounding_divide_by_pot(x4, 2);
    const int32_t poly = tq_rounding_divide_by_pot(fq_wrap(fq_mul(fq_wrap(x4_over_4 + x3), 10923) + x2), 1);
    const int32_t v = 28918 + fq_mul(28918, fq_wrap(x + poly));
    return TQ_CLAMP(v, INT16_MIN, INT16_MAX);
}

/* exp(a) for a <= 0 with `bits` integer bits, Q0.15 out (gemmlowp exp_on_negative_values). */
static inline int32_t fq_exp_neg(int32_t a, int32_t bits)
{
    static const int16_t multipliers[7] = {25520, 19875, 12055, 4435, 600, 11, 0}; /* exp(-2^e), e = -2..4 */
    const int32_t frac = 15 - bits;
    const int32_t quarter = (int32_t)1 << (frac - 2);
    const int32_t a_mod = fq_wrap((a & (quarter - 1)) - quarter);
    int32_t result = fq_exp_quarter(bits > 0 ? fq_shl(a_mod, bits) : a_mod);
    const int32_t remainder = fq_wrap(a_mod - a);
    for (int32_t e = -2; e <= 4 && e < bits; ++e) {
        if ((remainder & ((int32_t)1 << (frac + e))) != 0) {
            result = fq_mul(result, multipliers[e + 2]);
        }
    }
    if (bits > 5 && a < -((int32_t)1 << (20 - bits))) {
        result = 0;
    }
    return a == 0 ? INT16_MAX : result;
}

/* 2 / (1 + a), a in [0, 1] Q0.15, result Q2.13: 48/17 is 23130, -32/17 is -15420. */
static inline int32_t fq_two_over_one_plus(int32_t a)
{
    const int32_t sum = a + INT16_MAX;
    const int32_t half_denominator = (int16_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = fq_wrap(23130 + fq_mul(half_denominator, -15420));
    for (int i = 0; i < 3; ++i) {
        const int32_t one_minus = fq_wrap((1 << 13) - fq_mul(half_denominator, x));
        x = fq_wrap(x + fq_shl(fq_mul(x, one_minus), 2));
    }
    return x;
}

static void sigmoid_row_fast(int32_t n, int16_t *v)
{
    for (int32_t j = 0; j < n; ++j) {
        const int32_t a = v[j];
        if (a == 0) {
            v[j] = 16384;
            continue;
        }
        const int32_t abs_a = a > 0 ? a : fq_wrap(-a);
        const int32_t positive = fq_shl(fq_two_over_one_plus(fq_exp_neg(fq_wrap(-abs_a), 3)), 1);
        v[j] = (int16_t)(a > 0 ? positive : fq_wrap(INT16_MAX - positive));
    }
}

static void tanh_row_fast(int32_t n, const int16_t *in, int16_t *out, int32_t bits)
{
    for (int32_t j = 0; j < n; ++j) {
        const int32_t a = in[j];
        if (a == 0) {
            out[j] = 0;
            continue;
        }
        const int32_t neg = a < 0 ? a : fq_wrap(-a);
        const int32_t t = fq_shl(fq_wrap(fq_two_over_one_plus(fq_exp_neg(neg, bits + 1)) - (1 << 13)), 2);
        out[j] = (int16_t)(a < 0 ? fq_wrap(-t) : t);
    }
}

/* ------------------------------------------------------------------ the products */

/* One gate for one batch row, two cells at a time: products, peephole, layer norm. */
static void gate_row_fast(const tq_lstm_gate_s8 *g, int32_t cells, int32_t n_in, int32_t n_out, const int8_t *x,
                          const int8_t *h, const int16_t *cell, int16_t *out)
{
    int32_t c = 0;
    for (; c + 2 <= cells; c += 2) {
        const int8_t *wi = g->w_in + (size_t)c * (size_t)n_in;
        const int8_t *wr = g->w_rec + (size_t)c * (size_t)n_out;
        int32_t in0 = g->bias_in[c], in1 = g->bias_in[c + 1], rec0 = g->bias_rec[c], rec1 = g->bias_rec[c + 1];
        tq_dot2_s8(x, wi, wi + n_in, n_in, &in0, &in1);
        tq_dot2_s8(h, wr, wr + n_out, n_out, &rec0, &rec1);
        out[c] = gate_value(g, c, cells, in0, rec0, cell);
        out[c + 1] = gate_value(g, c + 1, cells, in1, rec1, cell);
    }
    if (c < cells) {
        const int32_t acc_in = tq_dot_s8(x, g->w_in + (size_t)c * (size_t)n_in, n_in, g->bias_in[c]);
        const int32_t acc_rec = tq_dot_s8(h, g->w_rec + (size_t)c * (size_t)n_out, n_out, g->bias_rec[c]);
        out[c] = gate_value(g, c, cells, acc_in, acc_rec, cell);
    }
    if (g->ln_weights != NULL) {
        layer_norm(g, cells, out);
    }
}

static void project_fast(const tq_lstm_s8_params *p, const int8_t *hidden, int8_t *h)
{
    const int32_t nc = p->cell;
    int32_t o = 0;
    for (; o + 2 <= p->output; o += 2) {
        const int8_t *w = p->proj + (size_t)o * (size_t)nc;
        int32_t a0 = p->proj_bias[o], a1 = p->proj_bias[o + 1];
        tq_dot2_s8(hidden, w, w + nc, nc, &a0, &a1);
        h[o] = proj_value(p, a0);
        h[o + 1] = proj_value(p, a1);
    }
    if (o < p->output) {
        h[o] = proj_value(p, tq_dot_s8(hidden, p->proj + (size_t)o * (size_t)nc, nc, p->proj_bias[o]));
    }
}

tq_status tq_lstm_fast_s8(const tq_lstm_s8_params *p, const int8_t *in, int8_t *out, int8_t *output_state,
                          int16_t *cell_state, int16_t *scratch)
{
    static const tq_lstm_hooks hooks = {gate_row_fast, project_fast, sigmoid_row_fast, tanh_row_fast};
    return lstm_run(p, in, out, output_state, cell_state, scratch, &hooks);
}
