/*
 * tinyq's QEMU TCG plugin: what a Cortex-M executed during one measured window, for the cycle
 * estimate (tinyq/checks/cycles.py). Host C, built by tinyq/device/plugin.py with the host gcc.
 *
 * Debian's QEMU 7.2 loads plugins (-plugin file.so,key=value,...) but ships no qemu-plugin.h, so
 * the few declarations used here are written below from QEMU 7.2's documented plugin API
 * (docs/devel/tcg-plugins.rst, include/qemu/qemu-plugin.h at v7.2.0; API version 1).
 *
 * Arguments (addresses in hex):
 *   out=PATH     where each finished window is written (PATH.tmp, then renamed: atomic)
 *   start=A      counting starts when the instruction at A executes (the model's invoke entry)
 *   stop=A       and stops when the instruction at A executes (the return address of that call)
 *   pause=A      optional: a per-layer trace point; it ends a layer, and what it runs is overhead
 *   skip=LO:HI   (repeatable) code run after a pause that is still overhead (the trace point and
 *                its callees); the first instruction outside every skip range starts the next layer
 *   flash=LO:HI  optional: the flash region; instruction fetches and data reads there go through
 *   icache=LINES:BYTES, dcache=LINES:BYTES   fully associative LRU caches (a flash accelerator),
 *                whose misses the estimate charges wait states for (no flash argument: no caches)
 *
 * Output, one window (the last one run): a header line, then per layer and translation block
 *   tb LAYER VADDR NINSNS EXECS TAKEN     (TAKEN: the next block did not start at the fall-through)
 * and per layer the counts of the memory model
 *   mem LAYER FLASH_READS DMISSES IMISSES IMISSES_SEQUENTIAL
 * Layer -1 is the trace points' overhead; layer k runs from the k-th pause (or the start) to the next
 * one, so the last layer number is the code after the last trace point (the return from invoke).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU 7.2 plugin API (version 1), declared here ---- */
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);

#define TQ_EXPORT __attribute__((visibility("default")))
TQ_EXPORT int qemu_plugin_version = 1;
TQ_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/* ---- state ---- */
#define MAX_LAYERS 1024 /* layers beyond this share the last slot */
#define MAX_SKIPS 16
#define MAX_LINES 256

typedef struct block {
    uint64_t vaddr, fallthrough;
    size_t n;
    uint64_t *execs; /* [MAX_LAYERS + 1], index 0 the overhead (layer -1): allocated when first run in a window */
    uint64_t *taken;
    bool touched;
    struct block *next; /* all blocks, for the output */
} block;

typedef struct {
    uint64_t flash_reads, dmisses, imisses, imisses_seq;
} mem_counts;

typedef struct {
    int lines, line_bytes;
    uint64_t tags[MAX_LINES]; /* most recently used first; UINT64_MAX = empty */
} cache;

static char *out_path;
static uint64_t start_pc = UINT64_MAX, stop_pc = UINT64_MAX, pause_pc = UINT64_MAX;
static uint64_t skip_lo[MAX_SKIPS], skip_hi[MAX_SKIPS];
static int n_skips;
static uint64_t flash_lo = 1, flash_hi = 0;
static cache icache, dcache;

static block *blocks;
static bool counting, paused;
static int layer;        /* current layer: 0 from the start marker to the first pause */
static int layers_seen;  /* highest layer + 1 */
static uint64_t windows;
static block *prev;      /* the block executed last inside the window */
static int prev_slot;
static uint64_t last_iline = UINT64_MAX;
static mem_counts mem[MAX_LAYERS + 1];

static int slot(void)
{
    if (paused) {
        return 0;
    }
    return layer + 1 > MAX_LAYERS ? MAX_LAYERS : layer + 1;
}

static bool in_skip(uint64_t pc)
{
    for (int i = 0; i < n_skips; i++) {
        if (pc >= skip_lo[i] && pc < skip_hi[i]) {
            return true;
        }
    }
    return false;
}

static bool in_flash(uint64_t a)
{
    return a >= flash_lo && a < flash_hi;
}

/* Look up `addr` in a fully associative LRU cache; true on a hit. Always leaves the line cached. */
static bool cache_access(cache *c, uint64_t addr)
{
    const uint64_t tag = addr / (uint64_t)c->line_bytes;
    int i;
    for (i = 0; i < c->lines; i++) {
        if (c->tags[i] == tag) {
            break;
        }
    }
    const bool hit = i < c->lines;
    if (!hit) {
        i = c->lines - 1;
    }
    memmove(&c->tags[1], &c->tags[0], (size_t)i * sizeof c->tags[0]);
    c->tags[0] = tag;
    return hit;
}

static void cache_clear(cache *c)
{
    for (int i = 0; i < MAX_LINES; i++) {
        c->tags[i] = UINT64_MAX;
    }
}

static void reset_window(void)
{
    for (block *b = blocks; b; b = b->next) {
        if (b->touched) {
            memset(b->execs, 0, 2 * (MAX_LAYERS + 1) * sizeof(uint64_t));
            b->touched = false;
        }
    }
    memset(mem, 0, sizeof mem);
    layer = 0;
    layers_seen = 1;
    paused = false;
    prev = NULL;
}

static void write_window(void)
{
    if (!out_path) {
        return;
    }
    const size_t len = strlen(out_path) + 5;
    char *tmp = malloc(len);
    if (!tmp) {
        return;
    }
    snprintf(tmp, len, "%s.tmp", out_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        qemu_plugin_outs("tq_exec_plugin: cannot write its output file\n");
        free(tmp);
        return;
    }
    fprintf(f, "tq-exec 1 window %" PRIu64 " layers %d\n", windows, layers_seen);
    for (block *b = blocks; b; b = b->next) {
        if (!b->touched) {
            continue;
        }
        for (int s = 0; s <= MAX_LAYERS; s++) {
            if (b->execs[s]) {
                fprintf(f, "tb %d %" PRIx64 " %zu %" PRIu64 " %" PRIu64 "\n", s - 1, b->vaddr, b->n, b->execs[s],
                        b->taken[s]);
            }
        }
    }
    for (int s = 0; s <= MAX_LAYERS; s++) {
        const mem_counts *m = &mem[s];
        if (m->flash_reads || m->imisses || m->imisses_seq) {
            fprintf(f, "mem %d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", s - 1, m->flash_reads, m->dmisses,
                    m->imisses, m->imisses_seq);
        }
    }
    fclose(f);
    rename(tmp, out_path);
    free(tmp);
}

/* The branch that ended the previous block was taken when this block is not its fall-through. */
static void note_successor(uint64_t vaddr)
{
    if (prev && vaddr != prev->fallthrough) {
        prev->taken[prev_slot]++;
    }
}

static void fetch_lines(uint64_t lo, uint64_t hi)
{
    if (!icache.lines || !in_flash(lo)) {
        return;
    }
    const uint64_t bytes = (uint64_t)icache.line_bytes;
    for (uint64_t line = lo / bytes; line <= (hi - 1) / bytes; line++) {
        if (!cache_access(&icache, line * bytes)) {
            if (line == last_iline + 1) {
                mem[slot()].imisses_seq++;
            } else {
                mem[slot()].imisses++;
            }
        }
        last_iline = line;
    }
}

static void on_block(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    block *b = udata;
    if (!counting) {
        return;
    }
    if (paused && !in_skip(b->vaddr)) {
        paused = false;
        layer++;
        if (layer + 1 > layers_seen) {
            layers_seen = layer + 1;
        }
    }
    note_successor(b->vaddr);
    if (!b->execs) {
        b->execs = calloc(2 * (MAX_LAYERS + 1), sizeof(uint64_t));
        if (!b->execs) {
            qemu_plugin_outs("tq_exec_plugin: out of memory\n");
            abort();
        }
        b->taken = b->execs + MAX_LAYERS + 1;
    }
    const int s = slot();
    b->execs[s]++;
    b->touched = true;
    prev = b;
    prev_slot = s;
    fetch_lines(b->vaddr, b->fallthrough);
}

/* Markers: an instruction at start / stop / pause, called before it executes. */
static void on_start(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    block *b = udata;
    if (counting) {
        return;
    }
    reset_window();
    counting = true;
    cache_clear(&icache);
    cache_clear(&dcache);
    last_iline = UINT64_MAX;
    /* the block holding the start marker: count it from here (markers sit at block starts) */
    on_block(0, b);
}

static void on_stop(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    block *b = udata;
    if (!counting) {
        return;
    }
    /* the block that holds the stop marker is outside the window */
    if (prev == b && b->execs[prev_slot]) {
        b->execs[prev_slot]--;
    }
    counting = false;
    windows++;
    write_window();
}

static void on_pause(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    block *b = udata;
    if (!counting || paused) {
        return;
    }
    /* the block holding the trace point's entry was counted to the layer: move it to the overhead */
    if (prev == b && b->execs[prev_slot]) {
        b->execs[prev_slot]--;
        b->execs[0]++;
        prev_slot = 0;
    }
    paused = true;
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (!counting || !in_flash(vaddr) || qemu_plugin_mem_is_store(info)) {
        return;
    }
    const int s = slot();
    mem[s].flash_reads++;
    if (!cache_access(&dcache, vaddr)) {
        mem[s].dmisses++;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    if (n == 0) {
        return;
    }
    block *b = calloc(1, sizeof *b);
    if (!b) {
        qemu_plugin_outs("tq_exec_plugin: out of memory\n");
        abort();
    }
    b->vaddr = qemu_plugin_tb_vaddr(tb);
    b->n = n;
    struct qemu_plugin_insn *last = qemu_plugin_tb_get_insn(tb, n - 1);
    b->fallthrough = qemu_plugin_insn_vaddr(last) + qemu_plugin_insn_size(last);
    b->next = blocks;
    blocks = b;
    /* Markers are function entries and return addresses: always the first instruction of a block. */
    if (b->vaddr == start_pc) {
        qemu_plugin_register_vcpu_insn_exec_cb(qemu_plugin_tb_get_insn(tb, 0), on_start, QEMU_PLUGIN_CB_NO_REGS, b);
    } else if (b->vaddr == stop_pc) {
        qemu_plugin_register_vcpu_insn_exec_cb(qemu_plugin_tb_get_insn(tb, 0), on_stop, QEMU_PLUGIN_CB_NO_REGS, b);
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
    if (b->vaddr == pause_pc) {
        qemu_plugin_register_vcpu_insn_exec_cb(qemu_plugin_tb_get_insn(tb, 0), on_pause, QEMU_PLUGIN_CB_NO_REGS, b);
    }
    if (dcache.lines) {
        for (size_t i = 0; i < n; i++) {
            /* all accesses, loads picked in on_mem: Debian's 7.2 delivered only stores for QEMU_PLUGIN_MEM_R */
            qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), on_mem, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_RW, NULL);
        }
    }
}

static void on_atexit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    free(out_path);
    out_path = NULL;
}

static bool parse_range(const char *s, uint64_t *lo, uint64_t *hi)
{
    char *end;
    *lo = strtoull(s, &end, 16);
    if (*end != ':') {
        return false;
    }
    *hi = strtoull(end + 1, &end, 16);
    return *end == '\0' && *hi > *lo;
}

static bool parse_cache(const char *s, cache *c)
{
    char *end;
    const long lines = strtol(s, &end, 10);
    if (*end != ':' || lines < 1 || lines > MAX_LINES) {
        return false;
    }
    const long bytes = strtol(end + 1, &end, 10);
    if (*end != '\0' || bytes < 4 || (bytes & (bytes - 1))) {
        return false;
    }
    c->lines = (int)lines;
    c->line_bytes = (int)bytes;
    cache_clear(c);
    return true;
}

static bool parse_arg(const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq) {
        return false;
    }
    const size_t k = (size_t)(eq - arg);
    const char *v = eq + 1;
    char *end;
    if (k == 3 && !strncmp(arg, "out", k)) {
        free(out_path);
        out_path = strdup(v);
        return out_path != NULL;
    }
    if ((k == 5 && !strncmp(arg, "start", k)) || (k == 4 && !strncmp(arg, "stop", k)) ||
        (k == 5 && !strncmp(arg, "pause", k))) {
        const uint64_t a = strtoull(v, &end, 16);
        if (*end != '\0') {
            return false;
        }
        if (arg[0] == 's' && arg[2] == 'a') {
            start_pc = a;
        } else if (arg[0] == 's') {
            stop_pc = a;
        } else {
            pause_pc = a;
        }
        return true;
    }
    if (k == 4 && !strncmp(arg, "skip", k)) {
        if (n_skips == MAX_SKIPS) {
            return false;
        }
        if (!parse_range(v, &skip_lo[n_skips], &skip_hi[n_skips])) {
            return false;
        }
        n_skips++;
        return true;
    }
    if (k == 5 && !strncmp(arg, "flash", k)) {
        return parse_range(v, &flash_lo, &flash_hi);
    }
    if (k == 6 && !strncmp(arg, "icache", k)) {
        return parse_cache(v, &icache);
    }
    if (k == 6 && !strncmp(arg, "dcache", k)) {
        return parse_cache(v, &dcache);
    }
    return false;
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (!parse_arg(argv[i])) {
            char msg[256];
            snprintf(msg, sizeof msg, "tq_exec_plugin: bad argument '%.180s'\n", argv[i]);
            qemu_plugin_outs(msg);
            return -1;
        }
    }
    if (!out_path || start_pc == UINT64_MAX || stop_pc == UINT64_MAX) {
        qemu_plugin_outs("tq_exec_plugin: needs out=PATH, start=ADDR and stop=ADDR\n");
        return -1;
    }
    if (flash_hi <= flash_lo) {
        icache.lines = 0;
        dcache.lines = 0;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
