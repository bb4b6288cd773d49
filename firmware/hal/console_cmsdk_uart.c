/* Console on an Arm CMSDK APB UART (MPS2/MPS3 FPGA images and QEMU's models of them). */
#include "tq_board.h"
#include "tq_hal.h"

#define UART_REG(off) (*(volatile uint32_t *)((uintptr_t)TQ_CONSOLE_BASE + (off)))
#define UART_DATA UART_REG(0x00u)
#define UART_STATE UART_REG(0x04u) /* bit 0: TX full, bit 1: RX full */
#define UART_CTRL UART_REG(0x08u)  /* bit 0: TX enable, bit 1: RX enable */
#define UART_BAUDDIV UART_REG(0x10u)

void tq_console_init(void)
{
    UART_BAUDDIV = (uint32_t)(TQ_CLOCK_HZ / TQ_CONSOLE_BAUD);
    UART_CTRL = 0x3u;
}

void tq_putc(char c)
{
    while (UART_STATE & 0x1u) {
    }
    UART_DATA = (uint8_t)c;
}

int tq_getc(void)
{
    while (!(UART_STATE & 0x2u)) {
    }
    return (int)(UART_DATA & 0xFFu);
}
