/*
 * Chip bring-up for the RP2040 (written against the RP2040 datasheet, chapter 2): clk_ref from the
 * crystal oscillator, clk_sys from PLL_SYS, clk_peri (UARTs, SPI) from clk_sys; peripherals out of
 * reset; the console's pins given to the UART.
 *
 *   clk_sys = TQ_SOC_XOSC_HZ / PLL_REFDIV * PLL_FBDIV / (PLL_POSTDIV1 * PLL_POSTDIV2)
 *
 * Params: XOSC_HZ (1..15 MHz crystal), PLL_REFDIV, PLL_FBDIV (16..320; VCO 750..1600 MHz),
 * PLL_POSTDIV1 >= PLL_POSTDIV2 (1..7), RESETS_RELEASE (RESETS bits to release: IO_BANK0, PADS_BANK0,
 * the console's UART...). Console params read here if present: TQ_CONSOLE_TX_PIN, TQ_CONSOLE_RX_PIN,
 * TQ_CONSOLE_FUNCSEL (GPIO function number of the UART, 2).
 * Order (datasheet 2.15, 2.17, 2.18): clk_sys and clk_ref back on their glitchless reset sources,
 * XOSC started, clk_ref to XOSC, PLL_SYS reset, programmed, locked and its post dividers powered,
 * clk_sys to the PLL through its aux mux, clk_peri enabled on clk_sys. The boot2 block runs the
 * flash at clk_sys / 4 (31.25 MHz at 125 MHz, in the flash's range for 03h reads).
 * Register writes to base + 0x2000 set bits, to base + 0x3000 clear bits (datasheet 2.1.2).
 */
#include "tq_board.h"
#include "tq_hal.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define SET(addr) REG((addr) + 0x2000u)
#define CLR(addr) REG((addr) + 0x3000u)

#define RESETS_BASE 0x4000C000u
#define RESETS_RESET (RESETS_BASE + 0x0u)
#define RESETS_DONE REG(RESETS_BASE + 0x8u)
#define RESET_PLL_SYS (1u << 12)

#define CLOCKS_BASE 0x40008000u
#define CLK_REF_CTRL (CLOCKS_BASE + 0x30u)
#define CLK_REF_SELECTED REG(CLOCKS_BASE + 0x38u)
#define CLK_SYS_CTRL (CLOCKS_BASE + 0x3Cu)
#define CLK_SYS_DIV REG(CLOCKS_BASE + 0x40u)
#define CLK_SYS_SELECTED REG(CLOCKS_BASE + 0x44u)
#define CLK_PERI_CTRL REG(CLOCKS_BASE + 0x48u)
#define CLK_SYS_RESUS_CTRL REG(CLOCKS_BASE + 0x78u)
#define CLK_CTRL_ENABLE (1u << 11)
#define CLK_REF_SRC_XOSC 2u
#define CLK_SYS_SRC_AUX 1u
#define CLK_SYS_AUXSRC_MASK (7u << 5) /* 0: PLL_SYS */

#define XOSC_BASE 0x40024000u
#define XOSC_CTRL REG(XOSC_BASE + 0x00u)
#define XOSC_STATUS REG(XOSC_BASE + 0x04u)
#define XOSC_STARTUP REG(XOSC_BASE + 0x0Cu)
#define XOSC_FREQ_1_15MHZ 0xAA0u
#define XOSC_ENABLE (0xFABu << 12)
#define XOSC_STABLE (1u << 31)
/* Startup delay in units of 256 crystal cycles: 1 ms. */
#define XOSC_DELAY ((TQ_SOC_XOSC_HZ / 1000u + 128u) / 256u)

#define PLL_SYS_BASE 0x40028000u
#define PLL_CS REG(PLL_SYS_BASE + 0x0u)
#define PLL_PWR (PLL_SYS_BASE + 0x4u)
#define PLL_FBDIV_INT REG(PLL_SYS_BASE + 0x8u)
#define PLL_PRIM REG(PLL_SYS_BASE + 0xCu)
#define PLL_CS_LOCK (1u << 31)
#define PLL_PWR_PD (1u << 0)
#define PLL_PWR_POSTDIVPD (1u << 3)
#define PLL_PWR_VCOPD (1u << 5)

#define IO_BANK0_GPIO_CTRL(n) REG(0x40014000u + 0x04u + 8u * (n))
#define PADS_BANK0_GPIO(n) REG(0x4001C000u + 0x04u + 4u * (n))
#define PADS_IE (1u << 6)
#define PADS_OD (1u << 7)

#if TQ_SOC_XOSC_HZ / TQ_SOC_PLL_REFDIV * TQ_SOC_PLL_FBDIV / (TQ_SOC_PLL_POSTDIV1 * TQ_SOC_PLL_POSTDIV2) != TQ_CLOCK_HZ
#error "the board's PLL params do not give its clock_hz"
#endif

static void unreset(uint32_t bits)
{
    CLR(RESETS_RESET) = bits;
    while ((RESETS_DONE & bits) != bits) {
    }
}

#if defined(TQ_CONSOLE_FUNCSEL)
static void pin_function(uint32_t pin, uint32_t funcsel)
{
    PADS_BANK0_GPIO(pin) = (PADS_BANK0_GPIO(pin) & ~PADS_OD) | PADS_IE;
    IO_BANK0_GPIO_CTRL(pin) = funcsel; /* no overrides */
}
#endif

void tq_soc_init(void)
{
    CLK_SYS_RESUS_CTRL = 0u;

    /* clk_sys on clk_ref, clk_ref on the ring oscillator: the glitchless muxes' safe positions. */
    CLR(CLK_SYS_CTRL) = 1u;
    while (CLK_SYS_SELECTED != 1u) {
    }
    CLR(CLK_REF_CTRL) = 3u;
    while (CLK_REF_SELECTED != 1u) {
    }

    XOSC_CTRL = XOSC_FREQ_1_15MHZ;
    XOSC_STARTUP = XOSC_DELAY;
    XOSC_CTRL = XOSC_FREQ_1_15MHZ | XOSC_ENABLE;
    while (!(XOSC_STATUS & XOSC_STABLE)) {
    }
    REG(CLK_REF_CTRL) = CLK_REF_SRC_XOSC;
    while (CLK_REF_SELECTED != (1u << CLK_REF_SRC_XOSC)) {
    }

    SET(RESETS_RESET) = RESET_PLL_SYS;
    unreset(RESET_PLL_SYS);
    PLL_CS = TQ_SOC_PLL_REFDIV;
    PLL_FBDIV_INT = TQ_SOC_PLL_FBDIV;
    CLR(PLL_PWR) = PLL_PWR_PD | PLL_PWR_VCOPD;
    while (!(PLL_CS & PLL_CS_LOCK)) {
    }
    PLL_PRIM = ((uint32_t)TQ_SOC_PLL_POSTDIV1 << 16) | ((uint32_t)TQ_SOC_PLL_POSTDIV2 << 12);
    CLR(PLL_PWR) = PLL_PWR_POSTDIVPD;

    CLK_SYS_DIV = 1u << 8;
    CLR(CLK_SYS_CTRL) = CLK_SYS_AUXSRC_MASK; /* aux = PLL_SYS, while clk_sys still runs on clk_ref */
    SET(CLK_SYS_CTRL) = CLK_SYS_SRC_AUX;
    while (CLK_SYS_SELECTED != 2u) {
    }

    CLK_PERI_CTRL = 0u;
    CLK_PERI_CTRL = CLK_CTRL_ENABLE; /* aux 0: clk_sys */

    unreset(TQ_SOC_RESETS_RELEASE);
#if defined(TQ_CONSOLE_FUNCSEL)
    pin_function(TQ_CONSOLE_TX_PIN, TQ_CONSOLE_FUNCSEL);
    pin_function(TQ_CONSOLE_RX_PIN, TQ_CONSOLE_FUNCSEL);
#endif
}
