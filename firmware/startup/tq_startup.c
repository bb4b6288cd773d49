/*
 * tinyq Cortex-M startup: vector table, reset handler (.data copy, .bss zero, FPU/MVE on where the
 * core has one), default fault handlers. Portable across ARMv6-M/v7-M/v8-M; the memory layout comes
 * from the linker script that `tinyq build` renders from the board's memory map.
 */
#include <stdint.h>

extern uint32_t __tq_data_load, __tq_data_start, __tq_data_end, __tq_bss_start, __tq_bss_end, __tq_stack_top;

int main(void);
void tq_reset_handler(void);
void tq_default_handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("tq_default_handler")));

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void tq_reset_handler(void)
{
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

typedef void (*tq_vector)(void);

__attribute__((section(".tq_vectors"), used)) const tq_vector tq_vector_table[16] = {
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
};
