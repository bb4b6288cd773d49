/*
 * tinyq's USB device core: descriptors and the control-request state machine of a CDC-ACM port
 * (see tq_usb_cdc.h for the contract with the controller driver).
 *
 * References: USB 2.0 chapter 9 (standard requests, device states, descriptors), the USB ECN
 * "Interface Association Descriptors", CDC 1.20 and its PSTN subclass 1.20 (ACM functional
 * descriptors, SET/GET_LINE_CODING, SET_CONTROL_LINE_STATE, SEND_BREAK).
 */
#include "tq_usb_cdc.h"

#include <stddef.h>

/* bmRequestType: direction (bit 7), type (bits 6..5), recipient (bits 4..0). */
#define RT_IN 0x80u
#define RT_TYPE(rt) ((uint8_t)((rt) & 0x60u))
#define RT_STANDARD 0x00u
#define RT_CLASS 0x20u
#define RT_RECIPIENT(rt) ((uint8_t)((rt) & 0x1Fu))
#define RCPT_DEVICE 0u
#define RCPT_INTERFACE 1u
#define RCPT_ENDPOINT 2u

/* Standard requests (USB 2.0 table 9-4). */
#define GET_STATUS 0u
#define CLEAR_FEATURE 1u
#define SET_FEATURE 3u
#define SET_ADDRESS 5u
#define GET_DESCRIPTOR 6u
#define SET_DESCRIPTOR 7u
#define GET_CONFIGURATION 8u
#define SET_CONFIGURATION 9u
#define GET_INTERFACE 10u
#define SET_INTERFACE 11u

/* Feature selectors (table 9-6). */
#define ENDPOINT_HALT 0u

/* Descriptor types (table 9-5). */
#define DESC_DEVICE 1u
#define DESC_CONFIGURATION 2u
#define DESC_STRING 3u
#define DESC_INTERFACE 4u
#define DESC_ENDPOINT 5u
#define DESC_DEVICE_QUALIFIER 6u
#define DESC_IAD 11u
#define DESC_CS_INTERFACE 0x24u

/* PSTN class requests (PSTN 1.20 table 13). */
#define SET_LINE_CODING 0x20u
#define GET_LINE_CODING 0x21u
#define SET_CONTROL_LINE_STATE 0x22u
#define SEND_BREAK 0x23u

#define COMM_INTERFACE 0u
#define DATA_INTERFACE 1u
#define NUM_INTERFACES 2u
#define CONFIG_VALUE 1u
#define STRING_MANUFACTURER 1u
#define STRING_PRODUCT 2u
#define STRING_SERIAL 3u
#define LANGID_EN_US 0x0409u
#define TOUCH_BAUD 1200u

#define LO(x) ((uint8_t)((x) & 0xFFu))
#define HI(x) ((uint8_t)(((x) >> 8) & 0xFFu))

#define CONFIG_TOTAL (9u + 8u + 9u + 5u + 5u + 4u + 5u + 7u + 9u + 7u + 7u)

static const uint8_t config_descriptor[CONFIG_TOTAL] = {
    /* Configuration: 2 interfaces, value 1, bus powered, 100 mA. */
    9, DESC_CONFIGURATION, LO(CONFIG_TOTAL), HI(CONFIG_TOTAL), NUM_INTERFACES, CONFIG_VALUE, 0, 0x80, 50,
    /* Interface association: interfaces 0..1 form one CDC ACM function (so Windows binds usbser). */
    8, DESC_IAD, COMM_INTERFACE, 2, 0x02, 0x02, 0x01, 0,
    /* Communication interface: class 02 (CDC), subclass 02 (ACM), protocol 01 (V.250), one endpoint. */
    9, DESC_INTERFACE, COMM_INTERFACE, 0, 1, 0x02, 0x02, 0x01, 0,
    /* Header functional descriptor: CDC 1.10 (what every host's ACM driver expects). */
    5, DESC_CS_INTERFACE, 0x00, 0x10, 0x01,
    /* Call management: no call management; data interface 1. */
    5, DESC_CS_INTERFACE, 0x01, 0x00, DATA_INTERFACE,
    /* ACM: line coding + control line state (bit 1) and SEND_BREAK (bit 2). */
    4, DESC_CS_INTERFACE, 0x02, 0x06,
    /* Union: control interface 0, subordinate interface 1. */
    5, DESC_CS_INTERFACE, 0x06, COMM_INTERFACE, DATA_INTERFACE,
    /* Notification endpoint: interrupt IN, 16 bytes, every 16 ms. */
    7, DESC_ENDPOINT, TQ_USB_CDC_NOTIFY_EP, 0x03, LO(TQ_USB_CDC_NOTIFY_SIZE), HI(TQ_USB_CDC_NOTIFY_SIZE), 16,
    /* Data interface: class 0A, two bulk endpoints. */
    9, DESC_INTERFACE, DATA_INTERFACE, 0, 2, 0x0A, 0x00, 0x00, 0,
    7, DESC_ENDPOINT, TQ_USB_CDC_OUT_EP, 0x02, LO(TQ_USB_CDC_DATA_SIZE), HI(TQ_USB_CDC_DATA_SIZE), 0,
    7, DESC_ENDPOINT, TQ_USB_CDC_IN_EP, 0x02, LO(TQ_USB_CDC_DATA_SIZE), HI(TQ_USB_CDC_DATA_SIZE), 0,
};

const uint8_t *tq_usb_cdc_config_descriptor(uint16_t *len)
{
    *len = (uint16_t)sizeof config_descriptor;
    return config_descriptor;
}

/* ------------------------------------------------------------------------------------ replies */

static struct tq_usb_reply reply(uint8_t action)
{
    struct tq_usb_reply r;
    r.action = action;
    r.effects = 0;
    r.value = 0;
    r.zlp = 0;
    r.len = 0;
    r.data = NULL;
    return r;
}

/*
 * A data IN stage of `len` bytes for a request that allows `wlength`: cut to wLength; a short
 * answer that is a multiple of the packet size ends with a zero-length packet (USB 2.0 5.5.3),
 * else the host would wait for more. No data stage at all when wLength is 0.
 */
static struct tq_usb_reply send(const uint8_t *data, uint16_t len, uint16_t wlength)
{
    struct tq_usb_reply r;
    if (wlength == 0u) {
        return reply(TQ_USB_STATUS);
    }
    r = reply(TQ_USB_SEND);
    r.data = data;
    r.len = len < wlength ? len : wlength;
    r.zlp = (uint8_t)(r.len < wlength && r.len % TQ_USB_EP0_SIZE == 0u);
    return r;
}

/* ------------------------------------------------------------------------------------ state */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void default_line(struct tq_usb_cdc *u)
{
    put_le32(u->line_coding, u->id.baud);
    u->line_coding[4] = 0; /* 1 stop bit */
    u->line_coding[5] = 0; /* no parity */
    u->line_coding[6] = 8; /* 8 data bits */
}

void tq_usb_cdc_init(struct tq_usb_cdc *u, const struct tq_usb_cdc_identity *id)
{
    uint8_t *d = u->device_descriptor;
    u->id = *id;
    d[0] = 18;
    d[1] = DESC_DEVICE;
    d[2] = 0x00; /* bcdUSB 2.00 (full speed only: no device qualifier) */
    d[3] = 0x02;
    d[4] = 0xEF; /* miscellaneous / common class / IAD: the function is described by the IAD */
    d[5] = 0x02;
    d[6] = 0x01;
    d[7] = TQ_USB_EP0_SIZE;
    d[8] = LO(id->vid);
    d[9] = HI(id->vid);
    d[10] = LO(id->pid);
    d[11] = HI(id->pid);
    d[12] = LO(id->bcd_device);
    d[13] = HI(id->bcd_device);
    d[14] = STRING_MANUFACTURER;
    d[15] = STRING_PRODUCT;
    d[16] = STRING_SERIAL;
    d[17] = 1; /* bNumConfigurations */
    u->breaks = 0;
    u->break_ms = 0;
    tq_usb_cdc_bus_reset(u);
}

void tq_usb_cdc_bus_reset(struct tq_usb_cdc *u)
{
    u->address = 0;
    u->configuration = 0;
    u->halted = 0;
    u->lines = 0;
    u->awaiting_out = 0;
    default_line(u);
}

int tq_usb_cdc_configured(const struct tq_usb_cdc *u)
{
    return u->configuration != 0u;
}

int tq_usb_cdc_dtr(const struct tq_usb_cdc *u)
{
    return (u->lines & TQ_USB_CDC_DTR) != 0u;
}

uint32_t tq_usb_cdc_baud(const struct tq_usb_cdc *u)
{
    const uint8_t *p = u->line_coding;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Bit of `halted` for a CDC endpoint address, or -1 for an endpoint this device does not have. */
static int endpoint_bit(uint8_t ep)
{
    switch (ep) {
    case TQ_USB_CDC_NOTIFY_EP:
        return 0;
    case TQ_USB_CDC_OUT_EP:
        return 1;
    case TQ_USB_CDC_IN_EP:
        return 2;
    default:
        return -1;
    }
}

/* ------------------------------------------------------------------------------------ descriptors */

/* String descriptor: bLength, type 3, UTF-16LE code units (ASCII widened). */
static struct tq_usb_reply string_descriptor(struct tq_usb_cdc *u, uint8_t index, uint16_t wlength)
{
    const char *s;
    uint16_t n = 0;
    if (index == 0u) {
        u->buf[0] = 4;
        u->buf[1] = DESC_STRING;
        u->buf[2] = LO(LANGID_EN_US);
        u->buf[3] = HI(LANGID_EN_US);
        return send(u->buf, 4, wlength);
    }
    switch (index) {
    case STRING_MANUFACTURER:
        s = u->id.manufacturer;
        break;
    case STRING_PRODUCT:
        s = u->id.product;
        break;
    case STRING_SERIAL:
        s = u->id.serial;
        break;
    default:
        return reply(TQ_USB_STALL);
    }
    if (s == NULL) {
        return reply(TQ_USB_STALL);
    }
    while (s[n] != '\0' && n < TQ_USB_CDC_MAX_STRING) {
        u->buf[2u + 2u * n] = (uint8_t)(s[n] & 0x7F);
        u->buf[3u + 2u * n] = 0;
        ++n;
    }
    u->buf[0] = (uint8_t)(2u + 2u * n);
    u->buf[1] = DESC_STRING;
    return send(u->buf, (uint16_t)(2u + 2u * n), wlength);
}

static struct tq_usb_reply get_descriptor(struct tq_usb_cdc *u, uint8_t type, uint8_t index, uint16_t wlength)
{
    switch (type) {
    case DESC_DEVICE:
        return send(u->device_descriptor, sizeof u->device_descriptor, wlength);
    case DESC_CONFIGURATION:
        if (index != 0u) {
            return reply(TQ_USB_STALL);
        }
        return send(config_descriptor, sizeof config_descriptor, wlength);
    case DESC_STRING:
        return string_descriptor(u, index, wlength);
    default:
        /* DEVICE_QUALIFIER and OTHER_SPEED_CONFIGURATION: a full-speed-only device answers with a
           request error (USB 2.0 9.6.2); so does every type it does not have. */
        return reply(TQ_USB_STALL);
    }
}

/* ------------------------------------------------------------------------------------ requests */

static struct tq_usb_reply two_bytes(struct tq_usb_cdc *u, uint8_t lo, uint16_t wlength)
{
    u->buf[0] = lo;
    u->buf[1] = 0;
    return send(u->buf, 2, wlength);
}

static struct tq_usb_reply standard_request(struct tq_usb_cdc *u, uint8_t rt, uint8_t req, uint16_t wvalue,
                                            uint16_t windex, uint16_t wlength)
{
    struct tq_usb_reply r;
    const uint8_t rcpt = RT_RECIPIENT(rt);
    const int in = (rt & RT_IN) != 0u;
    const uint8_t ep = LO(windex);
    int bit;

    if (rcpt == RCPT_DEVICE) {
        switch (req) {
        case GET_STATUS: /* bus powered, no remote wakeup */
            return in && wvalue == 0u && windex == 0u && wlength == 2u ? two_bytes(u, 0, wlength) : reply(TQ_USB_STALL);
        case GET_DESCRIPTOR:
            return in ? get_descriptor(u, HI(wvalue), LO(wvalue), wlength) : reply(TQ_USB_STALL);
        case GET_CONFIGURATION:
            if (!in || wlength != 1u) {
                return reply(TQ_USB_STALL);
            }
            u->buf[0] = u->configuration;
            return send(u->buf, 1, wlength);
        case SET_ADDRESS:
            if (in || wvalue > 127u || windex != 0u || wlength != 0u || u->configuration != 0u) {
                return reply(TQ_USB_STALL);
            }
            u->address = (uint8_t)wvalue;
            r = reply(TQ_USB_STATUS);
            r.effects = TQ_USB_FX_ADDRESS;
            r.value = u->address;
            return r;
        case SET_CONFIGURATION:
            /* Accepted in the default state too, which USB 2.0 leaves unspecified: the nRF answers
               SET_ADDRESS in hardware, so a polled driver can miss that SETUP when the next one
               follows before it looks. */
            if (in || wlength != 0u || (wvalue != 0u && wvalue != CONFIG_VALUE)) {
                return reply(TQ_USB_STALL);
            }
            /* Setting a configuration, even the current one, resets the endpoints (USB 2.0 9.1.1.5). */
            u->configuration = (uint8_t)wvalue;
            u->halted = 0;
            u->lines = 0;
            r = reply(TQ_USB_STATUS);
            r.effects = TQ_USB_FX_CONFIG;
            r.value = u->configuration;
            return r;
        default:
            /* CLEAR/SET_FEATURE(DEVICE_REMOTE_WAKEUP): not supported (bmAttributes bit 5 is 0);
               TEST_MODE: high speed only; SET_DESCRIPTOR: descriptors are fixed. */
            return reply(TQ_USB_STALL);
        }
    }

    if (rcpt == RCPT_INTERFACE) {
        if (u->configuration == 0u || windex >= NUM_INTERFACES) {
            return reply(TQ_USB_STALL);
        }
        switch (req) {
        case GET_STATUS:
            return in && wvalue == 0u && wlength == 2u ? two_bytes(u, 0, wlength) : reply(TQ_USB_STALL);
        case GET_INTERFACE: /* one alternate setting per interface */
            if (!in || wvalue != 0u || wlength != 1u) {
                return reply(TQ_USB_STALL);
            }
            u->buf[0] = 0;
            return send(u->buf, 1, wlength);
        case SET_INTERFACE:
            return !in && wvalue == 0u && wlength == 0u ? reply(TQ_USB_STATUS) : reply(TQ_USB_STALL);
        default:
            return reply(TQ_USB_STALL);
        }
    }

    if (rcpt == RCPT_ENDPOINT) {
        /* Endpoint 0 always exists; the CDC endpoints only in the configured state (9.4). */
        if ((ep & 0x7Fu) == 0u) {
            bit = -2;
        } else {
            bit = endpoint_bit(ep);
            if (bit < 0 || u->configuration == 0u) {
                return reply(TQ_USB_STALL);
            }
        }
        if (HI(windex) != 0u) {
            return reply(TQ_USB_STALL);
        }
        switch (req) {
        case GET_STATUS:
            if (!in || wvalue != 0u || wlength != 2u) {
                return reply(TQ_USB_STALL);
            }
            return two_bytes(u, bit >= 0 ? (uint8_t)((u->halted >> bit) & 1u) : 0u, wlength);
        case CLEAR_FEATURE:
        case SET_FEATURE:
            if (in || wvalue != ENDPOINT_HALT || wlength != 0u) {
                return reply(TQ_USB_STALL);
            }
            if (bit < 0) {
                /* Halting the default pipe is neither required nor recommended (9.4.5): a request
                   error for SET, nothing to clear for CLEAR. */
                return req == SET_FEATURE ? reply(TQ_USB_STALL) : reply(TQ_USB_STATUS);
            }
            r = reply(TQ_USB_STATUS);
            r.value = ep;
            if (req == SET_FEATURE) {
                u->halted |= (uint8_t)(1u << bit);
                r.effects = TQ_USB_FX_HALT;
            } else {
                /* Clearing resets the data toggle even when the endpoint was not halted (9.4.5). */
                u->halted &= (uint8_t)~(1u << bit);
                r.effects = TQ_USB_FX_UNHALT;
            }
            return r;
        default:
            return reply(TQ_USB_STALL);
        }
    }
    return reply(TQ_USB_STALL);
}

static struct tq_usb_reply class_request(struct tq_usb_cdc *u, uint8_t rt, uint8_t req, uint16_t wvalue,
                                         uint16_t windex, uint16_t wlength)
{
    struct tq_usb_reply r;
    const int in = (rt & RT_IN) != 0u;
    uint8_t lines;

    if (RT_RECIPIENT(rt) != RCPT_INTERFACE || windex != COMM_INTERFACE || u->configuration == 0u) {
        return reply(TQ_USB_STALL);
    }
    switch (req) {
    case SET_LINE_CODING:
        if (in || wlength != sizeof u->line_coding) {
            return reply(TQ_USB_STALL);
        }
        r = reply(TQ_USB_RECEIVE);
        r.len = wlength;
        return r;
    case GET_LINE_CODING:
        return in ? send(u->line_coding, sizeof u->line_coding, wlength) : reply(TQ_USB_STALL);
    case SET_CONTROL_LINE_STATE:
        if (in || wlength != 0u) {
            return reply(TQ_USB_STALL);
        }
        lines = (uint8_t)(wvalue & (TQ_USB_CDC_DTR | TQ_USB_CDC_RTS));
        r = reply(TQ_USB_STATUS);
        if (lines != u->lines) {
            r.effects = TQ_USB_FX_LINES;
        }
        if ((u->lines & TQ_USB_CDC_DTR) && !(lines & TQ_USB_CDC_DTR) && tq_usb_cdc_baud(u) == TOUCH_BAUD) {
            u->lines = lines;
            tq_usb_cdc_touch_1200();
        }
        u->lines = lines;
        return r;
    case SEND_BREAK:
        if (in || wlength != 0u) {
            return reply(TQ_USB_STALL);
        }
        u->break_ms = wvalue;
        ++u->breaks;
        return reply(TQ_USB_STATUS);
    default:
        return reply(TQ_USB_STALL);
    }
}

struct tq_usb_reply tq_usb_cdc_setup(struct tq_usb_cdc *u, const uint8_t setup[8])
{
    struct tq_usb_reply r;
    const uint8_t rt = setup[0];
    const uint8_t req = setup[1];
    const uint16_t wvalue = (uint16_t)(setup[2] | (setup[3] << 8));
    const uint16_t windex = (uint16_t)(setup[4] | (setup[5] << 8));
    const uint16_t wlength = (uint16_t)(setup[6] | (setup[7] << 8));
    uint8_t i;

    /* A SETUP ends whatever control transfer was in progress (USB 2.0 8.5.3). */
    u->awaiting_out = 0;
    switch (RT_TYPE(rt)) {
    case RT_STANDARD:
        r = standard_request(u, rt, req, wvalue, windex, wlength);
        break;
    case RT_CLASS:
        r = class_request(u, rt, req, wvalue, windex, wlength);
        break;
    default: /* vendor and reserved */
        r = reply(TQ_USB_STALL);
        break;
    }
    if (r.action == TQ_USB_RECEIVE) {
        for (i = 0; i < 8u; ++i) {
            u->setup[i] = setup[i];
        }
        u->awaiting_out = 1;
    }
    return r;
}

struct tq_usb_reply tq_usb_cdc_control_out(struct tq_usb_cdc *u, const uint8_t *data, uint16_t len)
{
    uint8_t i;
    if (!u->awaiting_out) {
        return reply(TQ_USB_STALL);
    }
    u->awaiting_out = 0;
    /* The only request with an OUT data stage is SET_LINE_CODING (tq_usb_cdc_setup accepts no other). */
    if (u->setup[1] != SET_LINE_CODING || len != sizeof u->line_coding) {
        return reply(TQ_USB_STALL);
    }
    /* Stop bits 0..2, parity 0..4, data bits 5..8 or 16 (PSTN 1.20 table 17). */
    if (data[4] > 2u || data[5] > 4u || !((data[6] >= 5u && data[6] <= 8u) || data[6] == 16u)) {
        return reply(TQ_USB_STALL);
    }
    for (i = 0; i < sizeof u->line_coding; ++i) {
        u->line_coding[i] = data[i];
    }
    return reply(TQ_USB_STATUS);
}
