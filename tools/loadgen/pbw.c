/*
 * pbw.c - protobuf wire writer (see pbw.h). Lengths of embedded messages
 * are not known up front: lg_pbw_begin reserves one byte for the length,
 * and lg_pbw_end moves the payload right when the varint needs more.
 */
#include "pbw.h"

#include <stdlib.h>
#include <string.h>

#include "am/alloc.h"

static void grow(struct lg_pbw *w, size_t n)
{
    if (w->len + n <= w->cap) {
        return;
    }
    size_t cap = w->cap != 0 ? w->cap : 4096;
    while (cap < w->len + n) {
        cap *= 2;
    }
    w->p = am_xrealloc(w->p, cap);
    w->cap = cap;
}

static size_t varint_encode(uint8_t out[10], uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static void raw(struct lg_pbw *w, const void *data, size_t n)
{
    grow(w, n);
    if (n > 0) {
        memcpy(w->p + w->len, data, n);
    }
    w->len += n;
}

static void raw_varint(struct lg_pbw *w, uint64_t v)
{
    uint8_t tmp[10];
    raw(w, tmp, varint_encode(tmp, v));
}

static void tag(struct lg_pbw *w, unsigned field, unsigned wire_type)
{
    raw_varint(w, ((uint64_t)field << 3) | wire_type);
}

void lg_pbw_reset(struct lg_pbw *w)
{
    w->len = 0;
    w->depth = 0;
}

void lg_pbw_fini(struct lg_pbw *w)
{
    am_free(w->p);
    *w = (struct lg_pbw){0};
}

void lg_pbw_varint(struct lg_pbw *w, unsigned field, uint64_t v)
{
    tag(w, field, 0);
    raw_varint(w, v);
}

void lg_pbw_fixed64(struct lg_pbw *w, unsigned field, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++) {
        le[i] = (uint8_t)(v >> (8 * i));
    }
    tag(w, field, 1);
    raw(w, le, sizeof(le));
}

void lg_pbw_bytes(struct lg_pbw *w, unsigned field, const void *data, size_t n)
{
    tag(w, field, 2);
    raw_varint(w, n);
    raw(w, data, n);
}

void lg_pbw_string(struct lg_pbw *w, unsigned field, const char *s)
{
    lg_pbw_bytes(w, field, s, strlen(s));
}

void lg_pbw_begin(struct lg_pbw *w, unsigned field)
{
    if (w->depth >= LG_PBW_MAX_DEPTH) {
        abort(); /* a programming error in the caller, not an input error */
    }
    tag(w, field, 2);
    grow(w, 1);
    w->p[w->len++] = 0; /* length placeholder: one byte covers < 128 */
    w->open[w->depth++] = w->len;
}

void lg_pbw_end(struct lg_pbw *w)
{
    size_t start = w->open[--w->depth];
    size_t n = w->len - start;
    uint8_t tmp[10];
    size_t vn = varint_encode(tmp, n);
    if (vn > 1) {
        grow(w, vn - 1);
        memmove(w->p + start + vn - 1, w->p + start, n);
        w->len += vn - 1;
    }
    memcpy(w->p + start - 1, tmp, vn);
}

static void attr_open(struct lg_pbw *w, unsigned field, const char *key)
{
    lg_pbw_begin(w, field);
    lg_pbw_string(w, 1, key);
    lg_pbw_begin(w, 2);
}

static void attr_close(struct lg_pbw *w)
{
    lg_pbw_end(w);
    lg_pbw_end(w);
}

void lg_pbw_attr_str(struct lg_pbw *w, unsigned field, const char *key, const char *val)
{
    attr_open(w, field, key);
    lg_pbw_string(w, 1, val);
    attr_close(w);
}

void lg_pbw_attr_int(struct lg_pbw *w, unsigned field, const char *key, int64_t val)
{
    attr_open(w, field, key);
    lg_pbw_varint(w, 3, (uint64_t)val);
    attr_close(w);
}

void lg_pbw_attr_double(struct lg_pbw *w, unsigned field, const char *key, double val)
{
    uint64_t bits;
    memcpy(&bits, &val, sizeof(bits));
    attr_open(w, field, key);
    lg_pbw_fixed64(w, 4, bits);
    attr_close(w);
}

void lg_pbw_attr_bool(struct lg_pbw *w, unsigned field, const char *key, int val)
{
    attr_open(w, field, key);
    lg_pbw_varint(w, 2, val != 0);
    attr_close(w);
}
