/*
 * The int8 LSTM's step, shared by tq_lstm_s8 and its fast twin tq_lstm_fast_s8, which supply the matrix
 * products and gemmlowp's 16-bit fixed-point logistic and tanh (tq_lstm_hooks): the interpreter's vector
 * rounding, TFLite's integer layer norm, each gate's requantization and peephole, the cell update and the
 * hidden state (see tq_recurrent.h: TFLite's EvalInteger8x8_16).
 * Static functions: include once per kernel file.
 */
#ifndef TQ_LSTM_S8_CORE_H
#define TQ_LSTM_S8_CORE_H

#include "tq_recurrent.h"

/* int16 saturation */

static int16_t fx_sat(int32_t v)
{
    return (int16_t)TQ_CLAMP(v, INT16_MIN, INT16_MAX);
}

/* ------------------------------------------------------------------ the interpreter's vector code */

/*
 * The peephole product (VectorBatchVectorCwiseProductAccumulate) as TFLite's interpreter runs it: each
 * row's blocks of 16 values through its vector code (NEON; on x86 through NEON_2_SSE), whose
 * MultiplyByQuantizedMultiplier4Rows shifts and multiplies as the scalar MultiplyByQuantizedMultiplier
 * does (SaturatingRoundingDoublingHighMul, VQRDMULH) but rounds the final right shift half up (VRSHL)
 * where the scalar code rounds half away from zero; the values past the last full block through the
 * scalar code. (tests/test_ops_lstm.py tells the block size and both roundings apart with peephole
 * products that land on ties.)
 */
#define TQ_LSTM_BLOCK 16

static int32_t mul_by_quantized_mult_block(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t high = tq_sat_rounding_doubling_high_mul((int32_t)((uint32_t)x << left), mult);
    return right > 0 ? (int32_t)(((int64_t)high + ((int64_t)1 << (right - 1))) >> right) : high;
}

/* ------------------------------------------------------------------ layer norm */

static int32_t wrapping_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* GetInvSqrtQuantizedMultiplierExp(v, -1): 1 / sqrt(v) = mult * 2^(shift - 31), shift <= 0. */
static void inv_sqrt_mult(int32_t v, int32_t *mult, int32_t *shift)
{
    if (v <= 1) {
        *mult = INT32_MAX;
        *shift = 0;
        return;
    }
    int32_t s = 11;
    while (v >= ((int32_t)1 << 29)) {
        v /= 4;
        ++s;
    }
    const int32_t pairs = (tq_clz32((uint32_t)v) - 1) / 2 - 1;
    s -= pairs;
    v <<= 2 * pairs;
    const int32_t half_v = tq_rounding_divide_by_pot(v >> 1, 1);
    const int32_t three_halves = ((int32_t)1 << 28) + ((int32_t)1 << 27);
    int32_t x = (int32_t)1 << 28;
    for (int i = 0; i < 5; ++i) {
        const int32_t x2 = tq_sat_rounding_doubling_high_mul(x, x);
        const int32_t x3 = tq_sat_left_shift(tq_sat_rounding_doubling_high_mul(x2, x), 6);
        const int32_t step = wrapping_sub(tq_sat_rounding_doubling_high_mul(three_halves, x),
                                          tq_sat_rounding_doubling_high_mul(half_v, x3));
        x = tq_sat_left_shift(step, 3);
    }
    x = tq_sat_rounding_doubling_high_mul(x, 1518500250);
    if (s < 0) {
        x = (int32_t)((uint32_t)x << -s);
        s = 0;
    }
    *mult = x;
    *shift = -s;
}

/* TFLite's integer ApplyLayerNorm (its portable code, which the interpreter runs) over the n values of
   one gate row, in place. */
static void layer_norm(const tq_lstm_gate_s8 *g, int32_t n, int16_t *v)
{
    int64_t sum = 0, sum_sq = 0;
    for (int32_t j = 0; j < n; ++j) {
        sum += v[j];
        sum_sq += (int64_t)((int32_t)v[j] * (int32_t)v[j]);
    }
    const int32_t mean = (int32_t)(sum * 1024 / n);
    const int32_t temp = (1 << 20) / n;
    const int64_t variance = sum_sq * temp - (int64_t)mean * (int64_t)mean;
    int32_t variance2 = (int32_t)(variance / (1 << 20));
    if (variance2 < 1) {
        variance2 = g->ln_guard;
    }
    int32_t inv_mult, inv_shift;
    inv_sqrt_mult(variance2, &inv_mult, &inv_shift);
    for (int32_t j = 0; j < n; ++j) {
        const int32_t shifted = (int32_t)((uint32_t)(1024 * (int32_t)v[j]) - (uint32_t)mean);
        const int32_t rescaled = tq_mul_by_quantized_mult(shifted, inv_mult, inv_shift);
        /* TFLite forms this sum in int32 (wrapping) before widening it */
        const int64_t val3 = (int32_t)((uint32_t)rescaled * (uint32_t)(int32_t)g->ln_weights[j] + (uint32_t)g->ln_bias[j]);
        const int32_t val4 = (int32_t)((val3 > 0 ? val3 + 512 : val3 - 512) / 1024);
        v[j] = fx_sat(tq_mul_by_quantized_mult(val4, g->ln_mult, g->ln_shift + 12));
    }
}


/* ------------------------------------------------------------------ the step */

/* A gate's value for cell c from its two products' sums (biases included): each requantized and
   accumulated with int16 saturation, then the peephole product; layer norm and activation follow. */
static int16_t gate_value(const tq_lstm_gate_s8 *g, int32_t c, int32_t cells, int32_t acc_in, int32_t acc_rec,
                          const int16_t *cell)
{
    int32_t v = fx_sat(tq_mul_by_quantized_mult(acc_in, g->mult_in, g->shift_in));
    v = fx_sat(tq_mul_by_quantized_mult(acc_rec, g->mult_rec, g->shift_rec) + v);
    if (g->peephole != NULL) {
        const int32_t prod = (int32_t)g->peephole[c] * (int32_t)cell[c];
        v = fx_sat((c < cells / TQ_LSTM_BLOCK * TQ_LSTM_BLOCK ? mul_by_quantized_mult_block(prod, g->mult_peep, g->shift_peep)
                                                            : tq_mul_by_quantized_mult(prod, g->mult_peep, g->shift_peep)) + v);
    }
    return (int16_t)v;
}

/* One gate for one batch row into out[cells]: products (gate_value per cell), then layer norm. */
typedef void (*tq_lstm_gate_fn)(const tq_lstm_gate_s8 *g, int32_t cells, int32_t n_in, int32_t n_out, const int8_t *x,
                                const int8_t *h, const int16_t *cell, int16_t *out);
/* The projection: h[o] = clamp8(MultiplyByQuantizedMultiplier(proj_bias[o] + proj[o] . hidden, ...)), clipped. */
typedef void (*tq_lstm_proj_fn)(const tq_lstm_s8_params *p, const int8_t *hidden, int8_t *h);

/* Requantize, clamp and clip one projected output. */
static int8_t proj_value(const tq_lstm_s8_params *p, int32_t acc)
{
    int32_t v = tq_mul_by_quantized_mult(acc, p->proj_mult, p->proj_shift) + p->output_zp;
    v = TQ_CLAMP(v, -128, 127);
    if (p->proj_clip > 0) {
        v = TQ_CLAMP(v, -p->proj_clip, p->proj_clip);
    }
    return (int8_t)v;
}

/* What a kernel supplies to the step: the products (gate_row, project) and the activations over a row
   (sigmoid in place on Q3.12; tanh of in[] with `bits` integer bits into out[], which may be in). */
typedef struct {
    tq_lstm_gate_fn gate_row;
    tq_lstm_proj_fn project;
    void (*sigmoid_row)(int32_t n, int16_t *v);
    void (*tanh_row)(int32_t n, const int16_t *in, int16_t *out, int32_t bits);
} tq_lstm_hooks;

static tq_status lstm_run(const tq_lstm_s8_params *p, const int8_t *in, int8_t *out, int8_t *output_state,
                          int16_t *cell_state, int16_t *scratch, const tq_lstm_hooks *k)
{
    const int32_t nc = p->cell, no = p->output, ni = p->input;
    int16_t *ig = scratch, *fg = scratch + nc, *cg = scratch + 2 * nc, *og = scratch + 3 * nc;
    int16_t *tanh_cell = scratch + 4 * nc;
    int8_t *hidden = (int8_t *)(scratch + 5 * nc);
    for (int32_t b = 0; b < p->batch; ++b) {
        int8_t *h = output_state + (size_t)b * (size_t)no;
        int16_t *cell = cell_state + (size_t)b * (size_t)nc;
        for (int32_t t = 0; t < p->time; ++t) {
            const size_t row = p->time_major ? (size_t)t * (size_t)p->batch + (size_t)b : (size_t)b * (size_t)p->time + (size_t)t;
            const int8_t *x = in + row * (size_t)ni;
            if (!p->cifg) {
                k->gate_row(&p->gate[0], nc, ni, no, x, h, cell, ig);
                k->sigmoid_row(nc, ig);
            }
            k->gate_row(&p->gate[1], nc, ni, no, x, h, cell, fg);
            k->sigmoid_row(nc, fg);
            k->gate_row(&p->gate[2], nc, ni, no, x, h, cell, cg);
            k->tanh_row(nc, cg, cg, 3);
            /* UpdateLstmCellInteger */
            for (int32_t c = 0; c < nc; ++c) {
                const int16_t kept = (int16_t)tq_rounding_divide_by_pot((int32_t)fg[c] * (int32_t)cell[c], 15);
                const int32_t in_gate = p->cifg ? (int32_t)INT16_MAX - fg[c] : (int32_t)ig[c];
                const int16_t added = (int16_t)tq_rounding_divide_by_pot((int32_t)(int16_t)in_gate * (int32_t)cg[c], p->cell_shift);
                int32_t v = fx_sat((int32_t)kept + added);
                if (p->cell_clip > 0) {
                    v = TQ_CLAMP(v, -p->cell_clip, p->cell_clip);
                }
                cell[c] = (int16_t)v;
            }
            k->gate_row(&p->gate[3], nc, ni, no, x, h, cell, og);
            k->sigmoid_row(nc, og);
            /* CalculateLstmOutputInteger8x8_16 */
            k->tanh_row(nc, cell, tanh_cell, p->tanh_bits);
            for (int32_t c = 0; c < nc; ++c) {
                int32_t v = tq_mul_by_quantized_mult((int32_t)og[c] * (int32_t)tanh_cell[c], p->hidden_mult, p->hidden_shift);
                v += p->hidden_offset;
                hidden[c] = (int8_t)TQ_CLAMP(v, -128, 127);
            }
            if (p->proj != NULL) {
                k->project(p, hidden, h);
            } else {
                for (int32_t c = 0; c < nc; ++c) {
                    h[c] = hidden[c];
                }
            }
            int8_t *y = out + row * (size_t)no;
            for (int32_t o = 0; o < no; ++o) {
                y[o] = h[o];
            }
        }
    }
    return TQ_OK;
}

#endif /* TQ_LSTM_S8_CORE_H */
