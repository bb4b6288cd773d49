/*
 * tinyq Cortex-M startup: vector table, reset handler, default fault handlers. Portable across
 * ARMv6-M/v7-M/v8-M (Thumb-1 friendly C, no v7-only instructions); the memory layout comes from
 * the linker script and the table's size and VTOR handling from the board file (TQ_IRQ_COUNT,
 * TQ_VTOR_RELOCATE in tq_board.h).
 *
 * Reset: interrupts masked, VTOR pointed at our table (for images a bootloader starts), .data
 * copied, .bss zeroed, FPU/MVE on where the core has one, tq_soc_init (clocks), interrupts
 * unmasked, main.
 */
#include <stdint.h>

#include "tq_board.h"
#include "tq_hal.h"

extern uint32_t __tq_data_load, __tq_data_start, __tq_data_end, __tq_bss_start, __tq_bss_end, __tq_stack_top;

int main(void);
void tq_reset_handler(void);
void tq_default_handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("tq_default_handler")));
void tq_irq_handler(void) __attribute__((weak, alias("tq_default_handler")));

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

#ifndef TQ_IRQ_COUNT
#define TQ_IRQ_COUNT 0
#endif

typedef void (*tq_vector)(void);
extern const tq_vector tq_vector_table[16 + TQ_IRQ_COUNT];

/* Boards without a soc file run on the clock they reset to. */
__attribute__((weak)) void tq_soc_init(void)
{
}

void tq_reset_handler(void)
{
    __asm volatile("cpsid i" ::: "memory");
#if TQ_VTOR_RELOCATE
    SCB_VTOR = (uint32_t)(uintptr_t)tq_vector_table;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    uint32_t *src = &__tq_data_load;
    uint32_t *dst = &__tq_data_start;
    while (dst < &__tq_data_end) {
        *dst++ = *src++;
    }
    for (dst = &__tq_bss_start; dst < &__tq_bss_end;) {
        *dst++ = 0u;
    }
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* Full access to CP10/CP11: the FPU (and the MVE unit, which shares them). */
    SCB_CPACR |= (0xFu << 20);
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    tq_soc_init();
    __asm volatile("cpsie i" ::: "memory");
    (void)main();
    for (;;) {
    }
}

/* Any unexpected exception stops here; a debugger shows which one through IPSR. */
void tq_default_handler(void)
{
    for (;;) {
    }
}

__attribute__((section(".tq_vectors"), used)) const tq_vector tq_vector_table[16 + TQ_IRQ_COUNT] = {
    (tq_vector)(uintptr_t)&__tq_stack_top,
    tq_reset_handler,
    tq_default_handler, /* NMI */
    tq_default_handler, /* HardFault */
    tq_default_handler, /* MemManage */
    tq_default_handler, /* BusFault */
    tq_default_handler, /* UsageFault */
    tq_default_handler, /* SecureFault (v8-M) */
    0,
    0,
    0,
    tq_default_handler, /* SVCall */
    tq_default_handler, /* DebugMonitor */
    0,
    tq_default_handler, /* PendSV */
    SysTick_Handler,
#if TQ_IRQ_COUNT > 0
    [16 ... 15 + TQ_IRQ_COUNT] = tq_irq_handler,
#endif
};
