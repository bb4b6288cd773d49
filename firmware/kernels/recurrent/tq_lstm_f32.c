/* UNIDIRECTIONAL_SEQUENCE_LSTM, float32: TFLite's EvalFloat (see tq_recurrent.h). */
#include <math.h>

#include "tq_recurrent.h"

static float activate(int32_t activation, float x)
{
    switch (activation) {
    case TQ_ACT_RELU:
        return x < 0.0f ? 0.0f : x;
    case TQ_ACT_RELU_N1_TO_1:
        return x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x);
    case TQ_ACT_RELU6:
        return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
    case TQ_ACT_TANH:
        return tanhf(x);
    case TQ_ACT_SIGMOID:
        return 1.0f / (1.0f + expf(-x));
    default:
        return x;
    }
}

static float dot(const float *a, const float *b, int32_t n)
{
    float acc = 0.0f;
    for (int32_t i = 0; i < n; ++i) {
        acc += a[i] * b[i];
    }
    return acc;
}

/* One gate for one batch row, before its activation. */
static void gate_row(const tq_lstm_gate_f32 *g, int32_t cells, int32_t n_in, int32_t n_out, const float *x,
                     const float *h, const float *cell, float *out)
{
    const int ln = g->ln_weights != NULL;
    for (int32_t c = 0; c < cells; ++c) {
        float v = ln ? 0.0f : g->bias[c];
        v = dot(g->w_in + (size_t)c * (size_t)n_in, x, n_in) + v;
        v = dot(g->w_rec + (size_t)c * (size_t)n_out, h, n_out) + v;
        if (g->peephole != NULL) {
            v += g->peephole[c] * cell[c];
        }
        out[c] = v;
    }
    if (ln) {
        /* MeanStddevNormalization, then the coefficients and the bias */
        float sum = 0.0f;
        for (int32_t c = 0; c < cells; ++c) {
            sum += out[c];
        }
        const float mean = sum / (float)cells;
        float sum_sq = 0.0f;
        for (int32_t c = 0; c < cells; ++c) {
            const float d = out[c] - mean;
            sum_sq += d * d;
        }
        const float inv = 1.0f / sqrtf(sum_sq / (float)cells + 1e-8f);
        for (int32_t c = 0; c < cells; ++c) {
            out[c] = (out[c] - mean) * inv * g->ln_weights[c] + g->bias[c];
        }
    }
}

tq_status tq_lstm_f32(const tq_lstm_f32_params *p, const float *in, float *out, float *output_state,
                      float *cell_state, float *scratch)
{
    const int32_t nc = p->cell, no = p->output, ni = p->input;
    float *ig = scratch, *fg = scratch + nc, *cg = scratch + 2 * nc, *og = scratch + 3 * nc;
    float *hidden = scratch + 4 * nc;
    for (int32_t b = 0; b < p->batch; ++b) {
        float *h = output_state + (size_t)b * (size_t)no;
        float *cell = cell_state + (size_t)b * (size_t)nc;
        for (int32_t t = 0; t < p->time; ++t) {
            const size_t row = p->time_major ? (size_t)t * (size_t)p->batch + (size_t)b : (size_t)b * (size_t)p->time + (size_t)t;
            const float *x = in + row * (size_t)ni;
            if (!p->cifg) {
                gate_row(&p->gate[0], nc, ni, no, x, h, cell, ig);
            }
            gate_row(&p->gate[1], nc, ni, no, x, h, cell, fg);
            gate_row(&p->gate[2], nc, ni, no, x, h, cell, cg);
            for (int32_t c = 0; c < nc; ++c) {
                const float f = activate(TQ_ACT_SIGMOID, fg[c]);
                const float i = p->cifg ? 1.0f - f : activate(TQ_ACT_SIGMOID, ig[c]);
                float v = f * cell[c];
                v += activate(p->activation, cg[c]) * i;
                if (p->cell_clip > 0.0f) {
                    v = v < -p->cell_clip ? -p->cell_clip : (v > p->cell_clip ? p->cell_clip : v);
                }
                cell[c] = v;
            }
            gate_row(&p->gate[3], nc, ni, no, x, h, cell, og);
            for (int32_t c = 0; c < nc; ++c) {
                hidden[c] = activate(TQ_ACT_SIGMOID, og[c]) * activate(p->activation, cell[c]);
            }
            if (p->proj != NULL) {
                for (int32_t o = 0; o < no; ++o) {
                    float v = dot(p->proj + (size_t)o * (size_t)nc, hidden, nc) + (p->proj_bias != NULL ? p->proj_bias[o] : 0.0f);
                    if (p->proj_clip > 0.0f) {
                        v = v < -p->proj_clip ? -p->proj_clip : (v > p->proj_clip ? p->proj_clip : v);
                    }
                    h[o] = v;
                }
            } else {
                for (int32_t c = 0; c < nc; ++c) {
                    h[c] = hidden[c];
                }
            }
            float *y = out + row * (size_t)no;
            for (int32_t o = 0; o < no; ++o) {
                y[o] = h[o];
            }
        }
    }
    return TQ_OK;
}
