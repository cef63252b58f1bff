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
#include "am/pbwire.h"
#include "am/span.h"

enum {
    WT_VARINT = AM_PBWIRE_VARINT,
    WT_I64 = AM_PBWIRE_I64,
    WT_LEN = AM_PBWIRE_LEN,
    WT_I32 = AM_PBWIRE_I32,
};

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
