/*
 * Chip bring-up for the STM32F7 series (written against RM0385, STM32F74x/75x): the core clock from
 * the HSE through the main PLL with over-drive, and the Cortex-M7 L1 caches on.
 *
 *   SYSCLK = TQ_SOC_HSE_HZ / TQ_SOC_PLL_M * TQ_SOC_PLL_N / TQ_SOC_PLL_P     (48 MHz domain: / PLL_Q)
 *
 * Params: HSE_HZ, HSE_BYPASS (1: an external clock on OSC_IN, 0: a crystal; the other kind is
 * tried if the HSE does not start), PLL_M (2..63), PLL_N (50..432), PLL_P (2, 4, 6, 8),
 * PLL_Q (2..15), FLASH_WS (7 at 216 MHz), APB1_DIV, APB2_DIV (1, 2, 4, 8, 16). Order (RM0385 "Entering Over-drive mode"): HSE on, PLL configured and on,
 * over-drive on (ODEN, wait ODRDY, ODSWEN, wait ODSWRDY), wait states and prescalers, PLL locked,
 * switch. Then the I-cache and D-cache are invalidated and enabled (no DMA uses RAM here).
 */
#include "tq_board.h"
#include "tq_hal.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define RCC_BASE 0x40023800u
#define RCC_CR REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x04u)
#define RCC_CFGR REG(RCC_BASE + 0x08u)
#define RCC_APB1ENR REG(RCC_BASE + 0x40u)
#define FLASH_ACR REG(0x40023C00u)
#define PWR_CR1 REG(0x40007000u)
#define PWR_CSR1 REG(0x40007004u)

#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_APB1ENR_PWREN (1u << 28)
#define PWR_CR1_ODEN (1u << 16)
#define PWR_CR1_ODSWEN (1u << 17)
#define PWR_CR1_VOS_SCALE1 (3u << 14)
#define PWR_CSR1_ODRDY (1u << 16)
#define PWR_CSR1_ODSWRDY (1u << 17)
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ARTEN (1u << 9)
#define PLLCFGR_SRC_HSE (1u << 22)

/* APB prescaler field value for a divider of 1, 2, 4, 8 or 16. */
#define PPRE(div) ((div) == 1 ? 0u : (div) == 2 ? 4u : (div) == 4 ? 5u : (div) == 8 ? 6u : 7u)

/* Cortex-M7 cache maintenance (ARMv7-M architecture reference manual, B2.2). */
#define SCB_CCR REG(0xE000ED14u)
#define SCB_CCSIDR REG(0xE000ED80u)
#define SCB_CSSELR REG(0xE000ED84u)
#define SCB_ICIALLU REG(0xE000EF50u)
#define SCB_DCISW REG(0xE000EF60u)
#define SCB_CCR_DC (1u << 16)
#define SCB_CCR_IC (1u << 17)

#if TQ_SOC_HSE_HZ / TQ_SOC_PLL_M * TQ_SOC_PLL_N / TQ_SOC_PLL_P != TQ_CLOCK_HZ
#error "the board's PLL params do not give its clock_hz"
#endif

static void caches_on(void)
{
    uint32_t set, way;

    __asm volatile("dsb\n\tisb" ::: "memory");
    SCB_ICIALLU = 0u;
    __asm volatile("dsb\n\tisb" ::: "memory");
    SCB_CCR |= SCB_CCR_IC;
    __asm volatile("dsb\n\tisb" ::: "memory");

    SCB_CSSELR = 0u; /* level 1 data cache */
    __asm volatile("dsb" ::: "memory");
    const uint32_t ccsidr = SCB_CCSIDR;
    const uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    const uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    const uint32_t line_shift = (ccsidr & 7u) + 4u;
    const uint32_t way_shift = ways > 1u ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
    for (set = 0u; set < sets; ++set) {
        for (way = 0u; way < ways; ++way) {
            SCB_DCISW = (set << line_shift) | (ways > 1u ? way << way_shift : 0u);
        }
    }
    __asm volatile("dsb" ::: "memory");
    SCB_CCR |= SCB_CCR_DC;
    __asm volatile("dsb\n\tisb" ::: "memory");
}

/* HSE on (bypass: an external clock rather than a crystal); 0 if not ready within ~100 ms at 16 MHz. */
static int hse_on(uint32_t bypass)
{
    uint32_t n;
    RCC_CR &= ~RCC_CR_HSEON;
    while (RCC_CR & RCC_CR_HSERDY) { /* HSEBYP may change only while the HSE is stopped */
    }
    RCC_CR = (RCC_CR & ~RCC_CR_HSEBYP) | bypass;
    RCC_CR |= RCC_CR_HSEON;
    for (n = 0u; n < 400000u; ++n) {
        if (RCC_CR & RCC_CR_HSERDY) {
            return 1;
        }
    }
    return 0;
}

void tq_soc_init(void)
{
    if (!hse_on(TQ_SOC_HSE_BYPASS ? RCC_CR_HSEBYP : 0u)) {
        /* A board variant with the other kind of HSE source: try it before giving up. */
        while (!hse_on(TQ_SOC_HSE_BYPASS ? 0u : RCC_CR_HSEBYP)) {
        }
    }
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR;
    PWR_CR1 |= PWR_CR1_VOS_SCALE1;

    RCC_CR &= ~RCC_CR_PLLON;
    while (RCC_CR & RCC_CR_PLLRDY) {
    }
    RCC_PLLCFGR = TQ_SOC_PLL_M | (TQ_SOC_PLL_N << 6) | (((TQ_SOC_PLL_P / 2u) - 1u) << 16) | PLLCFGR_SRC_HSE |
                  (TQ_SOC_PLL_Q << 24);
    RCC_CR |= RCC_CR_PLLON;

    PWR_CR1 |= PWR_CR1_ODEN;
    while (!(PWR_CSR1 & PWR_CSR1_ODRDY)) {
    }
    PWR_CR1 |= PWR_CR1_ODSWEN;
    while (!(PWR_CSR1 & PWR_CSR1_ODSWRDY)) {
    }

    FLASH_ACR = TQ_SOC_FLASH_WS | FLASH_ACR_PRFTEN | FLASH_ACR_ARTEN;
    while ((FLASH_ACR & 0xFu) != TQ_SOC_FLASH_WS) {
    }
    /* AHB /1, APB1 and APB2 dividers (PPRE1 bits 12:10, PPRE2 bits 15:13). */
    RCC_CFGR = (RCC_CFGR & ~0xFCF0u) | (PPRE(TQ_SOC_APB1_DIV) << 10) | (PPRE(TQ_SOC_APB2_DIV) << 13);

    while (!(RCC_CR & RCC_CR_PLLRDY)) {
    }
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u; /* SW = PLL */
    while ((RCC_CFGR & (3u << 2)) != (2u << 2)) {
    }

    caches_on();
}
