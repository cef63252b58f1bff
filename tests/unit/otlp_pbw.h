/*
 * otlp_pbw.h - a tiny protobuf writer for tests and the decode benchmark:
 * tags, varints, fixed fields and length-delimited sub-messages built in a
 * separate writer and appended. Header-only, test code only.
 */
#ifndef AM_OTLP_PBW_H
#define AM_OTLP_PBW_H

#include <stdint.h>
#include <string.h>

#include "am/alloc.h"

struct pbw {
    uint8_t *d;
    size_t len;
    size_t cap;
};

static inline void pbw_raw(struct pbw *w, const void *p, size_t n)
{
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 64;
        while (cap < w->len + n) {
            cap *= 2;
        }
        w->d = am_xrealloc(w->d, cap);
        w->cap = cap;
    }
    if (n > 0) {
        memcpy(w->d + w->len, p, n);
    }
    w->len += n;
}

static inline void pbw_varint(struct pbw *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    pbw_raw(w, b, n);
}

static inline void pbw_tag(struct pbw *w, uint32_t f, unsigned wt)
{
    pbw_varint(w, ((uint64_t)f << 3) | wt);
}

static inline void pbw_bytes(struct pbw *w, uint32_t f, const void *p, size_t n)
{
    pbw_tag(w, f, 2);
    pbw_varint(w, n);
    pbw_raw(w, p, n);
}

static inline void pbw_str(struct pbw *w, uint32_t f, const char *s)
{
    pbw_bytes(w, f, s, strlen(s));
}

static inline void pbw_uint(struct pbw *w, uint32_t f, uint64_t v)
{
    pbw_tag(w, f, 0);
    pbw_varint(w, v);
}

static inline void pbw_fixed64(struct pbw *w, uint32_t f, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    pbw_tag(w, f, 1);
    pbw_raw(w, b, 8);
}

static inline void pbw_double(struct pbw *w, uint32_t f, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    pbw_fixed64(w, f, v);
}

/* Append sub as field f, then empty sub (keeps its capacity). */
static inline void pbw_msg(struct pbw *w, uint32_t f, struct pbw *sub)
{
    pbw_bytes(w, f, sub->d, sub->len);
    sub->len = 0;
}

static inline void pbw_free(struct pbw *w)
{
    am_free(w->d);
    w->d = NULL;
    w->len = w->cap = 0;
}

/* KeyValue{key, AnyValue{string_value}} as field f. */
static inline void pbw_kv_str(struct pbw *w, uint32_t f, const char *k, const char *v)
{
    struct pbw any = {0}, kv = {0};
    pbw_str(&any, 1, v);
    pbw_str(&kv, 1, k);
    pbw_msg(&kv, 2, &any);
    pbw_msg(w, f, &kv);
    pbw_free(&any);
    pbw_free(&kv);
}

/* KeyValue{key, AnyValue{int_value}} as field f. */
static inline void pbw_kv_int(struct pbw *w, uint32_t f, const char *k, int64_t v)
{
    struct pbw any = {0}, kv = {0};
    pbw_uint(&any, 3, (uint64_t)v);
    pbw_str(&kv, 1, k);
    pbw_msg(&kv, 2, &any);
    pbw_msg(w, f, &kv);
    pbw_free(&any);
    pbw_free(&kv);
}

/* KeyValue{key, AnyValue{double_value}} as field f. */
static inline void pbw_kv_double(struct pbw *w, uint32_t f, const char *k, double v)
{
    struct pbw any = {0}, kv = {0};
    pbw_double(&any, 4, v);
    pbw_str(&kv, 1, k);
    pbw_msg(&kv, 2, &any);
    pbw_msg(w, f, &kv);
    pbw_free(&any);
    pbw_free(&kv);
}

#endif
