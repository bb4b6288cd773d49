/* The command loop of a tinyq firmware (see tq_protocol.h for the commands). */
#include "tq_protocol.h"

#include <stddef.h>
#include <string.h>

#include "tq_board.h"
#include "tq_hal.h"

#ifndef TQ_CMD_MAX
#define TQ_CMD_MAX 512 /* longer than EEMBC's 80 so the host can send 250 bytes per db line */
#endif
#ifndef TQ_MAX_LAYERS
#define TQ_MAX_LAYERS 256
#endif

static char cmd[TQ_CMD_MAX + 1];
static uint32_t db_expected; /* bytes announced by `db load` */
static uint32_t db_loaded;
static int input_consumed; /* the last inference ran over the input's bytes (input_kept 0) */
static uint64_t layer_cycles[TQ_MAX_LAYERS];
static uint32_t layer_count;
static uint64_t layer_mark;
static int have_result;

/* ------------------------------------------------------------------------------- output */

/* CRC-32 (zlib's: reflected 0xEDB88320, kept without its final inversion) of the reply so far: every
   byte sent goes through it, and a tq- reply ends with it (tq_protocol.h). Bit by bit: a table would
   be 1 KB of flash for a few hundred bytes a reply. */
static uint32_t crc;

static void crc_add(uint32_t b)
{
    crc ^= b;
    for (int k = 0; k < 8; k++) {
        crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
}

static void put_c(char c)
{
    crc_add((uint8_t)c);
    tq_putc(c);
}

static void put_str(const char *s)
{
    while (*s) {
        put_c(*s++);
    }
}

static void put_line(const char *s)
{
    put_str(s);
    put_str("\r\n");
}

/*
 * v / d and v % d by shift-and-subtract: the runtime's only 64-bit divisions, kept out of libgcc's
 * __udivmoddi4 (about 700 bytes of flash for what prints a number now and then). v's bits shift out
 * at the top as the quotient's shift in at the bottom (no shifts by a variable count); one copy, not
 * inlined into each of its two callers.
 */
static __attribute__((noinline)) uint64_t udiv64(uint64_t v, uint32_t d, uint32_t *rem)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i++) {
        r = (r << 1) | (v >> 63);
        v <<= 1;
        if (r >= d) {
            r -= d;
            v |= 1u;
        }
    }
    *rem = (uint32_t)r;
    return v;
}

static void put_u64(uint64_t v)
{
    char buf[21];
    int n = 0;
    do {
        uint32_t digit;
        v = udiv64(v, 10u, &digit);
        buf[n++] = (char)('0' + (int)digit);
    } while (v);
    while (n) {
        put_c(buf[--n]);
    }
}

static void put_i64(int64_t v)
{
    if (v < 0) {
        put_c('-');
        put_u64((uint64_t)(-(v + 1)) + 1u);
    } else {
        put_u64((uint64_t)v);
    }
}

static void put_hex8(uint8_t b)
{
    static const char digits[] = "0123456789abcdef";
    put_c(digits[b >> 4]);
    put_c(digits[b & 0xFu]);
}

/* "%0.3f" of a real without printf, from its digits: sign, integer part, three decimals. As the
   float computation below: "nan", "inf" from 4e9 on, below 4e6 milli = (uint32_t)(v * 1000.0f + 0.5f)
   (rounded half away from zero), else whole = (uint32_t)v. */
static void put_milli(uint32_t whole, uint32_t frac)
{
    put_u64(whole);
    put_c('.');
    put_c((char)('0' + frac / 100u));
    put_c((char)('0' + frac / 10u % 10u));
    put_c((char)('0' + frac % 10u));
}

#if defined(__ARM_FP) && (__ARM_FP & 4) && !defined(TQ_PRINT_INTEGER)
/* A single-precision FPU: the float computation itself, a few instructions. */
static void put_fixed3(float v)
{
    uint32_t whole, frac = 0;
    if (v != v) {
        put_str("nan");
        return;
    }
    if (v < 0.0f) {
        put_c('-');
        v = -v;
    }
    if (v >= 4.0e9f) {
        put_str("inf");
        return;
    }
    if (v < 4.0e6f) {
        const uint32_t milli = (uint32_t)(v * 1000.0f + 0.5f);
        whole = milli / 1000u;
        frac = milli % 1000u;
    } else {
        whole = (uint32_t)v;
    }
    put_milli(whole, frac);
}

static void put_float(const float *p)
{
    put_fixed3(*p);
}

/* ((float)q - (float)zp) * scale: float differences, not int32 ones, which could overflow. */
static void put_dequantized(int32_t q, int32_t zp, const float *scale)
{
    put_fixed3(((float)q - (float)zp) * *scale);
}
#else
/*
 * No FPU (or TQ_PRINT_INTEGER): the same digits without floating point, so no soft-float code is
 * linked. A float's magnitude is m * 2^e (m <= 2^24, e any); every step rounds the exact result to
 * 24 bits, to nearest with ties to even, as the single-precision operation it stands for does.
 * Results below 2^-126 (float's subnormals) print 0.000 either way.
 */
typedef struct {
    uint64_t m;
    int32_t e;
} tq_real;

static tq_real round24(uint64_t m, int32_t e)
{
    tq_real r;
    int32_t s = 0;
    while ((m >> s) > 0xFFFFFFu) {
        s++;
    }
    if (s > 0) {
        const uint64_t rem = m & (((uint64_t)1 << s) - 1u), half = (uint64_t)1 << (s - 1);
        m >>= s;
        if (rem > half || (rem == half && (m & 1u))) {
            m++;
        }
    }
    r.m = m;
    r.e = e + s;
    return r;
}

/* The integer part of m * 2^e (m <= 2^24), saturated at 2^40 (compared only with 4e9). */
static uint64_t real_trunc(tq_real v)
{
    if (v.e >= 0) {
        return v.e >= 40 ? (uint64_t)1 << 40 : v.m << v.e;
    }
    return v.e <= -63 ? 0u : v.m >> -v.e;
}

/* A float's bits as a real (inf: a value past 4e9); the caller tests NaN. */
static tq_real real_of_bits(uint32_t bits)
{
    const uint32_t ex = (bits >> 23) & 0xFFu, frac = bits & 0x7FFFFFu;
    tq_real r;
    r.m = ex == 0u ? frac : ex == 0xFFu ? 1u : frac | 0x800000u;
    r.e = ex == 0u ? -149 : ex == 0xFFu ? 40 : (int32_t)ex - 150;
    return r;
}

static void put_fixed3(int neg, tq_real v)
{
    uint64_t whole = real_trunc(v);
    uint32_t frac = 0;
    if (neg && v.m != 0u) {
        put_c('-');
    }
    if (whole >= 4000000000u) {
        put_str("inf");
        return;
    }
    if (whole < 4000000u) {
        const tq_real t = round24(v.m * 1000u, v.e); /* v * 1000.0f */
        tq_real sum;                                 /* + 0.5f, exactly, then rounded */
        if (t.e >= -1) {
            sum.m = (t.m << (t.e + 1)) + 1u;
            sum.e = -1;
        } else if (t.e > -60) {
            sum.m = t.m + ((uint64_t)1 << (-1 - t.e));
            sum.e = t.e;
        } else { /* t below 2^-35: the sum rounds to 0.5 */
            sum.m = 1u;
            sum.e = -1;
        }
        const uint32_t milli = (uint32_t)real_trunc(round24(sum.m, sum.e));
        whole = milli / 1000u;
        frac = milli % 1000u;
    }
    put_milli((uint32_t)whole, frac);
}

static void put_float(const float *p)
{
    uint32_t bits;
    memcpy(&bits, p, sizeof bits);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
        put_str("nan");
        return;
    }
    put_fixed3((int)(bits >> 31), real_of_bits(bits));
}

/* (float)q as a signed integer (rounded to 24 bits: an int32 may not fit). */
static int64_t float_of_int(int32_t q)
{
    const tq_real r = round24(q < 0 ? (uint64_t)0 - (uint64_t)(int64_t)q : (uint64_t)q, 0);
    const int64_t v = (int64_t)(r.m << r.e);
    return q < 0 ? -v : v;
}

/* ((float)q - (float)zp) * scale as the float computation gives it: the difference of two integers
   rounded to float is exact in int64, then rounded; the product rounded. */
static void put_dequantized(int32_t q, int32_t zp, const float *scale)
{
    const int64_t diff = float_of_int(q) - float_of_int(zp); /* |diff| < 2^33 */
    uint32_t bits;
    memcpy(&bits, scale, sizeof bits);
    const tq_real d = round24(diff < 0 ? (uint64_t)-diff : (uint64_t)diff, 0), s = real_of_bits(bits);
    put_fixed3((diff < 0) != (bits >> 31 != 0u), round24(d.m * s.m, d.e + s.e));
}
#endif

static void put_error(const char *what, const char *detail)
{
    put_str("e-[");
    put_str(what);
    if (detail) {
        put_str(detail);
    }
    put_line("]");
}

/* ------------------------------------------------------------------------------- timing */

static uint64_t lap_us(void)
{
    uint32_t rem;
    return udiv64(tq_cycles() * 1000000u, tq_fw_model_info.clock_hz, &rem);
}

static void put_lap(void)
{
    put_str("m-lap-us-");
    put_u64(lap_us());
    put_str("\r\n");
}

/* Called by the generated schedule after every layer (TQ_TRACE builds). */
void tq_trace(int layer, const void *data, uint32_t bytes)
{
    (void)layer;
    (void)data;
    (void)bytes;
    const uint64_t now = tq_cycles();
    if (layer_count < TQ_MAX_LAYERS) {
        layer_cycles[layer_count] = now - layer_mark;
    }
    layer_count++;
    layer_mark = tq_cycles(); /* the bookkeeping above is not charged to the next layer */
}

/* Byte k of the input (output) stream, in the model's tensor inside the arena; NULL for the padding
   between two tensors. */
static uint8_t *io_byte(int output, uint32_t k)
{
    const tq_fw_model *m = &tq_fw_model_info;
    const tq_fw_slot *slots = output ? m->outputs : m->inputs;
    const uint32_t count = output ? m->output_count : m->input_count;
    for (uint32_t i = 0; i < count; i++) {
        if (k >= slots[i].offset && k - slots[i].offset < slots[i].bytes) {
            return tq_fw_io(output, i) + (k - slots[i].offset);
        }
    }
    return NULL;
}

static int run_once(uint64_t *cycles)
{
    layer_count = 0;
    const uint64_t start = tq_cycles();
    layer_mark = start;
    const int status = tq_fw_invoke();
    const uint64_t end = tq_cycles();
    if (cycles) {
        *cycles = end - start;
    }
    have_result = status == 0;
    if (!tq_fw_model_info.input_kept) {
        /* the plan reused the input's bytes: what the arena holds there is no longer the input */
        db_loaded = 0;
        input_consumed = 1;
    }
    return status;
}

/* ------------------------------------------------------------------------------- parsing */

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* Split cmd in place on spaces; returns the word count (at most max). */
static int split(char *s, char **words, int max)
{
    int n = 0;
    while (*s) {
        while (*s == ' ') {
            *s++ = '\0';
        }
        if (!*s) {
            break;
        }
        if (n == max) {
            return max + 1;
        }
        words[n++] = s;
        while (*s && *s != ' ') {
            s++;
        }
    }
    return n;
}

/* Decimal integer; returns 0 and leaves *out alone unless the whole word is a number. */
static int parse_int(const char *s, int64_t *out)
{
    int64_t v = 0;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (!*s) {
        return 0;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000000LL) {
            return 0;
        }
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* ------------------------------------------------------------------------------- commands */

static void cmd_db(char **w, int n)
{
    const tq_fw_model *m = &tq_fw_model_info;
    if (n < 2) {
        put_error("Command 'db' requires a subcommand", NULL);
        return;
    }
    if (streq(w[1], "load")) {
        int64_t bytes;
        if (n != 3 || !parse_int(w[2], &bytes)) {
            put_error("Command 'db load' requires the # of bytes", NULL);
        } else if (bytes <= 0) {
            put_error("Command 'db load' must be >0 bytes", NULL);
        } else if ((uint64_t)bytes > m->input_bytes) {
            put_str("e-[db load ");
            put_i64(bytes);
            put_str(" exceeds the model input of ");
            put_u64(m->input_bytes);
            put_line(" bytes]");
        } else {
            db_expected = (uint32_t)bytes;
            db_loaded = 0;
            input_consumed = 0;
            if (m->io_overlap) {
                have_result = 0; /* the new input goes over the last outputs */
            }
            put_str("m-[Expecting ");
            put_u64(db_expected);
            put_line(" bytes]");
        }
        return;
    }
    if (streq(w[1], "print")) {
        for (uint32_t i = 0; i < db_loaded; i += 8) {
            put_str("m-buffer");
            for (uint32_t k = i; k < i + 8 && k < db_loaded; k++) {
                put_c('-');
                const uint8_t *b = io_byte(0, k);
                put_hex8(b ? *b : 0u);
            }
            put_str("\r\n");
        }
        return;
    }
    if (n != 2) {
        put_error("Command 'db' takes one word of hex digits", NULL);
        return;
    }
    const char *hex = w[1];
    uint32_t digits = 0;
    for (const char *p = hex; *p; p++) {
        if (hex_value(*p) < 0) {
            char bad[2] = {*p, '\0'};
            put_str("e-[Invalid hex digit '");
            put_str(bad);
            put_line("']");
            return;
        }
        digits++;
    }
    if (digits % 2u) {
        put_error("Insufficent number of hex digits", NULL); /* sic: the EEMBC spelling */
        return;
    }
    if (db_expected == 0 || db_loaded >= db_expected) {
        put_error("db: no load in progress; send 'db load N' first", NULL);
        return;
    }
    uint32_t bytes = digits / 2u;
    uint32_t extra = 0;
    if (bytes > db_expected - db_loaded) {
        extra = bytes - (db_expected - db_loaded);
        bytes -= extra;
    }
    for (uint32_t i = 0; i < bytes; i++) {
        uint8_t *b = io_byte(0, db_loaded++);
        if (b) {
            *b = (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
        }
    }
    if (extra) {
        put_str("e-[db: ");
        put_u64(extra);
        put_str(" bytes past the ");
        put_u64(db_expected);
        put_line(" expected were ignored]");
    }
    if (db_loaded == db_expected) {
        put_line("m-load-done");
    }
}

/* The first output, element by element in its type: float32 and quantized integers as reals with three
   decimals (dequantized with scale / zero point), plain integers (ARG_MAX's int32, bool) as integers. */
static void put_results(void)
{
    const tq_fw_model *m = &tq_fw_model_info;
    const void *out = tq_fw_io(1, 0);
    uint32_t scale_bits;
    memcpy(&scale_bits, &m->results_scale, sizeof scale_bits);
    put_str("m-results-[");
    for (uint32_t i = 0; i < m->results; i++) {
        int32_t q;
        if (i) {
            put_c(',');
        }
        switch (m->results_type) {
        case TQ_RESULTS_FLOAT32:
            put_float((const float *)out + i);
            continue;
        case TQ_RESULTS_INT16:
            q = ((const int16_t *)out)[i];
            break;
        case TQ_RESULTS_INT32:
            q = ((const int32_t *)out)[i];
            break;
        case TQ_RESULTS_INT64: /* indices (ARG_MAX), never quantized */
            put_i64(((const int64_t *)out)[i]);
            continue;
        case TQ_RESULTS_UINT8:
            q = ((const uint8_t *)out)[i];
            break;
        case TQ_RESULTS_BOOL:
            q = ((const uint8_t *)out)[i] != 0u;
            break;
        default:
            q = ((const int8_t *)out)[i];
            break;
        }
        if ((scale_bits & 0x7FFFFFFFu) != 0u) { /* scale != 0.0f */
            put_dequantized(q, m->results_zero_point, &m->results_scale);
        } else {
            put_i64(q);
        }
    }
    put_line("]");
}

/* A build whose plan reuses the input's bytes (input_kept 0) runs each load once. */
static const char consumed[] = "e-[Each inference consumes the input: load it before each one (infer 1 0), or build with --keep-input]";

static int check_loaded(void)
{
    const tq_fw_model *m = &tq_fw_model_info;
    if (input_consumed) {
        put_line(consumed);
        return 0;
    }
    if (db_loaded != m->input_bytes) {
        put_str("e-[Input db has ");
        put_u64(db_loaded);
        put_str(" bytes, expected ");
        put_u64(m->input_bytes);
        put_line("]");
        return 0;
    }
    return 1;
}

static int run_checked(uint64_t *cycles)
{
    const int status = run_once(cycles);
    if (status != 0) {
        put_str("e-[Inference failed with status ");
        put_i64(status);
        put_line("]");
    }
    return status == 0;
}

static void cmd_infer(char **w, int n)
{
    int64_t iters = 1, warmup = 10;
    if (n > 3 || (n > 1 && !parse_int(w[1], &iters)) || (n > 2 && !parse_int(w[2], &warmup))) {
        put_error("Usage: infer N W (N inferences after W warmups)", NULL);
        return;
    }
    if (iters <= 0) {
        put_error("Inference iterations must be >0", NULL);
        return;
    }
    if (warmup < 0) {
        put_error("Inference warmup must be >=0", NULL);
        return;
    }
    if (!check_loaded()) {
        return;
    }
    if (!tq_fw_model_info.input_kept && iters + warmup > 1) {
        put_line(consumed);
        return;
    }
    put_str("m-warmup-start-");
    put_i64(warmup);
    put_str("\r\n");
    for (int64_t i = 0; i < warmup; i++) {
        if (!run_checked(NULL)) {
            return;
        }
    }
    put_line("m-warmup-done");
    put_str("m-infer-start-");
    put_i64(iters);
    put_str("\r\n");
    put_lap();
    for (int64_t i = 0; i < iters; i++) {
        if (!run_checked(NULL)) {
            return;
        }
    }
    put_lap();
    put_line("m-infer-done");
    put_results();
}

/* The output bytes as m-tq-out-[hex] lines of at most TQ_OUT_CHUNK bytes each, so no line outgrows a
   host's line buffer whatever the model's output size; the host joins the lines of one reply. */
static void put_output_hex(void)
{
    const tq_fw_model *m = &tq_fw_model_info;
    uint32_t i = 0;
    do {
        const uint32_t end = m->output_bytes - i > TQ_OUT_CHUNK ? i + TQ_OUT_CHUNK : m->output_bytes;
        put_str("m-tq-out-[");
        for (; i < end; i++) {
            const uint8_t *b = io_byte(1, i);
            put_hex8(b ? *b : 0u);
        }
        put_line("]");
    } while (i < m->output_bytes);
}

static void cmd_tq_infer(void)
{
    uint64_t cycles;
    if (!check_loaded()) {
        return;
    }
    /* The reply's CRC covers first the input it runs on (before the run, which may reuse its bytes):
       the host checks the bytes it sent are the ones that ran. */
    for (uint32_t k = 0; k < tq_fw_model_info.input_bytes; k++) {
        const uint8_t *b = io_byte(0, k);
        crc_add(b ? *b : 0u);
    }
    if (!run_checked(&cycles)) {
        return;
    }
    put_str("m-tq-cycles-");
    put_u64(cycles);
    put_str("\r\n");
    put_str("m-tq-layers-[");
    const uint32_t shown = layer_count < TQ_MAX_LAYERS ? layer_count : TQ_MAX_LAYERS;
    for (uint32_t i = 0; i < shown; i++) {
        if (i) {
            put_c(',');
        }
        put_u64(layer_cycles[i]);
    }
    put_line("]");
    put_output_hex();
}

static void cmd_tq_info(void)
{
    const tq_fw_model *m = &tq_fw_model_info;
    put_str("m-tq-info-[model=");
    put_str(m->model);
    put_str(",board=");
    put_str(m->board);
    put_str(",input=");
    put_u64(m->input_bytes);
    put_str(",output=");
    put_u64(m->output_bytes);
    put_str(",layers=");
    put_u64(m->layers);
    put_str(",arena=");
    put_u64(m->arena_bytes);
    put_str(",unit=");
    put_str(m->cycles_unit);
    put_str(",clock=");
    put_u64(m->clock_hz);
    put_str(",sha=");
    put_str(m->sha);
    put_line("]");
}

static void cmd_tq_reset(void)
{
    const int status = tq_fw_reset();
    if (status != 0) {
        put_str("e-[Reset failed with status ");
        put_i64(status);
        put_line("]");
        return;
    }
    put_line("m-tq-reset-done");
}

static void cmd_help(void)
{
    /* The commands by name only (tq_protocol.h describes them): the EEMBC runner never reads this,
       and every byte of text is flash. */
    put_line("ULPMark for tinyML Firmware V0.0.1\r\n"
             "name profile timestamp results db infer tq-info tq-infer tq-out tq-reset");
}

static void dispatch(char *line)
{
    char *w[4];
    const int n = split(line, w, 3);
    if (n == 0) {
        put_error("Empty command", NULL);
        return;
    }
    if (n > 3) {
        put_error("Too many words in command: ", w[0]);
        return;
    }
    if (streq(w[0], "name") && n == 1) {
        put_line("m-name-dut-[tinyq]");
    } else if (streq(w[0], "profile") && n == 1) {
        put_line("m-profile-[ULPMark for tinyML Firmware V0.0.1]");
        put_str("m-model-[");
        put_str(tq_fw_model_info.mlperf_model);
        put_line("]");
    } else if (streq(w[0], "timestamp") && n == 1) {
        put_lap();
    } else if (streq(w[0], "db")) {
        cmd_db(w, n);
    } else if (streq(w[0], "infer")) {
        cmd_infer(w, n);
    } else if (streq(w[0], "results") && n == 1) {
        if (have_result) {
            put_results();
        } else {
            put_error("No results: run infer first", NULL);
        }
    } else if (streq(w[0], "help") && n == 1) {
        cmd_help();
    } else if (streq(w[0], "tq-info") && n == 1) {
        cmd_tq_info();
    } else if (streq(w[0], "tq-infer") && n == 1) {
        cmd_tq_infer();
    } else if (streq(w[0], "tq-reset") && n == 1) {
        cmd_tq_reset();
    } else if (streq(w[0], "tq-out") && n == 1) {
        if (have_result) {
            put_output_hex();
        } else {
            put_error("No results: run infer or tq-infer first", NULL);
        }
    } else {
        put_error("Unknown command: ", w[0]);
    }
}

/* The command being received: characters up to the next '%'. */
static uint32_t cmd_len;
static int cmd_too_long;

void tq_protocol_start(void)
{
    put_line("m-timestamp-mode-performance");
    put_lap();
    put_line("m-init-done");
    put_line("m-ready");
}

void tq_protocol_feed(int c)
{
    if (c == '%') {
        cmd[cmd_len] = '\0';
        const int tq = cmd[0] == 't' && cmd[1] == 'q' && cmd[2] == '-';
        crc = 0xFFFFFFFFu;
        if (cmd_too_long) {
            put_str("e-[Command too long: at most ");
            put_u64(TQ_CMD_MAX);
            put_line(" characters]");
        } else {
            dispatch(cmd);
        }
        if (tq) {
            const uint32_t sum = ~crc;
            put_str("m-tq-crc-");
            put_u64(sum);
            put_str("\r\n");
        }
        put_line("m-ready");
        cmd_len = 0;
        cmd_too_long = 0;
    } else if (c == '\r' || c == '\n' || c == '\0') {
        return;
    } else if (cmd_len < TQ_CMD_MAX) {
        cmd[cmd_len++] = (char)c;
    } else {
        cmd_too_long = 1;
    }
}

void tq_protocol_run(void)
{
    tq_protocol_start();
    for (;;) {
        tq_protocol_feed(tq_getc());
    }
}
