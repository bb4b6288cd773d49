/*
 * tinyq's USB device core: one CDC-ACM serial port (USB 2.0 chapter 9, CDC 1.20 with its PSTN
 * subclass), without a line of hardware access.
 *
 * The core owns the descriptors and answers control requests; a controller driver (console_nrf_usbd_cdc.c
 * for the nRF52840 USBD) owns the registers and moves the bytes. The driver
 *   - calls tq_usb_cdc_init() once and tq_usb_cdc_bus_reset() on every USB bus reset;
 *   - hands every SETUP packet to tq_usb_cdc_setup() and carries out the reply:
 *       TQ_USB_STALL    stall the control endpoint (request error);
 *       TQ_USB_STATUS   no data stage: acknowledge with the status stage;
 *       TQ_USB_SEND     data IN stage: send `data[0..len)` in 64-byte packets, then a zero-length
 *                       packet if `zlp` is set, then let the host's status stage through;
 *       TQ_USB_RECEIVE  data OUT stage: receive `len` bytes (at most TQ_USB_EP0_SIZE), hand them to
 *                       tq_usb_cdc_control_out(), and carry out that reply (STATUS or STALL);
 *   - then applies the reply's `effects` (TQ_USB_FX_*) to the hardware: device address, endpoints
 *     opened or closed by SET_CONFIGURATION, endpoint halts set or cleared.
 * `data` may point into flash (const descriptors) or into the core's state: a driver whose DMA
 * cannot read flash copies each packet to RAM first. It stays valid until the next call.
 *
 * The 1200-baud touch: when the host has set the line coding to 1200 baud and then drops DTR
 * (what `stty 1200; close` and the Arduino tools do), tq_usb_cdc_setup() calls
 * tq_usb_cdc_touch_1200() while handling that SET_CONTROL_LINE_STATE, before answering it. The
 * driver implements the hook (on the Nano 33 BLE: acknowledge, detach, GPREGRET=0xB0 and reset into
 * the bootloader); if the hook returns, the request is acknowledged as usual.
 *
 * Pure C99: compiled and unit-tested on the host (tests/test_usb_cdc.py) as well as for the target.
 */
#ifndef TQ_USB_CDC_H
#define TQ_USB_CDC_H

#include <stdint.h>

#define TQ_USB_EP0_SIZE 64u       /* bMaxPacketSize0 */
#define TQ_USB_CDC_NOTIFY_EP 0x81u /* interrupt IN: SERIAL_STATE notifications (never sent) */
#define TQ_USB_CDC_NOTIFY_SIZE 16u
#define TQ_USB_CDC_OUT_EP 0x02u    /* bulk OUT: host to device bytes */
#define TQ_USB_CDC_IN_EP 0x82u     /* bulk IN: device to host bytes */
#define TQ_USB_CDC_DATA_SIZE 64u   /* bulk wMaxPacketSize (full speed maximum) */

#define TQ_USB_CDC_DTR 0x01u /* SET_CONTROL_LINE_STATE wValue bits */
#define TQ_USB_CDC_RTS 0x02u

#define TQ_USB_CDC_MAX_STRING 62u /* characters kept of each identity string */

enum tq_usb_action { TQ_USB_STALL = 0, TQ_USB_STATUS = 1, TQ_USB_SEND = 2, TQ_USB_RECEIVE = 3 };

/* Side effects of a request, for the driver to apply (bits of tq_usb_reply.effects). */
#define TQ_USB_FX_ADDRESS 0x01u /* SET_ADDRESS: `value` is the address, in force after the status stage */
#define TQ_USB_FX_CONFIG 0x02u  /* SET_CONFIGURATION: `value` 1 opens the three CDC endpoints (halts
                                   cleared, data toggles DATA0, bulk OUT ready to receive), 0 closes them */
#define TQ_USB_FX_HALT 0x04u    /* SET_FEATURE(ENDPOINT_HALT): stall endpoint `value` (an address) */
#define TQ_USB_FX_UNHALT 0x08u  /* CLEAR_FEATURE(ENDPOINT_HALT): unstall endpoint `value`, toggle DATA0 */
#define TQ_USB_FX_LINES 0x10u   /* SET_CONTROL_LINE_STATE changed DTR or RTS */

struct tq_usb_reply {
    uint8_t action;  /* enum tq_usb_action */
    uint8_t effects; /* TQ_USB_FX_* bits */
    uint8_t value;   /* the effect's argument */
    uint8_t zlp;     /* SEND: end the data stage with a zero-length packet */
    uint16_t len;    /* SEND: bytes to send (already cut to wLength); RECEIVE: bytes to receive */
    const uint8_t *data;
};

/* What the device says about itself; the strings are ASCII (each cut to TQ_USB_CDC_MAX_STRING). */
struct tq_usb_cdc_identity {
    uint16_t vid;
    uint16_t pid;
    uint16_t bcd_device;
    const char *manufacturer;
    const char *product;
    const char *serial;
    uint32_t baud; /* line coding reported before the host sets one (8N1) */
};

struct tq_usb_cdc {
    struct tq_usb_cdc_identity id;
    uint8_t device_descriptor[18];
    uint8_t address;       /* 0 until SET_ADDRESS */
    uint8_t configuration; /* 0 (address state) or 1 (configured) */
    uint8_t halted;        /* bit per CDC endpoint: 0 notify IN, 1 bulk OUT, 2 bulk IN */
    uint8_t lines;         /* TQ_USB_CDC_DTR | TQ_USB_CDC_RTS as last set by the host */
    uint8_t line_coding[7]; /* dwDTERate (LE), bCharFormat, bParityType, bDataBits */
    uint16_t break_ms;     /* last SEND_BREAK duration (0xFFFF: until the next one) */
    uint32_t breaks;       /* SEND_BREAK requests seen */
    uint8_t setup[8];      /* the request whose OUT data stage is awaited */
    uint8_t awaiting_out;  /* 1 between a RECEIVE reply and tq_usb_cdc_control_out() */
    uint8_t buf[2u + 2u * TQ_USB_CDC_MAX_STRING]; /* replies built in RAM */
};

void tq_usb_cdc_init(struct tq_usb_cdc *u, const struct tq_usb_cdc_identity *id);
void tq_usb_cdc_bus_reset(struct tq_usb_cdc *u);
struct tq_usb_reply tq_usb_cdc_setup(struct tq_usb_cdc *u, const uint8_t setup[8]);
struct tq_usb_reply tq_usb_cdc_control_out(struct tq_usb_cdc *u, const uint8_t *data, uint16_t len);

int tq_usb_cdc_configured(const struct tq_usb_cdc *u);
int tq_usb_cdc_dtr(const struct tq_usb_cdc *u);
uint32_t tq_usb_cdc_baud(const struct tq_usb_cdc *u);

/* The full configuration descriptor (IAD + CDC comm and data interfaces), `*len` bytes. */
const uint8_t *tq_usb_cdc_config_descriptor(uint16_t *len);

/* Implemented by the driver: the host set 1200 baud and dropped DTR (see above). */
void tq_usb_cdc_touch_1200(void);

#endif /* TQ_USB_CDC_H */
