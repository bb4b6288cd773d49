/*
 * Host check of the firmware's integer printing of reals (firmware/protocol/tq_protocol.c, included
 * here for its static functions; the host has no __ARM_FP, so the integer path): for argv[1] pseudo-random cases, put_float and put_dequantized must
 * print what the float computation they replace prints (the reference below: single precision, as
 * the protocol computed it before it stopped linking soft-float code). Prints the mismatches and
 * their count; exit 1 on any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_protocol.c"

static char got[64];
static size_t got_n;

static const tq_fw_slot slot = {0u, 1u};
static uint8_t io_bytes[4];

const tq_fw_model tq_fw_model_info = {
    .model = "harness",
    .sha = "0",
    .board = "host",
    .mlperf_model = "unspecified",
    .cycles_unit = "cycles",
    .clock_hz = 1u,
    .inputs = &slot,
    .input_count = 1u,
    .input_bytes = 1u,
    .outputs = &slot,
    .output_count = 1u,
    .output_bytes = 1u,
    .input_kept = 1,
    .results = 1u,
    .results_type = 0,
    .results_scale = 0.0f,
    .results_zero_point = 0,
};

uint8_t *tq_fw_io(int is_output, uint32_t i)
{
    (void)is_output;
    (void)i;
    return io_bytes;
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
    if (got_n + 1 < sizeof got) {
        got[got_n++] = c;
        got[got_n] = '\0';
    }
}

int tq_getc(void)
{
    return -1;
}

uint64_t tq_cycles(void)
{
    return 0u;
}

/* The float computation: "%0.3f" of v as the protocol printed it. */
static void reference(float v, char *buf, size_t size)
{
    uint32_t whole, frac = 0;
    const char *sign = "";
    if (v != v) {
        snprintf(buf, size, "nan");
        return;
    }
    if (v < 0.0f) {
        sign = "-";
        v = -v;
    }
    if (v >= 4.0e9f) {
        snprintf(buf, size, "%sinf", sign);
        return;
    }
    if (v < 4.0e6f) {
        const uint32_t milli = (uint32_t)(v * 1000.0f + 0.5f);
        whole = milli / 1000u;
        frac = milli % 1000u;
    } else {
        whole = (uint32_t)v;
    }
    snprintf(buf, size, "%s%lu.%03lu", sign, (unsigned long)whole, (unsigned long)frac);
}

static uint64_t state = 0x9E3779B97F4A7C15u;

static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 16);
}

static float float_of(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* A float of any sign with an exponent around the printed range, or any bit pattern. */
static float random_float(void)
{
    const uint32_t r = next();
    switch (r & 3u) {
    case 0:
        return float_of(next());
    case 1: /* near a thousandth's half: k / 1000 + 1 / 2000, one ulp either way */
    {
        const float v = (float)(next() % 5000000u) / 1000.0f + 0.0005f;
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        return float_of(bits + (next() % 3u) - 1u);
    }
    default: /* exponents 2^-20 .. 2^34 */
        return float_of((next() & 0x807FFFFFu) | ((107u + next() % 55u) << 23));
    }
}

static int check(const char *what, float v, long a, long b)
{
    char want[64];
    reference(v, want, sizeof want);
    if (strcmp(want, got) != 0) {
        printf("%s %ld %ld (%a): float %s, integer %s\n", what, a, b, (double)v, want, got);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const long cases = argc > 1 ? atol(argv[1]) : 1000;
    long i, bad = 0;
    static const float specials[] = {0.0f, -0.0f, 0.0005f, 0.0015f, 0.5f, 1.0f, 4.0e6f, 4.0e9f, 3.99999e9f, 1.0e-40f,
                                     -1.0e-40f, 3.4e38f};
    for (i = 0; i < (long)(sizeof specials / sizeof specials[0]); ++i) {
        got_n = 0;
        put_float(&specials[i]);
        bad += check("float", specials[i], i, 0);
    }
    for (i = 0; i < cases; ++i) {
        const float v = random_float();
        const int32_t q = (next() & 1u) ? (int32_t)(next() * (next() & 0x10001u)) : (int8_t)next();
        const int32_t zp = (next() & 1u) ? (int8_t)next() : (int32_t)(next() % 65536u) - 32768;
        float scale = (float)(next() % 1000000u + 1u) / (float)((uint64_t)1 << (next() % 40u));
        got_n = 0;
        put_float(&v);
        bad += check("float", v, i, 0);
        if (next() & 1u) {
            scale = -scale; /* the sign bit too (no converter writes one) */
        }
        got_n = 0;
        put_dequantized(q, zp, &scale);
        bad += check("dequantized", ((float)q - (float)zp) * scale, (long)q, (long)zp);
    }
    printf("mismatches %ld of %ld\n", bad, 2 * cases);
    return bad != 0;
}
