/*
 * tinyq recurrent kernels: SVDF (int8 with int16 state, float32) and UNIDIRECTIONAL_SEQUENCE_LSTM.
 *
 * Reference kernels: portable C99, matching TFLite's reference interpreter (svdf.cc with
 * reference_ops::EvalIntegerSVDF / EvalFloatSVDF; unidirectional_sequence_lstm.cc with lstm_eval.cc):
 * bit for bit on int8 and for float32 SVDF, within tinyq's float tolerance for the float32 LSTM (the
 * interpreter's GEMM library and C library functions). Both ops keep state in
 * TFLite variable tensors that they read and write in place and that persist from one inference to
 * the next: the kernels take the state as a writable pointer after the output.
 *
 * Every parameter (requantization multipliers, clamps, shapes) is computed and validated at
 * generation time (tinyq/ops/recurrent.py); the kernels run blindly.
 */
#ifndef TQ_RECURRENT_H
#define TQ_RECURRENT_H

#include "tq_common.h"

/* ------------------------------------------------------------------ SVDF */

/**
 * SVDF shapes: input [batch][input_size], weights_feature [filters][input_size], weights_time
 * [filters][memory], bias [units] (or NULL), state [batch][filters][memory] (the newest activation of
 * a filter last), output [batch][units]; filters = units * rank.
 *
 * Each inference shifts the whole state left by one element (TFLite moves the flat buffer: the
 * oldest activation of filter f + 1 lands in the newest slot of filter f, which is then written),
 * writes the new activation of every filter into its newest slot, and reduces each filter's
 * memory against its time weights; output unit u sums filters u * rank .. u * rank + rank - 1.
 */
typedef struct {
    int32_t batch;
    int32_t input_size;
    int32_t units;
    int32_t rank;
    int32_t memory;
} tq_svdf_dims;

/**
 * int8 SVDF (EvalIntegerSVDF): activation = clamp_int16(MultiplyByQuantizedMultiplier(sum of
 * weights_feature * (input - input_zp), mult1, shift1)); unit = bias + sum over the unit's filters of
 * the int32 dot product (wrapping, as TFLite's int32 sums do) of time weights and state; output =
 * clamp(MultiplyByQuantizedMultiplier(unit, mult2, shift2) + output_zp, act_min, act_max).
 * Zero points of the weights and of the state are not read, as in TFLite.
 */
typedef struct {
    tq_svdf_dims d;
    int32_t input_offset; /**< -input zero point */
    int32_t mult1;        /**< input scale * feature scale / state scale */
    int32_t shift1;
    int32_t mult2;        /**< state scale * time scale / output scale */
    int32_t shift2;
    int32_t output_offset; /**< output zero point */
    int32_t act_min;
    int32_t act_max;
} tq_svdf_s8_params;

tq_status tq_svdf_s8(const tq_svdf_s8_params *p, const int8_t *in, const int8_t *weights_feature,
                     const int16_t *weights_time, const int32_t *bias, int8_t *out, int16_t *state);

/**
 * The fast twin of tq_svdf_s8, the same results: the feature product as dot products of raw input bytes
 * (two filters per read of the input), the input offset added from feature_bias[f] = input_offset *
 * (sum of filter f's feature weights), computed at generation time; the time products as int16 dot
 * products (SMLAD / VMLADAVA, wrapping as the reference's sums do). tq_dot_fast.h has the ISA paths.
 */
typedef struct {
    tq_svdf_s8_params base;
    const int32_t *feature_bias; /**< [filters] */
} tq_svdf_fast_s8_params;

tq_status tq_svdf_fast_s8(const tq_svdf_fast_s8_params *p, const int8_t *in, const int8_t *weights_feature,
                          const int16_t *weights_time, const int32_t *bias, int8_t *out, int16_t *state);

/**
 * float32 SVDF (EvalFloatSVDF): activation = sum of weights_feature * input in the order of TFLite's
 * matrix-vector product (four interleaved partial sums over the columns up to the last multiple of
 * four, added lane 0 to 3, then the remaining columns one by one: the vectorized tensor utils the
 * interpreter runs); each filter's time dot product likewise; a unit is the sum of its rank dot
 * products from 0.0f, plus the bias, then clamped to [act_min, act_max] (the fused activation).
 */
typedef struct {
    tq_svdf_dims d;
    float act_min;
    float act_max;
} tq_svdf_f32_params;

tq_status tq_svdf_f32(const tq_svdf_f32_params *p, const float *in, const float *weights_feature,
                      const float *weights_time, const float *bias, float *out, float *state);

/* ------------------------------------------------------------------ UNIDIRECTIONAL_SEQUENCE_LSTM */

/**
 * One gate of the integer LSTM (CalculateLstmGateInteger8x8_16), for one batch row:
 *     g  = sat16(MultiplyByQuantizedMultiplier(bias_in[c] + sum of w_in[c][k] * x[k], mult_in, shift_in))
 *     g  = sat16(MultiplyByQuantizedMultiplier(bias_rec[c] + sum of w_rec[c][k] * h[k], mult_rec, shift_rec) + g)
 *     g  = sat16(MultiplyByQuantizedMultiplier(peephole[c] * cell[c], mult_peep, shift_peep) + g)  (peephole;
 *          in each row's blocks of 16 cells the final shift rounds half up, as the interpreter's vector
 *          code does)
 *     layer norm (ln_weights): TFLite's integer ApplyLayerNorm over the cells, ln_bias added after it
 * then the gate's activation (sigmoid; the cell gate tanh) in gemmlowp's 16-bit fixed point, input
 * with 3 integer bits, output with none (Q0.15). bias_in and bias_rec are TFLite's precomputed
 * effective biases: the gate bias (none with layer norm) minus input_zp times each weight row's sum,
 * and minus output_state_zp times each recurrent row's sum.
 */
typedef struct {
    const int8_t *w_in;        /**< [cell][input] */
    const int8_t *w_rec;       /**< [cell][output] */
    const int32_t *bias_in;    /**< [cell] effective bias of the input product */
    const int32_t *bias_rec;   /**< [cell] effective bias of the recurrent product */
    int32_t mult_in, shift_in;
    int32_t mult_rec, shift_rec;
    const int16_t *peephole;   /**< [cell] cell-to-gate weights, or NULL */
    int32_t mult_peep, shift_peep;
    const int16_t *ln_weights; /**< [cell] layer norm coefficients, or NULL (no layer norm) */
    const int32_t *ln_bias;    /**< [cell] the gate bias, added after the normalization */
    int32_t ln_mult, ln_shift; /**< the coefficients' scale (applied with shift ln_shift + 12) */
    int32_t ln_guard;          /**< variance used when the computed one is below 1 */
} tq_lstm_gate_s8;

/**
 * int8 UNIDIRECTIONAL_SEQUENCE_LSTM with int16 cell state (TFLite's EvalInteger8x8_16): input
 * [batch][time][input] ([time][batch][input] when time_major), output likewise with `output`
 * values, output_state [batch][output] int8, cell_state [batch][cell] int16 (scale 2^cell_scale).
 * Each step, for each batch row: the four gates (gate[0], the input gate, absent with CIFG, where
 * the input gate is 1 - forget gate), then
 *     cell = sat16(rdbp(forget * cell, 15) + rdbp(input * cell_gate, 30 + cell_scale)), clipped to
 *            [-cell_clip, cell_clip] when cell_clip > 0
 *     hidden = clamp8(MultiplyByQuantizedMultiplier(output_gate * tanh(cell), hidden_mult,
 *              hidden_shift) + hidden_offset), tanh reading the cell with 15 + cell_scale integer bits
 *              (hidden_offset: the hidden zero point, negated before a projection, as the interpreter
 *              applies it)
 *     output_state = hidden, or with a projection clamp8(MultiplyByQuantizedMultiplier(proj_bias[o] +
 *              sum of proj[o][c] * hidden[c], proj_mult, proj_shift) + output_zp), clipped to
 *              [-proj_clip, proj_clip] when proj_clip > 0
 * and the step's output row is a copy of output_state. The output gate's peephole reads the updated
 * cell. scratch: 5 * cell int16 values and cell int8 values after them.
 */
typedef struct {
    int32_t batch, time, input, cell, output;
    int32_t time_major;
    int32_t cifg;
    tq_lstm_gate_s8 gate[4]; /**< input, forget, cell, output */
    int32_t cell_shift;      /**< 30 + cell_scale */
    int32_t tanh_bits;       /**< 15 + cell_scale, integer bits of the cell state, 0..6 */
    int32_t cell_clip;       /**< 0: none */
    int32_t hidden_mult, hidden_shift, hidden_offset;
    const int8_t *proj;        /**< [output][cell], or NULL */
    const int32_t *proj_bias;  /**< [output] effective projection bias */
    int32_t proj_mult, proj_shift;
    int32_t output_zp;       /**< output_state zero point (the projection's output offset) */
    int32_t proj_clip;       /**< 0: none */
} tq_lstm_s8_params;

tq_status tq_lstm_s8(const tq_lstm_s8_params *p, const int8_t *in, int8_t *out, int8_t *output_state,
                     int16_t *cell_state, int16_t *scratch);

/**
 * The fast twin of tq_lstm_s8 (same params, same scratch, the same results): the gate and projection
 * products as int8 dot products, two weight rows per read of the input or hidden vector (tq_dot_fast.h),
 * and gemmlowp's sigmoid and tanh without branches (equal to the reference's on every int16 input); the
 * rest (requantization, peephole, layer norm, the cell update) is the reference's code, shared through
 * tq_lstm_s8_core.h.
 */
tq_status tq_lstm_fast_s8(const tq_lstm_s8_params *p, const int8_t *in, int8_t *out, int8_t *output_state,
                          int16_t *cell_state, int16_t *scratch);

/** One gate of the float LSTM (CalculateLstmGateFloat). */
typedef struct {
    const float *w_in;       /**< [cell][input] */
    const float *w_rec;      /**< [cell][output] */
    const float *bias;       /**< [cell] */
    const float *peephole;   /**< [cell] cell-to-gate weights, or NULL */
    const float *ln_weights; /**< [cell] layer norm coefficients, or NULL */
} tq_lstm_gate_f32;

/** Activations of the float LSTM (TfLiteFusedActivation codes): the cell's is RELU, RELU_N1_TO_1, RELU6
    or TANH; the gates' is SIGMOID. */
enum { TQ_ACT_NONE = 0, TQ_ACT_RELU = 1, TQ_ACT_RELU_N1_TO_1 = 2, TQ_ACT_RELU6 = 3, TQ_ACT_TANH = 4, TQ_ACT_SIGMOID = 6 };

/**
 * float32 UNIDIRECTIONAL_SEQUENCE_LSTM (EvalFloat), shapes as tq_lstm_s8_params, float states.
 * A gate is bias + W_in x + W_rec h (+ peephole .* cell), or with layer norm the sum without the
 * bias normalized (mean 0, variance 1: divided by sqrt(variance + 1e-8)), times the coefficients,
 * plus the bias; then sigmoid
 * (the cell gate: `activation`). cell = clip(forget * cell + input * cell_gate) (input = 1 - forget
 * with CIFG); output_state = output_gate * activation(cell), or its projection plus bias, clipped.
 * scratch: 5 * cell floats.
 */
typedef struct {
    int32_t batch, time, input, cell, output;
    int32_t time_major;
    int32_t cifg;
    int32_t activation; /**< TQ_ACT_* */
    tq_lstm_gate_f32 gate[4];
    float cell_clip;    /**< 0: none */
    const float *proj;      /**< [output][cell], or NULL */
    const float *proj_bias; /**< [output], or NULL */
    float proj_clip;    /**< 0: none */
} tq_lstm_f32_params;

tq_status tq_lstm_f32(const tq_lstm_f32_params *p, const float *in, float *out, float *output_state,
                      float *cell_state, float *scratch);

#endif /* TQ_RECURRENT_H */
