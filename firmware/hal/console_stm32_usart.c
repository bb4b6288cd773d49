/*
 * Console on an STM32 USART or LPUART with the "v2" register layout (CR1, BRR at 0x0C, ISR at 0x1C,
 * RDR, TDR; STM32F7, L4, L4+, G4, H7, ...), written against RM0385 and RM0432. 8N1, oversampling by
 * 16, no flow control, overrun detection off (a missed byte must not stop reception).
 * Params (tq_board.h):
 *   TQ_CONSOLE_CLOCK_HZ      the peripheral's kernel clock (its APB clock after the soc init)
 *   TQ_CONSOLE_BRR_SCALE     1 for a USART (BRR = f / baud), 256 for an LPUART (BRR = 256 f / baud)
 *   TQ_CONSOLE_CLOCK_EN_REG, TQ_CONSOLE_CLOCK_EN_MASK   RCC enable bit(s) of the U(S)ART
 *   TQ_CONSOLE_GPIO_EN_REG, TQ_CONSOLE_GPIO_EN_MASK     RCC enable bit(s) of the pins' GPIO ports
 *   TQ_CONSOLE_TX_GPIO, TQ_CONSOLE_TX_PIN, TQ_CONSOLE_RX_GPIO, TQ_CONSOLE_RX_PIN, TQ_CONSOLE_AF
 *                            the pins (GPIO port base, pin number) and their alternate function
 * Pins of an I/O supply that needs enabling (VDDIO2 on the L4+) are powered by the soc init.
 */
#include "tq_board.h"
#include "tq_hal.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define UART_CR1 REG(TQ_CONSOLE_BASE + 0x00u)
#define UART_CR3 REG(TQ_CONSOLE_BASE + 0x08u)
#define UART_BRR REG(TQ_CONSOLE_BASE + 0x0Cu)
#define UART_ISR REG(TQ_CONSOLE_BASE + 0x1Cu)
#define UART_ICR REG(TQ_CONSOLE_BASE + 0x20u)
#define UART_RDR REG(TQ_CONSOLE_BASE + 0x24u)
#define UART_TDR REG(TQ_CONSOLE_BASE + 0x28u)

#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR3_OVRDIS (1u << 12)
#define ISR_ORE (1u << 3)
#define ISR_RXNE (1u << 5)
#define ISR_TXE (1u << 7)
#define ICR_ERRORS 0x1Fu /* PE FE NE ORE IDLE */

#define GPIO_MODER(port) REG((port) + 0x00u)
#define GPIO_OSPEEDR(port) REG((port) + 0x08u)
#define GPIO_PUPDR(port) REG((port) + 0x0Cu)
#define GPIO_AFR(port, pin) REG((port) + 0x20u + 4u * ((pin) >> 3))

/* The baud divisor, rounded to nearest. */
#define UART_BRR_VALUE (((uint64_t)TQ_CONSOLE_BRR_SCALE * TQ_CONSOLE_CLOCK_HZ + TQ_CONSOLE_BAUD / 2u) / TQ_CONSOLE_BAUD)

static void pin_af(uint32_t port, uint32_t pin, uint32_t pull_up)
{
    const uint32_t shift2 = 2u * pin, shift4 = 4u * (pin & 7u);
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << shift4)) | ((uint32_t)TQ_CONSOLE_AF << shift4);
    GPIO_OSPEEDR(port) = (GPIO_OSPEEDR(port) & ~(3u << shift2)) | (2u << shift2);  /* high speed */
    GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~(3u << shift2)) | (pull_up << shift2); /* 1: pull-up */
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << shift2)) | (2u << shift2);      /* alternate function */
}

void tq_console_init(void)
{
    REG(TQ_CONSOLE_GPIO_EN_REG) |= TQ_CONSOLE_GPIO_EN_MASK;
    REG(TQ_CONSOLE_CLOCK_EN_REG) |= TQ_CONSOLE_CLOCK_EN_MASK;
    (void)REG(TQ_CONSOLE_CLOCK_EN_REG); /* the enable takes effect before the first access */
    pin_af(TQ_CONSOLE_TX_GPIO, TQ_CONSOLE_TX_PIN, 0u);
    pin_af(TQ_CONSOLE_RX_GPIO, TQ_CONSOLE_RX_PIN, 1u);
    UART_CR1 = 0u;
    UART_CR3 = CR3_OVRDIS;
    UART_BRR = (uint32_t)UART_BRR_VALUE;
    UART_ICR = ICR_ERRORS;
    UART_CR1 = CR1_TE | CR1_RE | CR1_UE;
}

void tq_putc(char c)
{
    while (!(UART_ISR & ISR_TXE)) {
    }
    UART_TDR = (uint8_t)c;
}

int tq_getc(void)
{
    while (!(UART_ISR & ISR_RXNE)) {
        if (UART_ISR & ISR_ORE) {
            UART_ICR = ISR_ORE;
        }
    }
    return (int)(UART_RDR & 0xFFu);
}
