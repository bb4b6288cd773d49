/*
 * Chip bring-up for the STM32L4+ series (written against RM0432, STM32L4R5/S5): the core clock
 * from MSI through the main PLL, in voltage range 1 boost mode, and I/O port G powered.
 *
 *   SYSCLK = TQ_SOC_MSI_HZ / TQ_SOC_PLL_M * TQ_SOC_PLL_N / TQ_SOC_PLL_R   (PLLCLK, the R output)
 *
 * Params: MSI_HZ (the reset MSI range, 4 MHz), PLL_M (1..16), PLL_N (8..127), PLL_R (2, 4, 6, 8),
 * FLASH_WS (wait states for that clock: 5 at 120 MHz in range 1 boost). AHB, APB1, APB2 stay /1.
 * Order (RM0432 "Range 1 boost mode", "Reading the flash memory"): power interface clock on, range 1
 * boost (R1MODE = 0), flash wait states and caches, PLL on and locked, AHB /2 for the switch above
 * 80 MHz, switch to the PLL, wait at least 1 us, AHB back to /1.
 * Port G: PG2..PG15 are supplied by VDDIO2, which must be declared valid (PWR_CR2.IOSV) before any
 * use of those pins (the NUCLEO-144 boards wire VDDIO2 to 3.3 V).
 */
#include "tq_board.h"
#include "tq_hal.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define RCC_BASE 0x40021000u
#define RCC_CR REG(RCC_BASE + 0x00u)
#define RCC_CFGR REG(RCC_BASE + 0x08u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x0Cu)
#define RCC_APB1ENR1 REG(RCC_BASE + 0x58u)
#define FLASH_ACR REG(0x40022000u)
#define PWR_BASE 0x40007000u
#define PWR_CR1 REG(PWR_BASE + 0x00u)
#define PWR_CR2 REG(PWR_BASE + 0x04u)
#define PWR_SR2 REG(PWR_BASE + 0x14u)
#define PWR_CR5 REG(PWR_BASE + 0x80u)

#define RCC_CR_MSIRDY (1u << 1)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_APB1ENR1_PWREN (1u << 28)
#define PWR_CR1_VOS_MASK (3u << 9)
#define PWR_CR1_VOS_RANGE1 (1u << 9)
#define PWR_CR2_IOSV (1u << 9)
#define PWR_SR2_VOSF (1u << 10)
#define PWR_CR5_R1MODE (1u << 8)
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)
#define CFGR_SW_MASK 3u
#define CFGR_SW_PLL 3u
#define CFGR_SWS_PLL (3u << 2)
#define CFGR_HPRE_MASK (0xFu << 4)
#define CFGR_HPRE_DIV2 (0x8u << 4)

#define PLLCFGR_PLLSRC_MSI 1u
#define PLLCFGR_PLLREN (1u << 24)

#if TQ_SOC_MSI_HZ / TQ_SOC_PLL_M * TQ_SOC_PLL_N / TQ_SOC_PLL_R != TQ_CLOCK_HZ
#error "the board's PLL params do not give its clock_hz"
#endif

void tq_soc_init(void)
{
    uint32_t n;

    RCC_APB1ENR1 |= RCC_APB1ENR1_PWREN;
    (void)RCC_APB1ENR1;
    PWR_CR2 |= PWR_CR2_IOSV;

    /* Range 1 (the reset value), then boost. */
    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | PWR_CR1_VOS_RANGE1;
    while (PWR_SR2 & PWR_SR2_VOSF) {
    }
    PWR_CR5 &= ~PWR_CR5_R1MODE;

    FLASH_ACR = (FLASH_ACR & ~0xFu) | TQ_SOC_FLASH_WS | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    while ((FLASH_ACR & 0xFu) != TQ_SOC_FLASH_WS) {
    }

    while (!(RCC_CR & RCC_CR_MSIRDY)) {
    }
    RCC_CR &= ~RCC_CR_PLLON;
    while (RCC_CR & RCC_CR_PLLRDY) {
    }
    RCC_PLLCFGR = PLLCFGR_PLLSRC_MSI | ((TQ_SOC_PLL_M - 1u) << 4) | (TQ_SOC_PLL_N << 8) | PLLCFGR_PLLREN |
                  (((TQ_SOC_PLL_R / 2u) - 1u) << 25);
    RCC_CR |= RCC_CR_PLLON;
    while (!(RCC_CR & RCC_CR_PLLRDY)) {
    }

    RCC_CFGR = (RCC_CFGR & ~CFGR_HPRE_MASK) | CFGR_HPRE_DIV2;
    RCC_CFGR = (RCC_CFGR & ~CFGR_SW_MASK) | CFGR_SW_PLL;
    while ((RCC_CFGR & CFGR_SWS_PLL) != CFGR_SWS_PLL) {
    }
    for (n = 0u; n < TQ_CLOCK_HZ / 2u / 1000000u * 2u; ++n) { /* >= 1 us at HCLK = SYSCLK / 2 */
        __asm volatile("nop");
    }
    RCC_CFGR &= ~CFGR_HPRE_MASK;
}
