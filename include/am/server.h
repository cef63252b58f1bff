#ifndef AM_SERVER_H
#define AM_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "am/http.h"
#include "am/loop.h"
#include "am/memlimit.h"
#include "am/tls.h"

/*
 * server: a listening socket and its HTTP/1.1, HTTP/2 and gRPC connections.
 * A connection is a small transport stack: fd <-> [tls] <-> {http1 | h2};
 * h2 is chosen by ALPN under TLS, by the client preface in cleartext, or
 * always on an h2-only (gRPC) listener. The socket is
 * created once (am_listener_open) and then attached to each worker's loop
 * (am_server_attach) with EPOLLEXCLUSIVE, so any worker may accept. Each
 * connection reads into an am_http1_parser, builds an am_http_request with
 * the worker's arena (one per server: decoding is synchronous), dispatches
 * through the router, and writes the response; keep-alive and pipelining
 * are honoured. Between requests a connection keeps a few KiB: buffers a
 * request grew are freed once empty, and the server's arena is trimmed when
 * the worker has been idle for a second. Limits: max
 * connections (over it: accept and close, counted), header bytes, body
 * bytes (413), read_timeout (connection closed).
 */

struct am_listener;
struct am_server;

/* One listener as configured (receivers.otlp.http/grpc,
 * exporters.prometheus); filled by config, turned into am_server_opts by
 * the daemon. */
struct am_listener_opts {
    char *endpoint;                 /* "host:port" */
    uint64_t max_request_body_size; /* bytes, after inflation */
    uint64_t read_timeout_ns;
    uint32_t max_connections;
    uint32_t max_concurrent_streams;
    uint64_t max_header_bytes;
    uint64_t max_inflight_bytes; /* request bytes buffered listener-wide (503 past it) */
    struct am_tls_opts tls;
    char *bearer_token_file; /* auth.bearer_token_file */
};

struct am_server_opts {
    const char *name;      /* "otlp_http", "prometheus": self-metric label */
    size_t max_body_bytes; /* before and after inflation */
    size_t max_header_bytes;
    uint64_t read_timeout_ns;
    uint32_t max_connections;        /* per listener, over all workers */
    size_t arena_budget_bytes;       /* per request */
    bool h2_only;                    /* gRPC listener: HTTP/2 only */
    bool h2c;                        /* cleartext HTTP/2 by prior knowledge */
    uint32_t max_concurrent_streams; /* HTTP/2, per connection; 0: 100 */
    uint64_t max_inflight_bytes;     /* request bytes buffered listener-wide; 0: no cap */
    struct am_memlimit *memlimit;    /* limits.memory (borrowed); NULL: none */
};

/* Counters a listener keeps, updated by every worker with relaxed atomics;
 * read each field with __atomic_load_n(&f, __ATOMIC_RELAXED). read_timeouts
 * counts connections closed mid-request, idle_timeouts those closed by
 * read_timeout with no request in progress (idle keep-alive, never spoke). */
struct am_server_stats {
    uint64_t accepted;
    uint64_t rejected_max_connections;
    uint64_t read_timeouts;
    uint64_t idle_timeouts;
    uint64_t bad_requests; /* unparseable HTTP: 400 and close */
    uint64_t active;
    uint64_t tls_handshake_failures;
    uint64_t refused_streams;   /* over max_concurrent_streams */
    uint64_t headers_too_large; /* 431 / RESOURCE_EXHAUSTED */
    uint64_t bodies_too_large;  /* 413 / RESOURCE_EXHAUSTED, from the transport */
    uint64_t inflight_rejected; /* 503 / UNAVAILABLE: max_inflight_bytes */
    uint64_t memory_refused;    /* 503 / UNAVAILABLE: limits.memory */
    uint64_t unauthenticated;   /* 401 / UNAUTHENTICATED */
    uint64_t stream_timeouts;   /* h2 streams reset: read_timeout */
    uint64_t protocol_errors;   /* malformed HTTP/2 */
    uint64_t inflight_bytes;    /* gauge */
};

/* Split an endpoint into host and port: "host:port", "[v6addr]:port", or
 * ":port" (host "" = every interface). The host may not hold blanks, '/',
 * brackets or (unbracketed) ':'; the port is 0-65535 in at most 5 digits.
 * The one endpoint syntax: config validates with it, am_listener_open binds
 * with it. Returns AM_OK, or AM_EINVAL (host longer than host_cap - 1 too). */
int am_listener_parse_endpoint(const char *ep, char *host, size_t host_cap, uint16_t *port);
/* Bind and listen on "host:port" ("0.0.0.0:4318", "[::1]:0", "localhost:9464",
 * ":4318" = all interfaces, dual-stack when IPv6 exists). Returns NULL with
 * *why set on failure (errno logged). Close it after every server detached. */
struct am_listener *am_listener_open(const char *endpoint, const char **why);
void am_listener_close(struct am_listener *l);
/* TLS for every new connection from now on (cert, key, client_ca_file);
 * a reload calls it again and open connections keep their context.
 * Returns AM_OK, or AM_ECONFIG with *why set (the old context stays). */
int am_listener_set_tls(struct am_listener *l, const struct am_tls_opts *cfg, bool h2, bool only_h2,
                        const char **why);
/* Require "Authorization: Bearer <token>" with the token read from file
 * (trailing whitespace dropped); NULL turns auth off. Compared in constant
 * time; never logged. Returns AM_OK or AM_EIO/AM_ECONFIG with *why set. */
int am_listener_set_bearer_token(struct am_listener *l, const char *file, const char **why);
/* The bound port (useful with port 0). */
int am_listener_port(const struct am_listener *l);

/* Serve l on loop with router. One am_server per (listener, worker). */
struct am_server *am_server_attach(struct am_loop *loop, struct am_listener *l,
                                   const struct am_server_opts *opts,
                                   const struct am_router *router);
/* Stop accepting; close idle connections; requests already started finish
 * (HTTP/1.1 answers with Connection: close, HTTP/2 sends GOAWAY and lets open
 * streams finish). Call on the loop's thread. s stays valid (its count of
 * open connections falls to 0 as they finish) until am_server_close. */
void am_server_detach(struct am_server *s);
/* Connections s still has open (loop thread). */
size_t am_server_conn_count(const struct am_server *s);
/* Stop accepting and close every connection now, whatever its state, and
 * free s. For shutdown once the loop no longer runs (or from its thread). */
void am_server_close(struct am_server *s);
/* Shared per listener (all workers add to it). */
const struct am_server_stats *am_listener_stats(const struct am_listener *l);

#endif
