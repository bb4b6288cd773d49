/*
 * Cycle counter from SysTick clocked by the core (CLKSOURCE = 1), extended to 64 bits by counting
 * wraps in SysTick_Handler. Under QEMU -icount the core clock is virtual time, so the ticks count
 * instructions; TQ_CYCLES_NUM / TQ_CYCLES_DEN (from the board file) convert ticks to the unit.
 */
#include "tq_board.h"
#include "tq_hal.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

static volatile uint32_t systick_wraps;

void SysTick_Handler(void)
{
    systick_wraps++;
}

void tq_cycles_init(void)
{
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0u;
    SYST_CSR = 0x7u; /* core clock, interrupt on wrap, enable */
}

uint64_t tq_cycles(void)
{
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    const uint64_t ticks = ((uint64_t)wraps << 24) + (uint64_t)(SYST_RELOAD - value);
    return ticks * (uint64_t)TQ_CYCLES_NUM / (uint64_t)TQ_CYCLES_DEN;
}
