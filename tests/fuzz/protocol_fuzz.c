/*
 * libFuzzer target: the firmware's command loop (firmware/main.c, firmware/protocol/tq_protocol.c) on
 * the host, linked with a small generated model (tq_fw_model.c and the model's library), behind a fake
 * console: every fuzz input is the byte stream a host sends over the wire. tests/fuzz/protocol_fuzz.py
 * builds it with clang -fsanitize=fuzzer,address,undefined.
 *
 * Each input starts from a freshly booted firmware: tq_protocol.c is included here so its state (the
 * command buffer, the `db` progress, the last results) can be set back to what a reset leaves. The fake
 * tq_getc hands out the input's bytes and jumps back here when they run out; firmware/main.c is compiled
 * with -Dmain=tq_firmware_main and runs as on a board (banner, then commands forever).
 *
 * Besides the sanitizers, the replies are checked (a violation aborts: a finding):
 *   - every received '%' ends exactly one reply with an "m-ready" line (one more for the boot banner);
 *   - every reply line ends in "\r\n", holds no other '\r' and is at most LINE_MAX_BYTES long (an error
 *     line may echo a received word, whatever its bytes: CR, LF and NUL never reach a word).
 * An input that asks for more inferences than CLOCK_BUDGET allows (`infer N W` with a large N on a
 * build that keeps its input) is cut there: a board would run them all, which is no fault.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tq_protocol.c"

int tq_firmware_main(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CLOCK_BUDGET 4096u                     /* tq_cycles() calls per input: two per inference */
#define LINE_MAX_BYTES (2u * TQ_OUT_CHUNK + 64u) /* the longest reply line: m-tq-out-[hex] */

static const uint8_t *in_data;
static size_t in_size, in_pos;
static jmp_buf input_end;
static uint64_t fake_clock;
static uint32_t clock_calls;
static uint32_t commands; /* '%' bytes handed to the firmware */
static uint32_t readies;  /* "m-ready" lines it sent */
static char line[LINE_MAX_BYTES + 1];
static size_t line_len;

void tq_console_init(void)
{
}

void tq_cycles_init(void)
{
}

uint64_t tq_cycles(void)
{
    if (++clock_calls > CLOCK_BUDGET) {
        longjmp(input_end, 2);
    }
    fake_clock += 977u;
    return fake_clock;
}

int tq_getc(void)
{
    if (in_pos == in_size) {
        longjmp(input_end, 1);
    }
    const uint8_t c = in_data[in_pos++];
    if (c == '%') {
        commands++;
    }
    return c;
}

void tq_putc(char c)
{
    if (c == '\n') {
        if (line_len == 0 || line[line_len - 1] != '\r') {
            abort(); /* a line not ended by "\r\n" */
        }
        line[line_len - 1] = '\0';
        if (strcmp(line, "m-ready") == 0) {
            readies++;
        }
        line_len = 0;
        return;
    }
    if (line_len == LINE_MAX_BYTES) {
        abort(); /* a reply line longer than any the protocol sends */
    }
    if (line_len > 0 && line[line_len - 1] == '\r') {
        abort(); /* a bare "\r" inside a line */
    }
    line[line_len++] = c;
}

/* What a reset leaves: the protocol's state as at boot, the model's I/O bytes and state cleared. */
static void boot(void)
{
    const tq_fw_model *m = &tq_fw_model_info;
    memset(cmd, 0, sizeof cmd);
    cmd_len = 0;
    cmd_too_long = 0;
    db_expected = 0;
    db_loaded = 0;
    input_consumed = 0;
    memset(layer_cycles, 0, sizeof layer_cycles);
    layer_count = 0;
    layer_mark = 0;
    have_result = 0;
    for (uint32_t i = 0; i < m->input_count; i++) {
        memset(tq_fw_io(0, i), 0, m->inputs[i].bytes);
    }
    for (uint32_t i = 0; i < m->output_count; i++) {
        memset(tq_fw_io(1, i), 0, m->outputs[i].bytes);
    }
    if (tq_fw_reset() != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    boot();
    in_data = data;
    in_size = size;
    in_pos = 0;
    fake_clock = 0;
    clock_calls = 0;
    commands = 0;
    readies = 0;
    line_len = 0;
    const int why = setjmp(input_end);
    if (why == 0) {
        tq_firmware_main();
        abort(); /* the command loop never returns */
    }
    if (why == 1) { /* all bytes read: the firmware waits for the next one, every reply complete */
        if (line_len != 0 || readies != commands + 1u) {
            abort();
        }
    }
    return 0;
}
