/*
 * h2.c - the HTTP/2 server session (am/h2.h, RFC 9113) on nghttp2, sans-I/O:
 * nghttp2_session_mem_recv/mem_send, its allocator routed through
 * am_try_malloc. A stream owns a capped header store (values only, viewed
 * at dispatch) and a capped body; both are bounded by the options, and
 * body bytes are reserved against the owner's in-flight cap as they arrive.
 * Responses are copied into the stream and sent by a data provider, with
 * trailers after the last DATA frame (gRPC).
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/grpc.h"
#include "am/h2.h"

#define H2_DEFAULT_STREAMS 100
#define H2_DEFAULT_WINDOW (1u << 20)
#define H2_CONN_WINDOW (16 << 20)
#define H2_MAX_TRAILERS 4

enum field {
    F_METHOD,
    F_PATH,
    F_AUTHORITY,
    F_CONTENT_TYPE,
    F_CONTENT_ENCODING,
    F_ACCEPT,
    F_ACCEPT_ENCODING,
    F_AUTHORIZATION,
    F_TE,
    F_GRPC_ENCODING,
    F_GRPC_TIMEOUT,
    F_COUNT,
};

static const struct am_str field_names[F_COUNT] = {
    AM_STR(":method"),
    AM_STR(":path"),
    AM_STR(":authority"),
    AM_STR("content-type"),
    AM_STR("content-encoding"),
    AM_STR("accept"),
    AM_STR("accept-encoding"),
    AM_STR("authorization"),
    AM_STR("te"),
    AM_STR("grpc-encoding"),
    AM_STR("grpc-timeout"),
};

struct stream {
    struct am_h2 *h;
    int32_t id;
    struct stream *prev;
    struct stream *next;
    struct am_buf hdr; /* field values, capped at max_header_bytes */
    size_t off[F_COUNT];
    size_t len[F_COUNT];
    bool seen[F_COUNT];
    size_t header_list_bytes;
    struct am_buf body;
    size_t reserved;
    int error_status;
    const char *error_why;
    bool dispatched; /* on_request ran: later DATA is discarded */
    bool responded;
    uint64_t opened_ns;
    uint64_t deadline_ns; /* grpc-timeout; 0: none */
    struct am_buf out;
    size_t out_off;
    struct am_buf trailer_store;
    nghttp2_nv trailers[H2_MAX_TRAILERS];
    size_t ntrailers;
};

struct am_h2 {
    nghttp2_session *session;
    struct am_h2_opts opts;
    struct stream *streams;
    size_t nstreams;
    uint64_t now_ns;
    bool broken;
};

/* ---- allocator ---- */

static void *mem_malloc(size_t size, void *ud)
{
    (void)ud;
    return am_try_malloc(size);
}

static void mem_free(void *ptr, void *ud)
{
    (void)ud;
    am_free(ptr);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
    (void)ud;
    return am_try_calloc(n, size);
}

static void *mem_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    return am_try_realloc(ptr, size);
}

/* ---- streams ---- */

static void limit_hit(struct am_h2 *h, enum am_h2_limit what)
{
    if (h->opts.on_limit != NULL) {
        h->opts.on_limit(h->opts.ud, what);
    }
}

static void release_body(struct stream *s)
{
    if (s->reserved > 0 && s->h->opts.reserve != NULL) {
        s->h->opts.reserve(s->h->opts.ud, -(int64_t)s->reserved);
    }
    s->reserved = 0;
    am_buf_fini(&s->body);
}

static struct stream *stream_new(struct am_h2 *h, int32_t id)
{
    struct stream *s = am_try_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->h = h;
    s->id = id;
    s->opened_ns = h->now_ns;
    am_buf_init(&s->hdr, h->opts.max_header_bytes);
    am_buf_init(&s->body, h->opts.max_body_bytes);
    am_buf_init(&s->out, (size_t)1 << 30);
    am_buf_init(&s->trailer_store, 4096);
    s->next = h->streams;
    if (h->streams != NULL) {
        h->streams->prev = s;
    }
    h->streams = s;
    h->nstreams++;
    return s;
}

static void stream_free(struct stream *s)
{
    struct am_h2 *h = s->h;
    release_body(s);
    am_buf_fini(&s->hdr);
    am_buf_fini(&s->out);
    am_buf_fini(&s->trailer_store);
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        h->streams = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    h->nstreams--;
    am_free(s);
}

static struct am_str view(const struct stream *s, enum field f)
{
    if (!s->seen[f]) {
        return AM_STR_NULL;
    }
    return (struct am_str){s->hdr.data + s->off[f], s->len[f]};
}

static void build_request(const struct stream *s, struct am_h2_request *r)
{
    struct am_http_request *q = &r->http;
    memset(r, 0, sizeof(*r));
    r->stream_id = s->id;
    q->method_str = view(s, F_METHOD);
    q->method = am_http_method_parse(q->method_str);
    q->path = view(s, F_PATH);
    const char *qm = q->path.len ? memchr(q->path.ptr, '?', q->path.len) : NULL;
    if (qm != NULL) {
        q->path.len = (size_t)(qm - q->path.ptr);
    }
    q->content_type = am_http_media_type(view(s, F_CONTENT_TYPE));
    q->content_encoding = view(s, F_CONTENT_ENCODING);
    q->accept = view(s, F_ACCEPT);
    q->accept_encoding = view(s, F_ACCEPT_ENCODING);
    q->authorization = view(s, F_AUTHORIZATION);
    q->body = s->body.data != NULL ? (const uint8_t *)s->body.data : (const uint8_t *)"";
    q->body_len = s->body.len;
    r->grpc = am_str_starts_with(q->content_type, AM_STR("application/grpc"));
    q->protocol = r->grpc ? "grpc" : "http";
    r->authority = view(s, F_AUTHORITY);
    r->te = view(s, F_TE);
    r->grpc_encoding = view(s, F_GRPC_ENCODING);
    r->grpc_timeout = view(s, F_GRPC_TIMEOUT);
    r->error_status = s->error_status;
    r->error_why = s->error_why;
    r->opened_ns = s->opened_ns;
}

/* Hand the stream to the owner (once). The body is released afterwards:
 * the owner has answered, or copied what it needs. */
static void dispatch(struct stream *s)
{
    struct am_h2_request r;
    if (s->dispatched) {
        return;
    }
    s->dispatched = true;
    build_request(s, &r);
    s->h->opts.on_request(s->h->opts.ud, s->h, &r);
    release_body(s);
}

static void fail_stream(struct stream *s, int status, const char *why, enum am_h2_limit what)
{
    if (s->error_status != 0 || s->dispatched) {
        return;
    }
    s->error_status = status;
    s->error_why = why;
    limit_hit(s->h, what);
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct am_h2 *h = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    if (h->nstreams >= h->opts.max_concurrent_streams) {
        /* No stream state: its headers and data are ignored. */
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct stream *s = stream_new(h, frame->hd.stream_id);
    if (s == NULL) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
    return 0;
}

static int store_field(struct stream *s, const uint8_t *name, size_t namelen, const uint8_t *value,
                       size_t valuelen)
{
    struct am_str n = {(const char *)name, namelen};
    for (int f = 0; f < F_COUNT; f++) {
        if (s->seen[f] || !am_str_eq(n, field_names[f])) {
            continue;
        }
        size_t at = s->hdr.len;
        if (am_buf_append(&s->hdr, value, valuelen) != AM_OK) {
            return AM_ETOOBIG;
        }
        s->off[f] = at;
        s->len[f] = valuelen;
        s->seen[f] = true;
        return AM_OK;
    }
    return AM_OK;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    struct stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s == NULL || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0; /* trailers of a request: ignored */
    }
    s->header_list_bytes += namelen + valuelen + 32;
    if (s->error_status != 0) {
        return 0;
    }
    if (s->header_list_bytes > s->h->opts.max_header_bytes ||
        store_field(s, name, namelen, value, valuelen) != AM_OK) {
        fail_stream(s, 431, "request header list exceeds max_header_bytes",
                    AM_H2_LIMIT_HEADER_BYTES);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *ud)
{
    struct am_h2 *h = ud;
    (void)flags;
    struct stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s == NULL || s->dispatched || s->error_status != 0) {
        return 0; /* discarded; nghttp2 still returns the window */
    }
    if (s->body.len + len > h->opts.max_body_bytes) {
        fail_stream(s, 413, "request body exceeds max_request_body_size", AM_H2_LIMIT_BODY_BYTES);
        dispatch(s);
        return 0;
    }
    if (h->opts.reserve != NULL && !h->opts.reserve(h->opts.ud, (int64_t)len)) {
        fail_stream(s, 503, "collector saturated: too many request bytes in flight",
                    AM_H2_LIMIT_INFLIGHT_BYTES);
        dispatch(s);
        return 0;
    }
    if (h->opts.reserve != NULL) {
        s->reserved += len;
    }
    if (am_buf_append(&s->body, data, len) != AM_OK) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
        return 0;
    }
    struct stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s == NULL) {
        return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        uint64_t ns;
        if (am_grpc_parse_timeout(view(s, F_GRPC_TIMEOUT), &ns) == AM_OK) {
            s->deadline_ns = s->opened_ns + ns < s->opened_ns ? UINT64_MAX : s->opened_ns + ns;
        }
    }
    if (s->error_status != 0 || (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        dispatch(s);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *ud)
{
    (void)error_code;
    (void)ud;
    struct stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s != NULL) {
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        stream_free(s);
    }
    return 0;
}

/* Limits are counted on what is sent, so a stream nghttp2 refuses on its
 * own (past the advertised SETTINGS) is counted like one we refuse. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    (void)session;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        uint32_t code = frame->rst_stream.error_code;
        if (code == NGHTTP2_REFUSED_STREAM) {
            limit_hit(ud, AM_H2_LIMIT_STREAMS);
        } else if (code != NGHTTP2_CANCEL && code != NGHTTP2_NO_ERROR) {
            limit_hit(ud, AM_H2_LIMIT_PROTOCOL);
        }
    } else if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
        limit_hit(ud, AM_H2_LIMIT_PROTOCOL);
    }
    return 0;
}

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *ud)
{
    (void)ud;
    struct stream *s = source->ptr;
    size_t left = s->out.len - s->out_off;
    size_t n = left < length ? left : length;
    if (n > 0) {
        memcpy(buf, s->out.data + s->out_off, n);
        s->out_off += n;
    }
    if (s->out_off == s->out.len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->ntrailers > 0) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (nghttp2_submit_trailer(session, stream_id, s->trailers, s->ntrailers) != 0) {
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            }
        }
    }
    return (ssize_t)n;
}

/* ---- session ---- */

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cb = NULL;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        return NULL;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    return cb;
}

static int submit_settings(struct am_h2 *h)
{
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h->opts.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h->opts.window_bytes},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)h->opts.max_header_bytes},
    };
    if (nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) !=
        0) {
        return AM_ENOMEM;
    }
    if (nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) !=
        0) {
        return AM_ENOMEM;
    }
    return AM_OK;
}

struct am_h2 *am_h2_create(const struct am_h2_opts *opts)
{
    static nghttp2_mem mem = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    struct am_h2 *h = am_try_calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->opts = *opts;
    if (h->opts.max_concurrent_streams == 0) {
        h->opts.max_concurrent_streams = H2_DEFAULT_STREAMS;
    }
    if (h->opts.window_bytes == 0) {
        h->opts.window_bytes = H2_DEFAULT_WINDOW;
    }
    if (h->opts.max_header_bytes == 0) {
        h->opts.max_header_bytes = 16384;
    }
    cb = make_callbacks();
    if (cb == NULL || nghttp2_option_new(&opt) != 0) {
        goto fail;
    }
    /* A SETTINGS frame may not carry an unbounded list of entries. */
    nghttp2_option_set_max_settings(opt, 32);
    if (nghttp2_session_server_new3(&h->session, cb, h, opt, &mem) != 0) {
        goto fail;
    }
    if (submit_settings(h) != AM_OK) {
        goto fail;
    }
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    return h;
fail:
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    am_h2_destroy(h);
    return NULL;
}

void am_h2_destroy(struct am_h2 *h)
{
    if (h == NULL) {
        return;
    }
    /* nghttp2_session_del closes streams through on_stream_close. */
    nghttp2_session_del(h->session);
    while (h->streams != NULL) {
        stream_free(h->streams);
    }
    am_free(h);
}

ssize_t am_h2_feed(struct am_h2 *h, const uint8_t *data, size_t len, uint64_t now_ns)
{
    h->now_ns = now_ns;
    if (h->broken) {
        return AM_EINVAL;
    }
    ssize_t n = nghttp2_session_mem_recv(h->session, data, len);
    if (n < 0) {
        h->broken = true;
        if (n != NGHTTP2_ERR_NOMEM) {
            nghttp2_session_terminate_session(h->session, NGHTTP2_PROTOCOL_ERROR);
        }
        return AM_EINVAL;
    }
    return n;
}

int am_h2_send(struct am_h2 *h, struct am_buf *out, size_t limit)
{
    while (out->len < limit) {
        const uint8_t *p = NULL;
        ssize_t n = nghttp2_session_mem_send(h->session, &p);
        if (n < 0) {
            return AM_EINVAL;
        }
        if (n == 0) {
            break;
        }
        if (am_buf_append(out, p, (size_t)n) != AM_OK) {
            return AM_EINVAL;
        }
    }
    return AM_OK;
}

bool am_h2_alive(const struct am_h2 *h)
{
    return nghttp2_session_want_read(h->session) || nghttp2_session_want_write(h->session);
}

size_t am_h2_stream_count(const struct am_h2 *h)
{
    return h->nstreams;
}

static int copy_trailers(struct stream *s, const struct am_h2_field *t, size_t n)
{
    size_t total = 0;
    if (n > H2_MAX_TRAILERS) {
        return AM_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        total += t[i].name.len + t[i].value.len;
    }
    if (am_buf_reserve(&s->trailer_store, total) != AM_OK) {
        return AM_ENOMEM;
    }
    /* Reserved up front: appends below never move the store. */
    for (size_t i = 0; i < n; i++) {
        nghttp2_nv *nv = &s->trailers[i];
        nv->name = (uint8_t *)s->trailer_store.data + s->trailer_store.len;
        nv->namelen = t[i].name.len;
        am_buf_append(&s->trailer_store, t[i].name.ptr, t[i].name.len);
        nv->value = (uint8_t *)s->trailer_store.data + s->trailer_store.len;
        nv->valuelen = t[i].value.len;
        am_buf_append(&s->trailer_store, t[i].value.ptr, t[i].value.len);
        nv->flags = NGHTTP2_NV_FLAG_NONE;
    }
    s->ntrailers = n;
    return AM_OK;
}

#define H2_MAX_FIELDS 12

int am_h2_respond(struct am_h2 *h, int32_t stream_id, int status, const struct am_h2_field *fields,
                  size_t nfields, const uint8_t *body, size_t body_len,
                  const struct am_h2_field *trailers, size_t ntrailers)
{
    nghttp2_nv nv[H2_MAX_FIELDS + 1];
    char code[8];
    struct stream *s = nghttp2_session_get_stream_user_data(h->session, stream_id);
    if (s == NULL || s->responded || nfields > H2_MAX_FIELDS || status < 100 || status > 999) {
        return AM_EINVAL;
    }
    snprintf(code, sizeof(code), "%d", status);
    nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < nfields; i++) {
        nv[i + 1] = (nghttp2_nv){(uint8_t *)fields[i].name.ptr, (uint8_t *)fields[i].value.ptr,
                                 fields[i].name.len, fields[i].value.len, NGHTTP2_NV_FLAG_NONE};
    }
    if (am_buf_append(&s->out, body, body_len) != AM_OK ||
        copy_trailers(s, trailers, ntrailers) != AM_OK) {
        return AM_ENOMEM;
    }
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
    bool with_data = body_len > 0 || ntrailers > 0;
    int rv =
        nghttp2_submit_response(h->session, stream_id, nv, nfields + 1, with_data ? &prd : NULL);
    if (rv != 0) {
        return rv == NGHTTP2_ERR_NOMEM ? AM_ENOMEM : AM_EINVAL;
    }
    s->responded = true;
    s->dispatched = true;
    return AM_OK;
}

size_t am_h2_expire(struct am_h2 *h, uint64_t now_ns, uint64_t timeout_ns)
{
    size_t waiting = 0;
    struct stream *next = NULL;
    h->now_ns = now_ns;
    for (struct stream *s = h->streams; s != NULL; s = next) {
        next = s->next;
        if (s->dispatched) {
            continue;
        }
        if (s->deadline_ns != 0 && now_ns >= s->deadline_ns) {
            s->error_status = 408;
            s->error_why = "grpc-timeout expired before the request was complete";
            dispatch(s); /* may close s */
            continue;
        }
        if (timeout_ns != 0 && now_ns - s->opened_ns >= timeout_ns) {
            s->dispatched = true;
            limit_hit(h, AM_H2_LIMIT_READ_TIMEOUT);
            nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
            continue;
        }
        waiting++;
    }
    return waiting;
}

void am_h2_shutdown(struct am_h2 *h)
{
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
}
