/* DEPTHWISE_CONV_2D, depth multiplier 1, channels four at a time (see tq_conv_fast.h). */
#include "tq_conv_fast.h"
#include "tq_dsp_asm.h" /* the job structs' layout checked against the assembler's offsets */

/* tq_depthwise_conv_fast_wide_s8.c builds this file again under its own name (int16 weights). */
#ifndef TQ_KERNEL_NAME
#define TQ_KERNEL_NAME tq_depthwise_conv_fast_s8
#define TQ_DW_WIDE 0
#endif

/* The weight of lane j of tap t in a block (w: the block's first; layouts in tq_conv_fast.h). */
static inline int32_t tq_dw_weight(const int8_t *w, const int16_t *w16, int32_t taps, int32_t paired, int32_t t,
                                   int32_t j)
{
    const int in_pair = paired && t < (taps & ~1);
    if (w16 != NULL) {
        return in_pair ? w16[(t >> 1) * 8 + j * 2 + (t & 1)] : w16[4 * t + (j & 1) * 2 + (j >> 1)];
    }
    return in_pair ? w[(t >> 1) * 8 + (j >> 1) * 4 + (t & 1) * 2 + (j & 1)] : w[4 * t + j];
}

/* acc[j] += sum over the taps of x[j] * weight(t, j), j < lanes: tap t's x at tt[t] + at. */
static void tq_dw_block(const uintptr_t *tt, uintptr_t at, int32_t taps, int32_t paired, const int8_t *w, const int16_t *w16,
                        int32_t lanes, int32_t *acc)
{
    int32_t t, j;
    for (t = 0; t < taps; ++t) {
        const int8_t *const x = (const int8_t *)(tt[t] + at);
        for (j = 0; j < lanes; ++j) {
            acc[j] += (int32_t)x[j] * tq_dw_weight(w, w16, taps, paired, t, j);
        }
    }
}

#if !defined(TQ_GEMM_DSP) && !defined(TQ_GEMM_MVE)
/* tq_dw_block for four lanes of the paired layouts (the portable path's whole blocks): pair by pair
   with the weights' places fixed, then an odd last tap. */
static void tq_dw_block4_paired(const uintptr_t *tt, uintptr_t at, int32_t taps, const int8_t *w, const int16_t *w16,
                                int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], t;
    for (t = 0; t + 1 < taps; t += 2) {
        const int8_t *const x = (const int8_t *)(tt[t] + at), *const y = (const int8_t *)(tt[t + 1] + at);
        if (w16 != NULL) { /* (c t, c t+1) per lane */
            a0 += x[0] * w16[0] + y[0] * w16[1];
            a1 += x[1] * w16[2] + y[1] * w16[3];
            a2 += x[2] * w16[4] + y[2] * w16[5];
            a3 += x[3] * w16[6] + y[3] * w16[7];
            w16 += 8;
        } else { /* c0 t, c1 t, c0 t+1, c1 t+1, then c2, c3 */
            a0 += x[0] * w[0] + y[0] * w[2];
            a1 += x[1] * w[1] + y[1] * w[3];
            a2 += x[2] * w[4] + y[2] * w[6];
            a3 += x[3] * w[5] + y[3] * w[7];
            w += 8;
        }
    }
    if (t < taps) {
        const int8_t *const x = (const int8_t *)(tt[t] + at);
        if (w16 != NULL) { /* (c0, c2), (c1, c3) */
            a0 += x[0] * w16[0];
            a2 += x[2] * w16[1];
            a1 += x[1] * w16[2];
            a3 += x[3] * w16[3];
        } else {
            a0 += x[0] * w[0];
            a1 += x[1] * w[1];
            a2 += x[2] * w[2];
            a3 += x[3] * w[3];
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

#if defined(TQ_GEMM_MVE)
/* tq_dw_block for four lanes of the [T][4] layout, with widening loads. */
static inline __attribute__((always_inline)) void tq_dw_block4_mve(const uintptr_t *tt, uintptr_t at, int32_t taps,
                                                                  const int8_t *w, int32_t *acc)
{
    int32x4_t a = vld1q_s32(acc);
    int32_t t;
    for (t = 0; t < taps; ++t, w += 4) {
        a = vaddq_s32(a, vmulq_s32(vldrbq_s32((const int8_t *)(tt[t] + at)), vldrbq_s32(w)));
    }
    vst1q_s32(acc, a);
}
#endif

#if !defined(TQ_GEMM_DSP) && !defined(TQ_GEMM_MVE)
/*
 * Four requantized outputs packed in a word (byte j: channel c + j), clamped to [lo, hi] given in
 * all four bytes of lo4 and hi4; q: per channel mult, radd, rsh (tq_requant_mm). The portable path's
 * (the DSP extension's is in tq_depthwise_dsp.S, Helium's tq_mve_dw_out4).
 */
static inline __attribute__((always_inline)) uint32_t tq_dw_out4(const int32_t *acc, const int32_t *q, uint32_t lo4,
                                                                uint32_t hi4)
{
    const int32_t lo = (int8_t)lo4, hi = (int8_t)hi4;
    uint32_t word = 0;
    int32_t j;
    for (j = 0; j < 4; ++j) {
        const int32_t v = tq_requant_mm(acc[j], q[3 * j], q[3 * j + 1], q[3 * j + 2]);
        word |= (uint32_t)(uint8_t)(int8_t)TQ_CLAMP(v, lo, hi) << (8 * j);
    }
    return word;
}
#endif

#if !defined(TQ_GEMM_MVE) /* (Helium: tq_dw_edge_mve) */
/*
 * The tap table of a window across the border (its corner at row iy0, column ix0 of the image, maybe
 * outside it): the taps inside the image keep their offsets from the corner, the others are zpc (the
 * zero-point row less the corner), so that tt[t] + corner reads them there.
 */
static __attribute__((noinline)) void tq_dw_edge(uintptr_t *e, const uintptr_t *offset, const tq_depthwise_conv_fast_s8_params *p,
                                                 int32_t iy0, int32_t ix0, uintptr_t zpc)
{
    const int32_t kw = p->kw, dil_w = p->dil_w;
    const uint32_t in_h = (uint32_t)p->in.h, in_w = (uint32_t)p->in.w;
    uintptr_t *const end = e + p->kh * kw;
    if (kw == 3) { /* the columns tested once, each row's three taps selected */
        const int c0 = (uint32_t)ix0 < in_w, c1 = (uint32_t)(ix0 + dil_w) < in_w, c2 = (uint32_t)(ix0 + 2 * dil_w) < in_w;
        for (; e < end; e += 3, offset += 3, iy0 += p->dil_h) {
            const int r = (uint32_t)iy0 < in_h;
            e[0] = r && c0 ? offset[0] : zpc;
            e[1] = r && c1 ? offset[1] : zpc;
            e[2] = r && c2 ? offset[2] : zpc;
        }
        return;
    }
    for (; e < end; e += kw, offset += kw, iy0 += p->dil_h) {
        int32_t fx;
        uint32_t ix = (uint32_t)ix0;
        for (fx = 0; fx < kw; ++fx, ix += (uint32_t)dil_w) {
            e[fx] = (uint32_t)iy0 < in_h && ix < in_w ? offset[fx] : zpc;
        }
    }
}
#else
/*
 * tq_dw_edge four taps a step: tap t's row and column from the corner (dy[t], dx[t], for every t
 * below taps rounded up to 4) tested at once, the entries past taps written with whatever the
 * vectors hold (the table has room: TQ_DW_MAX_TAPS is a multiple of 4).
 */
static __attribute__((noinline)) void tq_dw_edge_mve(uintptr_t *e, const uintptr_t *offset, const int16_t *dy, const int16_t *dx,
                                                     int32_t taps, const tq_depthwise_conv_fast_s8_params *p, int32_t iy0,
                                                     int32_t ix0, uintptr_t zpc)
{
    const uint32x4_t in_h = vdupq_n_u32((uint32_t)p->in.h), in_w = vdupq_n_u32((uint32_t)p->in.w);
    const uint32x4_t z = vdupq_n_u32((uint32_t)zpc);
    int32_t t;
    for (t = 0; t < taps; t += 4) {
        const uint32x4_t iy = vreinterpretq_u32_s32(vaddq_n_s32(vldrhq_s32(dy + t), iy0));
        const uint32x4_t ix = vreinterpretq_u32_s32(vaddq_n_s32(vldrhq_s32(dx + t), ix0));
        const mve_pred16_t inside = vcmphiq_m_u32(in_w, ix, vcmphiq_u32(in_h, iy)); /* unsigned: negatives fail too */
        vstrwq_u32((uint32_t *)(void *)(e + t), vpselq_u32(vldrwq_u32((const uint32_t *)(const void *)(offset + t)), z, inside));
    }
}
#endif

#if defined(TQ_GEMM_DSP) && TQ_CFG_DW_REST
/* The first n (1..3) bytes of word at out. */
static inline void tq_dw_keep(int8_t *out, uint32_t word, int32_t n)
{
    out[0] = (int8_t)word;
    if (n > 1) {
        out[1] = (int8_t)(word >> 8);
    }
    if (n > 2) {
        out[2] = (int8_t)(word >> 16);
    }
}
#endif

/* Channel cc's requantization constants in the quant blocks (16 words per four channels). */
static inline const int32_t *tq_dw_q(const int32_t *q, int32_t cc)
{
    return q + 16 * (cc >> 2) + 4 + 3 * (cc & 3);
}

/* Channel cc's output from its sum, with either requantization (tq_conv_fast.h). */
static inline int8_t tq_dw_out1(const tq_depthwise_conv_fast_s8_params *p, int32_t acc, int32_t cc)
{
    const int32_t *const k = tq_dw_q(p->quant, cc);
    const int32_t v = TQ_CFG_REQUANT_GEN && p->requant ? tq_requant_gen(acc, k[0], k[1], k[2], p->out_offset) : tq_requant_mm(acc, k[0], k[1], k[2]);
    return (int8_t)TQ_CLAMP(v, p->act_min, p->act_max);
}

/*
 * The channels [c, in.c) of one output pixel the main loop leaves: with requant 1 every channel (whole
 * blocks of four with the same tap loops as the main loop, then tq_requant_gen), and the last
 * in.c % 4 channels (the first lanes of the last block). `last`: the layer's last output pixel.
 */
static __attribute__((noinline)) void tq_dw_rest(const tq_depthwise_conv_fast_s8_params *p, const uintptr_t *tt, uintptr_t base,
                                                 int32_t c, int8_t *out, int last)
{
    const int32_t ch = p->in.c, ch4 = ch & ~3, taps = p->kh * p->kw, paired = p->paired;
    const int8_t *const w = p->weights;
    const int16_t *const w16 = p->weights16;
    const int32_t *const q = p->quant;
    int32_t j;
    if (TQ_CFG_REQUANT_GEN && p->requant) {
#if defined(TQ_GEMM_DSP)
        if (c < ch4) { /* whole blocks in tq_depthwise_dsp.S, requantized there */
            tq_dw_job job;
            job.tab = tt;
            job.w = TQ_DW_WIDE ? (const void *)(w16 + c * taps) : (const void *)(w + c * taps);
            job.q = q + 4 * c;
            job.out = (uintptr_t)out - base;
            job.end = base + (uintptr_t)ch4;
            job.lo4 = 0x01010101u * (uint8_t)p->act_min;
            job.hi4 = 0x01010101u * (uint8_t)p->act_max;
            job.clamp = tq_gemm_gen_clamp(p->act_min == -128 && p->act_max == 127, p->out_offset);
            job.taps = taps;
            job.base = base + (uintptr_t)c;
            if (TQ_DW_WIDE) {
                tq_dw_pixel_gen_wide_dsp(&job);
            } else {
                tq_dw_pixel_gen_dsp(&job);
            }
            c = ch4;
        }
#else
        for (; c < ch4; c += 4) {
            const int32_t *const qb = q + 4 * c;
            int32_t acc[4];
            acc[0] = qb[0];
            acc[1] = qb[1];
            acc[2] = qb[2];
            acc[3] = qb[3];
#if defined(TQ_GEMM_MVE)
            tq_dw_block4_mve(tt, base + (uintptr_t)c, taps, w + c * taps, acc);
#else
            if (paired) {
                tq_dw_block4_paired(tt, base + (uintptr_t)c, taps, w != NULL ? w + c * taps : NULL,
                                    w16 != NULL ? w16 + c * taps : NULL, acc);
            } else {
                tq_dw_block(tt, base + (uintptr_t)c, taps, 0, w + c * taps, NULL, 4, acc);
            }
#endif
            for (j = 0; j < 4; ++j) {
                out[c + j] = tq_dw_out1(p, acc[j], c + j);
            }
        }
#endif
    }
#if defined(TQ_GEMM_DSP) && TQ_CFG_DW_REST
    if (c < ch && !last) {
        /* The last ch % 4 channels as a whole block in the assembler (its weights and constants are
           zero past the last channel) into a word, of which the first lanes are kept: the lanes past
           ch read the next pixel's bytes (or the zero-point row's, which has room), never past the
           input but for the last pixel, which goes below. */
        uint32_t word;
        tq_dw_job job;
        job.tab = tt;
        job.w = TQ_DW_WIDE ? (const void *)(w16 + c * taps) : (const void *)(w + c * taps);
        job.q = q + 4 * c;
        job.out = (uintptr_t)&word - (base + (uintptr_t)c);
        job.end = base + (uintptr_t)c + 4u;
        job.lo4 = 0x01010101u * (uint8_t)p->act_min;
        job.hi4 = 0x01010101u * (uint8_t)p->act_max;
        job.taps = taps;
        job.base = base + (uintptr_t)c;
        if (TQ_CFG_REQUANT_GEN && p->requant) {
            job.clamp = tq_gemm_gen_clamp(p->act_min == -128 && p->act_max == 127, p->out_offset);
            if (TQ_DW_WIDE) {
                tq_dw_pixel_gen_wide_dsp(&job);
            } else {
                tq_dw_pixel_gen_dsp(&job);
            }
        } else {
            job.clamp = !(p->act_min == -128 && p->act_max == 127);
            if (TQ_DW_WIDE) {
                tq_dw_pixel_wide_dsp(&job);
            } else {
                tq_dw_pixel_dsp(&job);
            }
        }
        memcpy(out + c, &word, (size_t)(ch - c));
        return;
    }
#else
    (void)last;
#endif
#if defined(TQ_GEMM_MVE)
    if (c < ch && !(TQ_CFG_REQUANT_GEN && p->requant)) { /* Helium: the last block with its lanes past ch off */
        const mve_pred16_t m = vctp32q((uint32_t)(ch - c));
        const int8_t *wb = w + c * taps; /* [T][4], zero past the last channel */
        int32x4_t a = vldrwq_z_s32(q + 4 * c, m);
        for (j = 0; j < taps; ++j, wb += 4) {
            a = vaddq_s32(a, vmulq_s32(vldrbq_z_s32((const int8_t *)(tt[j] + base + (uintptr_t)c), m), vldrbq_s32(wb)));
        }
        a = tq_mve_requant_at(a, q + 4 * c, vld1q_u32(tq_mve_dw_mult4));
        vstrbq_p_s32(out + c, vminq_s32(vmaxq_s32(a, vdupq_n_s32(p->act_min)), vdupq_n_s32(p->act_max)), m);
        return;
    }
#endif
    if (c < ch) { /* the last ch % 4 channels: the first lanes of the last block */
        const int32_t *const qb = q + 4 * c, lanes = ch - c;
        int32_t acc[4] = {0, 0, 0, 0};
        for (j = 0; j < lanes; ++j) {
            acc[j] = qb[j];
        }
        tq_dw_block(tt, base + (uintptr_t)c, taps, paired, w != NULL ? w + c * taps : NULL, w16 != NULL ? w16 + c * taps : NULL,
                    lanes, acc);
        for (j = 0; j < lanes; ++j) {
            out[c + j] = tq_dw_out1(p, acc[j], c + j);
        }
    }
}

#if TQ_CFG_DW_PAD
/* Two words of the copy at once (STRD), as a type that may alias the copy's other accesses. */
typedef uint64_t tq_dw_u64 __attribute__((may_alias));

/* n whole words from src (any alignment) to the word-aligned dst. */
static inline void tq_dw_copy_words(uint32_t *dst, const int8_t *src, int32_t n)
{
    for (; n > 0; --n, src += 4, ++dst) {
        uint32_t v;
        memcpy(&v, src, 4);
        memcpy(dst, &v, 4);
    }
}

/* tq_dw_pad's image rows where in.c % 4 != 0: pixel by pixel, pw whole words each (the lanes past
   in.c take the next pixel's first bytes: their weights are zero and their outputs never kept) while
   they end inside the input (before `end`), then the last in.c % 4 bytes one at a time (no read past
   the image). */
static __attribute__((noinline)) void tq_dw_pad_pixels(uint32_t *at, const int8_t *s, int32_t n, int32_t ch, int32_t pw,
                                                       const int8_t *end)
{
    const int32_t rest = ch & 3;
    int32_t j;
    for (; n > 0 && end - s >= 4 * pw; --n, at += pw, s += ch) {
        tq_dw_copy_words(at, s, pw);
    }
    for (; n > 0; --n, at += pw) {
        int8_t *const last = (int8_t *)(void *)(at + pw - 1);
        tq_dw_copy_words(at, s, pw - 1);
        s += 4 * (pw - 1);
        for (j = 0; j < rest; ++j) {
            last[j] = s[j];
        }
        s += rest;
    }
}

/*
 * The padded copy (pad_copy 1) of one input image: hp rows of wp pixels of cs bytes (in.c rounded up
 * to 4) from row -pad_h, column -pad_w (d: 8-byte aligned). All of it the input's zero point first
 * (the padding keeps it; one fill of the whole costs fewer instructions on
 * small maps than filling the border alone), then the image's rows over it: as whole words where in.c
 * is a multiple of 4, else tq_dw_pad_pixels.
 */
static __attribute__((noinline)) void tq_dw_pad(uint32_t *d, const int8_t *in_b, const tq_depthwise_conv_fast_s8_params *p,
                                                int32_t hp, int32_t wp, int32_t cs)
{
    const int32_t ch = p->in.c, pw = cs >> 2, row = wp * pw, in_row = p->in.w * ch;
    const int32_t y1 = TQ_MIN(hp, p->in.h + p->pad_h), inside = TQ_MIN(p->in.w, wp - p->pad_w);
    const uint32_t zp4 = 0x01010101u * (uint8_t)p->in_zp;
    const uint64_t zp8 = (uint64_t)zp4 << 32 | zp4;
    const int32_t words = hp * row;
    tq_dw_u64 *two = (tq_dw_u64 *)(void *)d, *const two_end = two + (words >> 1);
    uint32_t *at = d + (size_t)p->pad_h * (size_t)row + (size_t)(p->pad_w * pw);
    const int8_t *s = in_b;
    int32_t y;
    for (; two + 4 <= two_end; two += 4) {
        two[0] = zp8;
        two[1] = zp8;
        two[2] = zp8;
        two[3] = zp8;
    }
    for (; two < two_end; ++two) {
        *two = zp8;
    }
    if (words & 1) {
        d[words - 1] = zp4;
    }
    for (y = p->pad_h; y < y1; ++y, at += row, s += in_row) {
        if ((ch & 3) == 0) {
            tq_dw_copy_words(at, s, inside * pw);
        } else {
            tq_dw_pad_pixels(at, s, inside, ch, pw, in_b + (size_t)p->in.h * (size_t)in_row);
        }
    }
}
#endif

#if defined(TQ_GEMM_DSP) && TQ_CFG_DW_PAD
/*
 * The layer on its padded copy (pad_copy 1, tq_mm requantization) on the DSP extension: every window
 * inside the copy, so each pixel is one assembler call over its channels with the taps' offsets from
 * the window's corner (stride_w pixels of the copy on a pixel), no border and no staging. A pixel's
 * last block writes the lanes past in.c into the next pixel's output, computed later; an image's
 * last pixel, where in.c % 4 != 0, stops at its whole blocks and its last channels go through a word.
 */
static __attribute__((noinline)) void tq_dw_padded(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input,
                                                   int8_t *output, int8_t *scratch)
{
    const int32_t ch = p->in.c, kh = p->kh, kw = p->kw, cs = (ch + 3) & ~3, ch4 = ch & ~3;
    const int32_t hp = (p->out.h - 1) * p->stride_h + (kh - 1) * p->dil_h + 1;
    const int32_t wp = (p->out.w - 1) * p->stride_w + (kw - 1) * p->dil_w + 1;
    const int32_t oh = p->out.h, ow = p->out.w;
    const uintptr_t step = (uintptr_t)(p->stride_w * cs), down = (uintptr_t)(p->stride_h * wp * cs) - (uintptr_t)ow * step;
    int8_t *const padded = scratch + ((ch + 7) & ~7);
    uintptr_t offset[TQ_DW_MAX_TAPS];
    tq_dw_job job;
    uint32_t word;
    int32_t b, fy, fx, oy, ox;
    for (fy = 0; fy < kh; ++fy) {
        for (fx = 0; fx < kw; ++fx) {
            offset[fy * kw + fx] = (uintptr_t)((fy * p->dil_h * wp + fx * p->dil_w) * cs);
        }
    }
    job.tab = offset;
    job.w = TQ_DW_WIDE ? (const void *)p->weights16 : (const void *)p->weights;
    job.q = p->quant;
    job.lo4 = 0x01010101u * (uint8_t)p->act_min;
    job.hi4 = 0x01010101u * (uint8_t)p->act_max;
    job.clamp = !(p->act_min == -128 && p->act_max == 127);
    job.taps = kh * kw;
    for (b = 0; b < p->out.n; ++b) {
        uintptr_t base = (uintptr_t)padded;
        int8_t *out = output + (size_t)b * (size_t)(oh * ow) * (size_t)ch;
        tq_dw_pad((uint32_t *)(void *)padded, input + (size_t)b * (size_t)(p->in.h * p->in.w * ch), p, hp, wp, cs);
        for (oy = 0; oy < oh; ++oy, base += down) {
            const int32_t n = oy == oh - 1 && ch4 != ch ? ow - 1 : ow;
            for (ox = 0; ox < n; ++ox, out += ch, base += step) {
                job.out = (uintptr_t)out - base;
                job.end = base + (uintptr_t)cs;
                job.base = base;
                if (TQ_DW_WIDE) {
                    tq_dw_pixel_wide_dsp(&job);
                } else {
                    tq_dw_pixel_dsp(&job);
                }
            }
        }
        if (ch4 != ch) { /* the image's last pixel: its whole blocks, then its last channels through a word */
            tq_dw_job rest = job;
            base -= down; /* back from the next row's start to the pixel the last row left out */
            if (ch4 > 0) {
                job.out = (uintptr_t)out - base;
                job.end = base + (uintptr_t)ch4;
                job.base = base;
                if (TQ_DW_WIDE) {
                    tq_dw_pixel_wide_dsp(&job);
                } else {
                    tq_dw_pixel_dsp(&job);
                }
            }
            rest.w = TQ_DW_WIDE ? (const void *)(p->weights16 + ch4 * job.taps) : (const void *)(p->weights + ch4 * job.taps);
            rest.q = p->quant + 4 * ch4;
            rest.out = (uintptr_t)&word - (base + (uintptr_t)ch4);
            rest.end = base + (uintptr_t)ch4 + 4u;
            rest.base = base + (uintptr_t)ch4;
            if (TQ_DW_WIDE) {
                tq_dw_pixel_wide_dsp(&rest);
            } else {
                tq_dw_pixel_dsp(&rest);
            }
            memcpy(out + ch4, &word, (size_t)(ch - ch4));
        }
    }
}
#endif

tq_status TQ_KERNEL_NAME(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    /* Locals, not p->...: the int8 output stores may alias anything, which would force reloads. */
    const int32_t ch = p->in.c, kh = p->kh, kw = p->kw, taps = kh * kw;
    /* The image the windows read: the input, or (pad_copy) its padded copy, of in_h x in_w pixels
       of cs bytes, with the padding pad_h, pad_w outside it. */
    int32_t in_h = p->in.h, in_w = p->in.w, cs = ch, pad_h = p->pad_h, pad_w = p->pad_w;
    int8_t *padded = NULL;
    const int32_t lo = p->act_min, hi = p->act_max;
    const uint32_t lo4 = 0x01010101u * (uint8_t)lo, hi4 = 0x01010101u * (uint8_t)hi;
    const int8_t *const w = p->weights;
    const int16_t *const w16 = p->weights16;
    const int32_t *const q = p->quant;
    /* Channels of whole blocks of four the loops below requantize (none with the general
       requantization, which tq_dw_rest does). */
    const int32_t ch4 = TQ_CFG_REQUANT_GEN && p->requant ? 0 : ch & ~3, paired = p->paired;
    int8_t *const zp_row = scratch;
    const int32_t x_span = (kw - 1) * p->dil_w, y_span = (kh - 1) * p->dil_h;
#if defined(TQ_GEMM_DSP)
    /* The channels of whole blocks one assembler call computes but for a row's last pixel (not with
       the general requantization): every block, the last one's lanes past in.c read from the next
       pixel's bytes (or the zero-point row's room) and written into the next pixel's output, which
       is computed later (generation declares a gap 4 bytes larger, conv.lower_depthwise); a row's
       last pixel takes ch4 and tq_dw_rest (with the padded copy, only an image's last). */
    const int32_t whole = TQ_CFG_REQUANT_GEN && p->requant ? 0 : TQ_CFG_DW_REST ? (ch + 3) & ~3 : ch4;
#endif
    /* Tap t of channel c is read at tt[t] + base + c, base the window's corner: tt the taps' offsets
       from it, or for a window across the border a table of those with the taps outside the image
       set to zp_row - base (so that they read the zero-point row). */
    uintptr_t edge[TQ_DW_MAX_TAPS], offset[TQ_DW_MAX_TAPS];
    tq_row_stage stage;
    int32_t b, oy, ox, c, fy, fx;
#if defined(TQ_GEMM_DSP)
    /* The assembler's job: all but the pixel's table, base, output and end set once. */
    tq_dw_job job;
#if TQ_CFG_DW_REST
    /* The last ch % 4 channels (not the layer's last pixel: tq_dw_rest) as a whole block into a word. */
    tq_dw_job rest;
    uint32_t word;
#endif
#endif
    (void)paired; /* the portable path's (the others' whole blocks have one layout) */
#if defined(TQ_GEMM_MVE)
    /* The weights of eight channels of a tap, gathered from two blocks of [T][4]: byte offsets 0..3
       and 4 T .. 4 T + 3. */
    const int32_t ch16 = ch4 & ~15, ch8 = ch4 & ~7; /* then eight channels where they remain */
    tq_mve_dw_offsets woff;
    int16_t dy[TQ_DW_MAX_TAPS], dx[TQ_DW_MAX_TAPS]; /* tap t's row and column from the corner */
#endif

#if defined(TQ_GEMM_DSP) && TQ_CFG_DW_PAD
    if (p->pad_copy && !(TQ_CFG_REQUANT_GEN && p->requant)) {
        tq_dw_padded(p, input, output, scratch);
        return TQ_OK;
    }
#endif
#if TQ_CFG_DW_PAD
    if (p->pad_copy) {
        in_h = (p->out.h - 1) * p->stride_h + y_span + 1;
        in_w = (p->out.w - 1) * p->stride_w + x_span + 1;
        cs = (ch + 3) & ~3;
        pad_h = 0;
        pad_w = 0;
        padded = scratch + ((ch + 7) & ~7);
    }
#endif
    if (padded == NULL) {
        memset(zp_row, (int8_t)p->in_zp, (size_t)ch);
    }
#if defined(TQ_GEMM_DSP)
    job.w = TQ_DW_WIDE ? (const void *)w16 : (const void *)w;
    job.q = q;
    job.lo4 = lo4;
    job.hi4 = hi4;
    job.clamp = !(lo == -128 && hi == 127);
    job.taps = taps;
#if TQ_CFG_DW_REST
    rest = job;
    rest.w = TQ_DW_WIDE ? (const void *)(w16 + ch4 * taps) : (const void *)(w + ch4 * taps);
    rest.q = q + 4 * ch4;
#endif
#endif
#if defined(TQ_GEMM_MVE)
    tq_mve_dw_offsets_init(&woff, taps, lo, hi);
#endif
    for (fy = 0; fy < kh; ++fy) {
        for (fx = 0; fx < kw; ++fx) {
            offset[fy * kw + fx] = (uintptr_t)((fy * p->dil_h * in_w + fx * p->dil_w) * cs);
#if defined(TQ_GEMM_MVE)
            dy[fy * kw + fx] = (int16_t)(fy * p->dil_h);
            dx[fy * kw + fx] = (int16_t)(fx * p->dil_w);
#endif
        }
    }
    tq_stage_init(&stage, scratch + ((ch + 7) & ~7), padded != NULL ? 0 : p->ring_rows, p->out.w * ch, p->in.w * ch, p->out.h,
                  p->pad_h, p->stride_h);
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *in_b = input + (size_t)b * (size_t)(p->in.h * p->in.w * ch);
        int8_t *const out_b = output + (size_t)b * (size_t)(p->out.h * p->out.w * ch);
#if TQ_CFG_DW_PAD
        if (padded != NULL) {
            tq_dw_pad((uint32_t *)(void *)padded, in_b, p, in_h, in_w, cs);
            in_b = padded;
        }
#endif
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - pad_h;
            const int rows_in = iy0 >= 0 && iy0 + y_span < in_h;
            /* The corner of the row's first window (maybe outside the image). */
            const uintptr_t row0 = (uintptr_t)in_b + (uintptr_t)((intptr_t)iy0 * in_w * cs);
            int8_t *out = tq_stage_row(&stage, out_b, oy);
            ox = 0;
            for (; ox < p->out.w; ++ox, out += ch) {
                const int32_t ix0 = ox * p->stride_w - pad_w;
                const uintptr_t base = row0 + (uintptr_t)((intptr_t)ix0 * cs);
                const uintptr_t *tt = offset;
                if (!rows_in || ix0 < 0 || ix0 + x_span >= in_w) {
#if defined(TQ_GEMM_MVE)
                    tq_dw_edge_mve(edge, offset, dy, dx, taps, p, iy0, ix0, (uintptr_t)zp_row - base);
#else
                    tq_dw_edge(edge, offset, p, iy0, ix0, (uintptr_t)zp_row - base);
#endif
                    tt = edge;
                }
#if defined(TQ_GEMM_DSP)
                c = ox < p->out.w - 1 ? whole : ch4;
                if (c > 0) {
                    job.tab = tt;
                    job.out = (uintptr_t)out - base;
                    job.end = base + (uintptr_t)c;
                    job.base = base;
                    if (TQ_DW_WIDE) {
                        tq_dw_pixel_wide_dsp(&job);
                    } else {
                        tq_dw_pixel_dsp(&job);
                    }
                }
#if TQ_CFG_DW_REST
                if (c < ch && !(TQ_CFG_REQUANT_GEN && p->requant) && !(b == p->out.n - 1 && oy == p->out.h - 1 && ox == p->out.w - 1)) {
                    /* As tq_dw_rest does (the lanes past ch read the next pixel's bytes or the
                       zero-point row's room): the first ch - c bytes of the word kept. */
                    rest.tab = tt;
                    rest.out = (uintptr_t)&word - (base + (uintptr_t)c);
                    rest.end = base + (uintptr_t)c + 4u;
                    rest.base = base + (uintptr_t)c;
                    if (TQ_DW_WIDE) {
                        tq_dw_pixel_wide_dsp(&rest);
                    } else {
                        tq_dw_pixel_dsp(&rest);
                    }
                    tq_dw_keep(out + c, word, ch - c);
                    c = ch;
                }
#endif
#elif defined(TQ_GEMM_MVE)
                /* Sixteen channels at a time, then eight, then blocks of four, each requantized in vectors. */
                (void)lo4;
                (void)hi4;
                (void)w16;
                for (c = 0; c < ch16; c += 16) {
                    tq_mve_dw16(tt, base + (uintptr_t)c, taps, w + c * taps, &woff, q + 4 * c, out + c);
                }
                if (ch8 > ch16) {
                    tq_mve_dw8(tt, base + (uintptr_t)ch16, taps, w + ch16 * taps, &woff, q + 4 * ch16, out + ch16);
                    c = ch8;
                }
                for (; c < ch4; c += 4) {
                    int32_t acc[4];
                    const int32_t *const qb = q + 4 * c;
                    acc[0] = qb[0];
                    acc[1] = qb[1];
                    acc[2] = qb[2];
                    acc[3] = qb[3];
                    tq_dw_block4_mve(tt, base + (uintptr_t)c, taps, w + c * taps, acc);
                    tq_mve_dw_out4(vld1q_s32(acc), qb, out + c, vdupq_n_s32(lo), vdupq_n_s32(hi));
                }
#else
                for (c = 0; c < ch4; c += 4) {
                    const int32_t *const qb = q + 4 * c;
                    int32_t acc[4];
                    uint32_t word;
                    acc[0] = qb[0];
                    acc[1] = qb[1];
                    acc[2] = qb[2];
                    acc[3] = qb[3];
                    if (paired) {
                        tq_dw_block4_paired(tt, base + (uintptr_t)c, taps, w != NULL ? w + c * taps : NULL,
                                            w16 != NULL ? w16 + c * taps : NULL, acc);
                    } else {
                        tq_dw_block(tt, base + (uintptr_t)c, taps, 0, w + c * taps, NULL, 4, acc);
                    }
                    word = tq_dw_out4(acc, qb + 4, lo4, hi4);
                    memcpy(out + c, &word, 4);
                }
#endif
                if ((TQ_CFG_REQUANT_GEN || TQ_CFG_DW_REST) && c < ch) { /* the last ch % 4 channels, or all with the general requantization */
                    tq_dw_rest(p, tt, base, c, out, b == p->out.n - 1 && oy == p->out.h - 1 && ox == p->out.w - 1);
                }
            }
            tq_stage_flush(&stage, out_b, oy);
        }
    }
    return TQ_OK;
}
