/* tinyq firmware entry: console and cycle counter up, then serve the protocol forever. */
#include "tq_hal.h"
#include "tq_protocol.h"

int main(void)
{
    tq_console_init();
    tq_cycles_init();
    tq_protocol_run();
    return 0;
}
