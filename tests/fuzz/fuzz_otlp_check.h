/*
 * fuzz_otlp_check.h - invariants the OTLP fuzz harnesses assert on a decoded
 * batch: every view lies inside the input (or, where the decoder may copy,
 * is at least readable: ASan checks the read), counts are bounded by the
 * input size, every span has a resource, nesting respects the cap.
 */
#ifndef AM_FUZZ_OTLP_CHECK_H
#define AM_FUZZ_OTLP_CHECK_H

#include <stdbool.h>
#include <stdlib.h>

#include "am/otlp.h"

static volatile unsigned fz_sink;

static void fz_str(struct am_str s, const uint8_t *in, size_t n, bool may_copy)
{
    if (s.len == 0) {
        return;
    }
    const uint8_t *p = (const uint8_t *)s.ptr;
    bool inside = p >= in && p + s.len <= in + n;
    if (!inside && !may_copy) {
        abort();
    }
    if (s.len > n) {
        abort(); /* decoded strings never grow */
    }
    fz_sink += p[0] + p[s.len - 1]; /* ASan: the whole view must be readable */
}

static void fz_any(const struct am_anyval *v, const uint8_t *in, size_t n, bool cp, unsigned d);

static void fz_attrs(const struct am_kv *kv, size_t count, const uint8_t *in, size_t n, bool cp,
                     unsigned d)
{
    if (count > n) {
        abort();
    }
    for (size_t i = 0; i < count; i++) {
        fz_str(kv[i].key, in, n, cp);
        fz_any(&kv[i].val, in, n, cp, d + 1);
    }
}

static void fz_any(const struct am_anyval *v, const uint8_t *in, size_t n, bool cp, unsigned d)
{
    if (d > AM_OTLP_MAX_ANY_DEPTH) {
        abort();
    }
    switch (v->type) {
    case AM_VAL_STRING:
        fz_str(v->u.s, in, n, cp);
        break;
    case AM_VAL_BYTES:
        fz_str(v->u.s, in, n, true); /* JSON base64 is decoded into the arena */
        break;
    case AM_VAL_ARRAY:
        if (v->u.arr.count > n) {
            abort();
        }
        for (size_t i = 0; i < v->u.arr.count; i++) {
            fz_any(&v->u.arr.items[i], in, n, cp, d + 1);
        }
        break;
    case AM_VAL_KVLIST:
        fz_attrs(v->u.kvlist.items, v->u.kvlist.count, in, n, cp, d);
        break;
    default:
        break;
    }
}

/* may_copy: escaped JSON strings live in the arena, not the input. */
static inline void fz_check_batch(const struct am_trace_batch *b, const uint8_t *in, size_t n,
                                  bool may_copy, size_t max_spans)
{
    if (b->span_count > max_spans || b->resource_count > n) {
        abort();
    }
    for (size_t i = 0; i < b->span_count; i++) {
        const struct am_span *s = &b->spans[i];
        if (s->resource == NULL || s->event_count > n) {
            abort();
        }
        fz_str(s->name, in, n, may_copy);
        fz_str(s->status_message, in, n, may_copy);
        fz_str(s->scope_name, in, n, may_copy);
        fz_str(s->resource->service_name, in, n, may_copy);
        fz_attrs(s->attrs.items, s->attrs.count, in, n, may_copy, 0);
        fz_attrs(s->resource->attrs.items, s->resource->attrs.count, in, n, may_copy, 0);
        for (size_t e = 0; e < s->event_count; e++) {
            fz_str(s->events[e].name, in, n, may_copy);
            fz_attrs(s->events[e].attrs.items, s->events[e].attrs.count, in, n, may_copy, 0);
        }
    }
}

/* The same invariants for a decoded log batch. */
static inline void fz_check_logs(const struct am_log_batch *b, const uint8_t *in, size_t n,
                                 bool may_copy)
{
    if (b->record_count > n || b->resource_count > n) {
        abort();
    }
    for (size_t i = 0; i < b->record_count; i++) {
        const struct am_log_record *r = &b->records[i];
        if (r->resource == NULL) {
            abort();
        }
        fz_str(r->event_name, in, n, may_copy);
        fz_str(r->resource->service_name, in, n, may_copy);
        fz_attrs(r->attrs.items, r->attrs.count, in, n, may_copy, 0);
        fz_attrs(r->resource->attrs.items, r->resource->attrs.count, in, n, may_copy, 0);
    }
}

#endif
