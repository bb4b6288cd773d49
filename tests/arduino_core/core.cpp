/* The fake Arduino core's runtime (see Arduino.h): Serial over the UART, SysTick time, main. */
#include "Arduino.h"

extern "C" {
/* firmware/hal/console_cmsdk_uart.c, built with -Dtq_console_init=tq_core_uart_init etc. */
void tq_core_uart_init(void);
void tq_core_uart_putc(char c);
int tq_core_uart_getc(void);
void SysTick_Handler(void);
}

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

FakeSerial Serial; /* no constructor: the startup code runs no C++ initializers */

static volatile uint32_t systick_wraps;

extern "C" void SysTick_Handler(void)
{
    systick_wraps++;
}

static uint64_t ticks(void)
{
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return ((uint64_t)wraps << 24) + (SYST_RELOAD - value);
}

extern "C" unsigned long micros(void)
{
    return (unsigned long)(ticks() / (F_CPU / 1000000u));
}

extern "C" unsigned long millis(void)
{
    return (unsigned long)(ticks() / (F_CPU / 1000u));
}

void FakeSerial::begin(unsigned long baud)
{
    (void)baud; /* the console driver sets the board's baud rate */
    tq_core_uart_init();
}

int FakeSerial::available(void)
{
    if (!has_held) {
        held = (uint8_t)tq_core_uart_getc();
        has_held = true;
    }
    return 1;
}

int FakeSerial::read(void)
{
    if (!has_held) {
        return -1;
    }
    has_held = false;
    return held;
}

size_t FakeSerial::write(uint8_t c)
{
    tq_core_uart_putc((char)c);
    return 1;
}

size_t FakeSerial::write(const uint8_t *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tq_core_uart_putc((char)data[i]);
    }
    return n;
}

int main(void)
{
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0u;
    SYST_CSR = 0x7u; /* core clock, interrupt on wrap, enable */
    setup();
    for (;;) {
        loop();
    }
}
