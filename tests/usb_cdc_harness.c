/*
 * Host harness for the USB CDC core (firmware/hal/console_nrf_usbd_cdc/tq_usb_cdc.c): reads one
 * command per line on stdin and answers each with one line on stdout, so tests/test_usb_cdc.py can
 * play the host's side of control transfers.
 *
 *   setup <16 hex digits>  -> STALL | STATUS fx=<hex> val=<hex> | RECEIVE <n> | SEND fx=.. val=.. zlp=<0|1> <hex>
 *   out <hex bytes>        -> the reply to the OUT data stage, as above
 *   reset                  -> ok (a USB bus reset)
 *   state                  -> state addr=.. cfg=.. halted=.. lines=.. baud=.. coding=<hex> breaks=.. break_ms=.. touches=..
 *   config                 -> config <hex> (tq_usb_cdc_config_descriptor)
 */
#include <stdio.h>
#include <string.h>

#include "tq_usb_cdc.h"

static unsigned touches;

void tq_usb_cdc_touch_1200(void)
{
    ++touches;
}

static void put_hex(const uint8_t *p, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; ++i) {
        printf("%02x", p[i]);
    }
}

static unsigned parse_hex(const char *s, uint8_t *out, unsigned max)
{
    unsigned n = 0, v;
    while (n < max && sscanf(s, "%2x", &v) == 1) {
        out[n++] = (uint8_t)v;
        s += 2;
        if (*s == '\0' || *s == '\n') {
            break;
        }
    }
    return n;
}

static void print_reply(struct tq_usb_reply r)
{
    switch (r.action) {
    case TQ_USB_STALL:
        printf("STALL");
        break;
    case TQ_USB_STATUS:
        printf("STATUS fx=%02x val=%02x", r.effects, r.value);
        break;
    case TQ_USB_RECEIVE:
        printf("RECEIVE %u", (unsigned)r.len);
        break;
    case TQ_USB_SEND:
        printf("SEND fx=%02x val=%02x zlp=%u ", r.effects, r.value, (unsigned)r.zlp);
        put_hex(r.data, r.len);
        break;
    default:
        printf("BAD %u", (unsigned)r.action);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    static struct tq_usb_cdc u;
    struct tq_usb_cdc_identity id = {0x2341u, 0x805Au, 0x0100u, "tinyq", "tinyq CDC", "0123456789ABCDEF", 115200u};
    char line[1024];
    uint8_t bytes[512];
    unsigned n;

    if (argc > 1) {
        id.product = argv[1];
    }
    tq_usb_cdc_init(&u, &id);
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "setup ", 6) == 0) {
            n = parse_hex(line + 6, bytes, 8);
            if (n != 8) {
                printf("ERROR setup needs 8 bytes\n");
            } else {
                print_reply(tq_usb_cdc_setup(&u, bytes));
            }
        } else if (strncmp(line, "out", 3) == 0) {
            n = line[3] == ' ' ? parse_hex(line + 4, bytes, sizeof bytes) : 0;
            print_reply(tq_usb_cdc_control_out(&u, bytes, (uint16_t)n));
        } else if (strncmp(line, "reset", 5) == 0) {
            tq_usb_cdc_bus_reset(&u);
            printf("ok\n");
        } else if (strncmp(line, "state", 5) == 0) {
            printf("state addr=%u cfg=%u halted=%u lines=%u baud=%lu coding=", u.address, u.configuration, u.halted,
                   u.lines, (unsigned long)tq_usb_cdc_baud(&u));
            put_hex(u.line_coding, sizeof u.line_coding);
            printf(" breaks=%lu break_ms=%u touches=%u configured=%d dtr=%d\n", (unsigned long)u.breaks,
                   (unsigned)u.break_ms, touches, tq_usb_cdc_configured(&u), tq_usb_cdc_dtr(&u));
        } else if (strncmp(line, "config", 6) == 0) {
            uint16_t len;
            const uint8_t *d = tq_usb_cdc_config_descriptor(&len);
            printf("config ");
            put_hex(d, len);
            printf("\n");
        } else {
            printf("ERROR unknown command\n");
        }
        fflush(stdout);
    }
    return 0;
}
