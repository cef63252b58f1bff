#ifndef AM_SERVER_H
#define AM_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "am/http.h"
#include "am/loop.h"

/*
 * server: a listening socket and its HTTP/1.1 connections. The socket is
 * created once (am_listener_open) and then attached to each worker's loop
 * (am_server_attach) with EPOLLEXCLUSIVE, so any worker may accept. Each
 * connection reads into an am_http1_parser, builds an am_http_request with
 * a per-connection arena, dispatches through the router, and writes the
 * response; keep-alive and pipelining are honoured. Limits: max
 * connections (over it: accept and close, counted), header bytes, body
 * bytes (413), read_timeout (connection closed).
 */

struct am_listener;
struct am_server;

struct am_server_opts {
    const char *name;      /* "otlp_http", "prometheus": self-metric label */
    size_t max_body_bytes; /* before and after inflation */
    size_t max_header_bytes;
    uint64_t read_timeout_ns;
    uint32_t max_connections;  /* per listener, over all workers */
    size_t arena_budget_bytes; /* per request */
};

/* Counters a listener keeps, updated by every worker with relaxed atomics;
 * read each field with __atomic_load_n(&f, __ATOMIC_RELAXED). read_timeouts
 * counts connections closed mid-request (idle keep-alive closes are not). */
struct am_server_stats {
    uint64_t accepted;
    uint64_t rejected_max_connections;
    uint64_t read_timeouts;
    uint64_t bad_requests; /* unparseable HTTP: 400 and close */
    uint64_t active;
};

/* Bind and listen on "host:port" ("0.0.0.0:4318", "[::1]:0", "localhost:9464",
 * ":4318" = all interfaces, dual-stack when IPv6 exists). Returns NULL with
 * *why set on failure (errno logged). Close it after every server detached. */
struct am_listener *am_listener_open(const char *endpoint, const char **why);
void am_listener_close(struct am_listener *l);
/* The bound port (useful with port 0). */
int am_listener_port(const struct am_listener *l);

/* Serve l on loop with router. One am_server per (listener, worker). */
struct am_server *am_server_attach(struct am_loop *loop, struct am_listener *l,
                                   const struct am_server_opts *opts,
                                   const struct am_router *router);
/* Stop accepting; close idle connections; in-flight responses finish (with
 * Connection: close). Call on the loop's thread; s is freed once its last
 * connection closes (maybe inside this call), so do not use it afterwards. */
void am_server_detach(struct am_server *s);
/* Stop accepting and close every connection now, whatever its state, and
 * free s. For shutdown once the loop no longer runs (or from its thread). */
void am_server_close(struct am_server *s);
/* Shared per listener (all workers add to it). */
const struct am_server_stats *am_listener_stats(const struct am_listener *l);

#endif
