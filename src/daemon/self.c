/*
 * self.c - the list of self-metric collectors (am/self.h), in the order
 * they run before each exposition and each round of remote_write
 * snapshots: process_*, build info, each listener's connections and
 * refusals (net keeps the counters; only the daemon sees both net and
 * metrics, so this collector lives here), each remote_write endpoint.
 */
#include "am/self.h"

#include "daemon_int.h"

#define LOAD(f) ((double)__atomic_load_n(&st->f, __ATOMIC_RELAXED))

/* The transport's limits (TLS, HTTP/2, auth, in-flight cap). */
static void set_listener_limits(struct am_self_out *w, const struct am_server_stats *st,
                                struct am_str name)
{
    am_self_set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, LOAD(tls_handshake_failures), name,
                AM_STR("tls_handshake"));
    am_self_set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, LOAD(protocol_errors), name,
                AM_STR("protocol_error"));
    am_self_set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(refused_streams), name,
                AM_STR("max_concurrent_streams"));
    am_self_set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(headers_too_large), name,
                AM_STR("max_header_bytes"));
    am_self_set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(bodies_too_large), name,
                AM_STR("max_request_body_size"));
    am_self_set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(inflight_rejected), name,
                AM_STR("max_inflight_bytes"));
    am_self_set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(memory_refused), name,
                AM_STR("memory_limit"));
    am_self_set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(unauthenticated), name,
                AM_STR("unauthenticated"));
    am_self_set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(stream_timeouts), name,
                AM_STR("read_timeout"));
    am_self_set(w, AM_M_SELF_INFLIGHT_BYTES, LOAD(inflight_bytes), name, AM_STR_NULL);
}

static void collect_listener(void *ud, struct am_self_out *w)
{
    const struct am_self_listener *sl = ud;
    struct am_str name = am_str_from(sl->name);
    const struct am_server_stats *st = am_listener_stats(sl->l);
    uint64_t accepted = __atomic_load_n(&st->accepted, __ATOMIC_RELAXED);
    uint64_t rejected = __atomic_load_n(&st->rejected_max_connections, __ATOMIC_RELAXED);
    uint64_t timeouts = __atomic_load_n(&st->read_timeouts, __ATOMIC_RELAXED);
    uint64_t idle = __atomic_load_n(&st->idle_timeouts, __ATOMIC_RELAXED);
    uint64_t bad = __atomic_load_n(&st->bad_requests, __ATOMIC_RELAXED);
    uint64_t active = __atomic_load_n(&st->active, __ATOMIC_RELAXED);
    am_self_set(w, AM_M_SELF_CONNECTIONS_ACCEPTED_TOTAL, (double)accepted, name, AM_STR_NULL);
    am_self_set(w, AM_M_SELF_CONNECTIONS_ACTIVE, (double)active, name, AM_STR_NULL);
    am_self_set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, (double)rejected, name,
                AM_STR("max_connections"));
    am_self_set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, (double)timeouts, name,
                AM_STR("read_timeout"));
    am_self_set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, (double)idle, name,
                AM_STR("idle_timeout"));
    am_self_set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, (double)bad, name, AM_STR("bad_request"));
    set_listener_limits(w, st, name);
}

void am_daemon_self_register(struct am_daemon *d)
{
    d->self = am_self_create(d->series);
    am_self_register(d->self, "process", am_self_process, &d->start_time_seconds);
    am_self_register(d->self, "build_info", am_self_build_info, NULL);
    struct am_self_listener ls[] = {
        {d->otlp_listener, "otlp_http"},
        {d->grpc_listener, "otlp_grpc"},
        {d->prom_listener, "prometheus"},
    };
    for (size_t i = 0; i < 3; i++) {
        d->self_listeners[i] = ls[i];
        am_self_register(d->self, "listener", collect_listener, &d->self_listeners[i]);
    }
    for (size_t i = 0; i < d->rw_count; i++) {
        am_self_register(d->self, "remote_write", am_rw_collect, d->rw[i]);
    }
}
