/*
 * server.c - accepting, socket and TLS I/O, and HTTP/1.1 connections
 * (am/server.h); listening sockets, auth and the in-flight budget live in
 * listen.c, HTTP/2 and gRPC in conn_h2.c.
 * A connection reads into a capped buffer whose first `keep` bytes are the
 * head of the request being parsed (the views of am_http1 point there);
 * body bytes are dropped from the buffer once the parser has copied them.
 * Output is queued in wbuf and written without blocking; EPOLLOUT is watched
 * only while wbuf is non-empty. A bad peer only ever closes its own
 * connection. Design notes: docs/design/net.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "am/alloc.h"
#include "am/arena.h"
#include "am/err.h"
#include "am/http1.h"
#include "am/log.h"
#include "am/server.h"
#include "am/tls.h"

#include "server_int.h"

#define ACCEPT_BATCH 64
#define CONN_READ_CHUNK (16u * 1024) /* one read; also the slack past the head */
#define CONN_RESP_MAX ((size_t)1 << 30)
#define CONN_LINGER_NS (2ull * 1000000000ull)
#define SERVER_TICK_NS (1000000000ull)

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void conn_close(struct conn *c);
static void conn_settle(struct conn *c);

/* ---- output ---- */

static size_t pending(const struct conn *c)
{
    return c->wbuf.len - c->woff + (c->tls_out.len - c->tls_off);
}
static void queue_response(struct conn *c, const struct am_http_response *r, bool close,
                           bool head_only)
{
    struct am_buf *w = &c->wbuf;
    if (c->woff > 0) {
        /* Keep wbuf within its cap: at most CONN_WBUF_HIGH plus this response. */
        am_buf_consume(w, c->woff);
        c->woff = 0;
    }
    am_buf_printf(w, "HTTP/1.1 %d %s\r\n", r->status, am_http_reason(r->status));
    if (r->content_type != NULL) {
        am_buf_printf(w, "Content-Type: %s\r\n", r->content_type);
    }
    am_buf_printf(w, "Content-Length: %zu\r\n", r->body.len);
    if (r->content_encoding != NULL) {
        am_buf_printf(w, "Content-Encoding: %s\r\n", r->content_encoding);
    }
    for (unsigned i = 0; i < r->extra_count; i++) {
        am_buf_printf(w, "%s: %s\r\n", r->extra[i].name, r->extra[i].value);
    }
    am_buf_append_str(w, close ? "Connection: close\r\n\r\n" : "\r\n");
    if (!head_only) {
        am_buf_append(w, r->body.data, r->body.len);
    }
}

/* Send b[*off, len). Returns AM_OK (maybe with output left) or AM_ECLOSED. */
static int send_buf(struct conn *c, struct am_buf *b, size_t *off)
{
    while (*off < b->len) {
        ssize_t n = send(c->fd, b->data + *off, b->len - *off, MSG_NOSIGNAL);
        if (n > 0) {
            *off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        AM_LOG_DEBUG("net", "send fd=%d: %s", c->fd, strerror(errno));
        return AM_ECLOSED;
    }
    if (*off == b->len) {
        am_buf_reset(b);
        am_srv_buf_shrink(b);
        *off = 0;
    } else if (*off > b->len - *off) {
        am_buf_consume(b, *off);
        *off = 0;
    }
    return AM_OK;
}

/* Plaintext output becomes records in tls_out (once the handshake allows). */
static int encrypt_out(struct conn *c)
{
    while (c->woff < c->wbuf.len && c->tls_out.len - c->tls_off < CONN_WBUF_HIGH) {
        ssize_t n =
            am_tls_write(c->tls, (const uint8_t *)c->wbuf.data + c->woff, c->wbuf.len - c->woff);
        if (n == AM_EAGAIN) {
            break;
        }
        if (n < 0) {
            return AM_ECLOSED;
        }
        c->woff += (size_t)n;
    }
    if (c->woff == c->wbuf.len) {
        am_buf_reset(&c->wbuf);
        am_srv_buf_shrink(&c->wbuf);
        c->woff = 0;
    }
    return am_tls_take_out(c->tls, &c->tls_out) == AM_OK ? AM_OK : AM_ECLOSED;
}

/* Write what we can. Returns AM_OK (maybe with output left) or AM_ECLOSED. */
static int conn_flush(struct conn *c)
{
    if (c->tls == NULL) {
        return send_buf(c, &c->wbuf, &c->woff);
    }
    if (encrypt_out(c) != AM_OK) {
        return AM_ECLOSED;
    }
    return send_buf(c, &c->tls_out, &c->tls_off);
}

/* ---- requests ---- */

static void build_request(struct conn *c, struct am_http_request *req, bool with_body)
{
    const struct am_http1_request *r = &c->parser.req;
    memset(req, 0, sizeof(*req));
    req->arena = c->srv->arena;
    req->protocol = "http";
    req->body = (const uint8_t *)"";
    if (c->parser.state == AM_HTTP1_HEAD) {
        return; /* the head never parsed: nothing but the protocol is known */
    }
    req->method_str = r->method;
    req->method = am_http_method_parse(r->method);
    req->path = r->target;
    const char *q = r->target.len ? memchr(r->target.ptr, '?', r->target.len) : NULL;
    if (q != NULL) {
        req->path.len = (size_t)(q - r->target.ptr);
    }
    req->content_type = am_http_media_type(am_http1_header(r, AM_STR("content-type")));
    req->content_encoding = am_http1_header(r, AM_STR("content-encoding"));
    req->accept = am_http1_header(r, AM_STR("accept"));
    req->accept_encoding = am_http1_header(r, AM_STR("accept-encoding"));
    req->authorization = am_http1_header(r, AM_STR("authorization"));
    if (with_body && r->body.data != NULL) {
        req->body = (const uint8_t *)r->body.data;
        req->body_len = r->body.len;
    }
}

static void arm_timer(struct conn *c, uint64_t ns);

/* The response in the server's resp is final: observe, queue, and get ready
 * for the next request (or for closing). What the request grew (arena,
 * body, read buffer) is given back, so that only a few KiB stay with the
 * connection until its next request. */
static void finish_request(struct conn *c, const struct am_http_request *req, bool keep_alive)
{
    struct am_server *s = c->srv;
    am_router_observe(s->router, req, s->resp.status);
    queue_response(c, &s->resp, !keep_alive, req->method == AM_HTTP_HEAD);
    am_srv_buf_shrink(&s->resp.body);
    am_srv_reserve(s, -(int64_t)c->reserved);
    c->reserved = 0;
    am_arena_reset(s->arena);
    s->requests++;
    am_http1_parser_reset(&c->parser);
    am_buf_consume(&c->rbuf, c->keep);
    c->keep = 0;
    am_srv_buf_shrink(&c->rbuf);
    if (!keep_alive) {
        c->phase = CONN_CLOSING;
        return;
    }
    c->idle = c->rbuf.len == 0;
    arm_timer(c, c->srv->opts.read_timeout_ns);
}

static void handle_request(struct conn *c)
{
    struct am_http_request req;
    build_request(c, &req, true);
    if (am_srv_check_auth(c->srv, &req) != AM_OK) {
        am_router_error(c->srv->router, &req, 401, "missing or wrong bearer token", &c->srv->resp);
        am_http_response_add_header(&c->srv->resp, "WWW-Authenticate", "Bearer");
    } else {
        am_router_dispatch(c->srv->router, &req, &c->srv->resp);
    }
    finish_request(c, &req, c->parser.req.keep_alive && !c->srv->detached);
}

/* The transport itself found the request bad: answer through the router's
 * error formatter and close. */
static void transport_error(struct conn *c, int rc, const char *why)
{
    struct am_http_request req;
    int status = 400;
    if (rc == AM_ETOOBIG) {
        bool head = c->parser.state == AM_HTTP1_HEAD || c->parser.state == AM_HTTP1_TRAILERS;
        status = head ? 431 : 413;
        if (head) {
            STAT_ADD(c->srv->listener, headers_too_large, 1);
        } else {
            STAT_ADD(c->srv->listener, bodies_too_large, 1);
        }
    } else if (rc == AM_EAGAIN) {
        status = 503; /* in-flight cap or memory limit: counted where refused */
    } else {
        STAT_ADD(c->srv->listener, bad_requests, 1);
    }
    AM_LOG_RL(AM_LOG_LEVEL_DEBUG, "net", "listener=%s status=%d why=\"%s\"", c->srv->opts.name,
              status, why != NULL ? why : "?");
    build_request(c, &req, false);
    am_router_error(c->srv->router, &req, status, why != NULL ? why : "bad request", &c->srv->resp);
    finish_request(c, &req, false);
}

static void maybe_continue(struct conn *c, size_t unparsed)
{
    const struct am_http1_request *r = &c->parser.req;
    if (r->expect_continue && r->minor_version == 1 && unparsed == 0) {
        am_buf_append_str(&c->wbuf, "HTTP/1.1 100 Continue\r\n\r\n");
    }
}

/* Parse and answer every complete request in rbuf (pipelining), until the
 * input runs out, the connection is closing, or output backs up. */
static void process_input(struct conn *c)
{
    if (c->proto == PROTO_H2) {
        return; /* conn_h2.c reads its input as it arrives */
    }
    while (c->phase == CONN_OPEN && pending(c) <= CONN_WBUF_HIGH) {
        if (c->rbuf.data == NULL) {
            return; /* given back after the last request: nothing to parse */
        }
        uint8_t *d = (uint8_t *)c->rbuf.data + c->keep;
        size_t avail = c->rbuf.len - c->keep;
        bool in_head = c->parser.state == AM_HTTP1_HEAD;
        bool done = false;
        const char *why = NULL;
        ssize_t n = am_http1_feed(&c->parser, d, avail, &done, &why);
        if (n < 0) {
            transport_error(c, (int)n, why);
            return;
        }
        if (in_head && c->parser.state != AM_HTTP1_HEAD && am_srv_memory_refuse(c->srv)) {
            c->keep += (size_t)n; /* the head's views stay valid for the answer */
            transport_error(c, AM_EAGAIN,
                            "collector over its memory limit (limits.memory): retry later");
            return;
        }
        if (in_head) {
            c->keep += (size_t)n;
            if (c->parser.state != AM_HTTP1_HEAD && !done) {
                maybe_continue(c, avail - (size_t)n);
            }
        } else if (n > 0) {
            memmove(d, d + n, avail - (size_t)n);
            c->rbuf.len -= (size_t)n;
        }
        size_t body = c->parser.req.body.len;
        if (body > c->reserved) {
            if (!am_srv_reserve(c->srv, (int64_t)(body - c->reserved))) {
                transport_error(c, AM_EAGAIN,
                                "collector saturated: too many request bytes in flight");
                return;
            }
            c->reserved = body;
        }
        if (done) {
            handle_request(c);
        } else if (n == 0) {
            return;
        }
    }
}

/* ---- connection I/O ---- */

static int conn_drain(struct conn *c)
{
    char sink[4096];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n > 0) {
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? AM_OK : AM_ECLOSED;
    }
}

static struct am_str rebase(struct am_str v, uintptr_t old, const char *base)
{
    if (v.ptr != NULL) {
        v.ptr = base + ((uintptr_t)v.ptr - old);
    }
    return v;
}

/* Growing rbuf may move it; the parsed head's views move with it. */
static void grow_rbuf(struct conn *c, size_t want)
{
    uintptr_t old = (uintptr_t)c->rbuf.data;
    am_buf_reserve(&c->rbuf, want);
    if ((uintptr_t)c->rbuf.data == old || c->parser.state == AM_HTTP1_HEAD) {
        return;
    }
    struct am_http1_request *r = &c->parser.req;
    r->method = rebase(r->method, old, c->rbuf.data);
    r->target = rebase(r->target, old, c->rbuf.data);
    for (size_t i = 0; i < r->header_count; i++) {
        r->headers[i].name = rebase(r->headers[i].name, old, c->rbuf.data);
        r->headers[i].value = rebase(r->headers[i].value, old, c->rbuf.data);
    }
}

/* The TLS session refused the peer: count it, send the alert, close. */
static ssize_t tls_failed(struct conn *c, const char *why)
{
    if (!am_tls_handshake_done(c->tls)) {
        STAT_ADD(c->srv->listener, tls_handshake_failures, 1);
    }
    AM_LOG_RL(AM_LOG_LEVEL_DEBUG, "net", "listener=%s fd=%d tls: %s", c->srv->opts.name, c->fd,
              why != NULL ? why : "?");
    c->phase = CONN_CLOSING;
    return AM_ECLOSED;
}

/* Up to want plaintext bytes at the end of rbuf. Returns the count (> 0),
 * 0 at end of input, AM_EAGAIN, or AM_ECLOSED. */
static ssize_t read_plain(struct conn *c, size_t want)
{
    uint8_t raw[CONN_READ_CHUNK];
    for (;;) {
        ssize_t n;
        if (c->tls != NULL) {
            const char *why = NULL;
            n = am_tls_read(c->tls, (uint8_t *)c->rbuf.data + c->rbuf.len, want, &why);
            if (n > 0 || n == AM_ECLOSED) {
                return n > 0 ? n : 0;
            }
            if (n == AM_EINVAL) {
                return tls_failed(c, why);
            }
        }
        uint8_t *dst = c->tls != NULL ? raw : (uint8_t *)c->rbuf.data + c->rbuf.len;
        n = recv(c->fd, dst, c->tls != NULL ? sizeof(raw) : want, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return AM_EAGAIN;
            }
            AM_LOG_DEBUG("net", "recv fd=%d: %s", c->fd, strerror(errno));
            return AM_ECLOSED;
        }
        if (c->tls == NULL || n == 0) {
            return n;
        }
        if (am_tls_feed(c->tls, raw, (size_t)n) != AM_OK) {
            return AM_ECLOSED;
        }
    }
}

/* Which protocol the connection speaks: ALPN under TLS, the client preface
 * in cleartext. Returns AM_OK once known, AM_EAGAIN to wait for more. */
static int detect_proto(struct conn *c)
{
    bool h2 = c->srv->opts.h2_only;
    if (c->proto != PROTO_UNKNOWN) {
        return AM_OK;
    }
    if (c->tls != NULL) {
        const char *alpn = am_tls_alpn(c->tls);
        h2 = h2 || (alpn != NULL && strcmp(alpn, "h2") == 0);
    } else if (!h2 && c->srv->opts.h2c) {
        size_t n = c->rbuf.len < sizeof(h2_preface) - 1 ? c->rbuf.len : sizeof(h2_preface) - 1;
        h2 = memcmp(c->rbuf.data, h2_preface, n) == 0;
        if (h2 && n < sizeof(h2_preface) - 1) {
            return AM_EAGAIN;
        }
    }
    if (h2) {
        return am_conn_h2_start(c);
    }
    c->proto = PROTO_H1;
    return AM_OK;
}

static int conn_input(struct conn *c)
{
    if (detect_proto(c) != AM_OK) {
        return AM_OK;
    }
    if (c->proto == PROTO_H2) {
        return am_conn_h2_input(c);
    }
    process_input(c);
    return AM_OK;
}

static int conn_read(struct conn *c)
{
    if (c->phase == CONN_LINGER) {
        return conn_drain(c);
    }
    /* Cleartext reads once per wakeup (the loop is level-triggered); TLS
     * reads until the socket is dry, since decrypted records may wait in
     * the session where epoll cannot see them. */
    do {
        size_t room = c->rbuf.max - c->rbuf.len;
        if (c->phase != CONN_OPEN || room == 0) {
            return AM_OK;
        }
        size_t want = room < CONN_READ_CHUNK ? room : CONN_READ_CHUNK;
        grow_rbuf(c, want);
        ssize_t n = read_plain(c, want);
        if (n == 0) {
            /* Peer is done sending: answer what is queued, then close. */
            c->phase = CONN_CLOSING;
            return pending(c) > 0 ? AM_OK : AM_ECLOSED;
        }
        if (n == AM_EAGAIN) {
            return AM_OK;
        }
        if (n < 0) {
            return c->phase == CONN_CLOSING && pending(c) > 0 ? AM_OK : AM_ECLOSED;
        }
        c->rbuf.len += (size_t)n;
        c->last_rx_ns = am_clock_mono(am_loop_clock(c->srv->loop));
        if (c->idle) {
            c->idle = false;
            arm_timer(c, c->srv->opts.read_timeout_ns); /* the request's clock starts now */
        }
        if (conn_input(c) != AM_OK) {
            return AM_ECLOSED;
        }
    } while (c->tls != NULL);
    return AM_OK;
}

static void on_conn(struct am_loop *loop, int fd, unsigned events, void *ud)
{
    struct conn *c = ud;
    (void)loop;
    (void)fd;
    if ((events & AM_LOOP_WRITE) && conn_flush(c) != AM_OK) {
        conn_close(c);
        return;
    }
    if ((events & AM_LOOP_READ) && conn_read(c) != AM_OK) {
        conn_close(c);
        return;
    }
    process_input(c); /* output drained: pipelined requests may proceed */
    if (c->proto == PROTO_H2 && am_conn_h2_output(c) != AM_OK) {
        conn_close(c);
        return;
    }
    if (conn_flush(c) != AM_OK) {
        conn_close(c);
        return;
    }
    conn_settle(c);
}

static void on_timer(struct am_loop *loop, void *ud)
{
    struct conn *c = ud;
    (void)loop;
    c->timer = 0;
    if (c->phase == CONN_OPEN && c->proto == PROTO_H2) {
        uint64_t next = 0;
        if (am_conn_h2_timer(c, am_clock_mono(am_loop_clock(loop)), &next) == AM_OK &&
            am_conn_h2_output(c) == AM_OK && conn_flush(c) == AM_OK) {
            arm_timer(c, next);
            conn_settle(c);
            return;
        }
        conn_close(c);
        return;
    }
    if (c->phase == CONN_OPEN && !c->idle) {
        STAT_ADD(c->srv->listener, read_timeouts, 1);
        AM_LOG_RL(AM_LOG_LEVEL_DEBUG, "net", "listener=%s read timeout fd=%d", c->srv->opts.name,
                  c->fd);
    } else if (c->phase == CONN_OPEN) {
        STAT_ADD(c->srv->listener, idle_timeouts, 1); /* no request in progress */
    }
    conn_close(c);
}

void am_srv_arm_timer(struct conn *c, uint64_t ns)
{
    arm_timer(c, ns);
}

static void arm_timer(struct conn *c, uint64_t ns)
{
    if (c->timer != 0) {
        am_loop_timer_cancel(c->srv->loop, c->timer);
    }
    c->timer = am_loop_timer_add(c->srv->loop, ns, on_timer, c);
}

/* Decide what to watch next, or move a closing connection on. */
static void conn_settle(struct conn *c)
{
    unsigned want = 0;
    if (c->phase == CONN_OPEN && c->proto == PROTO_H2 && !am_h2_alive(c->h2)) {
        c->phase = CONN_CLOSING;
    }
    if (c->phase == CONN_CLOSING && pending(c) == 0) {
        shutdown(c->fd, SHUT_WR);
        c->phase = CONN_LINGER;
        uint64_t t = c->srv->opts.read_timeout_ns;
        arm_timer(c, t != 0 && t < CONN_LINGER_NS ? t : CONN_LINGER_NS);
    }
    if (c->phase == CONN_LINGER) {
        want = AM_LOOP_READ;
    } else {
        if (pending(c) > 0) {
            want |= AM_LOOP_WRITE;
        }
        if (c->phase == CONN_OPEN && pending(c) <= CONN_WBUF_HIGH && c->rbuf.len < c->rbuf.max) {
            want |= AM_LOOP_READ;
        }
    }
    if (want == 0) {
        /* Full buffer and nothing to write: cannot happen with the caps in
         * http1.h, but never leave a connection with nothing to wait for. */
        transport_error(c, AM_ETOOBIG, "request head too large");
        conn_settle(c);
        return;
    }
    if (want != c->watching && am_loop_mod(c->srv->loop, c->fd, want) == AM_OK) {
        c->watching = want;
    }
}

static void conn_open(struct am_server *s, int fd)
{
    int one = 1;
    struct conn *c = am_xcalloc(1, sizeof(*c));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->srv = s;
    c->fd = fd;
    c->idle = true;
    am_buf_init(&c->rbuf, s->opts.max_header_bytes + AM_HTTP1_MAX_CHUNK_LINE + CONN_READ_CHUNK);
    am_buf_init(&c->wbuf, CONN_RESP_MAX + CONN_WBUF_HIGH * 2);
    am_http1_parser_init(&c->parser, s->opts.max_header_bytes, s->opts.max_body_bytes);
    am_buf_init(&c->tls_out, CONN_RESP_MAX + CONN_WBUF_HIGH * 2);
    pthread_mutex_lock(&s->listener->mu);
    struct am_tls_ctx *ctx = s->listener->tls;
    c->tls = ctx != NULL ? am_tls_create(ctx) : NULL; /* references ctx */
    pthread_mutex_unlock(&s->listener->mu);
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->nconns++;
    c->watching = AM_LOOP_READ;
    if (am_loop_add(s->loop, fd, AM_LOOP_READ, on_conn, c) != AM_OK ||
        (ctx != NULL && c->tls == NULL)) {
        conn_close(c);
        return;
    }
    arm_timer(c, s->opts.read_timeout_ns);
    if (c->tls == NULL && s->opts.h2_only) {
        /* gRPC in cleartext: our SETTINGS go out before the client speaks. */
        if (am_conn_h2_start(c) != AM_OK || am_conn_h2_output(c) != AM_OK ||
            conn_flush(c) != AM_OK) {
            conn_close(c);
            return;
        }
        conn_settle(c);
    }
}

static void server_free(struct am_server *s)
{
    if (s->tick_timer != 0) {
        am_loop_timer_cancel(s->loop, s->tick_timer);
    }
    am_arena_destroy(s->arena);
    am_http_response_fini(&s->resp);
    am_free(s);
}

static void server_maybe_free(struct am_server *s)
{
    if (s->closed && !s->in_detach && s->nconns == 0) {
        server_free(s);
    }
}

/* Once a second: a worker that answered no request since the last tick
 * gives its arena's chunks back (a busy one keeps them: a steady stream
 * allocates nothing). */
static void server_tick(struct am_loop *loop, void *ud)
{
    struct am_server *s = ud;
    if (s->requests == s->requests_at_tick) {
        am_arena_trim(s->arena);
    }
    s->requests_at_tick = s->requests;
    s->tick_timer = am_loop_timer_add(loop, SERVER_TICK_NS, server_tick, s);
}

static void conn_close(struct conn *c)
{
    struct am_server *s = c->srv;
    if (c->timer != 0) {
        am_loop_timer_cancel(s->loop, c->timer);
    }
    am_loop_del(s->loop, c->fd);
    close(c->fd);
    am_buf_fini(&c->rbuf);
    am_buf_fini(&c->wbuf);
    am_http1_parser_fini(&c->parser);
    am_h2_destroy(c->h2); /* releases its streams' in-flight bytes */
    am_tls_destroy(c->tls);
    am_buf_fini(&c->tls_out);
    am_srv_reserve(s, -(int64_t)c->reserved);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    s->nconns--;
    STAT_SUB(s->listener, active, 1);
    am_free(c);
    server_maybe_free(s);
}

/* ---- accept ---- */

static void on_accept(struct am_loop *loop, int fd, unsigned events, void *ud)
{
    struct am_server *s = ud;
    struct am_listener *l = s->listener;
    (void)loop;
    (void)events;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == ECONNABORTED || errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                AM_LOG_RL(AM_LOG_LEVEL_WARN, "net", "listener=%s accept: %s", s->opts.name,
                          strerror(errno));
            }
            return; /* EAGAIN: another worker took it, or the queue is empty */
        }
        uint64_t active = STAT_ADD(l, active, 1) + 1;
        if (s->opts.max_connections != 0 && active > s->opts.max_connections) {
            STAT_SUB(l, active, 1);
            STAT_ADD(l, rejected_max_connections, 1);
            close(cfd);
            continue;
        }
        STAT_ADD(l, accepted, 1);
        conn_open(s, cfd);
    }
}

struct am_server *am_server_attach(struct am_loop *loop, struct am_listener *l,
                                   const struct am_server_opts *opts,
                                   const struct am_router *router)
{
    struct am_server *s = am_xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->listener = l;
    s->opts = *opts;
    s->router = router;
    if (s->opts.name == NULL) {
        s->opts.name = "http";
    }
    s->arena = am_arena_create(s->opts.arena_budget_bytes);
    am_http_response_init(&s->resp, CONN_RESP_MAX);
    if (am_loop_add(loop, l->fd, AM_LOOP_READ | AM_LOOP_EXCLUSIVE, on_accept, s) != AM_OK) {
        server_free(s);
        return NULL;
    }
    s->tick_timer = am_loop_timer_add(loop, SERVER_TICK_NS, server_tick, s);
    return s;
}

void am_server_detach(struct am_server *s)
{
    if (s == NULL || s->detached) {
        return;
    }
    am_loop_del(s->loop, s->listener->fd);
    s->detached = true;
    s->in_detach = true;
    struct conn *next = NULL;
    for (struct conn *c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (c->proto == PROTO_H2 && c->phase == CONN_OPEN) {
            am_h2_shutdown(c->h2); /* GOAWAY: open streams finish */
            if (am_conn_h2_output(c) != AM_OK || conn_flush(c) != AM_OK) {
                conn_close(c);
                continue;
            }
            conn_settle(c);
            continue;
        }
        if (c->phase == CONN_LINGER || (c->phase == CONN_OPEN && c->idle &&
                                        c->parser.state == AM_HTTP1_HEAD && pending(c) == 0)) {
            conn_close(c);
        }
    }
    s->in_detach = false;
    server_maybe_free(s);
}

size_t am_server_conn_count(const struct am_server *s)
{
    return s->nconns;
}

void am_server_close(struct am_server *s)
{
    if (s == NULL) {
        return;
    }
    if (!s->detached) {
        am_loop_del(s->loop, s->listener->fd);
    }
    s->detached = true;
    s->closed = true;
    s->in_detach = true;
    while (s->conns != NULL) {
        conn_close(s->conns);
    }
    s->in_detach = false;
    server_maybe_free(s);
}
