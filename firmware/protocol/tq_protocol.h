/*
 * The serial protocol of a tinyq firmware: the MLPerf Tiny / EEMBC DUT commands, so the MLPerf Tiny
 * runner drives it unchanged, plus tinyq's own `tq-` commands for what that runner lacks (the raw
 * output tensor, cycles per inference and per layer).
 *
 * Commands end with '%', words are separated by spaces, CR and LF are ignored; every reply ends with
 * "m-ready". Errors are one "e-[...]" line, after which the firmware keeps serving.
 *
 *   name                 m-name-dut-[tinyq]
 *   profile              m-profile-[ULPMark for tinyML Firmware V0.0.1], m-model-[ID]
 *   timestamp            m-lap-us-T
 *   db load N            m-[Expecting N bytes]             (N <= the model's input bytes)
 *   db HEX               m-load-done once N bytes arrived
 *   db print             m-buffer-xx-xx-... (8 bytes a line)
 *   infer N W            m-warmup-start-W, m-warmup-done, m-infer-start-N, m-lap-us-T0,
 *                        m-lap-us-T1, m-infer-done, m-results-[v,...] (first output, 3 decimals)
 *   results              m-results-[v,...] of the last inference
 *   tq-info              m-tq-info-[model=..,board=..,input=..,output=..,layers=..,arena=..,unit=..,clock=..]
 *   tq-infer             one inference: m-tq-cycles-C, m-tq-layers-[c,...], m-tq-out-[hex]
 *   tq-out               m-tq-out-[hex] of the last inference (all outputs, raw bytes)
 */
#ifndef TQ_PROTOCOL_H
#define TQ_PROTOCOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the generated glue (tq_fw_model.c) tells the protocol about the model and board. */
typedef struct {
    const char *model;        /* the generated library's NAME */
    const char *sha;          /* the first 16 hex digits of the model's sha256: the host checks the board runs it */
    const char *board;        /* board file name */
    const char *mlperf_model; /* answer to `profile` (kws01, ic01, vww01, ad01 or unspecified) */
    const char *cycles_unit;  /* "cycles" or "instructions" */
    uint32_t clock_hz;        /* for m-lap-us */
    uint8_t *input;           /* all inputs, concatenated: the `db` buffer */
    uint32_t input_bytes;
    const uint8_t *output; /* all outputs, concatenated */
    uint32_t output_bytes;
    uint32_t layers; /* layers timed per inference */
    uint32_t arena_bytes;
    uint32_t results;     /* elements of the first output, printed by m-results */
    int results_float;    /* 1: the first output is float32; 0: int8 dequantized with scale/zp */
    float results_scale;
    int32_t results_zero_point;
} tq_fw_model;

extern const tq_fw_model tq_fw_model_info;

/* Generated: run the model once on tq_fw_model_info.input; 0 on success. */
int tq_fw_invoke(void);

/* The boot banner (m-timestamp-mode-performance, m-lap-us, m-init-done, m-ready). */
void tq_protocol_start(void);

/* One received byte: a command runs, and its reply ends with m-ready, when its '%' arrives. */
void tq_protocol_feed(int c);

/* The banner, then serve commands from tq_getc forever (firmware/main.c). */
void tq_protocol_run(void);

#ifdef __cplusplus
}
#endif

#endif /* TQ_PROTOCOL_H */
