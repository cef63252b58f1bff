#ifndef AM_SERVER_INT_H
#define AM_SERVER_INT_H

/*
 * Internals of the server shared by server.c (listener, accept, socket and
 * TLS I/O, HTTP/1.1) and conn_h2.c (HTTP/2 and gRPC on a connection).
 */

#include <pthread.h>

#include "am/arena.h"
#include "am/buf.h"
#include "am/h2.h"
#include "am/http1.h"
#include "am/server.h"
#include "am/tls.h"

#define STAT_ADD(l, f, n) __atomic_fetch_add(&(l)->stats.f, (n), __ATOMIC_RELAXED)
#define STAT_SUB(l, f, n) __atomic_fetch_sub(&(l)->stats.f, (n), __ATOMIC_RELAXED)

#define CONN_WBUF_HIGH (1u << 20) /* parse no new request past this much output */
/* What a connection keeps between requests: a buffer grown past this is
 * freed once empty (the next request allocates again), so an idle
 * keep-alive connection holds a few KiB, whatever it sent before. */
#define CONN_KEEP_BYTES (4u * 1024)

struct am_listener {
    int fd;
    int port;
    struct am_server_stats stats;
    pthread_mutex_t mu;     /* guards tls and token (swapped on reload) */
    struct am_tls_ctx *tls; /* NULL: cleartext */
    char *token;            /* NULL: no auth */
    size_t token_len;
};

struct conn;

/* One per (listener, worker). Decoding is synchronous on the worker, so
 * the request arena and the response under construction belong here, not
 * to each connection: a request uses them from dispatch until its answer is
 * queued on its connection, and leaves them reset. */
struct am_server {
    struct am_loop *loop;
    struct am_listener *listener;
    struct am_server_opts opts;
    const struct am_router *router;
    struct am_arena *arena;       /* the request being decoded */
    struct am_http_response resp; /* the answer being built */
    uint64_t requests;            /* requests answered, for the idle trim */
    uint64_t requests_at_tick;
    uint64_t tick_timer;
    struct conn *conns;
    size_t nconns;
    bool detached; /* not accepting; keep-alive off */
    bool closed;   /* am_server_close: freed with its last connection */
    bool in_detach;
};

enum conn_phase {
    CONN_OPEN,    /* reading and answering requests */
    CONN_CLOSING, /* last response queued: flush, then linger */
    CONN_LINGER,  /* write side shut: drain input until EOF or the linger timer */
};

enum conn_proto {
    PROTO_UNKNOWN, /* TLS handshake or cleartext preface not seen yet */
    PROTO_H1,
    PROTO_H2,
};

struct conn {
    struct am_server *srv;
    int fd;
    enum conn_phase phase;
    enum conn_proto proto;
    bool idle; /* no byte of the next request seen yet */
    unsigned watching;
    uint64_t timer;
    uint64_t last_rx_ns;
    struct am_buf rbuf; /* plaintext in */
    size_t keep;        /* rbuf[0, keep) holds the current request's head */
    size_t woff;        /* wbuf[0, woff) is already written (or encrypted) */
    struct am_buf wbuf; /* plaintext out */
    struct am_tls *tls;
    struct am_buf tls_out; /* ciphertext out */
    size_t tls_off;
    struct am_http1_parser parser;
    size_t reserved; /* HTTP/1.1 body bytes counted in the listener's in-flight total */
    struct am_h2 *h2;
    struct conn *prev;
    struct conn *next;
};

/* server.c */
bool am_srv_reserve(struct am_server *s, int64_t n);
/* true (and counted) when the process is over limits.memory: new exports
 * are refused with 503 + Retry-After / UNAVAILABLE. */
bool am_srv_memory_refuse(struct am_server *s);
/* Free b's storage when it is empty and larger than CONN_KEEP_BYTES. */
void am_srv_buf_shrink(struct am_buf *b);
void am_srv_arm_timer(struct conn *c, uint64_t ns);
/* AM_OK, or 401 when the listener wants a bearer token req does not carry. */
int am_srv_check_auth(struct am_server *s, const struct am_http_request *req);

/* conn_h2.c */
int am_conn_h2_start(struct conn *c);
/* Feed rbuf to the session and pull output. AM_OK or AM_ECLOSED. */
int am_conn_h2_input(struct conn *c);
int am_conn_h2_output(struct conn *c);
/* Reset stale streams; close an idle connection. AM_OK with *next_ns (when
 * to look again) or AM_ECLOSED. */
int am_conn_h2_timer(struct conn *c, uint64_t now_ns, uint64_t *next_ns);

#endif
