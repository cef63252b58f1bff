#ifndef AM_SPAN_H
#define AM_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/str.h"

/*
 * Span *views*: what otlp_pb and otlp_json decode into. Every pointer and
 * am_str points into the request arena (or into the request body the arena
 * owns); nothing here is freed individually and nothing outlives
 * am_arena_reset(). Value types, transparent.
 */

enum am_val_type {
    AM_VAL_NONE = 0,
    AM_VAL_STRING,
    AM_VAL_BOOL,
    AM_VAL_INT,
    AM_VAL_DOUBLE,
    AM_VAL_BYTES,
    AM_VAL_ARRAY,  /* u.arr: items are scalars or nested arrays */
    AM_VAL_KVLIST, /* u.kvlist */
};

struct am_kv;

struct am_anyval {
    enum am_val_type type;
    union {
        struct am_str s; /* STRING and BYTES */
        bool b;
        int64_t i;
        double d;
        struct {
            const struct am_anyval *items;
            size_t count;
        } arr;
        struct {
            const struct am_kv *items;
            size_t count;
        } kvlist;
    } u;
};

struct am_kv {
    struct am_str key;
    struct am_anyval val;
};

struct am_attrs {
    const struct am_kv *items;
    size_t count;
};

struct am_resource {
    struct am_attrs attrs;
    struct am_str service_name; /* the `service.name` attribute, empty when absent */
};

struct am_span_event {
    uint64_t time_ns;
    struct am_str name;
    struct am_attrs attrs;
};

enum am_span_status {
    AM_STATUS_UNSET = 0,
    AM_STATUS_OK = 1,
    AM_STATUS_ERROR = 2,
};

struct am_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    bool has_parent;           /* parent_span_id was present and not all zero */
    struct am_str trace_state; /* W3C tracestate as sent; empty when absent */
    struct am_str name;
    int kind;
    uint64_t start_ns;
    uint64_t end_ns;
    enum am_span_status status_code;
    struct am_str status_message;
    struct am_attrs attrs;
    const struct am_span_event *events;
    size_t event_count;
    const struct am_resource *resource; /* never NULL after decoding */
    struct am_str scope_name;
};

/* One decoded ExportTraceServiceRequest, flattened. */
struct am_trace_batch {
    struct am_span *spans;
    size_t span_count;
    size_t resource_count;
};

/* One OTLP LogRecord (evaluation events arrive as logs, SPEC.md 3). The
 * body is validated structurally but not kept. */
struct am_log_record {
    uint64_t time_ns;
    uint64_t observed_time_ns;
    struct am_str event_name; /* LogRecord.event_name, else the `event.name` attribute */
    struct am_attrs attrs;
    uint8_t trace_id[16];
    uint8_t span_id[8];
    bool has_trace;                     /* trace_id was 16 bytes and not all zero */
    bool has_span;                      /* span_id was 8 bytes and not all zero */
    const struct am_resource *resource; /* never NULL after decoding */
    int severity_number;
};

/* One decoded ExportLogsServiceRequest, flattened. */
struct am_log_batch {
    struct am_log_record *records;
    size_t record_count;
    size_t resource_count;
};

/* Find an attribute by key (linear; attribute lists are short). NULL if absent. */
static inline const struct am_anyval *am_attrs_get(const struct am_attrs *attrs, struct am_str key)
{
    for (size_t i = 0; i < attrs->count; i++) {
        if (am_str_eq(attrs->items[i].key, key)) {
            return &attrs->items[i].val;
        }
    }
    return NULL;
}

#endif
