/*
 * Console on an nRF52 UARTE (UART with EasyDMA), written against the nRF52840 product
 * specification. EasyDMA reads and writes RAM only, so both directions go through one-byte buffers
 * in .bss. Params (tq_board.h): TQ_CONSOLE_TX_PSEL, TQ_CONSOLE_RX_PSEL (PSEL values: pin | port << 5),
 * TQ_CONSOLE_BAUDRATE (the BAUDRATE register value from the product specification's table, e.g.
 * 0x01D60000 for 115200). 8N1, no flow control.
 *
 * Reception is kept armed: a one-byte transfer is started at init and again as soon as a byte is
 * taken, and bytes that arrive between the end of one transfer and the next start wait in the
 * UARTE's RX FIFO, so a host that sends a line at a time loses nothing while tq_getc is polled.
 */
#include "tq_board.h"
#include "tq_hal.h"

#define UARTE_REG(off) (*(volatile uint32_t *)((uintptr_t)TQ_CONSOLE_BASE + (off)))
#define TASKS_STARTRX UARTE_REG(0x000u)
#define TASKS_STARTTX UARTE_REG(0x008u)
#define EVENTS_ENDRX UARTE_REG(0x110u)
#define EVENTS_ENDTX UARTE_REG(0x120u)
#define EVENTS_ERROR UARTE_REG(0x124u)
#define INTENCLR UARTE_REG(0x308u)
#define ERRORSRC UARTE_REG(0x480u)
#define ENABLE UARTE_REG(0x500u)
#define PSEL_RTS UARTE_REG(0x508u)
#define PSEL_TXD UARTE_REG(0x50Cu)
#define PSEL_CTS UARTE_REG(0x510u)
#define PSEL_RXD UARTE_REG(0x514u)
#define BAUDRATE UARTE_REG(0x524u)
#define RXD_PTR UARTE_REG(0x534u)
#define RXD_MAXCNT UARTE_REG(0x538u)
#define TXD_PTR UARTE_REG(0x544u)
#define TXD_MAXCNT UARTE_REG(0x548u)
#define CONFIG UARTE_REG(0x56Cu)

#define ENABLE_UARTE 8u
#define PSEL_DISCONNECTED 0xFFFFFFFFu

/* GPIO: the TX pin is driven high (idle) as an output before the UARTE takes it. */
#define GPIO_PORT_BASE(psel) (0x50000000u + (((psel) >> 5) & 1u) * 0x300u)
#define GPIO_OUTSET(psel) (*(volatile uint32_t *)(uintptr_t)(GPIO_PORT_BASE(psel) + 0x508u))
#define GPIO_PIN_CNF(psel) (*(volatile uint32_t *)(uintptr_t)(GPIO_PORT_BASE(psel) + 0x700u + 4u * ((psel) & 31u)))

static volatile uint8_t uarte_tx_byte;
static volatile uint8_t uarte_rx_byte;

static void uarte_start_rx(void)
{
    EVENTS_ENDRX = 0u;
    RXD_PTR = (uint32_t)(uintptr_t)&uarte_rx_byte;
    RXD_MAXCNT = 1u;
    TASKS_STARTRX = 1u;
}

void tq_console_init(void)
{
    ENABLE = 0u;
    INTENCLR = 0xFFFFFFFFu;
    GPIO_OUTSET(TQ_CONSOLE_TX_PSEL) = 1u << (TQ_CONSOLE_TX_PSEL & 31u);
    GPIO_PIN_CNF(TQ_CONSOLE_TX_PSEL) = 1u;       /* output, input buffer connected */
    GPIO_PIN_CNF(TQ_CONSOLE_RX_PSEL) = 0u;       /* input, no pull */
    PSEL_TXD = TQ_CONSOLE_TX_PSEL;
    PSEL_RXD = TQ_CONSOLE_RX_PSEL;
    PSEL_RTS = PSEL_DISCONNECTED;
    PSEL_CTS = PSEL_DISCONNECTED;
    BAUDRATE = TQ_CONSOLE_BAUDRATE;
    CONFIG = 0u; /* no parity, no flow control, one stop bit */
    ERRORSRC = 0xFu;
    EVENTS_ERROR = 0u;
    ENABLE = ENABLE_UARTE;
    uarte_start_rx();
}

void tq_putc(char c)
{
    uarte_tx_byte = (uint8_t)c;
    EVENTS_ENDTX = 0u;
    TXD_PTR = (uint32_t)(uintptr_t)&uarte_tx_byte;
    TXD_MAXCNT = 1u;
    TASKS_STARTTX = 1u;
    while (EVENTS_ENDTX == 0u) {
    }
}

int tq_getc(void)
{
    while (EVENTS_ENDRX == 0u) {
    }
    const int c = (int)uarte_rx_byte;
    if (EVENTS_ERROR != 0u) { /* framing/overrun: clear and carry on with what arrived */
        ERRORSRC = ERRORSRC;
        EVENTS_ERROR = 0u;
    }
    uarte_start_rx();
    return c;
}
