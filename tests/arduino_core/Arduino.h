/*
 * A tiny Arduino core for tests: just what tinyq's Arduino library and its profile sketch use
 * (Serial, micros, millis, setup/loop), for the QEMU board qemu-m4 (MPS2 AN386, Cortex-M4F).
 *
 * Serial is the board's UART through tinyq's own console driver (firmware/hal/console_cmsdk_uart.c,
 * compiled with its functions renamed tq_core_uart_*), micros() counts SysTick at F_CPU (pass
 * -DF_CPU=25000000 as the Arduino builder does), and main() in core.cpp calls setup() once and
 * loop() forever. That driver has no receive poll, so available() waits for a byte and keeps it
 * for read(): a sketch whose loop() only serves Serial cannot tell the difference.
 */
#ifndef ARDUINO_H
#define ARDUINO_H

#include <stddef.h>
#include <stdint.h>

#ifndef F_CPU
#error "F_CPU is not defined: pass -DF_CPU=<core clock in Hz> as the Arduino builder does"
#endif

extern "C" {
unsigned long micros(void);
unsigned long millis(void);
}

class FakeSerial {
public:
    void begin(unsigned long baud);
    int available(void);
    int read(void);
    size_t write(uint8_t c);
    size_t write(const uint8_t *data, size_t n);
    explicit operator bool() const { return true; }

    bool has_held; /* available() took a byte from the UART that read() has not returned yet */
    uint8_t held;
};

extern FakeSerial Serial;

void setup(void);
void loop(void);

#endif /* ARDUINO_H */
