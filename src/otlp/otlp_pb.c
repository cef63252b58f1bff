/*
 * otlp_pb.c - ExportTraceServiceRequest / ExportLogsServiceRequest decoding
 * with nanopb field callbacks (request -> ResourceSpans|ResourceLogs ->
 * Resource/ScopeSpans|ScopeLogs), handing each Span, LogRecord and resource
 * KeyValue to the hand-written decoder in pb_span.c; plus the response and
 * google.rpc.Status encoders. Spans are
 * pre-counted so the batch array is allocated once; every string is a view
 * into `body` (callback streams are buffer streams, so stream->state is the
 * read position). See docs/design/otlp.md.
 */
#include <string.h>

#include "pb_int.h"

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include "am/otlp.h"
#include "otlp_int.h"

struct pbctx {
    struct am_otlp_dec d;
    int rc; /* set with d.why when a callback fails */
    const uint8_t *body;
    const uint8_t *body_end;
    struct am_span *spans;
    size_t span_count;
    size_t span_cap;
    struct am_log_record *logs;
    size_t log_count;
    size_t log_cap;
    size_t resource_count;
    struct am_resource *res;
    size_t res_cap; /* capacity of res->attrs.items */
    struct am_str scope_name;
};

static bool cb_fail(struct pbctx *c, int rc, const char *why)
{
    c->rc = rc;
    c->d.why = why;
    return false;
}

/* Whether a callback's stream reads the request body. nanopb hands a
 * scalar-typed occurrence of a callback field (the wrong wire type) to the
 * callback as a stream over a copy on its own stack, so "not in the body"
 * means wrong wire type. The test is on addresses as integers: comparing
 * pointers into different objects with < is undefined behaviour, while
 * (uintptr_t)q - (uintptr_t)body is plain unsigned arithmetic (and wraps to
 * a huge value when q lies below the body). */
static bool in_body(const struct pbctx *c, const pb_istream_t *s)
{
    uintptr_t at = (uintptr_t)s->state - (uintptr_t)c->body;
    uintptr_t size = (uintptr_t)c->body_end - (uintptr_t)c->body;
    return at <= size && s->bytes_left <= size - at;
}

/* The payload of a length-delimited field as a view into the body. */
static bool payload(struct pbctx *c, pb_istream_t *s, const uint8_t **p, const uint8_t **end,
                    const char *why)
{
    if (!in_body(c, s)) {
        return cb_fail(c, AM_EINVAL, why);
    }
    const uint8_t *q = c->body + ((uintptr_t)s->state - (uintptr_t)c->body);
    *p = q;
    *end = q + s->bytes_left;
    return pb_read(s, NULL, s->bytes_left);
}

static bool cb_span(pb_istream_t *s, const pb_field_t *field, void **arg)
{
    (void)field;
    struct pbctx *c = *arg;
    const uint8_t *p;
    const uint8_t *end;
    if (!payload(c, s, &p, &end, "scope_spans.spans: wrong wire type")) {
        return false;
    }
    if (c->span_count >= c->span_cap) {
        return cb_fail(c, AM_EINTERNAL, "spans: pre-count mismatch");
    }
    struct am_span *sp = &c->spans[c->span_count++];
    memset(sp, 0, sizeof(*sp));
    sp->resource = c->res;
    int rc = am_otlp_pb_span(&c->d, p, end, sp);
    return rc == AM_OK ? true : cb_fail(c, rc, c->d.why);
}

static bool cb_scope_name(pb_istream_t *s, const pb_field_t *field, void **arg)
{
    (void)field;
    struct pbctx *c = *arg;
    const uint8_t *p;
    const uint8_t *end;
    if (!payload(c, s, &p, &end, "scope.name: wrong wire type")) {
        return false;
    }
    c->scope_name.ptr = (const char *)p;
    c->scope_name.len = (size_t)(end - p);
    return true;
}

static bool cb_res_attr(pb_istream_t *s, const pb_field_t *field, void **arg)
{
    (void)field;
    struct pbctx *c = *arg;
    const uint8_t *p;
    const uint8_t *end;
    if (!payload(c, s, &p, &end, "resource.attributes: wrong wire type")) {
        return false;
    }
    struct am_attrs *a = &c->res->attrs;
    if (a->count == c->res_cap) {
        size_t ncap = c->res_cap ? c->res_cap * 2 : 16;
        void *n = am_arena_grow(c->d.arena, (void *)a->items, c->res_cap * sizeof(struct am_kv),
                                ncap * sizeof(struct am_kv));
        if (n == NULL) {
            return cb_fail(c, AM_ETOOBIG, "arena: request budget exhausted");
        }
        a->items = n;
        c->res_cap = ncap;
    }
    struct am_kv *kv = (struct am_kv *)&a->items[a->count++];
    int rc = am_otlp_pb_kv(&c->d, p, end, kv);
    return rc == AM_OK ? true : cb_fail(c, rc, c->d.why);
}

static bool cb_scope_spans(pb_istream_t *s, const pb_field_t *field, void **arg)
{
    (void)field;
    struct pbctx *c = *arg;
    if (!in_body(c, s)) {
        return cb_fail(c, AM_EINVAL, "resource_spans.scope_spans: wrong wire type");
    }
    opentelemetry_proto_trace_v1_ScopeSpans ss = opentelemetry_proto_trace_v1_ScopeSpans_init_zero;
    ss.scope.name.funcs.decode = cb_scope_name;
    ss.scope.name.arg = c;
    ss.spans.funcs.decode = cb_span;
    ss.spans.arg = c;
    size_t first = c->span_count;
    c->scope_name = AM_STR_NULL;
    if (!pb_decode(s, opentelemetry_proto_trace_v1_ScopeSpans_fields, &ss)) {
        return false;
    }
    for (size_t i = first; i < c->span_count; i++) {
        c->spans[i].scope_name = c->scope_name;
    }
    return true;
}

/* A new resource for the ResourceSpans/ResourceLogs being decoded; its
 * attributes arrive through cb_res_attr. */
static bool resource_begin(struct pbctx *c, pb_istream_t *s, const char *why)
{
    if (!in_body(c, s)) {
        return cb_fail(c, AM_EINVAL, why);
    }
    c->res = am_arena_calloc(c->d.arena, 1, sizeof(*c->res));
    if (c->res == NULL) {
        return cb_fail(c, AM_ETOOBIG, "arena: request budget exhausted");
    }
    c->res_cap = 0;
    return true;
}

static void resource_end(struct pbctx *c)
{
    c->res->service_name = am_otlp_service_name(&c->res->attrs);
    c->resource_count++;
}

static bool cb_resource_spans(pb_istream_t *s, const pb_field_t *field, void **arg)
{
    (void)field;
    struct pbctx *c = *arg;
    if (!resource_begin(c, s, "request.resource_spans: wrong wire type")) {
        return false;
    }
    opentelemetry_proto_trace_v1_ResourceSpans rs =
        opentelemetry_proto_trace_v1_ResourceSpans_init_zero;
    rs.resource.attributes.funcs.decode = cb_res_attr;
    rs.resource.attributes.arg = c;
    rs.scope_spans.funcs.decode = cb_scope_spans;
    rs.scope_spans.arg = c;
    if (!pb_decode(s, opentelemetry_proto_trace_v1_ResourceSpans_fields, &rs)) {
        return false;
    }
    resource_end(c);
    return true;
}

static bool cb_log_record(pb_istream_t *s, const pb_field_t *field, void **arg)
{
    (void)field;
    struct pbctx *c = *arg;
    const uint8_t *p;
    const uint8_t *end;
    if (!payload(c, s, &p, &end, "scope_logs.log_records: wrong wire type")) {
        return false;
    }
    if (c->log_count >= c->log_cap) {
        return cb_fail(c, AM_EINTERNAL, "log_records: pre-count mismatch");
    }
    struct am_log_record *r = &c->logs[c->log_count++];
    memset(r, 0, sizeof(*r));
    r->resource = c->res;
    int rc = am_otlp_pb_log_record(&c->d, p, end, r);
    return rc == AM_OK ? true : cb_fail(c, rc, c->d.why);
}

static bool cb_scope_logs(pb_istream_t *s, const pb_field_t *field, void **arg)
{
    (void)field;
    struct pbctx *c = *arg;
    if (!in_body(c, s)) {
        return cb_fail(c, AM_EINVAL, "resource_logs.scope_logs: wrong wire type");
    }
    opentelemetry_proto_logs_v1_ScopeLogs sl = opentelemetry_proto_logs_v1_ScopeLogs_init_zero;
    sl.log_records.funcs.decode = cb_log_record;
    sl.log_records.arg = c;
    return pb_decode(s, opentelemetry_proto_logs_v1_ScopeLogs_fields, &sl);
}

static bool cb_resource_logs(pb_istream_t *s, const pb_field_t *field, void **arg)
{
    (void)field;
    struct pbctx *c = *arg;
    if (!resource_begin(c, s, "request.resource_logs: wrong wire type")) {
        return false;
    }
    opentelemetry_proto_logs_v1_ResourceLogs rl =
        opentelemetry_proto_logs_v1_ResourceLogs_init_zero;
    rl.resource.attributes.funcs.decode = cb_res_attr;
    rl.resource.attributes.arg = c;
    rl.scope_logs.funcs.decode = cb_scope_logs;
    rl.scope_logs.arg = c;
    if (!pb_decode(s, opentelemetry_proto_logs_v1_ResourceLogs_fields, &rl)) {
        return false;
    }
    resource_end(c);
    return true;
}

/* Walk request -> resource_spans(1) -> scope_spans(2) -> spans(2) and count
 * the spans, so the batch array is one exact allocation. Logs have the same
 * shape: resource_logs(1) -> scope_logs(2) -> log_records(2). */
static int count_items(struct am_otlp_dec *d, const uint8_t *p, const uint8_t *end, int level,
                       size_t *n)
{
    uint32_t f = 0;
    unsigned wt = 0;
    while (p < end) {
        const uint8_t *q = p;
        if (am_pbwire_tag(&p, end, &f, &wt, &d->why) != AM_OK ||
            am_pbwire_skip(&p, end, wt, &d->why) != AM_OK) {
            return AM_EINVAL;
        }
        if (wt != WT_LEN || f != (level == 0 ? 1u : 2u)) {
            continue;
        }
        if (level == 2) {
            (*n)++;
            continue;
        }
        const uint8_t *sub = NULL;
        size_t len = 0;
        (void)am_pbwire_tag(&q, end, &f, &wt, &d->why);
        (void)am_pbwire_len(&q, end, &sub, &len, &d->why);
        if (count_items(d, sub, sub + len, level + 1, n) != AM_OK) {
            return AM_EINVAL;
        }
    }
    return AM_OK;
}

/* nanopb's own errors are static strings without a location; say which
 * kind of problem it was. */
static const char *pb_why(const char *msg)
{
    static const struct {
        const char *nanopb;
        const char *why;
    } map[] = {
        {"wrong wire type", "request: wrong wire type for a known field"},
        {"end-of-stream", "request: truncated message"},
        {"io error", "request: truncated message"},
        {"parent stream too short", "wire: length past end of message"},
        {"varint overflow", "wire: varint longer than 10 bytes"},
        {"invalid wire_type", "wire: group or invalid wire type"},
        {"zero tag", "wire: bad field number"},
    };
    for (size_t i = 0; msg != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(msg, map[i].nanopb) == 0) {
            return map[i].why;
        }
    }
    return "request: malformed protobuf";
}

/* Pre-count the leaf messages and allocate their array (size bytes each). */
static int prepare(struct pbctx *c, size_t size, void **items, size_t *cap, const char **why)
{
    size_t n = 0;
    if (count_items(&c->d, c->body, c->body_end, 0, &n) != AM_OK) {
        *why = c->d.why;
        return AM_EINVAL;
    }
    if (n > 0) {
        *items = n > SIZE_MAX / size ? NULL : am_arena_alloc(c->d.arena, n * size);
        if (*items == NULL) {
            *why = "arena: request budget exhausted";
            return AM_ETOOBIG;
        }
    }
    *cap = n;
    return AM_OK;
}

/* Decode the top-level request message; maps callback and nanopb errors. */
static int decode_request(struct pbctx *c, size_t len, const pb_msgdesc_t *fields, void *req,
                          const char **why)
{
    pb_istream_t is = pb_istream_from_buffer(c->body, len);
    if (!pb_decode(&is, fields, req)) {
        *why = c->rc != AM_OK ? c->d.why : pb_why(PB_GET_ERROR(&is));
        return c->rc != AM_OK ? c->rc : AM_EINVAL;
    }
    return AM_OK;
}

int am_otlp_pb_decode_traces(const uint8_t *body, size_t len, struct am_arena *arena,
                             struct am_trace_batch *out, const char **why)
{
    static const uint8_t empty[1];
    struct pbctx c = {.d = {arena, NULL}, .body = body ? body : empty};
    c.body_end = c.body + len;
    memset(out, 0, sizeof(*out));
    int rc = prepare(&c, sizeof(*c.spans), (void **)&c.spans, &c.span_cap, why);
    if (rc != AM_OK) {
        return rc;
    }
    opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest req =
        opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_init_zero;
    req.resource_spans.funcs.decode = cb_resource_spans;
    req.resource_spans.arg = &c;
    rc = decode_request(&c, len,
                        opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_fields,
                        &req, why);
    if (rc != AM_OK) {
        return rc;
    }
    out->spans = c.spans;
    out->span_count = c.span_count;
    out->resource_count = c.resource_count;
    return AM_OK;
}

int am_otlp_pb_decode_logs(const uint8_t *body, size_t len, struct am_arena *arena,
                           struct am_log_batch *out, const char **why)
{
    static const uint8_t empty[1];
    struct pbctx c = {.d = {arena, NULL}, .body = body ? body : empty};
    c.body_end = c.body + len;
    memset(out, 0, sizeof(*out));
    int rc = prepare(&c, sizeof(*c.logs), (void **)&c.logs, &c.log_cap, why);
    if (rc != AM_OK) {
        return rc;
    }
    opentelemetry_proto_collector_logs_v1_ExportLogsServiceRequest req =
        opentelemetry_proto_collector_logs_v1_ExportLogsServiceRequest_init_zero;
    req.resource_logs.funcs.decode = cb_resource_logs;
    req.resource_logs.arg = &c;
    rc = decode_request(
        &c, len, opentelemetry_proto_collector_logs_v1_ExportLogsServiceRequest_fields, &req, why);
    if (rc != AM_OK) {
        return rc;
    }
    out->records = c.logs;
    out->record_count = c.log_count;
    out->resource_count = c.resource_count;
    return AM_OK;
}

static bool enc_cstr(pb_ostream_t *s, const pb_field_t *field, void *const *arg)
{
    const char *m = *arg;
    return pb_encode_tag_for_field(s, field) &&
           pb_encode_string(s, (const pb_byte_t *)m, strlen(m));
}

static int encode_into(struct am_buf *out, const pb_msgdesc_t *fields, const void *msg)
{
    size_t n = 0;
    if (!pb_get_encoded_size(&n, fields, msg)) {
        return AM_EINTERNAL;
    }
    if (am_buf_reserve(out, n) != AM_OK) {
        return AM_ETOOBIG;
    }
    pb_ostream_t os = pb_ostream_from_buffer((pb_byte_t *)out->data + out->len, n);
    if (!pb_encode(&os, fields, msg)) {
        return AM_EINTERNAL;
    }
    out->len += os.bytes_written;
    return AM_OK;
}

int am_otlp_pb_encode_trace_response(struct am_buf *out, int64_t rejected, const char *message)
{
    opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse r =
        opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse_init_zero;
    if (rejected > 0 || message != NULL) {
        r.has_partial_success = true;
        r.partial_success.rejected_spans = rejected;
        if (message != NULL && message[0] != '\0') {
            r.partial_success.error_message.funcs.encode = enc_cstr;
            r.partial_success.error_message.arg = (void *)message;
        }
    }
    return encode_into(
        out, opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse_fields, &r);
}

int am_otlp_pb_encode_status(struct am_buf *out, int32_t code, const char *message)
{
    google_rpc_Status st = google_rpc_Status_init_zero;
    st.code = code;
    if (message != NULL && message[0] != '\0') {
        st.message.funcs.encode = enc_cstr;
        st.message.arg = (void *)message;
    }
    return encode_into(out, google_rpc_Status_fields, &st);
}

int am_otlp_pb_encode_logs_response(struct am_buf *out, int64_t rejected, const char *message)
{
    opentelemetry_proto_collector_logs_v1_ExportLogsServiceResponse r =
        opentelemetry_proto_collector_logs_v1_ExportLogsServiceResponse_init_zero;
    if (rejected > 0 || message != NULL) {
        r.has_partial_success = true;
        r.partial_success.rejected_log_records = rejected;
        if (message != NULL && message[0] != '\0') {
            r.partial_success.error_message.funcs.encode = enc_cstr;
            r.partial_success.error_message.arg = (void *)message;
        }
    }
    return encode_into(out, opentelemetry_proto_collector_logs_v1_ExportLogsServiceResponse_fields,
                       &r);
}
