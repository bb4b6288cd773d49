/*
 * tinyq hardware abstraction: the only functions the firmware calls on a board.
 *
 * One console driver (hal/console_<driver>.c) and one cycle counter (hal/cycles_<driver>.c) are
 * linked per board, chosen by `tinyq build` from the board file; their settings arrive as macros in
 * the generated tq_board.h. Kernels call none of this.
 */
#ifndef TQ_HAL_H
#define TQ_HAL_H

#include <stdint.h>

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

#endif /* TQ_HAL_H */
