/*
 * conn_h2.c - HTTP/2 and gRPC on a server connection (am/server.h): the
 * connection's rbuf feeds an am_h2 session, each complete stream becomes an
 * am_http_request for the listener's one router, and a gRPC call is first
 * unframed (grpc.c) and routed as POST /v1/traces or /v1/logs with a
 * protobuf body; the HTTP answer is turned back into a gRPC message and
 * grpc-status trailers (SPEC.md 1).
 */
#include <stdio.h>
#include <string.h>

#include "am/err.h"
#include "am/grpc.h"
#include "am/log.h"

#include "server_int.h"

#define H2_TICK_NS (1000000000ull) /* stream deadlines are checked this often */

struct grpc_route {
    struct am_str service_path;
    const char *http_path;
};

static const struct grpc_route grpc_routes[] = {
    {AM_STR("/opentelemetry.proto.collector.trace.v1.TraceService/Export"), "/v1/traces"},
    {AM_STR("/opentelemetry.proto.collector.logs.v1.LogsService/Export"), "/v1/logs"},
};

static void on_limit(void *ud, enum am_h2_limit what)
{
    struct conn *c = ud;
    struct am_listener *l = c->srv->listener;
    switch (what) {
    case AM_H2_LIMIT_STREAMS:
        STAT_ADD(l, refused_streams, 1);
        break;
    case AM_H2_LIMIT_HEADER_BYTES:
        STAT_ADD(l, headers_too_large, 1);
        break;
    case AM_H2_LIMIT_BODY_BYTES:
        STAT_ADD(l, bodies_too_large, 1);
        break;
    case AM_H2_LIMIT_INFLIGHT_BYTES:
        break; /* counted by am_srv_reserve */
    case AM_H2_LIMIT_READ_TIMEOUT:
        STAT_ADD(l, stream_timeouts, 1);
        break;
    case AM_H2_LIMIT_PROTOCOL:
        STAT_ADD(l, protocol_errors, 1);
        break;
    }
}

static bool on_reserve(void *ud, int64_t n)
{
    struct conn *c = ud;
    return am_srv_reserve(c->srv, n);
}

/* An HTTP answer over HTTP/2: the same fields HTTP/1.1 would send. */
static void respond_http(struct conn *c, struct am_h2 *h, int32_t id,
                         const struct am_http_request *req)
{
    const struct am_http_response *r = &c->srv->resp;
    struct am_h2_field f[2 + AM_HTTP_MAX_EXTRA_HEADERS];
    size_t n = 0;
    if (r->content_type != NULL) {
        f[n++] = (struct am_h2_field){AM_STR("content-type"), am_str_from(r->content_type)};
    }
    if (r->content_encoding != NULL) {
        f[n++] = (struct am_h2_field){AM_STR("content-encoding"), am_str_from(r->content_encoding)};
    }
    for (unsigned i = 0; i < r->extra_count; i++) {
        /* HTTP/2 field names are lower case. */
        char *name = am_arena_memdup(c->srv->arena, r->extra[i].name, strlen(r->extra[i].name));
        size_t len = strlen(r->extra[i].name);
        if (name == NULL) {
            continue;
        }
        for (size_t k = 0; k < len; k++) {
            name[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
        }
        f[n++] = (struct am_h2_field){{name, len}, am_str_from(r->extra[i].value)};
    }
    bool head = req->method == AM_HTTP_HEAD;
    am_h2_respond(h, id, r->status, f, n, (const uint8_t *)r->body.data, head ? 0 : r->body.len,
                  NULL, 0);
}

/* A gRPC answer: 200 with the framed message and grpc-status 0 trailers,
 * or trailers-only with the mapped grpc-status and grpc-message. */
static void respond_grpc(struct conn *c, struct am_h2 *h, int32_t id)
{
    const struct am_http_response *r = &c->srv->resp;
    int code = am_grpc_code_for_status(r->status);
    char codebuf[8];
    char msg[256];
    struct am_h2_field f[3];
    snprintf(codebuf, sizeof(codebuf), "%d", code);
    f[0] = (struct am_h2_field){AM_STR("content-type"), AM_STR("application/grpc")};
    if (code == AM_GRPC_OK) {
        struct am_buf framed;
        am_buf_init(&framed, r->body.len + AM_GRPC_PREFIX_BYTES);
        am_grpc_frame(&framed, (const uint8_t *)r->body.data, r->body.len);
        struct am_h2_field t[1] = {{AM_STR("grpc-status"), AM_STR("0")}};
        am_h2_respond(h, id, 200, f, 1, (const uint8_t *)framed.data, framed.len, t, 1);
        am_buf_fini(&framed);
        return;
    }
    struct am_str why = AM_STR_NULL;
    if (r->content_type != NULL && strcmp(r->content_type, "application/x-protobuf") == 0) {
        why = am_grpc_status_message((const uint8_t *)r->body.data, r->body.len);
    }
    size_t mlen = am_grpc_message_encode(msg, sizeof(msg), why);
    f[1] = (struct am_h2_field){AM_STR("grpc-status"), am_str_from(codebuf)};
    f[2] = (struct am_h2_field){AM_STR("grpc-message"), {msg, mlen}};
    am_h2_respond(h, id, 200, f, mlen > 0 ? 3 : 2, NULL, 0, NULL, 0);
}

/* Turn the call into the OTLP/HTTP request the router knows. Returns 0, or
 * the HTTP status to answer with (and *why). */
static int grpc_to_http(struct conn *c, const struct am_h2_request *r, struct am_http_request *q,
                        const char **why)
{
    const uint8_t *msg = NULL;
    size_t len = 0;
    for (size_t i = 0; i < sizeof(grpc_routes) / sizeof(grpc_routes[0]); i++) {
        if (am_str_eq(q->path, grpc_routes[i].service_path)) {
            q->path = am_str_from(grpc_routes[i].http_path);
            break;
        }
    }
    int rc = am_grpc_unframe(q->body, q->body_len, r->grpc_encoding, c->srv->opts.max_body_bytes,
                             c->srv->arena, &msg, &len, why);
    if (rc != AM_OK) {
        /* SPEC.md 1: an unsupported encoding is INVALID_ARGUMENT. */
        return rc == AM_EUNSUPPORTED || rc == AM_EINVAL ? 400 : 413;
    }
    q->body = msg;
    q->body_len = len;
    q->content_type = AM_STR("application/x-protobuf");
    q->content_encoding = AM_STR_NULL;
    q->protocol = "grpc";
    return 0;
}

static void on_request(void *ud, struct am_h2 *h, const struct am_h2_request *r)
{
    struct conn *c = ud;
    const struct am_router *router = c->srv->router;
    struct am_http_request q = r->http;
    const char *why = r->error_why;
    int status = r->error_status;
    q.arena = c->srv->arena;
    if (status == 0 && am_srv_check_auth(c->srv, &q) != AM_OK) {
        status = 401;
        why = "missing or wrong bearer token";
    }
    if (status == 0 && am_srv_memory_refuse(c->srv)) {
        status = 503; /* gRPC UNAVAILABLE */
        why = "collector over its memory limit (limits.memory): retry later";
    }
    if (status == 0 && r->grpc) {
        status = grpc_to_http(c, r, &q, &why);
    } else if (status == 0 && q.body_len > c->srv->opts.max_body_bytes) {
        /* the session's cap has room for a gRPC prefix; plain OTLP/HTTP has none */
        on_limit(c, AM_H2_LIMIT_BODY_BYTES);
        status = 413;
        why = "request body exceeds max_request_body_size";
    } else if (status == 0 && c->srv->opts.h2_only) {
        status = 415;
        why = "this listener speaks gRPC: use content-type application/grpc";
    }
    if (status != 0) {
        AM_LOG_RL(AM_LOG_LEVEL_DEBUG, "net", "listener=%s stream=%d status=%d why=\"%s\"",
                  c->srv->opts.name, (int)r->stream_id, status, why != NULL ? why : "?");
        am_router_error(router, &q, status, why != NULL ? why : "bad request", &c->srv->resp);
        if (status == 401) {
            am_http_response_add_header(&c->srv->resp, "WWW-Authenticate", "Bearer");
        }
    } else {
        am_router_dispatch(router, &q, &c->srv->resp);
    }
    am_router_observe(router, &q, c->srv->resp.status);
    if (r->grpc) {
        respond_grpc(c, h, r->stream_id);
    } else {
        respond_http(c, h, r->stream_id, &q);
    }
    am_arena_reset(c->srv->arena);
    am_srv_buf_shrink(&c->srv->resp.body);
    c->srv->requests++;
}

int am_conn_h2_start(struct conn *c)
{
    const struct am_server_opts *o = &c->srv->opts;
    struct am_h2_opts ho = {
        .max_concurrent_streams = o->max_concurrent_streams,
        .max_header_bytes = o->max_header_bytes,
        /* a gRPC body carries the 5-byte prefix on top of the message */
        .max_body_bytes = o->max_body_bytes + AM_GRPC_PREFIX_BYTES,
        .on_request = on_request,
        .reserve = on_reserve,
        .on_limit = on_limit,
        .ud = c,
    };
    c->h2 = am_h2_create(&ho);
    if (c->h2 == NULL) {
        return AM_ENOMEM;
    }
    c->proto = PROTO_H2;
    c->idle = false;
    if (c->last_rx_ns == 0) {
        c->last_rx_ns = am_clock_mono(am_loop_clock(c->srv->loop));
    }
    am_srv_arm_timer(c, o->read_timeout_ns != 0 && o->read_timeout_ns < H2_TICK_NS
                            ? o->read_timeout_ns
                            : H2_TICK_NS);
    return AM_OK;
}

int am_conn_h2_input(struct conn *c)
{
    uint64_t now = am_clock_mono(am_loop_clock(c->srv->loop));
    ssize_t n = am_h2_feed(c->h2, (const uint8_t *)c->rbuf.data, c->rbuf.len, now);
    am_buf_reset(&c->rbuf);
    am_srv_buf_shrink(&c->rbuf);
    if (n < 0) {
        AM_LOG_RL(AM_LOG_LEVEL_DEBUG, "net", "listener=%s fd=%d: HTTP/2 protocol error",
                  c->srv->opts.name, c->fd);
        c->phase = CONN_CLOSING; /* the GOAWAY goes out first */
    }
    return am_conn_h2_output(c);
}

int am_conn_h2_output(struct conn *c)
{
    if (c->h2 == NULL) {
        return AM_OK;
    }
    return am_h2_send(c->h2, &c->wbuf, c->woff + CONN_WBUF_HIGH) == AM_OK ? AM_OK : AM_ECLOSED;
}

int am_conn_h2_timer(struct conn *c, uint64_t now_ns, uint64_t *next_ns)
{
    uint64_t timeout = c->srv->opts.read_timeout_ns;
    am_h2_expire(c->h2, now_ns, timeout);
    if (am_h2_stream_count(c->h2) == 0 && timeout != 0 && now_ns - c->last_rx_ns >= timeout) {
        STAT_ADD(c->srv->listener, idle_timeouts, 1); /* idle, like an HTTP/1.1 keep-alive */
        return AM_ECLOSED;
    }
    *next_ns = timeout != 0 && timeout < H2_TICK_NS ? timeout : H2_TICK_NS;
    return AM_OK;
}
