/*
 * Console on an nRF5 UART in its register-driven (non-DMA) mode: the nRF51's UART0, or an nRF52
 * UARTE enabled as a legacy UART (ENABLE = 4). Written against the nRF51 reference manual and the
 * nRF52840 product specification ("UART (deprecated)"); QEMU's microbit machine models it.
 * Params (tq_board.h): TQ_CONSOLE_TX_PSEL, TQ_CONSOLE_RX_PSEL (pin numbers), TQ_CONSOLE_BAUDRATE
 * (the BAUDRATE register value from the manual's table, 0x01D7E000 for 115200). 8N1, no flow
 * control. Reception runs from init on; received bytes wait in the UART's 6-byte RX FIFO.
 */
#include "tq_board.h"
#include "tq_hal.h"

#define UART_REG(off) (*(volatile uint32_t *)((uintptr_t)TQ_CONSOLE_BASE + (off)))
#define TASKS_STARTRX UART_REG(0x000u)
#define TASKS_STARTTX UART_REG(0x008u)
#define EVENTS_RXDRDY UART_REG(0x108u)
#define EVENTS_TXDRDY UART_REG(0x11Cu)
#define EVENTS_ERROR UART_REG(0x124u)
#define INTENCLR UART_REG(0x308u)
#define ERRORSRC UART_REG(0x480u)
#define ENABLE UART_REG(0x500u)
#define PSELRTS UART_REG(0x508u)
#define PSELTXD UART_REG(0x50Cu)
#define PSELCTS UART_REG(0x510u)
#define PSELRXD UART_REG(0x514u)
#define RXD UART_REG(0x518u)
#define TXD UART_REG(0x51Cu)
#define BAUDRATE UART_REG(0x524u)
#define CONFIG UART_REG(0x56Cu)

#define ENABLE_UART 4u
#define PSEL_DISCONNECTED 0xFFFFFFFFu

void tq_console_init(void)
{
    ENABLE = 0u;
    INTENCLR = 0xFFFFFFFFu;
    PSELTXD = TQ_CONSOLE_TX_PSEL;
    PSELRXD = TQ_CONSOLE_RX_PSEL;
    PSELRTS = PSEL_DISCONNECTED;
    PSELCTS = PSEL_DISCONNECTED;
    BAUDRATE = TQ_CONSOLE_BAUDRATE;
    CONFIG = 0u;
    ENABLE = ENABLE_UART;
    EVENTS_RXDRDY = 0u;
    EVENTS_TXDRDY = 0u;
    EVENTS_ERROR = 0u;
    TASKS_STARTTX = 1u;
    TASKS_STARTRX = 1u;
}

void tq_putc(char c)
{
    TXD = (uint8_t)c;
    while (EVENTS_TXDRDY == 0u) {
    }
    EVENTS_TXDRDY = 0u;
}

int tq_getc(void)
{
    while (EVENTS_RXDRDY == 0u) {
    }
    EVENTS_RXDRDY = 0u; /* cleared before RXD is read, so a byte behind it in the FIFO sets it again */
    if (EVENTS_ERROR != 0u) {
        ERRORSRC = ERRORSRC;
        EVENTS_ERROR = 0u;
    }
    return (int)(RXD & 0xFFu);
}
