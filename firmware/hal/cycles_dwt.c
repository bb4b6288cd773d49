/*
 * Core cycle counter from the DWT unit (Cortex-M3/M4/M7/M33/M55 hardware), extended to 64 bits in
 * software: a wrap is seen on every read, so reads must come at least once per 2^32 cycles (the
 * firmware reads it around every layer). QEMU does not model CYCCNT (it reads 0).
 */
#include "tq_board.h"
#include "tq_hal.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

static uint32_t dwt_last;
static uint64_t dwt_high;

void tq_cycles_init(void)
{
    DEMCR |= (1u << 24); /* TRCENA */
    DWT_LAR = 0xC5ACCE55u; /* unlock (needed on the Cortex-M7, ignored elsewhere) */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u;
    dwt_last = 0u;
    dwt_high = 0u;
}

uint64_t tq_cycles(void)
{
    const uint32_t now = DWT_CYCCNT;
    if (now < dwt_last) {
        dwt_high += (uint64_t)1 << 32;
    }
    dwt_last = now;
    return (dwt_high | now) * (uint64_t)TQ_CYCLES_NUM / (uint64_t)TQ_CYCLES_DEN;
}
