/*
 * UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations and weights, int16 cell state and gates: TFLite's
 * EvalInteger8x8_16 (see tq_recurrent.h). Here the gates' sigmoid and tanh, gemmlowp's fixed-point
 * logistic and tanh on 16-bit values written out, and the products as TFLite's reference loops; the rest
 * of the step is tq_lstm_s8_core.h, shared with the fast twin tq_lstm_fast_s8.
 */
#include "tq_lstm_s8_core.h"

/* ------------------------------------------------------------------ gemmlowp's 16-bit fixed point */

static int16_t fx_wrap(int32_t v)
{
    return (int16_t)(uint16_t)(uint32_t)v; /* int16 arithmetic wraps, as gemmlowp's raw adds do */
}

/* SaturatingRoundingDoublingHighMul on int16. */
static int16_t fx_mul(int16_t a, int16_t b)
{
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    const int32_t ab = (int32_t)a * (int32_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

/* RoundingDivideByPOT on int16 (exponent >= 1). */
static int16_t fx_rdbp(int16_t x, int32_t exponent)
{
    return (int16_t)tq_rounding_divide_by_pot(x, exponent);
}

/* SaturatingRoundingMultiplyByPOT<exponent> on int16, exponent >= 1: a saturating left shift. */
static int16_t fx_shl(int16_t x, int32_t exponent)
{
    const int32_t threshold = ((int32_t)1 << (15 - exponent)) - 1;
    if (x > threshold) {
        return INT16_MAX;
    }
    if (x < -threshold) {
        return INT16_MIN;
    }
    return (int16_t)((int32_t)x * ((int32_t)1 << exponent));
}

/* An int32 gemmlowp constant as int16 (RescaleConstantInitializer: RoundingDivideByPOT by 16). */
static int16_t fx_const(int32_t v)
{
    return (int16_t)tq_rounding_divide_by_pot(v, 16);
}

/* exp(a) for a in [-1/4, 0), Q0.15 in and out. */
static int16_t fx_exp_quarter(int16_t a)
{
    const int16_t constant_term = fx_const(1895147668); /* exp(-1/8) */
    const int16_t one_third = fx_const(715827883);
    const int16_t x = fx_wrap((int32_t)a + (1 << 12)); /* a + 1/8 */
    const int16_t x2 = fx_mul(x, x);
    const int16_t x3 = fx_mul(x2, x);
    const int16_t x4 = fx_mul(x2, x2);
    const int16_t x4_over_4 = fx_rdbp(x4, 2);
    const int16_t poly = fx_rdbp(fx_wrap((int32_t)fx_mul(fx_wrap((int32_t)x4_over_4 + x3), one_third) + x2), 1);
    return fx_sat((int32_t)constant_term + fx_mul(constant_term, fx_wrap((int32_t)x + poly)));
}

/* exp(a) for a <= 0 with `bits` integer bits (gemmlowp exp_on_negative_values), Q0.15 out. */
static int16_t fx_exp_neg(int16_t a, int32_t bits)
{
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t frac = 15 - bits;
    const int32_t quarter = (int32_t)1 << (frac - 2);
    const int16_t a_mod = fx_wrap((int32_t)(a & (quarter - 1)) - quarter);
    int16_t result = fx_exp_quarter(bits > 0 ? fx_shl(a_mod, bits) : a_mod);
    const int16_t remainder = fx_wrap((int32_t)a_mod - a);
    for (int32_t e = -2; e <= 4; ++e) {
        if (bits > e && (remainder & ((int32_t)1 << (frac + e))) != 0) {
            result = fx_mul(result, fx_const(multipliers[e + 2]));
        }
    }
    if (bits > 5) {
        const int16_t clamp = fx_const(-((int32_t)1 << (36 - bits)));
        if (a < clamp) {
            result = 0;
        }
    }
    return a == 0 ? INT16_MAX : result;
}

/* Newton-Raphson for 2 / (1 + a), a in [0, 1] Q0.15, result Q2.13 (gemmlowp's shared core). */
static int16_t fx_two_over_one_plus(int16_t a)
{
    const int32_t sum = (int32_t)a + INT16_MAX;
    const int16_t half_denominator = (int16_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* RoundingHalfSum */
    int16_t x = fx_wrap((int32_t)fx_const(1515870810) + fx_mul(half_denominator, fx_const(-1010580540)));
    for (int i = 0; i < 3; ++i) {
        const int16_t one_minus = fx_wrap((1 << 13) - (int32_t)fx_mul(half_denominator, x));
        x = fx_wrap((int32_t)x + fx_shl(fx_mul(x, one_minus), 2));
    }
    return x;
}

/* gemmlowp logistic on Q3.12, result Q0.15. */
static int16_t fx_logistic(int16_t a)
{
    if (a == 0) {
        return fx_const((int32_t)1 << 30);
    }
    const int16_t abs_a = a > 0 ? a : fx_wrap(-(int32_t)a);
    const int16_t positive = fx_shl(fx_two_over_one_plus(fx_exp_neg(fx_wrap(-(int32_t)abs_a), 3)), 1);
    return a > 0 ? positive : fx_wrap((int32_t)INT16_MAX - positive);
}

/* gemmlowp tanh on a value with `bits` integer bits, result Q0.15. */
static int16_t fx_tanh(int16_t a, int32_t bits)
{
    if (a == 0) {
        return 0;
    }
    const int16_t n = a < 0 ? a : fx_wrap(-(int32_t)a);
    const int16_t t = fx_shl(fx_wrap((int32_t)fx_two_over_one_plus(fx_exp_neg(n, bits + 1)) - (1 << 13)), 2);
    return a < 0 ? fx_wrap(-(int32_t)t) : t;
}

static void sigmoid_row(int32_t n, int16_t *v)
{
    for (int32_t j = 0; j < n; ++j) {
        v[j] = fx_logistic(v[j]);
    }
}

static void tanh_row(int32_t n, const int16_t *in, int16_t *out, int32_t bits)
{
    for (int32_t j = 0; j < n; ++j) {
        out[j] = fx_tanh(in[j], bits);
    }
}

/* ------------------------------------------------------------------ the products */

/* One gate for one batch row: products, peephole, layer norm; the activation is left to the caller. */
static void gate_row(const tq_lstm_gate_s8 *g, int32_t cells, int32_t n_in, int32_t n_out, const int8_t *x,
                     const int8_t *h, const int16_t *cell, int16_t *out)
{
    for (int32_t c = 0; c < cells; ++c) {
        const int8_t *wi = g->w_in + (size_t)c * (size_t)n_in;
        const int8_t *wr = g->w_rec + (size_t)c * (size_t)n_out;
        int32_t acc_in = g->bias_in[c];
        for (int32_t k = 0; k < n_in; ++k) {
            acc_in += (int32_t)x[k] * (int32_t)wi[k];
        }
        int32_t acc_rec = g->bias_rec[c];
        for (int32_t k = 0; k < n_out; ++k) {
            acc_rec += (int32_t)h[k] * (int32_t)wr[k];
        }
        out[c] = gate_value(g, c, cells, acc_in, acc_rec, cell);
    }
    if (g->ln_weights != NULL) {
        layer_norm(g, cells, out);
    }
}

static void project(const tq_lstm_s8_params *p, const int8_t *hidden, int8_t *h)
{
    for (int32_t o = 0; o < p->output; ++o) {
        const int8_t *w = p->proj + (size_t)o * (size_t)p->cell;
        int32_t acc = p->proj_bias[o];
        for (int32_t c = 0; c < p->cell; ++c) {
            acc += (int32_t)hidden[c] * (int32_t)w[c];
        }
        h[o] = proj_value(p, acc);
    }
}

tq_status tq_lstm_s8(const tq_lstm_s8_params *p, const int8_t *in, int8_t *out, int8_t *output_state,
                     int16_t *cell_state, int16_t *scratch)
{
    static const tq_lstm_hooks hooks = {gate_row, project, sigmoid_row, tanh_row};
    return lstm_run(p, in, out, output_state, cell_state, scratch, &hooks);
}
