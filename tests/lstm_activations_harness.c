/*
 * tests/test_ops_lstm.py: the fast twin's sigmoid and tanh (tq_lstm_fast_s8.c) against the reference
 * kernel's (tq_lstm_s8.c) on every int16 input, tanh for every number of integer bits the kernels use
 * (0..6). Both kernel files in one translation unit (their static names differ). Prints the number of
 * differing values and the first difference; exits 1 on any.
 */
#include <stdio.h>

#include "tq_lstm_s8.c"
#include "tq_lstm_fast_s8.c"

static int16_t in[65536], ref[65536], fast[65536];

static long compare(const char *what, int32_t bits)
{
    long bad = 0;
    for (int32_t i = 0; i < 65536; ++i) {
        if (ref[i] != fast[i] && bad++ == 0) {
            printf("%s bits %d: input %d gives %d, the reference %d\n", what, (int)bits, (int)in[i], (int)fast[i], (int)ref[i]);
        }
    }
    return bad;
}

int main(void)
{
    long bad = 0;
    for (int32_t i = 0; i < 65536; ++i) {
        in[i] = (int16_t)(i - 32768);
        ref[i] = fast[i] = in[i];
    }
    sigmoid_row(65536, ref);
    sigmoid_row_fast(65536, fast);
    bad += compare("sigmoid", 3);
    for (int32_t bits = 0; bits <= 6; ++bits) {
        tanh_row(65536, in, ref, bits);
        tanh_row_fast(65536, in, fast, bits);
        bad += compare("tanh", bits);
    }
    printf("differing: %ld\n", bad);
    return bad != 0;
}
