/*
 * pb_span.c - hand-written protobuf decoder for the hot messages of an
 * ExportTraceServiceRequest: Span, Span.Event, Status, KeyValue, AnyValue,
 * and the LogRecord of an ExportLogsServiceRequest.
 * nanopb's per-message callback machinery costs several times the ingest
 * budget on attribute-heavy spans (numbers in docs/design/otlp.md), so these
 * are decoded here with the same rules nanopb applies: last scalar wins,
 * unknown fields skipped, a known field with the wrong wire type rejected.
 * Strings and bytes are views into the body. A span's and an event's
 * attributes and events are decoded in one pass into a stack buffer, copied
 * to the arena once at the end (growing in the arena by doubling past the
 * buffer); nested arrays are pre-counted and allocated once in the arena.
 * AnyValue nesting is capped.
 */
#include <string.h>

#include "am/otlp.h"
#include "otlp_int.h"

#define WANT(wt_, want_, why_)                                                                     \
    do {                                                                                           \
        if ((wt_) != (want_)) {                                                                    \
            return am_otlp_fail(d, AM_EINVAL, (why_));                                             \
        }                                                                                          \
    } while (0)

static int dec_any(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, struct am_anyval *v,
                   unsigned depth);
static int dec_kv(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, struct am_kv *kv,
                  unsigned depth);

static int oom(struct am_otlp_dec *d)
{
    return am_otlp_fail(d, AM_ETOOBIG, "arena: request budget exhausted");
}

/* Count the length-delimited occurrences of fields fa and fb (fb may be 0). */
static int count2(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, uint32_t fa,
                  size_t *na, uint32_t fb, size_t *nb)
{
    uint32_t f = 0;
    unsigned wt = 0;
    while (p < end) {
        if (am_pbwire_tag(&p, end, &f, &wt, &d->why) != AM_OK ||
            am_pbwire_skip(&p, end, wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        if (wt == WT_LEN) {
            *na += f == fa;
            *nb += f == fb;
        }
    }
    return AM_OK;
}

static void *alloc_n(struct am_otlp_dec *d, size_t n, size_t size)
{
    if (n == 0) {
        return NULL;
    }
    if (n > SIZE_MAX / size) {
        return NULL;
    }
    return am_arena_alloc(d->arena, n * size);
}

/*
 * A vector filled in one pass: items start in a caller's stack buffer and
 * move to the arena, doubling, when it fills; vec_finish copies them to an
 * exactly sized arena array unless they already live in the arena.
 */
struct vec {
    void *items;
    size_t n, cap, size;
    bool on_stack;
};

static void vec_init(struct vec *v, void *buf, size_t cap, size_t size)
{
    *v = (struct vec){buf, 0, cap, size, true};
}

/* The next slot, or NULL when the arena budget is exhausted. */
static void *vec_push(struct am_otlp_dec *d, struct vec *v)
{
    if (v->n == v->cap) {
        void *grown = alloc_n(d, v->cap * 2, v->size);
        if (grown == NULL) {
            return NULL;
        }
        memcpy(grown, v->items, v->n * v->size);
        v->items = grown;
        v->cap *= 2;
        v->on_stack = false;
    }
    return (unsigned char *)v->items + v->n++ * v->size;
}

/* The items in the arena (NULL when none); false when the budget is exhausted. */
static bool vec_finish(struct am_otlp_dec *d, struct vec *v, void **out)
{
    *out = NULL;
    if (v->n == 0) {
        return true;
    }
    if (!v->on_stack) {
        *out = v->items;
        return true;
    }
    void *p = alloc_n(d, v->n, v->size);
    if (p == NULL) {
        return false;
    }
    memcpy(p, v->items, v->n * v->size);
    *out = p;
    return true;
}

/* Pre-count, allocate, then fill: ArrayValue.values (field 1). */
static int dec_array(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end,
                     struct am_anyval *v, unsigned depth)
{
    size_t n = 0;
    size_t unused = 0;
    if (count2(d, p, end, 1, &n, 0, &unused) != AM_OK) {
        return AM_EINVAL;
    }
    struct am_anyval *items = alloc_n(d, n, sizeof(*items));
    if (n > 0 && items == NULL) {
        return oom(d);
    }
    size_t i = 0;
    uint32_t f = 0;
    unsigned wt = 0;
    while (p < end) {
        (void)am_pbwire_tag(&p, end, &f, &wt, &d->why); /* validated by count2 */
        if (f != 1) {
            (void)am_pbwire_skip(&p, end, wt, &d->why);
            continue;
        }
        WANT(wt, WT_LEN, "anyvalue.array_value.values: wrong wire type");
        const uint8_t *q = NULL;
        size_t len = 0;
        (void)am_pbwire_len(&p, end, &q, &len, &d->why);
        int rc = dec_any(d, q, q + len, &items[i++], depth + 1);
        if (rc != AM_OK) {
            return rc;
        }
    }
    v->type = AM_VAL_ARRAY;
    v->u.arr.items = items;
    v->u.arr.count = i;
    return AM_OK;
}

/* KeyValueList.values (field 1), or any repeated KeyValue field `fno`. */
static int dec_kvs(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, uint32_t fno,
                   size_t n, struct am_attrs *out, unsigned depth)
{
    struct am_kv *items = alloc_n(d, n, sizeof(*items));
    if (n > 0 && items == NULL) {
        return oom(d);
    }
    size_t i = 0;
    uint32_t f = 0;
    unsigned wt = 0;
    while (p < end) {
        (void)am_pbwire_tag(&p, end, &f, &wt, &d->why); /* validated by count2 */
        if (f != fno) {
            (void)am_pbwire_skip(&p, end, wt, &d->why);
            continue;
        }
        WANT(wt, WT_LEN, "kvlist_value.values: wrong wire type");
        const uint8_t *q = NULL;
        size_t len = 0;
        (void)am_pbwire_len(&p, end, &q, &len, &d->why);
        int rc = dec_kv(d, q, q + len, &items[i++], depth);
        if (rc != AM_OK) {
            return rc;
        }
    }
    out->items = items;
    out->count = i;
    return AM_OK;
}

static int dec_kvlist(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end,
                      struct am_anyval *v, unsigned depth)
{
    size_t n = 0;
    size_t unused = 0;
    if (count2(d, p, end, 1, &n, 0, &unused) != AM_OK) {
        return AM_EINVAL;
    }
    struct am_attrs kvs = {NULL, 0};
    int rc = dec_kvs(d, p, end, 1, n, &kvs, depth);
    if (rc != AM_OK) {
        return rc;
    }
    v->type = AM_VAL_KVLIST;
    v->u.kvlist.items = kvs.items;
    v->u.kvlist.count = kvs.count;
    return AM_OK;
}

static int dec_any_field(struct am_otlp_dec *d, const uint8_t **pp, const uint8_t *end, uint32_t f,
                         unsigned wt, struct am_anyval *v, unsigned depth)
{
    uint64_t x = 0;
    const uint8_t *q = NULL;
    size_t len = 0;
    switch (f) {
    case 1:
    case 7:
        WANT(wt, WT_LEN, "anyvalue: wrong wire type for string/bytes");
        if (am_pbwire_len(pp, end, &q, &len, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        v->type = f == 1 ? AM_VAL_STRING : AM_VAL_BYTES;
        v->u.s.ptr = (const char *)q;
        v->u.s.len = len;
        return AM_OK;
    case 2:
    case 3:
        WANT(wt, WT_VARINT, "anyvalue: wrong wire type for bool/int");
        if (am_pbwire_varint(pp, end, &x, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        v->type = f == 2 ? AM_VAL_BOOL : AM_VAL_INT;
        if (f == 2) {
            v->u.b = x != 0;
        } else {
            v->u.i = (int64_t)x;
        }
        return AM_OK;
    case 4:
        WANT(wt, WT_I64, "anyvalue.double_value: wrong wire type");
        if (end - *pp < 8) {
            return am_otlp_fail(d, AM_EINVAL, "wire: truncated fixed-width field");
        }
        x = am_pbwire_le64(*pp);
        *pp += 8;
        v->type = AM_VAL_DOUBLE;
        memcpy(&v->u.d, &x, sizeof(x));
        return AM_OK;
    case 5:
    case 6:
        WANT(wt, WT_LEN, "anyvalue: wrong wire type for array/kvlist");
        if (am_pbwire_len(pp, end, &q, &len, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        if (f == 5) {
            return dec_array(d, q, q + len, v, depth);
        }
        return dec_kvlist(d, q, q + len, v, depth);
    default:
        return am_pbwire_skip(pp, end, wt, &d->why);
    }
}

static int dec_any(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, struct am_anyval *v,
                   unsigned depth)
{
    v->type = AM_VAL_NONE;
    if (depth > AM_OTLP_MAX_ANY_DEPTH) {
        return am_otlp_fail(d, AM_EINVAL, "anyvalue: nested deeper than AM_OTLP_MAX_ANY_DEPTH");
    }
    uint32_t f = 0;
    unsigned wt = 0;
    while (p < end) {
        if (am_pbwire_tag(&p, end, &f, &wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        int rc = dec_any_field(d, &p, end, f, wt, v, depth);
        if (rc != AM_OK) {
            return rc;
        }
    }
    return AM_OK;
}

static int dec_kv(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, struct am_kv *kv,
                  unsigned depth)
{
    kv->key = AM_STR_NULL;
    kv->val.type = AM_VAL_NONE;
    uint32_t f = 0;
    unsigned wt = 0;
    const uint8_t *q = NULL;
    size_t len = 0;
    while (p < end) {
        if (am_pbwire_tag(&p, end, &f, &wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        if (f == 1 || f == 2) {
            WANT(wt, WT_LEN, "keyvalue: wrong wire type for key/value");
            if (am_pbwire_len(&p, end, &q, &len, &d->why) != AM_OK) {
                return AM_EINVAL;
            }
            if (f == 1) {
                kv->key.ptr = (const char *)q;
                kv->key.len = len;
                continue;
            }
            int rc = dec_any(d, q, q + len, &kv->val, depth + 1);
            if (rc != AM_OK) {
                return rc;
            }
            continue;
        }
        if (am_pbwire_skip(&p, end, wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
    }
    return AM_OK;
}

int am_otlp_pb_kv(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, struct am_kv *kv)
{
    return dec_kv(d, p, end, kv, 0);
}

/*
 * The shape nearly every attribute has on the wire: key (field 1), then one
 * AnyValue (field 2) holding one string, int, bool or double, every length
 * a one-byte varint. Such a KeyValue is decoded here in a few loads and
 * compares; anything else (other fields, repeats, long lengths, arrays)
 * returns false and goes through dec_kv, which gives the same result for
 * the shapes accepted here. About a sixth of dec_kv's instructions.
 */
static bool kv_fast(const uint8_t *p, const uint8_t *end, struct am_kv *kv)
{
    size_t n = (size_t)(end - p);
    if (n < 4 || p[0] != 0x0A || p[1] >= 0x80 || (size_t)p[1] + 4 > n) {
        return false;
    }
    const uint8_t *q = p + 2 + p[1];
    if (q[0] != 0x12 || q[1] >= 0x80 || (size_t)(end - q) != 2u + q[1] || q[1] < 2) {
        return false;
    }
    const uint8_t *a = q + 2;
    uint64_t x = 0;
    const char *why = NULL;
    switch (a[0]) {
    case 0x0A: /* string_value */
        if (a[1] >= 0x80 || (size_t)(end - a) != 2u + a[1]) {
            return false;
        }
        kv->val.type = AM_VAL_STRING;
        kv->val.u.s = (struct am_str){(const char *)a + 2, a[1]};
        break;
    case 0x10: /* bool_value */
    case 0x18: /* int_value */
        q = a + 1;
        if (am_pbwire_varint(&q, end, &x, &why) != AM_OK || q != end) {
            return false;
        }
        if (a[0] == 0x10) {
            kv->val.type = AM_VAL_BOOL;
            kv->val.u.b = x != 0;
        } else {
            kv->val.type = AM_VAL_INT;
            kv->val.u.i = (int64_t)x;
        }
        break;
    case 0x21: /* double_value */
        if (end - a != 9) {
            return false;
        }
        x = am_pbwire_le64(a + 1);
        kv->val.type = AM_VAL_DOUBLE;
        memcpy(&kv->val.u.d, &x, sizeof(x));
        break;
    default:
        return false;
    }
    kv->key = (struct am_str){(const char *)p + 2, p[1]};
    return true;
}

/* Decode one attribute into the next slot of kvs. */
static int kv_slot(struct am_otlp_dec *d, const uint8_t **pp, const uint8_t *end, struct vec *kvs)
{
    const uint8_t *q = NULL;
    size_t len = 0;
    if (am_pbwire_len(pp, end, &q, &len, &d->why) != AM_OK) {
        return AM_EINVAL;
    }
    struct am_kv *kv = vec_push(d, kvs);
    if (kv == NULL) {
        return oom(d);
    }
    if (kv_fast(q, q + len, kv)) {
        return AM_OK;
    }
    return dec_kv(d, q, q + len, kv, 0);
}

/* kvs into their arena array as *a. */
static int kvs_finish(struct am_otlp_dec *d, struct vec *kvs, struct am_attrs *a)
{
    void *items = NULL;
    if (!vec_finish(d, kvs, &items)) {
        return oom(d);
    }
    a->items = items;
    a->count = kvs->n;
    return AM_OK;
}

/* Attributes a span or an event decodes on the stack before the arena. */
#define STACK_KVS 32
#define STACK_EVENTS 8

static int dec_event(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end,
                     struct am_span_event *ev)
{
    struct am_kv buf[STACK_KVS];
    struct vec kvs;
    vec_init(&kvs, buf, STACK_KVS, sizeof(buf[0]));
    uint32_t f = 0;
    unsigned wt = 0;
    const uint8_t *q = NULL;
    size_t len = 0;
    while (p < end) {
        if (am_pbwire_tag(&p, end, &f, &wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        int rc = AM_OK;
        if (f == 1) {
            WANT(wt, WT_I64, "event.time_unix_nano: wrong wire type");
            if (end - p < 8) {
                return am_otlp_fail(d, AM_EINVAL, "wire: truncated fixed-width field");
            }
            ev->time_ns = am_pbwire_le64(p);
            p += 8;
        } else if (f == 2) {
            WANT(wt, WT_LEN, "event.name: wrong wire type");
            rc = am_pbwire_len(&p, end, &q, &len, &d->why);
            ev->name.ptr = (const char *)q;
            ev->name.len = len;
        } else if (f == 3) {
            WANT(wt, WT_LEN, "event.attributes: wrong wire type");
            rc = kv_slot(d, &p, end, &kvs);
        } else {
            rc = am_pbwire_skip(&p, end, wt, &d->why);
        }
        if (rc != AM_OK) {
            return rc;
        }
    }
    return kvs_finish(d, &kvs, &ev->attrs);
}

static int dec_status(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end,
                      struct am_span *s)
{
    uint32_t f = 0;
    unsigned wt = 0;
    uint64_t x = 0;
    while (p < end) {
        if (am_pbwire_tag(&p, end, &f, &wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        if (f == 2) {
            WANT(wt, WT_LEN, "status.message: wrong wire type");
            const uint8_t *q = NULL;
            size_t len = 0;
            if (am_pbwire_len(&p, end, &q, &len, &d->why) != AM_OK) {
                return AM_EINVAL;
            }
            s->status_message.ptr = (const char *)q;
            s->status_message.len = len;
        } else if (f == 3) {
            WANT(wt, WT_VARINT, "status.code: wrong wire type");
            if (am_pbwire_varint(&p, end, &x, &d->why) != AM_OK) {
                return AM_EINVAL;
            }
            /* Open enum: codes we do not know read as UNSET. */
            s->status_code = x == 1 ? AM_STATUS_OK : x == 2 ? AM_STATUS_ERROR : AM_STATUS_UNSET;
        } else if (am_pbwire_skip(&p, end, wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
    }
    return AM_OK;
}

/* Expected wire type of each Span field 1..16, and what to say when wrong. */
static const uint8_t span_wt[17] = {
    0,      WT_LEN,    WT_LEN, WT_LEN,    WT_LEN, WT_LEN,    WT_VARINT, WT_I64, WT_I64,
    WT_LEN, WT_VARINT, WT_LEN, WT_VARINT, WT_LEN, WT_VARINT, WT_LEN,    WT_I32,
};
static const char *const span_wt_why[17] = {
    NULL,
    "span.trace_id: wrong wire type",
    "span.span_id: wrong wire type",
    "span.trace_state: wrong wire type",
    "span.parent_span_id: wrong wire type",
    "span.name: wrong wire type",
    "span.kind: wrong wire type",
    "span.start_time_unix_nano: wrong wire type",
    "span.end_time_unix_nano: wrong wire type",
    "span.attributes: wrong wire type",
    "span.dropped_attributes_count: wrong wire type",
    "span.events: wrong wire type",
    "span.dropped_events_count: wrong wire type",
    "span.links: wrong wire type",
    "span.dropped_links_count: wrong wire type",
    "span.status: wrong wire type",
    "span.flags: wrong wire type",
};

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

static int span_id_field(struct am_otlp_dec *d, uint32_t f, const uint8_t *q, size_t len,
                         struct am_span *s, unsigned *seen)
{
    if (f == 1) {
        if (len != 16) {
            return am_otlp_fail(d, AM_EINVAL, "span.trace_id: want 16 bytes");
        }
        memcpy(s->trace_id, q, 16);
        *seen |= 1;
        return AM_OK;
    }
    if (f == 2) {
        if (len != 8) {
            return am_otlp_fail(d, AM_EINVAL, "span.span_id: want 8 bytes");
        }
        memcpy(s->span_id, q, 8);
        *seen |= 2;
        return AM_OK;
    }
    if (len != 0 && len != 8) {
        return am_otlp_fail(d, AM_EINVAL, "span.parent_span_id: want 0 or 8 bytes");
    }
    memset(s->parent_span_id, 0, 8);
    if (len == 8) {
        memcpy(s->parent_span_id, q, 8);
    }
    s->has_parent = len == 8 && !all_zero(q, 8);
    return AM_OK;
}

/* One Span field whose tag has been read and whose wire type matches. */
static int span_field(struct am_otlp_dec *d, const uint8_t **pp, const uint8_t *end, uint32_t f,
                      struct am_span *s, struct vec *kvs, struct vec *evs, unsigned *seen)
{
    const uint8_t *q = NULL;
    size_t len = 0;
    uint64_t x = 0;
    switch (f) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 11:
    case 15:
        if (am_pbwire_len(pp, end, &q, &len, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        if (f == 5 || f == 3) {
            *(f == 5 ? &s->name : &s->trace_state) = (struct am_str){(const char *)q, len};
            return AM_OK;
        }
        if (f == 11) {
            struct am_span_event *ev = vec_push(d, evs);
            if (ev == NULL) {
                return oom(d);
            }
            memset(ev, 0, sizeof(*ev));
            return dec_event(d, q, q + len, ev);
        }
        if (f == 15) {
            return dec_status(d, q, q + len, s);
        }
        return span_id_field(d, f, q, len, s, seen);
    case 6:
        if (am_pbwire_varint(pp, end, &x, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        s->kind = (int)(int32_t)x;
        return AM_OK;
    case 7:
    case 8:
        if (end - *pp < 8) {
            return am_otlp_fail(d, AM_EINVAL, "wire: truncated fixed-width field");
        }
        *(f == 7 ? &s->start_ns : &s->end_ns) = am_pbwire_le64(*pp);
        *pp += 8;
        return AM_OK;
    case 9:
        return kv_slot(d, pp, end, kvs);
    default:
        return am_pbwire_skip(pp, end, span_wt[f], &d->why);
    }
}

int am_otlp_pb_span(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, struct am_span *s)
{
    struct am_kv kv_buf[STACK_KVS];
    struct am_span_event ev_buf[STACK_EVENTS];
    struct vec kvs;
    struct vec evs;
    vec_init(&kvs, kv_buf, STACK_KVS, sizeof(kv_buf[0]));
    vec_init(&evs, ev_buf, STACK_EVENTS, sizeof(ev_buf[0]));
    unsigned seen = 0;
    uint32_t f = 0;
    unsigned wt = 0;
    while (p < end) {
        int rc;
        if (*p == 0x4a) { /* attributes (9, LEN): most of a span's fields */
            p++;
            rc = kv_slot(d, &p, end, &kvs);
            if (rc != AM_OK) {
                return rc;
            }
            continue;
        }
        if (am_pbwire_tag(&p, end, &f, &wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        if (f > 16) {
            rc = am_pbwire_skip(&p, end, wt, &d->why);
        } else if (wt != span_wt[f]) {
            return am_otlp_fail(d, AM_EINVAL, span_wt_why[f]);
        } else {
            rc = span_field(d, &p, end, f, s, &kvs, &evs, &seen);
        }
        if (rc != AM_OK) {
            return rc;
        }
    }
    void *events = NULL;
    if (kvs_finish(d, &kvs, &s->attrs) != AM_OK || !vec_finish(d, &evs, &events)) {
        return oom(d);
    }
    s->events = events;
    s->event_count = evs.n;
    if (!(seen & 1) || all_zero(s->trace_id, 16)) {
        return am_otlp_fail(d, AM_EINVAL, "span.trace_id: want 16 bytes, not all zero");
    }
    if (!(seen & 2) || all_zero(s->span_id, 8)) {
        return am_otlp_fail(d, AM_EINVAL, "span.span_id: want 8 bytes, not all zero");
    }
    return AM_OK;
}

struct am_str am_otlp_service_name(const struct am_attrs *attrs)
{
    const struct am_anyval *v = am_attrs_get(attrs, AM_STR("service.name"));
    if (v == NULL || v->type != AM_VAL_STRING) {
        return AM_STR_NULL;
    }
    return v->u.s;
}

/* Expected wire type of each LogRecord field 1..12 (0: reserved/none). */
static const uint8_t log_wt[13] = {
    0xff,      WT_I64, WT_VARINT, WT_LEN, 0xff,   WT_LEN, WT_LEN,
    WT_VARINT, WT_I32, WT_LEN,    WT_LEN, WT_I64, WT_LEN,
};
static const char *const log_wt_why[13] = {
    NULL,
    "log_record.time_unix_nano: wrong wire type",
    "log_record.severity_number: wrong wire type",
    "log_record.severity_text: wrong wire type",
    NULL,
    "log_record.body: wrong wire type",
    "log_record.attributes: wrong wire type",
    "log_record.dropped_attributes_count: wrong wire type",
    "log_record.flags: wrong wire type",
    "log_record.trace_id: wrong wire type",
    "log_record.span_id: wrong wire type",
    "log_record.observed_time_unix_nano: wrong wire type",
    "log_record.event_name: wrong wire type",
};

/* trace_id (9) and span_id (10): empty, or exactly 16 / 8 bytes. */
static int log_id_field(struct am_otlp_dec *d, uint32_t f, const uint8_t *q, size_t len,
                        struct am_log_record *r)
{
    size_t want = f == 9 ? 16 : 8;
    if (len != 0 && len != want) {
        return am_otlp_fail(d, AM_EINVAL,
                            f == 9 ? "log_record.trace_id: want 0 or 16 bytes"
                                   : "log_record.span_id: want 0 or 8 bytes");
    }
    uint8_t *dst = f == 9 ? r->trace_id : r->span_id;
    memset(dst, 0, want);
    if (len == want) {
        memcpy(dst, q, want);
    }
    *(f == 9 ? &r->has_trace : &r->has_span) = len == want && !all_zero(q, want);
    return AM_OK;
}

/* One LogRecord field whose tag has been read and whose wire type matches. */
static int log_field(struct am_otlp_dec *d, const uint8_t **pp, const uint8_t *end, uint32_t f,
                     struct am_log_record *r, struct vec *kvs)
{
    const uint8_t *q = NULL;
    size_t len = 0;
    uint64_t x = 0;
    switch (f) {
    case 1:
    case 11:
        if (end - *pp < 8) {
            return am_otlp_fail(d, AM_EINVAL, "wire: truncated fixed-width field");
        }
        *(f == 1 ? &r->time_ns : &r->observed_time_ns) = am_pbwire_le64(*pp);
        *pp += 8;
        return AM_OK;
    case 2:
        if (am_pbwire_varint(pp, end, &x, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        r->severity_number = (int)(int32_t)x;
        return AM_OK;
    case 6:
        return kv_slot(d, pp, end, kvs);
    case 9:
    case 10:
    case 12:
        if (am_pbwire_len(pp, end, &q, &len, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        if (f == 12) {
            r->event_name.ptr = (const char *)q;
            r->event_name.len = len;
            return AM_OK;
        }
        return log_id_field(d, f, q, len, r);
    default: /* severity_text, body (not kept), dropped count, flags */
        return am_pbwire_skip(pp, end, log_wt[f], &d->why);
    }
}

int am_otlp_pb_log_record(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end,
                          struct am_log_record *r)
{
    struct am_kv kv_buf[STACK_KVS];
    struct vec kvs;
    vec_init(&kvs, kv_buf, STACK_KVS, sizeof(kv_buf[0]));
    uint32_t f = 0;
    unsigned wt = 0;
    while (p < end) {
        if (am_pbwire_tag(&p, end, &f, &wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        int rc;
        if (f > 12 || f == 4) {
            rc = am_pbwire_skip(&p, end, wt, &d->why);
        } else if (wt != log_wt[f]) {
            return am_otlp_fail(d, AM_EINVAL, log_wt_why[f]);
        } else {
            rc = log_field(d, &p, end, f, r, &kvs);
        }
        if (rc != AM_OK) {
            return rc;
        }
    }
    int rc = kvs_finish(d, &kvs, &r->attrs);
    if (rc != AM_OK) {
        return rc;
    }
    am_otlp_log_finish(r);
    return AM_OK;
}

void am_otlp_log_finish(struct am_log_record *r)
{
    if (r->event_name.len > 0) {
        return;
    }
    const struct am_anyval *v = am_attrs_get(&r->attrs, AM_STR("event.name"));
    if (v != NULL && v->type == AM_VAL_STRING) {
        r->event_name = v->u.s;
    }
}
