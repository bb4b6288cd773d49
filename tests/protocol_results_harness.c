/*
 * Host harness for the firmware's m-results line (firmware/protocol/tq_protocol.c): the model's first
 * output is RESULTS_COUNT elements of type RESULTS_TYPE (a TQ_RESULTS_ value) quantized with
 * RESULTS_SCALE / RESULTS_ZERO_POINT, its bytes given in hex as argv[1]. The harness sends
 * `db load 1`, `db 00` and `infer 1 0` to the command loop and prints its replies on stdout, so
 * tests/test_typed_io.py reads m-results as a board prints it.
 */
#include <stdio.h>
#include <string.h>

#include "tq_hal.h"
#include "tq_protocol.h"

#define OUTPUT_BYTES 64

static uint8_t input[1];
static union {
    uint64_t align;
    uint8_t bytes[OUTPUT_BYTES];
} output;

static const tq_fw_slot input_slot = {0u, 1u};
static const tq_fw_slot output_slot = {0u, OUTPUT_BYTES};

const tq_fw_model tq_fw_model_info = {
    .model = "harness",
    .sha = "0000000000000000",
    .board = "host",
    .mlperf_model = "unspecified",
    .cycles_unit = "cycles",
    .clock_hz = 1000000u,
    .inputs = &input_slot,
    .input_count = 1u,
    .input_bytes = 1u,
    .outputs = &output_slot,
    .output_count = 1u,
    .output_bytes = OUTPUT_BYTES,
    .input_kept = 1,
    .results = RESULTS_COUNT,
    .results_type = RESULTS_TYPE,
    .results_scale = RESULTS_SCALE,
    .results_zero_point = RESULTS_ZERO_POINT,
};

uint8_t *tq_fw_io(int is_output, uint32_t i)
{
    (void)i;
    return is_output ? output.bytes : input;
}

int tq_fw_invoke(void)
{
    return 0;
}

int tq_fw_reset(void)
{
    return 0;
}

void tq_putc(char c)
{
    putchar(c);
}

int tq_getc(void)
{
    return getchar();
}

uint64_t tq_cycles(void)
{
    static uint64_t t;
    return t += 1000u;
}

int main(int argc, char **argv)
{
    const char *hex = argc > 1 ? argv[1] : "";
    const char *commands = "db load 1%db 00%infer 1 0%";
    size_t i, n = strlen(hex) / 2;
    for (i = 0; i < n && i < OUTPUT_BYTES; ++i) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return 2;
        }
        output.bytes[i] = (uint8_t)v;
    }
    for (; *commands; ++commands) {
        tq_protocol_feed(*commands);
    }
    return 0;
}
