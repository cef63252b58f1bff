/*
 * signals.c - streaming latency and sampling-adjusted counts read from a
 * span (SPEC.md 3, "Streaming latency" and "Sampling"). Time to first chunk
 * comes from the attribute each instrumentation family sets, else from its
 * first chunk event; the adjusted count from a configured multiplier
 * attribute, else the W3C tracestate `ot` member: th (56-bit rejection
 * threshold, hex, trailing zeros dropped) gives 2^56 / (2^56 - T), the older
 * p gives 2^p. Malformed values are ignored, never an error.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "am/signals.h"

/* ---- streaming latency --------------------------------------------------- */

struct ttft_key {
    const char *key;
    double ns_per_unit;
};

/* In precedence order: the semconv attribute first. */
static const struct ttft_key ttft_keys[] = {
    {"gen_ai.response.time_to_first_chunk", 1e9}, /* semconv (genai main) */
    {"gen_ai.server.time_to_first_token", 1e9},   /* OpenLIT */
    {"ai.response.msToFirstChunk", 1e6},          /* Vercel AI SDK */
    {"ai.stream.msToFirstChunk", 1e6},            /* Vercel AI SDK, older */
};

static const char *const chunk_events[] = {
    "First Token Stream Event",     /* OpenInference */
    "llm.content.completion.chunk", /* OpenLLMetry */
    "ai.stream.firstChunk",         /* Vercel AI SDK */
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A number as a double: int, double, or a numeric string. */
static bool number_of(const struct am_anyval *v, double *out)
{
    switch (v->type) {
    case AM_VAL_INT:
        *out = (double)v->u.i;
        return true;
    case AM_VAL_DOUBLE:
        *out = v->u.d;
        return true;
    case AM_VAL_STRING:
        return am_str_to_double(v->u.s, out) == 0;
    default:
        return false;
    }
}

/* A duration in units of ns_per_unit as ns; false unless finite and >= 0
 * and below ~292 years. */
static bool to_ns(double v, double ns_per_unit, uint64_t *ns)
{
    double x = v * ns_per_unit;
    if (!isfinite(x) || x < 0 || x >= 9.2e18) {
        return false;
    }
    *ns = (uint64_t)(x + 0.5); /* to the nearest ns */
    return true;
}

static bool ttft_from_attrs(const struct am_attrs *attrs, uint64_t *ns)
{
    for (size_t k = 0; k < NELEM(ttft_keys); k++) {
        const struct am_anyval *v = am_attrs_get(attrs, am_str_from(ttft_keys[k].key));
        double d;
        if (v != NULL && number_of(v, &d) && to_ns(d, ttft_keys[k].ns_per_unit, ns)) {
            return true;
        }
    }
    return false;
}

static bool is_chunk_event(struct am_str name)
{
    for (size_t k = 0; k < NELEM(chunk_events); k++) {
        if (am_str_eq(name, am_str_from(chunk_events[k]))) {
            return true;
        }
    }
    return false;
}

/* The earliest chunk event: its own first-chunk attribute, else its time
 * minus the span start (events before the start are ignored). */
static bool ttft_from_events(const struct am_span *span, uint64_t *ns)
{
    const struct am_span_event *first = NULL;
    for (size_t i = 0; i < span->event_count; i++) {
        const struct am_span_event *e = &span->events[i];
        if (is_chunk_event(e->name) && e->time_ns >= span->start_ns &&
            (first == NULL || e->time_ns < first->time_ns)) {
            first = e;
        }
    }
    if (first == NULL) {
        return false;
    }
    if (ttft_from_attrs(&first->attrs, ns)) {
        return true;
    }
    *ns = first->time_ns - span->start_ns;
    return true;
}

void am_signals_stream(const struct am_span *span, struct am_span_facts *f)
{
    uint64_t ns = 0;
    if (f->op != AM_OP_INFERENCE) {
        return;
    }
    if (ttft_from_attrs(&span->attrs, &ns) || ttft_from_events(span, &ns)) {
        f->ttft_ns = ns;
        f->has_ttft = true;
    }
}

/* ---- sampling ------------------------------------------------------------ */

#define TWO_56 72057594037927936.0 /* 2^56 */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1; /* the spec's encoding is lower case */
}

/* th: 1 to 14 hex digits, most significant first, trailing zeros dropped. */
static bool parse_th(struct am_str v, double *adjusted)
{
    uint64_t t = 0;
    if (v.len == 0 || v.len > 14) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        int h = hexval(v.ptr[i]);
        if (h < 0) {
            return false;
        }
        t = (t << 4) | (uint64_t)h;
    }
    t <<= 4 * (14 - v.len);
    *adjusted = TWO_56 / (TWO_56 - (double)t);
    return true;
}

/* p: a decimal 0..62 (63 means probability zero: nothing to scale by). */
static bool parse_p(struct am_str v, double *adjusted)
{
    uint64_t p = 0;
    if (v.len == 0 || v.len > 2 || am_str_to_u64(v, &p) != 0 || p > 62) {
        return false;
    }
    *adjusted = (double)(UINT64_C(1) << p);
    return true;
}

/* The sub-keys of the ot member's value: "th:…;p:…;rv:…". */
static enum am_adjust_source parse_ot(struct am_str v, double *adjusted)
{
    double th = 0;
    double p = 0;
    bool has_th = false;
    bool has_p = false;
    while (v.len > 0) {
        struct am_str kv = am_str_cut(&v, ';');
        if (kv.len > 3 && kv.ptr[2] == ':' && kv.ptr[0] == 't' && kv.ptr[1] == 'h') {
            has_th = parse_th((struct am_str){kv.ptr + 3, kv.len - 3}, &th);
        } else if (kv.len > 2 && kv.ptr[0] == 'p' && kv.ptr[1] == ':') {
            has_p = parse_p((struct am_str){kv.ptr + 2, kv.len - 2}, &p);
        }
    }
    if (has_th) {
        *adjusted = th;
        return AM_ADJ_THRESHOLD;
    }
    if (has_p) {
        *adjusted = p;
        return AM_ADJ_PVALUE;
    }
    return AM_ADJ_NONE;
}

enum am_adjust_source am_signals_tracestate(struct am_str ts, double *adjusted)
{
    *adjusted = 1;
    while (ts.len > 0) {
        struct am_str member = am_str_trim(am_str_cut(&ts, ','));
        if (member.len > 3 && member.ptr[0] == 'o' && member.ptr[1] == 't' &&
            member.ptr[2] == '=') {
            enum am_adjust_source src =
                parse_ot((struct am_str){member.ptr + 3, member.len - 3}, adjusted);
            if (src == AM_ADJ_NONE) {
                *adjusted = 1;
            }
            return src; /* W3C: a key appears at most once */
        }
    }
    return AM_ADJ_NONE;
}

enum am_adjust_source am_signals_sampling(const struct am_span *span, struct am_str multiplier_attr,
                                          struct am_span_facts *f)
{
    double adj = 1;
    enum am_adjust_source src = AM_ADJ_NONE;
    const struct am_anyval *v =
        multiplier_attr.len > 0 ? am_attrs_get(&span->attrs, multiplier_attr) : NULL;
    if (v != NULL && number_of(v, &adj) && isfinite(adj) && adj >= 1 && adj <= TWO_56) {
        src = AM_ADJ_ATTRIBUTE;
    } else {
        src = am_signals_tracestate(span->trace_state, &adj);
    }
    f->adjusted_count = src == AM_ADJ_NONE ? 0 : adj;
    return src;
}

struct am_str am_signals_source_name(enum am_adjust_source src)
{
    switch (src) {
    case AM_ADJ_THRESHOLD:
        return AM_STR("threshold");
    case AM_ADJ_PVALUE:
        return AM_STR("p_value");
    case AM_ADJ_ATTRIBUTE:
        return AM_STR("attribute");
    case AM_ADJ_NONE:
        break;
    }
    return AM_STR("none");
}

/* ---- dimensions ---------------------------------------------------------- */

static bool dim_value(const struct am_anyval *v, char *buf, size_t cap, struct am_str *out)
{
    int n = 0;
    switch (v->type) {
    case AM_VAL_STRING:
        *out = v->u.s;
        return v->u.s.len > 0;
    case AM_VAL_BOOL:
        *out = v->u.b ? AM_STR("true") : AM_STR("false");
        return true;
    case AM_VAL_INT:
        n = snprintf(buf, cap, "%lld", (long long)v->u.i);
        break;
    case AM_VAL_DOUBLE:
        if (!isfinite(v->u.d)) {
            return false;
        }
        n = snprintf(buf, cap, "%.17g", v->u.d);
        break;
    default:
        return false;
    }
    if (n <= 0 || (size_t)n >= cap) {
        return false;
    }
    *out = (struct am_str){buf, (size_t)n};
    return true;
}

void am_signals_dimensions(const struct am_span *span, const struct am_str *attrs, unsigned n,
                           struct am_span_facts *f)
{
    f->dims_set = 0;
    for (unsigned j = 0; j < n && j < AM_MAX_DIMS; j++) {
        const struct am_anyval *v = am_attrs_get(&span->attrs, attrs[j]);
        if (v == NULL && span->resource != NULL) {
            v = am_attrs_get(&span->resource->attrs, attrs[j]);
        }
        if (v != NULL && dim_value(v, f->dim_text[j], sizeof(f->dim_text[j]), &f->dims[j])) {
            f->dims_set |= (uint8_t)(1u << j);
        }
    }
}
