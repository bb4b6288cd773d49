/*
 * Console on an Arm PrimeCell PL011 UART (Arm DDI 0183: RP2040 UART0/1, Stellaris/QEMU lm3s6965evb,
 * many others). 8N1, FIFOs on, no flow control. Params (tq_board.h): TQ_CONSOLE_CLOCK_HZ, the
 * UARTCLK feeding the baud generator. Clock gates, resets and pin multiplexing belong to the chip
 * and are done by its soc init.
 *
 * Baud divisor (DDI 0183, 3.3.6): UARTCLK / (16 baud) = IBRD + FBRD / 64, FBRD rounded to nearest;
 * the divisors latch on the write of UARTLCR_H, which comes after them.
 */
#include "tq_board.h"
#include "tq_hal.h"

#define UART_REG(off) (*(volatile uint32_t *)((uintptr_t)TQ_CONSOLE_BASE + (off)))
#define UARTDR UART_REG(0x000u)
#define UARTRSR UART_REG(0x004u) /* write: clears the error flags */
#define UARTFR UART_REG(0x018u)
#define UARTIBRD UART_REG(0x024u)
#define UARTFBRD UART_REG(0x028u)
#define UARTLCR_H UART_REG(0x02Cu)
#define UARTCR UART_REG(0x030u)
#define UARTIMSC UART_REG(0x038u)

#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define LCR_H_FEN (1u << 4)
#define LCR_H_WLEN8 (3u << 5)
#define CR_UARTEN (1u << 0)
#define CR_TXE (1u << 8)
#define CR_RXE (1u << 9)

/* The divisor in 64ths, rounded: (128 x UARTCLK / (16 baud) + 1) / 2; IBRD its integer part. */
#define PL011_DIV64 ((((8ull * TQ_CONSOLE_CLOCK_HZ) / TQ_CONSOLE_BAUD) + 1u) / 2u)
#define PL011_IBRD ((uint32_t)(PL011_DIV64 >> 6))
#define PL011_FBRD ((uint32_t)(PL011_DIV64 & 0x3Fu))

void tq_console_init(void)
{
    UARTCR = 0u;
    UARTIMSC = 0u;
    UARTRSR = 0u;
    UARTIBRD = PL011_IBRD;
    UARTFBRD = PL011_FBRD;
    UARTLCR_H = LCR_H_WLEN8 | LCR_H_FEN;
    UARTCR = CR_UARTEN | CR_TXE | CR_RXE;
}

void tq_putc(char c)
{
    while (UARTFR & FR_TXFF) {
    }
    UARTDR = (uint8_t)c;
}

int tq_getc(void)
{
    while (UARTFR & FR_RXFE) {
    }
    return (int)(UARTDR & 0xFFu); /* bits 8..11 are the byte's error flags */
}
