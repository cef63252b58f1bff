/*
 * otlp_int.h - internals shared by the otlp_* files: protobuf wire
 * primitives (bounds-checked, never read past `end`), the hand-written span
 * decoder that otlp_pb.c calls from its nanopb callbacks, and the helpers
 * both decoders use to finish a resource. Not a public interface.
 */
#ifndef AM_OTLP_INT_H
#define AM_OTLP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "am/arena.h"
#include "am/err.h"
#include "am/span.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Decoder state shared by the hand-written protobuf functions. */
struct am_otlp_dec {
    struct am_arena *arena;
    const char *why;
};

static inline int am_otlp_fail(struct am_otlp_dec *d, int rc, const char *why)
{
    d->why = why;
    return rc;
}

/* Read a varint. Returns AM_OK or AM_EINVAL (*why set). */
static inline int am_otlp_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out,
                                 const char **why)
{
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *out = *p;
        *pp = p + 1;
        return AM_OK;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (p >= end) {
            *why = "wire: truncated varint";
            return AM_EINVAL;
        }
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            *pp = p;
            return AM_OK;
        }
    }
    *why = "wire: varint longer than 10 bytes";
    return AM_EINVAL;
}

/* Read a tag: field number and wire type. Rejects field 0 and groups. */
static inline int am_otlp_tag(const uint8_t **pp, const uint8_t *end, uint32_t *field, unsigned *wt,
                              const char **why)
{
    uint64_t t;
    if (am_otlp_varint(pp, end, &t, why) != AM_OK) {
        return AM_EINVAL;
    }
    if (t >> 3 == 0 || t >> 3 > 0x1fffffff) {
        *why = "wire: bad field number";
        return AM_EINVAL;
    }
    *field = (uint32_t)(t >> 3);
    *wt = (unsigned)(t & 7);
    if (*wt != WT_VARINT && *wt != WT_I64 && *wt != WT_LEN && *wt != WT_I32) {
        *why = "wire: group or invalid wire type";
        return AM_EINVAL;
    }
    return AM_OK;
}

/* Length-delimited payload: [*q, *q + *n) lies inside [*pp, end). */
static inline int am_otlp_len(const uint8_t **pp, const uint8_t *end, const uint8_t **q, size_t *n,
                              const char **why)
{
    uint64_t len;
    if (am_otlp_varint(pp, end, &len, why) != AM_OK) {
        return AM_EINVAL;
    }
    if (len > (uint64_t)(end - *pp)) {
        *why = "wire: length past end of message";
        return AM_EINVAL;
    }
    *q = *pp;
    *n = (size_t)len;
    *pp += len;
    return AM_OK;
}

static inline uint64_t am_otlp_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Skip the value of a field with wire type wt (already validated). */
static inline int am_otlp_skip(const uint8_t **pp, const uint8_t *end, unsigned wt,
                               const char **why)
{
    uint64_t v;
    const uint8_t *q = NULL;
    size_t n;
    size_t need = 0;
    switch (wt) {
    case WT_VARINT:
        return am_otlp_varint(pp, end, &v, why);
    case WT_LEN:
        return am_otlp_len(pp, end, &q, &n, why);
    case WT_I64:
        need = 8;
        break;
    default:
        need = 4;
        break;
    }
    if ((size_t)(end - *pp) < need) {
        *why = "wire: truncated fixed-width field";
        return AM_EINVAL;
    }
    *pp += need;
    return AM_OK;
}

/* Decode one Span message from [p, end) into s (zeroed by the caller). */
int am_otlp_pb_span(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, struct am_span *s);
/* Decode one KeyValue message from [p, end) into kv. */
int am_otlp_pb_kv(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, struct am_kv *kv);

/* Decode one LogRecord message from [p, end) into r (zeroed by the caller). */
int am_otlp_pb_log_record(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end,
                          struct am_log_record *r);
/* Fill r->event_name from the `event.name` string attribute when the
 * record's own event_name is empty (older SDKs). */
void am_otlp_log_finish(struct am_log_record *r);

/* The `service.name` string attribute, or an empty view. */
struct am_str am_otlp_service_name(const struct am_attrs *attrs);

#endif
