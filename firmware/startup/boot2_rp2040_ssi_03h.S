/*
 * RP2040 second-stage boot block (written against the RP2040 datasheet, 2.8 "Bootrom" and 4.10
 * "SSI"): the bootrom copies the first 256 bytes of flash to SRAM (0x20041F00), checks their CRC-32
 * (the last 4 bytes, written by `tinyq build`) and runs them. This block sets up execute-in-place
 * with the one command every serial NOR flash answers, 03h READ (one data line, 24-bit address, no
 * dummy cycles, SCK = clk_sys / 4), then enters the image: VTOR, MSP and the reset handler from
 * tq_vector_table, which the linker script places right after this block.
 * Position-independent (literal loads are PC-relative), ARMv6-M Thumb only, no stack.
 */
    .syntax unified
    .cpu cortex-m0plus
    .thumb

    .equ SSI_BASE, 0x18000000
    .equ SSI_CTRLR0, 0x00
    .equ SSI_CTRLR1, 0x04
    .equ SSI_SSIENR, 0x08
    .equ SSI_BAUDR, 0x14
    .equ SSI_SPI_CTRLR0, 0xF4
    /* CTRLR0: SPI_FRF (22:21) = 0 standard SPI, DFS_32 (20:16) = 31 (32-bit frames),
       TMOD (9:8) = 3 EEPROM read (command and address out, then data in). */
    .equ CTRLR0_XIP, (31 << 16) | (3 << 8)
    /* SPI_CTRLR0: XIP_CMD (31:24) = 03h, WAIT_CYCLES (15:11) = 0, INST_L (9:8) = 2 (8-bit command),
       ADDR_L (5:2) = 6 (24-bit address), TRANS_TYPE (1:0) = 0 (command and address on one line). */
    .equ SPI_CTRLR0_XIP, (0x03 << 24) | (2 << 8) | (6 << 2)
    .equ SCB_VTOR, 0xE000ED08

    .section .tq_boot2, "ax"
    .global tq_boot2_entry
    .type tq_boot2_entry, %function
    .thumb_func
tq_boot2_entry:
    ldr r3, =SSI_BASE
    movs r0, #0
    str r0, [r3, #SSI_SSIENR]    /* the SSI takes a configuration only while disabled */
    movs r0, #4
    str r0, [r3, #SSI_BAUDR]
    ldr r0, =CTRLR0_XIP
    str r0, [r3, #SSI_CTRLR0]
    ldr r0, =SPI_CTRLR0_XIP
    ldr r1, =(SSI_BASE + SSI_SPI_CTRLR0)
    str r0, [r1]
    movs r0, #0
    str r0, [r3, #SSI_CTRLR1]    /* NDF = 0: one 32-bit frame per XIP access */
    movs r0, #1
    str r0, [r3, #SSI_SSIENR]

    ldr r0, =tq_vector_table
    ldr r1, =SCB_VTOR
    str r0, [r1]
    ldmia r0!, {r1, r2}          /* initial MSP, reset handler */
    msr msp, r1
    bx r2
    .ltorg
    .size tq_boot2_entry, . - tq_boot2_entry
