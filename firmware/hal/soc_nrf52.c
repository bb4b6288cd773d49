/*
 * Chip bring-up for the nRF52 family (written against the nRF52840 product specification), for an
 * image started by a bootloader:
 * - UARTE0, which a bootloader may leave receiving, is stopped (STOPRX, wait RXTO) and disabled, so
 *   its pins and EasyDMA are free; the console driver sets it up again if it is the console;
 * - the RTC1 COMPARE0 interrupt a bootloader may leave enabled is disabled, in RTC1 and the NVIC,
 *   and its pending state cleared;
 * - the instruction cache is turned on (NVMC ICACHECNF) and the 64 MHz crystal (HFXO) started, the
 *   accurate clock for UART baud rates and USB.
 * The core always runs at 64 MHz; VTOR and the FPU are set by the reset handler. Reads no params.
 */
#include "tq_board.h"
#include "tq_hal.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define CLOCK_BASE 0x40000000u
#define CLOCK_TASKS_HFCLKSTART REG(CLOCK_BASE + 0x000u)
#define CLOCK_EVENTS_HFCLKSTARTED REG(CLOCK_BASE + 0x100u)

#define UARTE0_BASE 0x40002000u
#define UARTE0_TASKS_STOPRX REG(UARTE0_BASE + 0x004u)
#define UARTE0_TASKS_STOPTX REG(UARTE0_BASE + 0x00Cu)
#define UARTE0_EVENTS_RXTO REG(UARTE0_BASE + 0x144u)
#define UARTE0_INTENCLR REG(UARTE0_BASE + 0x308u)
#define UARTE0_ENABLE REG(UARTE0_BASE + 0x500u)

#define RTC1_BASE 0x40011000u
#define RTC1_INTENCLR REG(RTC1_BASE + 0x308u)
#define RTC1_EVTENCLR REG(RTC1_BASE + 0x348u)
#define RTC1_IRQN 17u

#define NVMC_ICACHECNF REG(0x4001E540u)

#define NVIC_ICER0 REG(0xE000E180u)
#define NVIC_ICPR0 REG(0xE000E280u)

/* Bounded waits: a peripheral that never answers must not hang the bring-up. */
#define WAIT_LIMIT 1000000u

void tq_soc_init(void)
{
    uint32_t n;

    if (UARTE0_ENABLE != 0u) {
        UARTE0_INTENCLR = 0xFFFFFFFFu;
        UARTE0_EVENTS_RXTO = 0u;
        UARTE0_TASKS_STOPRX = 1u;
        UARTE0_TASKS_STOPTX = 1u;
        for (n = 0u; n < WAIT_LIMIT && UARTE0_EVENTS_RXTO == 0u; ++n) {
        }
        UARTE0_EVENTS_RXTO = 0u;
        UARTE0_ENABLE = 0u;
    }

    RTC1_INTENCLR = 1u << 16; /* COMPARE0 */
    RTC1_EVTENCLR = 1u << 16;
    NVIC_ICER0 = 1u << RTC1_IRQN;
    NVIC_ICPR0 = 1u << RTC1_IRQN;

    NVMC_ICACHECNF = 1u; /* CACHEEN */
    __asm volatile("dsb\n\tisb" ::: "memory");

    CLOCK_EVENTS_HFCLKSTARTED = 0u;
    CLOCK_TASKS_HFCLKSTART = 1u;
    for (n = 0u; n < WAIT_LIMIT && CLOCK_EVENTS_HFCLKSTARTED == 0u; ++n) {
    }
}
