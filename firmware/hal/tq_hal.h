/*
 * tinyq hardware abstraction: the only functions the firmware calls on a board.
 *
 * One console driver (hal/console_<driver>.c, plus the files of hal/console_<driver>/ if that
 * directory exists), one cycle counter (hal/cycles_<driver>.c) and, where the board names one, a
 * chip bring-up file (hal/soc_<family>.c) are linked per board, chosen by `tinyq build` from the
 * board file; their settings arrive as macros in the generated tq_board.h (TQ_CONSOLE_<KEY>,
 * TQ_SOC_<KEY> from the board's `params`). Kernels call none of this.
 */
#ifndef TQ_HAL_H
#define TQ_HAL_H

#include <stdint.h>

/*
 * Chip bring-up: clocks to TQ_CLOCK_HZ, caches, flash wait states, what a bootloader left running.
 * The reset handler calls it with interrupts masked, after .data/.bss are set up and before main;
 * boards without a soc file run on the reset clock (a weak empty default).
 */
void tq_soc_init(void);

/* Console: 8N1 serial at the board's baud rate. tq_getc blocks until a byte arrives. */
void tq_console_init(void);
void tq_putc(char c);
int tq_getc(void);

/*
 * Cycle counter: a free-running 64-bit count in the board's cycle unit (core cycles from DWT on
 * hardware; instructions from a timer under QEMU -icount, see TQ_CYCLES_UNIT in tq_board.h).
 */
void tq_cycles_init(void);
uint64_t tq_cycles(void);

/*
 * Interrupts: the TQ_IRQ_COUNT entries of the vector table all call tq_irq_handler (weak: stops
 * like an unexpected exception). A driver that enables an interrupt defines it and reads the
 * number from IPSR (exception number - 16).
 */
void tq_irq_handler(void);

#endif /* TQ_HAL_H */
