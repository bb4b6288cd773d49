/*
 * Console over the nRF52840's own USB (USBD peripheral), as a CDC-ACM serial port: the Arduino
 * Nano 33 BLE has no USB-serial bridge, so this is how its /dev/ttyACM* (COMx, /dev/cu.usbmodem*)
 * exists.
 *
 * Two halves, compiled together (the build copies console_nrf_usbd_cdc/ flat next to this file):
 *   console_nrf_usbd_cdc/tq_usb_cdc.[ch]  descriptors and control requests, no register access;
 *                                         EXECUTED on the host by tests/test_usb_cdc.py.
 *   this file                             the USBD register-level driver; ONLY COMPILED (for the
 *                                         Cortex-M4F, by the same test): it has not run on a board.
 * Written from the nRF52840 Product Specification (USBD, POWER, CLOCK chapters) and the nRF52840
 * errata 171, 187 and 199.
 *
 * tq_board.h macros:
 *   TQ_CONSOLE_BASE   the USBD base address: 0x40027000 on the nRF52840 (required).
 *   TQ_CLOCK_HZ       core clock (64 MHz): scales the spin bounds below (required).
 *   TQ_CONSOLE_BAUD   line coding reported to GET_LINE_CODING before the host sets one (required;
 *                     USB itself ignores it).
 * Optional, from the board file's console "params" (emitted as TQ_CONSOLE_<KEY>):
 *   TQ_CONSOLE_USB_VID, TQ_CONSOLE_USB_PID   default 0x2341, 0x805A (the Nano 33 BLE's application
 *                     IDs, which the upload tools look for);
 *   TQ_CONSOLE_USB_PRODUCT   product string, default "tinyq" (manufacturer "tinyq"; the serial
 *                     number is the chip's FICR DEVICEID in hex);
 *   TQ_CONSOLE_USB_TX_TIMEOUT_MS   how long tq_putc waits for the host to take a packet (default 50).
 *
 * How it runs: no interrupts. The firmware is single-threaded and spends its idle time in tq_getc,
 * so tq_getc and tq_putc poll the USBD events and serve enumeration, control requests and the bulk
 * endpoints whenever the firmware waits or prints. A long computation (an inference) leaves control
 * requests pending meanwhile; the host retries or times out after seconds, and nothing is lost on
 * the bulk pipes (the hardware NAKs until served).
 *
 * Output policy: tq_putc drops bytes while nobody listens (not configured, DTR low, bus suspended,
 * bulk IN halted), which is how the boot banner goes when no terminal is open. Bytes are gathered in
 * a 64-byte packet, sent when it fills, on '\n' and when tq_getc starts waiting, so a reply line is
 * never stuck; a full packet that ends a burst is followed by a zero-length packet so the host's
 * read completes. If the port is open but the host takes no packet for TQ_CONSOLE_USB_TX_TIMEOUT_MS
 * (counted in USB frames), tq_putc gives up on that packet and drops output until the host takes
 * the pending one: a stalled terminal slows the firmware by one timeout, it never hangs it.
 *
 * The 1200-baud touch (host sets 1200 baud, then drops DTR) acknowledges the request, detaches from
 * the bus and resets with GPREGRET=0xB0, which keeps the Arduino bootloader in its upload mode.
 *
 * Not done: interrupts, remote wakeup, the USBD low-power mode during bus suspend (a suspend only
 * stops output), SERIAL_STATE notifications (the interrupt endpoint exists and stays silent).
 */
#include "tq_board.h"
#include "tq_hal.h"
#include "tq_usb_cdc.h"

#include <stddef.h>
#include <stdint.h>

#ifndef TQ_CONSOLE_USB_VID
#define TQ_CONSOLE_USB_VID 0x2341u
#endif
#ifndef TQ_CONSOLE_USB_PID
#define TQ_CONSOLE_USB_PID 0x805Au
#endif
#ifndef TQ_CONSOLE_USB_PRODUCT
#define TQ_CONSOLE_USB_PRODUCT "tinyq"
#endif
#ifndef TQ_CONSOLE_USB_TX_TIMEOUT_MS
#define TQ_CONSOLE_USB_TX_TIMEOUT_MS 50u
#endif

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* USBD registers (nRF52840 PS, USBD register overview). */
#define USBD(off) REG32((uintptr_t)TQ_CONSOLE_BASE + (off))
#define USBD_TASKS_STARTEPIN(n) USBD(0x004u + 4u * (n))
#define USBD_TASKS_STARTEPOUT(n) USBD(0x028u + 4u * (n))
#define USBD_TASKS_EP0RCVOUT USBD(0x04Cu)
#define USBD_TASKS_EP0STATUS USBD(0x050u)
#define USBD_TASKS_EP0STALL USBD(0x054u)
#define USBD_EVENTS_USBRESET USBD(0x100u)
#define USBD_EVENTS_ENDEPIN(n) USBD(0x108u + 4u * (n))
#define USBD_EVENTS_EP0DATADONE USBD(0x128u)
#define USBD_EVENTS_ENDEPOUT(n) USBD(0x130u + 4u * (n))
#define USBD_EVENTS_USBEVENT USBD(0x158u)
#define USBD_EVENTS_EP0SETUP USBD(0x15Cu)
#define USBD_EVENTS_EPDATA USBD(0x160u)
#define USBD_INTENCLR USBD(0x308u)
#define USBD_EVENTCAUSE USBD(0x400u)     /* bit 8 SUSPEND, 9 RESUME, 11 READY; write 1 to clear */
#define USBD_EPDATASTATUS USBD(0x46Cu)   /* bit n: EPIN[n] acknowledged; bit 16+n: EPOUT[n] has data */
#define USBD_SETUP(i) USBD(0x480u + 4u * (i)) /* BMREQUESTTYPE, BREQUEST, WVALUEL ... WLENGTHH */
#define USBD_SIZE_EPOUT(n) USBD(0x4A0u + 4u * (n))
#define USBD_ENABLE USBD(0x500u)
#define USBD_USBPULLUP USBD(0x504u)
#define USBD_DTOGGLE USBD(0x50Cu)  /* EP bits 2..0, IO bit 7, VALUE bits 9..8 (0 nop, 1 DATA0) */
#define USBD_EPINEN USBD(0x510u)
#define USBD_EPOUTEN USBD(0x514u)
#define USBD_EPSTALL USBD(0x518u)  /* EP bits 2..0, IO bit 7, STALL bit 8 */
#define USBD_FRAMECNTR USBD(0x520u) /* 11-bit SOF counter: one tick per millisecond on the bus */
#define USBD_EPIN_PTR(n) USBD(0x600u + 0x14u * (n))
#define USBD_EPIN_MAXCNT(n) USBD(0x604u + 0x14u * (n))
#define USBD_EPOUT_PTR(n) USBD(0x700u + 0x14u * (n))
#define USBD_EPOUT_MAXCNT(n) USBD(0x704u + 0x14u * (n))
#define USBD_EPOUT_AMOUNT(n) USBD(0x708u + 0x14u * (n))
#define USBD_ERRATA199 USBD(0xC1Cu) /* errata 199: hold tasks while EasyDMA runs (0x82), release (0) */

#define EVENTCAUSE_SUSPEND (1u << 8)
#define EVENTCAUSE_RESUME (1u << 9)
#define EVENTCAUSE_READY (1u << 11)

/* POWER and CLOCK share one peripheral at 0x40000000. */
#define CLOCK_TASKS_HFCLKSTART REG32(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED REG32(0x40000100u)
#define CLOCK_HFCLKSTAT REG32(0x4000040Cu) /* bit 0: source is the crystal, bit 16: running */
#define POWER_CLOCK_INTENCLR REG32(0x40000308u)
#define POWER_USBREGSTATUS REG32(0x40000438u) /* bit 0: VBUS detected, bit 1: USB regulator ready */
#define POWER_GPREGRET REG32(0x4000051Cu)
#define FICR_DEVICEID(i) REG32(0x10000060u + 4u * (i))

/* Errata 171 and 187 (USBD may not reach its active state / cannot be enabled): undocumented
   registers poked around ENABLE; both apply to every production nRF52840. */
#define ERRATA_KEY REG32(0x4006EC00u)
#define ERRATA_171_REG 0x4006EC14u
#define ERRATA_187_REG 0x4006ED14u

#define NVIC_ICER1 REG32(0xE000E184u)
#define NVIC_ICPR1 REG32(0xE000E284u)
#define USBD_IRQ_BIT (1u << (39u - 32u)) /* USBD is IRQ 39 */
#define SCB_AIRCR REG32(0xE000ED0Cu)

#define GPREGRET_STAY_IN_BOOTLOADER 0xB0u

#define EP_NOTIFY (TQ_USB_CDC_NOTIFY_EP & 0x7u)
#define EP_OUT (TQ_USB_CDC_OUT_EP & 0x7u)
#define EP_IN (TQ_USB_CDC_IN_EP & 0x7u)
#define PACKET 64u

/* Spin bounds, in loop turns (each several cycles): generous against the hardware's real times. */
#define SPINS_DMA (TQ_CLOCK_HZ / 1000u)   /* a 64-byte EasyDMA copy takes about a microsecond */
#define SPINS_START (TQ_CLOCK_HZ / 10u)  /* USBD READY, HFXO start, regulator: under a few ms */
#define SPINS_TX (TQ_CLOCK_HZ / 8u)      /* backstop if SOFs stop without a suspend event */

static struct tq_usb_cdc usb;
static char serial[17];
static uint8_t usb_up;    /* USBD enabled and pulled up */
static uint8_t suspended; /* the host suspended the bus */

/* EasyDMA reads and writes RAM only (not flash) and wants words: every packet passes through these. */
static uint32_t ep0_ram[PACKET / 4u];
static uint32_t rx_ram[PACKET / 4u];
static uint32_t tx_ram[PACKET / 4u];
#define EP0_BUF ((uint8_t *)ep0_ram)
#define RX_BUF ((uint8_t *)rx_ram)
#define TX_BUF ((uint8_t *)tx_ram)

enum { EP0_IDLE, EP0_IN, EP0_OUT };
static uint8_t ep0_stage;
static const uint8_t *ep0_src; /* IN data stage: what is left to send */
static uint16_t ep0_left;
static uint8_t ep0_zlp;
static uint8_t ep0_out[PACKET]; /* OUT data stage: what arrived */
static uint16_t ep0_out_len;
static uint16_t ep0_out_want;

static uint8_t rx_len, rx_pos; /* bytes of the last bulk OUT packet, and how many were read */
static uint8_t rx_waiting;     /* a bulk OUT packet sits in the endpoint buffer */
static uint8_t tx_len;         /* bytes gathered in TX_BUF */
static uint8_t tx_busy;        /* a bulk IN packet waits for the host */
static uint8_t tx_zlp_due;     /* the last packet sent was full: a flush must end it with a ZLP */
static uint8_t tx_stuck;       /* the host let a packet wait past the timeout: drop until it takes it */

static void barrier(void)
{
    __asm__ volatile("dsb" ::: "memory");
}

static void spin(uint32_t turns)
{
    volatile uint32_t n = turns;
    while (n) {
        --n;
    }
}

/* ------------------------------------------------------------------------------------ hardware */

static void errata_poke(uint32_t addr, uint32_t value)
{
    if (ERRATA_KEY == 0u) {
        ERRATA_KEY = 0x9375u;
        REG32(addr) = value;
        ERRATA_KEY = 0x9375u;
    } else {
        REG32(addr) = value;
    }
}

/* One EasyDMA transfer, waited for: the USBD runs a single one at a time, so none overlap. */
static void dma(volatile uint32_t *start, volatile uint32_t *end)
{
    uint32_t n = SPINS_DMA;
    *end = 0u;
    USBD_ERRATA199 = 0x82u;
    barrier();
    *start = 1u;
    while (*end == 0u && --n) {
    }
    *end = 0u;
    USBD_ERRATA199 = 0u;
    barrier();
}

static void set_data0(uint8_t ep)
{
    USBD_DTOGGLE = ep;                /* select */
    USBD_DTOGGLE = ep | (1u << 8);    /* DATA0 */
}

static void drop_transfers(void)
{
    ep0_stage = EP0_IDLE;
    rx_len = rx_pos = 0;
    rx_waiting = 0;
    tx_len = 0;
    tx_busy = 0;
    tx_zlp_due = 0;
    tx_stuck = 0;
}

/* SET_CONFIGURATION: open (1) or close (0) the CDC endpoints. */
static void configure(uint8_t on)
{
    static const uint8_t eps[3] = {TQ_USB_CDC_NOTIFY_EP, TQ_USB_CDC_OUT_EP, TQ_USB_CDC_IN_EP};
    unsigned i;
    drop_transfers();
    if (on) {
        USBD_EPINEN = 1u | (1u << EP_NOTIFY) | (1u << EP_IN);
        USBD_EPOUTEN = 1u | (1u << EP_OUT);
        for (i = 0; i < 3u; ++i) {
            USBD_EPSTALL = eps[i];
            set_data0(eps[i]);
        }
        USBD_SIZE_EPOUT(EP_OUT) = 0u; /* ready to accept the first OUT packet */
    } else {
        USBD_EPINEN = 1u;
        USBD_EPOUTEN = 1u;
    }
}

static void bus_reset(void)
{
    /* The USBD itself closed every endpoint but 0 and cleared its address. */
    tq_usb_cdc_bus_reset(&usb);
    suspended = 0;
    configure(0);
}

static void usb_start(void)
{
    uint32_t n;
    errata_poke(ERRATA_187_REG, 3u);
    errata_poke(ERRATA_171_REG, 0xC0u);
    USBD_EVENTCAUSE = EVENTCAUSE_READY;
    USBD_ENABLE = 1u;
    for (n = SPINS_START; !(USBD_EVENTCAUSE & EVENTCAUSE_READY) && n; --n) {
    }
    USBD_EVENTCAUSE = EVENTCAUSE_READY;
    errata_poke(ERRATA_171_REG, 0u);
    errata_poke(ERRATA_187_REG, 0u);

    /* USB needs the 32 MHz crystal (HFXO), not the RC oscillator. */
    if ((CLOCK_HFCLKSTAT & ((1u << 16) | 1u)) != ((1u << 16) | 1u)) {
        CLOCK_EVENTS_HFCLKSTARTED = 0u;
        CLOCK_TASKS_HFCLKSTART = 1u;
        for (n = SPINS_START; CLOCK_EVENTS_HFCLKSTARTED == 0u && n; --n) {
        }
    }
    for (n = SPINS_START; !(POWER_USBREGSTATUS & 2u) && n; --n) {
    }

    USBD_EVENTS_USBRESET = 0u;
    USBD_EVENTS_USBEVENT = 0u;
    USBD_EVENTS_EP0SETUP = 0u;
    USBD_EVENTS_EP0DATADONE = 0u;
    USBD_EVENTS_EPDATA = 0u;
    USBD_EPDATASTATUS = USBD_EPDATASTATUS;
    bus_reset();
    USBD_USBPULLUP = 1u; /* the host sees a full-speed device attach */
    usb_up = 1;
}

static void usb_stop(void)
{
    USBD_USBPULLUP = 0u;
    USBD_ENABLE = 0u;
    usb_up = 0;
    tq_usb_cdc_bus_reset(&usb);
    drop_transfers();
}

/* ------------------------------------------------------------------------------------ control */

static void ep0_send_next(void)
{
    uint16_t n = ep0_left < PACKET ? ep0_left : (uint16_t)PACKET;
    uint16_t i;
    if (n == 0u) {
        ep0_zlp = 0; /* this is the closing zero-length packet */
    }
    for (i = 0; i < n; ++i) {
        EP0_BUF[i] = ep0_src[i];
    }
    ep0_src += n;
    ep0_left = (uint16_t)(ep0_left - n);
    USBD_EPIN_PTR(0) = (uint32_t)(uintptr_t)EP0_BUF;
    USBD_EPIN_MAXCNT(0) = n;
    dma(&USBD_TASKS_STARTEPIN(0), &USBD_EVENTS_ENDEPIN(0));
}

static void apply(struct tq_usb_reply r)
{
    if (r.effects & TQ_USB_FX_CONFIG) {
        configure(r.value);
    }
    if (r.effects & TQ_USB_FX_HALT) {
        USBD_EPSTALL = (1u << 8) | r.value;
    }
    if (r.effects & TQ_USB_FX_UNHALT) {
        USBD_EPSTALL = r.value;
        set_data0(r.value);
        if (r.value == TQ_USB_CDC_OUT_EP) {
            rx_waiting = 0;
            USBD_SIZE_EPOUT(EP_OUT) = 0u;
        } else if (r.value == TQ_USB_CDC_IN_EP) {
            tx_busy = 0;
            tx_stuck = 0;
        }
    }
    switch (r.action) {
    case TQ_USB_STATUS:
        ep0_stage = EP0_IDLE;
        USBD_TASKS_EP0STATUS = 1u;
        break;
    case TQ_USB_SEND:
        ep0_stage = EP0_IN;
        ep0_src = r.data;
        ep0_left = r.len;
        ep0_zlp = r.zlp;
        ep0_send_next();
        break;
    case TQ_USB_RECEIVE:
        ep0_stage = EP0_OUT;
        ep0_out_len = 0;
        ep0_out_want = r.len;
        USBD_TASKS_EP0RCVOUT = 1u;
        break;
    default:
        ep0_stage = EP0_IDLE;
        USBD_TASKS_EP0STALL = 1u;
        break;
    }
}

static void ep0_setup(void)
{
    uint8_t s[8];
    unsigned i;
    struct tq_usb_reply r;
    for (i = 0; i < 8u; ++i) {
        s[i] = (uint8_t)USBD_SETUP(i);
    }
    r = tq_usb_cdc_setup(&usb, s);
    if (s[0] == 0x00u && s[1] == 5u) {
        /* SET_ADDRESS: the USBD answers it and loads USBADDR by itself; the core only notes it. */
        ep0_stage = EP0_IDLE;
        return;
    }
    apply(r);
}

static void ep0_data_done(void)
{
    uint16_t n, i;
    if (ep0_stage == EP0_IN) {
        if (ep0_left > 0u || ep0_zlp) {
            ep0_send_next();
        } else {
            ep0_stage = EP0_IDLE;
            USBD_TASKS_EP0STATUS = 1u; /* let the host's status stage through */
        }
    } else if (ep0_stage == EP0_OUT) {
        n = (uint16_t)(USBD_SIZE_EPOUT(0) & 0x7Fu);
        USBD_EPOUT_PTR(0) = (uint32_t)(uintptr_t)EP0_BUF;
        USBD_EPOUT_MAXCNT(0) = n;
        dma(&USBD_TASKS_STARTEPOUT(0), &USBD_EVENTS_ENDEPOUT(0));
        for (i = 0; i < n && ep0_out_len < sizeof ep0_out; ++i) {
            ep0_out[ep0_out_len++] = EP0_BUF[i];
        }
        if (n == PACKET && ep0_out_len < ep0_out_want) {
            USBD_TASKS_EP0RCVOUT = 1u;
        } else {
            apply(tq_usb_cdc_control_out(&usb, ep0_out, ep0_out_len));
        }
    }
}

/* ------------------------------------------------------------------------------------ polling */

static void rx_fetch(void)
{
    uint32_t n = USBD_SIZE_EPOUT(EP_OUT) & 0x7Fu;
    USBD_EPOUT_PTR(EP_OUT) = (uint32_t)(uintptr_t)RX_BUF;
    USBD_EPOUT_MAXCNT(EP_OUT) = n;
    dma(&USBD_TASKS_STARTEPOUT(EP_OUT), &USBD_EVENTS_ENDEPOUT(EP_OUT));
    rx_len = (uint8_t)(USBD_EPOUT_AMOUNT(EP_OUT) & 0x7Fu);
    rx_pos = 0;
    rx_waiting = 0; /* the endpoint accepts the next packet now */
}

static void usb_poll(void)
{
    uint32_t v;
    if (!usb_up) {
        if (POWER_USBREGSTATUS & 1u) {
            usb_start();
        }
        return;
    }
    if (!(POWER_USBREGSTATUS & 1u)) { /* cable pulled */
        usb_stop();
        return;
    }
    if (USBD_EVENTS_USBRESET) {
        USBD_EVENTS_USBRESET = 0u;
        bus_reset();
    }
    if (USBD_EVENTS_USBEVENT) {
        USBD_EVENTS_USBEVENT = 0u;
        v = USBD_EVENTCAUSE;
        USBD_EVENTCAUSE = v;
        if (v & EVENTCAUSE_SUSPEND) {
            suspended = 1;
        }
        if (v & EVENTCAUSE_RESUME) {
            suspended = 0;
        }
    }
    /* The data stage of the transfer in progress before a new SETUP, which would replace it. */
    if (USBD_EVENTS_EP0DATADONE) {
        USBD_EVENTS_EP0DATADONE = 0u;
        ep0_data_done();
    }
    if (USBD_EVENTS_EP0SETUP) {
        USBD_EVENTS_EP0SETUP = 0u;
        ep0_setup();
    }
    if (USBD_EVENTS_EPDATA) {
        USBD_EVENTS_EPDATA = 0u;
        v = USBD_EPDATASTATUS;
        USBD_EPDATASTATUS = v;
        if (v & (1u << EP_IN)) {
            tx_busy = 0;
            tx_stuck = 0;
        }
        if (v & (1u << (16u + EP_OUT))) {
            rx_waiting = 1;
        }
    }
    if (rx_waiting && rx_pos >= rx_len) {
        rx_fetch();
    }
}

/* Somebody listens: configured, terminal open (DTR), bus awake, bulk IN not halted. */
static int port_open(void)
{
    return usb_up && !suspended && tq_usb_cdc_configured(&usb) && tq_usb_cdc_dtr(&usb) && !(usb.halted & 4u);
}

/* Wait (serving USB) until the bulk IN endpoint is free; 0 when the packet must be dropped. */
static int tx_wait_free(void)
{
    uint32_t start = USBD_FRAMECNTR, turns = SPINS_TX;
    if (tx_busy && tx_stuck) {
        usb_poll();
    }
    while (tx_busy && !tx_stuck) {
        usb_poll();
        if (!port_open()) {
            return 0;
        }
        if (((USBD_FRAMECNTR - start) & 0x7FFu) > TQ_CONSOLE_USB_TX_TIMEOUT_MS || --turns == 0u) {
            tx_stuck = 1;
        }
    }
    return !tx_busy && port_open();
}

static void tx_send(void)
{
    uint8_t n = tx_len;
    tx_len = 0;
    if (!tx_wait_free()) {
        tx_zlp_due = 0;
        return;
    }
    USBD_EPIN_PTR(EP_IN) = (uint32_t)(uintptr_t)TX_BUF;
    USBD_EPIN_MAXCNT(EP_IN) = n; /* 0 sends a zero-length packet */
    dma(&USBD_TASKS_STARTEPIN(EP_IN), &USBD_EVENTS_ENDEPIN(EP_IN));
    tx_busy = 1;
    tx_zlp_due = (uint8_t)(n == PACKET);
}

static void tx_flush(void)
{
    if (tx_len > 0u || tx_zlp_due) {
        tx_send();
    }
}

/* ------------------------------------------------------------------------------------ hooks */

void tq_usb_cdc_touch_1200(void)
{
    uint32_t start, n;
    USBD_TASKS_EP0STATUS = 1u; /* answer the SET_CONTROL_LINE_STATE, so the host's close completes */
    start = USBD_FRAMECNTR;
    for (n = SPINS_START; ((USBD_FRAMECNTR - start) & 0x7FFu) < 5u && n; --n) {
    }
    USBD_USBPULLUP = 0u;
    USBD_ENABLE = 0u;
    POWER_GPREGRET = GPREGRET_STAY_IN_BOOTLOADER;
    barrier();
    SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
    barrier();
    for (;;) {
    }
}

/* ------------------------------------------------------------------------------------ tq_hal.h */

void tq_console_init(void)
{
    static const char hex[] = "0123456789ABCDEF";
    struct tq_usb_cdc_identity id;
    uint32_t words[2];
    unsigned i;

    /* The bootloader ran USB before us: no USBD or POWER/CLOCK interrupt into our vectors, and a
       visible detach so the host forgets the bootloader's device. */
    USBD_INTENCLR = 0xFFFFFFFFu;
    NVIC_ICER1 = USBD_IRQ_BIT;
    NVIC_ICPR1 = USBD_IRQ_BIT;
    POWER_CLOCK_INTENCLR = 1u | (7u << 7); /* HFCLKSTARTED, USBDETECTED, USBREMOVED, USBPWRRDY */
    if (USBD_ENABLE) {
        USBD_USBPULLUP = 0u;
        USBD_ENABLE = 0u;
        spin(TQ_CLOCK_HZ / 100u);
    }

    words[0] = FICR_DEVICEID(1);
    words[1] = FICR_DEVICEID(0);
    for (i = 0; i < 16u; ++i) {
        serial[i] = hex[(words[i / 8u] >> (28u - 4u * (i % 8u))) & 0xFu];
    }
    serial[16] = '\0';
    id.vid = (uint16_t)TQ_CONSOLE_USB_VID;
    id.pid = (uint16_t)TQ_CONSOLE_USB_PID;
    id.bcd_device = 0x0100u;
    id.manufacturer = "tinyq";
    id.product = TQ_CONSOLE_USB_PRODUCT;
    id.serial = serial;
    id.baud = TQ_CONSOLE_BAUD;
    tq_usb_cdc_init(&usb, &id);

    /* Wait for VBUS (the console is USB: without a host there is nobody to talk to), then attach. */
    while (!usb_up) {
        usb_poll();
    }
}

void tq_putc(char c)
{
    usb_poll();
    if (!port_open()) {
        tx_len = 0;
        tx_zlp_due = 0;
        return;
    }
    TX_BUF[tx_len++] = (uint8_t)c;
    if (tx_len == PACKET) {
        tx_send();
    }
    if (c == '\n') {
        tx_flush();
    }
}

int tq_getc(void)
{
    tx_flush();
    for (;;) {
        if (rx_pos < rx_len) {
            return (int)RX_BUF[rx_pos++];
        }
        usb_poll();
    }
}
