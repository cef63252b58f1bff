/*
 * scrape.c - the Prometheus listener (SPEC.md 1): GET /metrics in text
 * format 0.0.4, GET /-/healthy and GET /-/ready. Before each exposition the
 * gauges and counters whose source is not a span (process_*, connections,
 * build info) are set from their sources.
 */
#include <stdio.h>
#include <string.h>

#include "am/err.h"
#include "am/expo.h"
#include "am/alloc.h"
#include "am/inflate.h"
#include "am/log.h"
#include "am/proc.h"
#include "am/series.h"

#include "daemon_int.h"

static void set(struct am_worker *w, enum am_metric m, double v, struct am_str l0, struct am_str l1)
{
    struct am_obs o;
    memset(&o, 0, sizeof(o));
    o.metric = m;
    o.kind = AM_OBS_SET;
    o.value = v;
    o.labels[0] = l0;
    o.labels[1] = l1;
    am_worker_obs(w, &o);
}

#define LOAD(f) ((double)__atomic_load_n(&st->f, __ATOMIC_RELAXED))

/* The transport's limits (TLS, HTTP/2, auth, in-flight cap). */
static void set_listener_limits(struct am_worker *w, const struct am_server_stats *st,
                                struct am_str name)
{
    set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, LOAD(tls_handshake_failures), name,
        AM_STR("tls_handshake"));
    set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, LOAD(protocol_errors), name,
        AM_STR("protocol_error"));
    set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(refused_streams), name,
        AM_STR("max_concurrent_streams"));
    set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(headers_too_large), name,
        AM_STR("max_header_bytes"));
    set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(bodies_too_large), name,
        AM_STR("max_request_body_size"));
    set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(inflight_rejected), name,
        AM_STR("max_inflight_bytes"));
    set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(memory_refused), name, AM_STR("memory_limit"));
    set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(unauthenticated), name,
        AM_STR("unauthenticated"));
    set(w, AM_M_SELF_REQUESTS_REFUSED_TOTAL, LOAD(stream_timeouts), name, AM_STR("read_timeout"));
    set(w, AM_M_SELF_INFLIGHT_BYTES, LOAD(inflight_bytes), name, AM_STR_NULL);
}

static void set_listener(struct am_worker *w, const struct am_listener *l, struct am_str name)
{
    const struct am_server_stats *st = am_listener_stats(l);
    uint64_t accepted = __atomic_load_n(&st->accepted, __ATOMIC_RELAXED);
    uint64_t rejected = __atomic_load_n(&st->rejected_max_connections, __ATOMIC_RELAXED);
    uint64_t timeouts = __atomic_load_n(&st->read_timeouts, __ATOMIC_RELAXED);
    uint64_t bad = __atomic_load_n(&st->bad_requests, __ATOMIC_RELAXED);
    uint64_t active = __atomic_load_n(&st->active, __ATOMIC_RELAXED);
    set(w, AM_M_SELF_CONNECTIONS_ACCEPTED_TOTAL, (double)accepted, name, AM_STR_NULL);
    set(w, AM_M_SELF_CONNECTIONS_ACTIVE, (double)active, name, AM_STR_NULL);
    set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, (double)rejected, name, AM_STR("max_connections"));
    set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, (double)timeouts, name, AM_STR("read_timeout"));
    set(w, AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, (double)bad, name, AM_STR("bad_request"));
    set_listener_limits(w, st, name);
}

static void set_remote_write(struct am_worker *w, const struct am_rw_stats *st)
{
    static const char *const classes[6] = {"error", "1xx", "2xx", "3xx", "4xx", "5xx"};
    struct am_str url = am_str_from(st->url);
    char reason[16];
    set(w, AM_M_SELF_RW_SAMPLES_SENT_TOTAL, (double)atomic_load(&st->samples_sent), url,
        AM_STR_NULL);
    set(w, AM_M_SELF_RW_SAMPLES_FAILED_TOTAL, (double)atomic_load(&st->samples_failed), url,
        AM_STR_NULL);
    set(w, AM_M_SELF_RW_SAMPLES_RETRIED_TOTAL, (double)atomic_load(&st->samples_retried), url,
        AM_STR_NULL);
    set(w, AM_M_SELF_RW_SAMPLES_DROPPED_TOTAL, (double)atomic_load(&st->samples_dropped_queue_full),
        url, AM_STR("queue_full"));
    for (int i = 0; i < 100; i++) {
        uint64_t n = atomic_load(&st->samples_dropped_status[i]);
        if (n > 0) {
            int len = snprintf(reason, sizeof(reason), "http_%d", 400 + i);
            set(w, AM_M_SELF_RW_SAMPLES_DROPPED_TOTAL, (double)n, url,
                (struct am_str){reason, (size_t)len});
            am_worker_flush(w); /* reason is a stack buffer */
        }
    }
    for (int i = 0; i < 6; i++) {
        uint64_t n = atomic_load(&st->requests_status[i]);
        if (n > 0) {
            set(w, AM_M_SELF_RW_REQUESTS_TOTAL, (double)n, url, am_str_from(classes[i]));
        }
    }
    set(w, AM_M_SELF_RW_QUEUE_LENGTH, (double)atomic_load(&st->queue_records), url, AM_STR_NULL);
    set(w, AM_M_SELF_RW_QUEUE_BYTES, (double)atomic_load(&st->queue_bytes), url, AM_STR_NULL);
    set(w, AM_M_SELF_RW_QUEUE_CORRUPT_TOTAL, (double)atomic_load(&st->queue_corrupt_records), url,
        AM_STR_NULL);
    set(w, AM_M_SELF_RW_LAST_SEND_TIMESTAMP, (double)atomic_load(&st->last_send_timestamp_s), url,
        AM_STR_NULL);
}

static void refresh_self(struct am_worker *w)
{
    struct am_daemon *d = w->d;
    struct am_proc_stats ps;
    if (am_proc_read(&ps) == 0) {
        set(w, AM_M_PROCESS_CPU_SECONDS_TOTAL, ps.cpu_seconds, AM_STR_NULL, AM_STR_NULL);
        set(w, AM_M_PROCESS_RESIDENT_MEMORY_BYTES, (double)ps.rss_bytes, AM_STR_NULL, AM_STR_NULL);
        set(w, AM_M_PROCESS_OPEN_FDS, (double)ps.open_fds, AM_STR_NULL, AM_STR_NULL);
        set(w, AM_M_PROCESS_MAX_FDS, (double)ps.max_fds, AM_STR_NULL, AM_STR_NULL);
    }
    set(w, AM_M_PROCESS_START_TIME_SECONDS, d->start_time_seconds, AM_STR_NULL, AM_STR_NULL);
    set(w, AM_M_SELF_BUILD_INFO, 1, AM_STR(AM_VERSION), AM_STR_NULL);
    set_listener(w, d->otlp_listener, AM_STR("otlp_http"));
    set_listener(w, d->grpc_listener, AM_STR("otlp_grpc"));
    set_listener(w, d->prom_listener, AM_STR("prometheus"));
    for (size_t i = 0; i < d->rw_count; i++) {
        set_remote_write(w, am_rw_stats(d->rw[i]));
    }
    am_worker_flush(w);
}

/* OpenMetrics when application/openmetrics-text (any version) has a q above
 * 0 and above every range that covers text/plain; text 0.0.4 otherwise,
 * including an empty Accept. */
static bool wants_openmetrics(struct am_str accept)
{
    static const char *const om[] = {"application/openmetrics-text"};
    static const char *const text[] = {"text/plain", "text/*", "*/*"};
    int q_om = am_http_accept_q(accept, om, 1);
    int q_text = am_http_accept_q(accept, text, 3);
    return q_om > 0 && q_om > q_text;
}

/* gzip when Accept-Encoding gives it a q above 0, or does not name it and
 * gives * one ("gzip;q=0" refuses it whatever * says). */
static bool accepts_gzip(struct am_str ae)
{
    static const char *const gzip[] = {"gzip"};
    static const char *const any[] = {"*"};
    int q = am_http_accept_q(ae, gzip, 1);
    return (q >= 0 ? q : am_http_accept_q(ae, any, 1)) > 0;
}

static void on_metrics(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    struct am_worker *w = ud;
    refresh_self(w);
    am_buf_reset(&resp->body);
    bool om = wants_openmetrics(req->accept);
    int rc = om ? am_expo_openmetrics(w->d->series, &resp->body)
                : am_expo_text(w->d->series, &resp->body);
    if (rc != 0) {
        AM_LOG_RL(AM_LOG_LEVEL_ERROR, "scrape", "exposition failed: %s", am_strerror(rc));
        resp->status = 500;
        resp->content_type = "text/plain; charset=utf-8";
        am_buf_reset(&resp->body);
        am_buf_append_str(&resp->body, "exposition exceeded its buffer\n");
        return;
    }
    resp->status = 200;
    resp->content_type = om ? AM_EXPO_OPENMETRICS_CONTENT_TYPE : AM_EXPO_TEXT_CONTENT_TYPE;
    uint8_t *z = NULL;
    size_t zlen = 0;
    if (accepts_gzip(req->accept_encoding) &&
        am_gzip_compress((const uint8_t *)resp->body.data, resp->body.len, &z, &zlen) == 0) {
        am_buf_reset(&resp->body);
        if (am_buf_append(&resp->body, z, zlen) == 0) {
            resp->content_encoding = "gzip";
        }
        am_free(z);
    }
}

static void text(struct am_http_response *resp, int status, const char *msg)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    am_buf_reset(&resp->body);
    am_buf_append_str(&resp->body, msg);
}

static void on_healthy(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    (void)ud;
    (void)req;
    text(resp, 200, "agentmeter is healthy.\n");
}

static void on_ready(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    struct am_worker *w = ud;
    (void)req;
    if (atomic_load(&w->d->ready) && !atomic_load(&w->d->stopping)) {
        text(resp, 200, "agentmeter is ready.\n");
    } else {
        text(resp, 503, "agentmeter is not ready.\n");
    }
}

void am_scrape_routes(struct am_worker *w, struct am_router *r)
{
    am_router_add(r, AM_HTTP_GET, "/metrics", on_metrics, w);
    am_router_add(r, AM_HTTP_GET, "/-/healthy", on_healthy, w);
    am_router_add(r, AM_HTTP_GET, "/-/ready", on_ready, w);
}
