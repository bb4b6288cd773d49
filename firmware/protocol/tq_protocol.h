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
 *                        m-lap-us-T1, m-infer-done, m-results-[v,...] (the first output: float32 and
 *                        quantized values as reals with 3 decimals, plain integers and bools as integers)
 *
 * The `db` bytes go straight into the model's input tensors inside its arena, and outputs are read
 * from its output tensors there: the firmware keeps no I/O buffers of its own. A build whose memory
 * plan reuses the input's bytes (input_kept 0: the default unless `--keep-input` or `--mlperf-model`)
 * consumes its input: every inference needs a new `db load` first, and `infer N W` takes N + W = 1.
 *   results              m-results-[v,...] of the last inference
 *   tq-info              m-tq-info-[model=..,board=..,input=..,output=..,layers=..,arena=..,unit=..,clock=..]
 *   tq-reset             m-tq-reset-done: the model's state (kept from one inference to the next: an
 *                        RNN's, a stream's past frames) back to its start; a model without state
 *                        answers the same
 *   tq-infer             one inference: m-tq-cycles-C, m-tq-layers-[c,...], m-tq-out-[hex]...
 *   tq-out               m-tq-out-[hex]... of the last inference (all outputs, raw bytes, in lines of
 *                        at most TQ_OUT_CHUNK bytes: the host joins them)
 *
 * Every reply to a tq- command (errors included) ends, before its m-ready, with m-tq-crc-C: C in decimal
 * is the CRC-32 (zlib's crc32) of the reply's bytes before that line, CR LF included, so the host
 * detects a flipped, dropped or duplicated byte. A tq-infer that runs starts that CRC with the `db` input
 * stream it ran on (input_bytes, padding between inputs as zeros): the host also checks the bytes
 * that arrived are the bytes it sent. The MLPerf Tiny commands answer as the EEMBC runner expects, no CRC.
 */
#ifndef TQ_PROTOCOL_H
#define TQ_PROTOCOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The element types m-results prints (tq_fw_model.results_type). */
#define TQ_RESULTS_INT8 0
#define TQ_RESULTS_INT16 1
#define TQ_RESULTS_INT32 2
#define TQ_RESULTS_FLOAT32 3
#define TQ_RESULTS_BOOL 4
#define TQ_RESULTS_UINT8 5
#define TQ_RESULTS_INT64 6

/* Output bytes per m-tq-out line: a larger output comes as several lines, in order. */
#ifndef TQ_OUT_CHUNK
#define TQ_OUT_CHUNK 4096u
#endif

/* One model input (output) in the host's byte stream: `db` bytes [offset, offset + bytes) are input i. */
typedef struct {
    uint32_t offset;
    uint32_t bytes;
} tq_fw_slot;

/* What the generated glue (tq_fw_model.c) tells the protocol about the model and board. */
typedef struct {
    const char *model;        /* the generated library's NAME */
    const char *sha;          /* the first 16 hex digits of the model's sha256: the host checks the board runs it */
    const char *board;        /* board file name */
    const char *mlperf_model; /* answer to `profile` (kws01, ic01, vww01, ad01 or unspecified) */
    const char *cycles_unit;  /* "cycles" or "instructions" */
    uint32_t clock_hz;        /* for m-lap-us */
    const tq_fw_slot *inputs; /* where each input's bytes are in the `db` stream (tq_fw_io(0, i) holds them) */
    uint32_t input_count;
    uint32_t input_bytes; /* of the `db` stream: all inputs, each aligned to its element size */
    const tq_fw_slot *outputs; /* the same for the m-tq-out stream */
    uint32_t output_count;
    uint32_t output_bytes;
    int input_kept; /* 1: the inputs survive an inference (it may run again); 0: each needs a new load */
    int io_overlap; /* 1: an input shares bytes with an output (a new load overwrites the last results) */
    uint32_t layers; /* layers timed per inference */
    uint32_t arena_bytes;
    uint32_t results;     /* elements of the first output, printed by m-results */
    int results_type;     /* the first output's element type: a TQ_RESULTS_ value */
    float results_scale;  /* an integer output's quantization (real = scale * (q - zero point)); 0: not quantized */
    int32_t results_zero_point;
} tq_fw_model;

extern const tq_fw_model tq_fw_model_info;

/* Generated: run the model once on its inputs in the arena; 0 on success. */
int tq_fw_invoke(void);

/* Generated: the bytes of the model's input i (output i with output != 0) inside its arena. */
uint8_t *tq_fw_io(int output, uint32_t i);

/* Generated: the model's <name>_reset() (its state back to the start); 0 on success. */
int tq_fw_reset(void);

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
