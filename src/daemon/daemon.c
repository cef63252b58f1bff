/*
 * daemon.c - wiring and lifecycle (DESIGN.md 3): builds pricing and the
 * series store from the config, binds the listeners once, runs one event
 * loop per worker thread (each serving both listeners), and handles
 * signals on the main thread with sigwait: SIGHUP reloads pricing,
 * processor settings, TLS certificates and bearer tokens, SIGTERM/SIGINT stop accepting, finish
 * in-flight requests and exit 0. The main thread also queues remote_write
 * snapshots and runs idle series expiry (stale markers).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "am/alloc.h"
#include "am/clock.h"
#include "am/daemon.h"
#include "am/err.h"
#include "am/filter.h"
#include "am/explain.h"
#include "am/log.h"

#include "daemon_int.h"

/* How long SIGTERM waits for remote_write queues to drain. */
#define AM_DAEMON_DRAIN_NS (10ull * 1000 * 1000 * 1000)

/* TLS contexts and bearer tokens of the listeners, from the files the
 * config names: at start, and again on SIGHUP (new connections pick the new
 * certificates up). A failure at start is fatal; on reload it is logged and
 * the running context or token kept. */
static int load_security(struct am_daemon *d, const struct am_config *cfg)
{
    struct {
        struct am_listener *l;
        const struct am_listener_opts *lc;
        const char *key;
        bool h2;
        bool only_h2;
        bool auth;
    } ls[] = {
        {d->otlp_listener, &cfg->http, "receivers.otlp.http", true, false, true},
        {d->grpc_listener, &cfg->grpc, "receivers.otlp.grpc", true, true, true},
        {d->prom_listener, &cfg->prom, "exporters.prometheus", false, false, false},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++) {
        const char *why = NULL;
        if (ls[i].lc->tls.cert_file != NULL &&
            am_listener_set_tls(ls[i].l, &ls[i].lc->tls, ls[i].h2, ls[i].only_h2, &why) != 0) {
            AM_LOG_ERROR("daemon", "%s.tls: %s", ls[i].key, why);
            failed = -1;
        }
        if (ls[i].auth &&
            am_listener_set_bearer_token(ls[i].l, ls[i].lc->bearer_token_file, &why) != 0) {
            AM_LOG_ERROR("daemon", "%s.auth.bearer_token_file: %s", ls[i].key, why);
            failed = -1;
        }
    }
    return failed;
}

static int open_remote_write(struct am_daemon *d)
{
    const struct am_clock *clock = am_clock_system();
    d->rw_count = d->cfg.remote_write_count;
    d->rw = am_xcalloc(d->rw_count ? d->rw_count : 1, sizeof(*d->rw));
    d->rw_next_ns = am_xcalloc(d->rw_count ? d->rw_count : 1, sizeof(*d->rw_next_ns));
    for (size_t i = 0; i < d->rw_count; i++) {
        const struct am_rw_opts *rc = &d->cfg.remote_write[i];
        const char *why = NULL;
        d->rw[i] =
            am_rw_create(rc, d->cfg.external_labels, d->cfg.external_label_count, clock, &why);
        if (d->rw[i] == NULL) {
            AM_LOG_ERROR("daemon", "exporters.remote_write[%zu] %s: %s", i, rc->url,
                         why ? why : "cannot open its queue");
            return -1;
        }
        d->rw_next_ns[i] = am_clock_mono(clock) + rc->send_interval_ns;
    }
    return 0;
}

static struct am_series_store *make_series(const struct am_config *cfg, unsigned shards)
{
    struct am_series_opts so = {
        .shards = shards,
        .max_series_per_metric = cfg->max_series_per_metric,
        .max_label_value_bytes = cfg->max_label_value_bytes,
        .buckets = cfg->buckets,
        .bucket_count = cfg->bucket_count,
    };
    return am_series_create(&so);
}

static int open_listeners(struct am_daemon *d)
{
    const char *why = NULL;
    d->otlp_listener = am_listener_open(d->cfg.http.endpoint, &why);
    if (d->otlp_listener == NULL) {
        AM_LOG_ERROR("daemon", "receivers.otlp.http.endpoint %s: %s", d->cfg.http.endpoint,
                     why ? why : "cannot listen");
        return -1;
    }
    d->grpc_listener = am_listener_open(d->cfg.grpc.endpoint, &why);
    if (d->grpc_listener == NULL) {
        AM_LOG_ERROR("daemon", "receivers.otlp.grpc.endpoint %s: %s", d->cfg.grpc.endpoint,
                     why ? why : "cannot listen");
        return -1;
    }
    d->prom_listener = am_listener_open(d->cfg.prom.endpoint, &why);
    if (d->prom_listener == NULL) {
        AM_LOG_ERROR("daemon", "exporters.prometheus.endpoint %s: %s", d->cfg.prom.endpoint,
                     why ? why : "cannot listen");
        return -1;
    }
    return load_security(d, &d->cfg);
}

static struct am_server_opts listener_opts(const char *name, const struct am_listener_opts *c)
{
    struct am_server_opts o = {
        .name = name,
        .max_body_bytes = c->max_request_body_size,
        .max_header_bytes = c->max_header_bytes,
        .read_timeout_ns = c->read_timeout_ns,
        .max_connections = c->max_connections,
        .arena_budget_bytes = 4 * c->max_request_body_size + (4u << 20),
        .h2c = true,
        .max_concurrent_streams = c->max_concurrent_streams,
        .max_inflight_bytes = c->max_inflight_bytes,
    };
    return o;
}

/* Deferred observations per request, at most; past it they apply at once. */
#define DEFER_OBS_CAP 8192
#define DEFER_BYTES_CAP ((size_t)512 << 10)

void am_worker_flush_deferred(struct am_worker *w)
{
    for (size_t i = 0; i < w->dobs_len; i++) {
        for (int l = 0; l < AM_MAX_LABELS; l++) {
            struct am_str *v = &w->dobs[i].labels[l];
            v->ptr = v->len > 0 ? w->dbytes + (uintptr_t)v->ptr : NULL;
        }
    }
    if (w->dobs_len > 0) {
        am_series_apply_at(w->d->series, w->index, w->dobs, w->dobs_len, w->wall_ns);
    }
    w->dobs_len = 0;
    w->dbytes_len = 0;
}

static size_t obs_label_bytes(const struct am_obs *o)
{
    size_t n = 0;
    for (int l = 0; l < AM_MAX_LABELS; l++) {
        n += o->labels[l].len;
    }
    return n;
}

/*
 * The sink of trace assembly. During a request (wall_ns set) observations
 * are copied, label bytes included (they may point into trace_buf's
 * interned strings, valid only under its shard lock), and applied once by
 * am_worker_flush_deferred after the batch: series work is never done per
 * span under a trace_buf lock. Outside a request (housekeeping, shutdown),
 * and past the per-request cap, they apply at once.
 */
static void sink_apply(void *ud, const struct am_obs *obs, size_t n)
{
    struct am_worker *w = ud;
    if (w->wall_ns == 0) {
        am_series_apply(w->d->series, w->index, obs, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t need = obs_label_bytes(&obs[i]);
        if (need > DEFER_BYTES_CAP) {
            am_series_apply_at(w->d->series, w->index, &obs[i], 1, w->wall_ns);
            continue;
        }
        if (w->dobs_len == DEFER_OBS_CAP || w->dbytes_len + need > DEFER_BYTES_CAP) {
            am_worker_flush_deferred(w);
        }
        struct am_obs *o = &w->dobs[w->dobs_len++];
        *o = obs[i];
        for (int l = 0; l < AM_MAX_LABELS; l++) {
            struct am_str *v = &o->labels[l];
            if (v->len > 0) {
                memcpy(w->dbytes + w->dbytes_len, v->ptr, v->len);
                v->ptr = (const char *)(uintptr_t)w->dbytes_len;
                w->dbytes_len += v->len;
            }
        }
    }
}

static void worker_init(struct am_daemon *d, struct am_worker *w, unsigned index)
{
    const struct am_listener_opts *h = &d->cfg.http;
    const struct am_listener_opts *p = &d->cfg.prom;
    struct am_server_opts otlp_opts = listener_opts("otlp_http", h);
    struct am_server_opts grpc_opts = listener_opts("otlp_grpc", &d->cfg.grpc);
    grpc_opts.h2_only = true;
    otlp_opts.memlimit = d->memlimit;
    grpc_opts.memlimit = d->memlimit;
    struct am_server_opts prom_opts = {
        .name = "prometheus",
        .max_body_bytes = 64u << 10,
        .max_header_bytes = p->max_header_bytes,
        .read_timeout_ns = p->read_timeout_ns,
        .max_connections = p->max_connections,
        .arena_budget_bytes = 1u << 20,
    };
    w->d = d;
    w->index = index;
    w->sink.fn = sink_apply;
    w->sink.ud = w;
    w->obs = am_xcalloc(AM_WORKER_OBS_CAP, sizeof(*w->obs));
    w->dobs = am_xcalloc(DEFER_OBS_CAP, sizeof(*w->dobs));
    w->dbytes = am_xmalloc(DEFER_BYTES_CAP);
    w->loop = am_loop_create(am_clock_system());
    w->otlp_router = am_router_create();
    w->prom_router = am_router_create();
    am_ingest_routes(w, w->otlp_router);
    am_scrape_routes(w, w->prom_router);
    w->otlp_server = am_server_attach(w->loop, d->otlp_listener, &otlp_opts, w->otlp_router);
    w->prom_server = am_server_attach(w->loop, d->prom_listener, &prom_opts, w->prom_router);
    /* gRPC calls become OTLP/HTTP requests: the same router serves both. */
    w->grpc_server = am_server_attach(w->loop, d->grpc_listener, &grpc_opts, w->otlp_router);
}

static void worker_fini(struct am_worker *w)
{
    am_server_close(w->otlp_server);
    am_server_close(w->grpc_server);
    am_server_close(w->prom_server);
    am_router_destroy(w->otlp_router);
    am_router_destroy(w->prom_router);
    am_loop_destroy(w->loop);
    am_free(w->obs);
    am_free(w->dobs);
    am_free(w->dbytes);
}

/* Draining (SIGTERM): every 10 ms, until this worker's connections are
 * gone or shutdown_timeout has passed, then the loop stops for good. */
#define DRAIN_POLL_NS (10ull * 1000 * 1000)

static void drain_tick(struct am_loop *loop, void *ud)
{
    struct am_worker *w = ud;
    size_t open = am_server_conn_count(w->otlp_server) + am_server_conn_count(w->grpc_server) +
                  am_server_conn_count(w->prom_server);
    if (open == 0 || am_clock_mono(am_loop_clock(loop)) >= w->d->drain_deadline_ns) {
        am_loop_stop(loop);
        return;
    }
    am_loop_timer_add(loop, DRAIN_POLL_NS, drain_tick, w);
}

/* The first am_loop_run returns on am_loop_stop. When the daemon is
 * draining, stop accepting (HTTP/1.1 Connection: close, HTTP/2 GOAWAY) and
 * run again until the requests already started have been answered. */
static void *worker_main(void *arg)
{
    struct am_worker *w = arg;
    if (am_loop_run(w->loop) != 0) {
        AM_LOG_ERROR("daemon", "worker %u: event loop failed", w->index);
        return NULL;
    }
    if (!atomic_load(&w->d->draining)) {
        return NULL;
    }
    am_server_detach(w->otlp_server);
    am_server_detach(w->grpc_server);
    am_server_detach(w->prom_server);
    drain_tick(w->loop, w);
    if (am_loop_run(w->loop) != 0) {
        AM_LOG_ERROR("daemon", "worker %u: event loop failed while draining", w->index);
    }
    return NULL;
}

/* limits.memory in bytes: an absolute size, or a share of what the cgroup
 * or the machine allows (0: off, or unknown). */
static uint64_t memory_limit(const struct am_config *cfg)
{
    if (cfg->memory_limit_percent == 0) {
        return cfg->memory_limit_bytes;
    }
    return am_memlimit_total() / 100 * cfg->memory_limit_percent;
}

/* processors.genai.dimensions: the families' extra labels are set once,
 * here, before the series store and the workers exist. */
static void set_dimensions(struct am_daemon *d)
{
    const char *labels[AM_MAX_DIMS];
    uint64_t masks[AM_MAX_DIMS];
    d->dim_count = (unsigned)d->cfg.dimension_count;
    for (unsigned j = 0; j < d->dim_count; j++) {
        const struct am_dimension_config *dc = &d->cfg.dimensions[j];
        labels[j] = dc->label;
        masks[j] = dc->metric_mask;
        d->dim_attrs[j] = am_str_from(dc->attribute);
        d->dim_defaults[j] = am_str_from(dc->def);
    }
    am_family_set_dimensions(labels, masks, d->dim_count);
}

static bool same_dimensions(const struct am_config *a, const struct am_config *b)
{
    if (a->dimension_count != b->dimension_count) {
        return false;
    }
    for (size_t j = 0; j < a->dimension_count; j++) {
        const struct am_dimension_config *x = &a->dimensions[j];
        const struct am_dimension_config *y = &b->dimensions[j];
        if (strcmp(x->attribute, y->attribute) != 0 || strcmp(x->label, y->label) != 0 ||
            strcmp(x->def, y->def) != 0 || x->metric_mask != y->metric_mask) {
            return false;
        }
    }
    return true;
}

int am_daemon_build_filters(const struct am_config *cfg, struct am_filter **out,
                            struct am_diag *diag)
{
    const struct am_ynode *n = cfg->filters != NULL ? cfg->filters->root : NULL;
    return am_filter_compile(n, "processors.genai.filters", out, diag);
}

struct am_daemon *am_daemon_create(struct am_config *cfg, const char *config_path)
{
    struct am_diag diag;
    struct am_pricing *pricing = NULL;
    struct am_rules *rules = NULL;
    struct am_filter *filters = NULL;

    if (am_daemon_build_pricing(cfg, &pricing, &diag) != 0 ||
        am_daemon_build_rules(cfg, &rules, &diag) != 0 ||
        am_daemon_build_filters(cfg, &filters, &diag) != 0) {
        AM_LOG_ERROR("daemon", "%s", diag.msg);
        am_pricing_destroy(pricing);
        am_rules_destroy(rules);
        am_config_free(cfg);
        return NULL;
    }
    struct am_daemon *d = am_xcalloc(1, sizeof(*d));
    d->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    d->config_path = config_path != NULL ? am_xstrdup(config_path) : NULL;
    atomic_store(&d->pricing, pricing);
    atomic_store(&d->rules, rules);
    atomic_store(&d->filters, filters);
    if (d->cfg.prom_debug) {
        d->explain = am_explain_create(d->cfg.prom_debug_spans);
    }
    atomic_store(&d->semconv_metrics, d->cfg.semconv_metrics);
    d->start_time_seconds = (double)am_clock_wall(am_clock_system()) / 1e9;

    set_dimensions(d);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    d->worker_count = d->cfg.workers != 0 ? d->cfg.workers : (ncpu > 0 ? (unsigned)ncpu : 1);
    d->series = make_series(&d->cfg, d->worker_count);
    d->memlimit = am_memlimit_create(memory_limit(&d->cfg));
    if (open_listeners(d) != 0 || open_remote_write(d) != 0) {
        am_daemon_destroy(d);
        return NULL;
    }
    d->workers = am_xcalloc(d->worker_count, sizeof(*d->workers));
    for (unsigned i = 0; i < d->worker_count; i++) {
        worker_init(d, &d->workers[i], i);
    }
    am_daemon_self_register(d);
    if (am_assembly_create(d) != 0) {
        am_daemon_destroy(d);
        return NULL;
    }
    am_housekeeping_start(&d->workers[0]);
    AM_LOG_INFO("daemon",
                "agentmeter %s: OTLP/HTTP on %s (port %d), OTLP/gRPC on %s (port %d), "
                "Prometheus on %s (port %d), %u worker(s), %zu priced models, memory limit "
                "%llu MiB",
                AM_VERSION, d->cfg.http.endpoint, am_listener_port(d->otlp_listener),
                d->cfg.grpc.endpoint, am_listener_port(d->grpc_listener), d->cfg.prom.endpoint,
                am_listener_port(d->prom_listener), d->worker_count, am_pricing_count(pricing),
                (unsigned long long)(am_memlimit_get(d->memlimit) >> 20));
    return d;
}

/* Bucket bounds of a reloaded config apply to histogram families that have
 * no series yet; a family with series keeps its buckets (re-bucketing would
 * lose them), which is logged. */
static void reload_buckets(struct am_daemon *d, const struct am_config *cfg)
{
    for (unsigned m = 0; m < AM_M_COUNT; m++) {
        const struct am_family *f = am_family_get(m);
        if (f->type != AM_TYPE_HISTOGRAM) {
            continue;
        }
        struct am_bucket_override want = {.metric = m, .count = f->bucket_count};
        memcpy(want.bounds, f->buckets, sizeof(want.bounds));
        for (size_t i = 0; i < cfg->bucket_count; i++) {
            if (cfg->buckets[i].metric == (enum am_metric)m) {
                want = cfg->buckets[i];
            }
        }
        unsigned n = 0;
        const double *have = am_series_bounds(d->series, m, &n);
        if (n == want.count && memcmp(have, want.bounds, n * sizeof(double)) == 0) {
            continue;
        }
        if (am_series_set_buckets(d->series, &want) != AM_OK) {
            AM_LOG_WARN("daemon",
                        "reload: %s already has series; its buckets change at the "
                        "next restart",
                        f->name);
        }
    }
}

/* SIGHUP: re-read the file; swap pricing and processor settings. Series,
 * listeners and buckets of existing metrics stay as they are. A bad file
 * is logged and the running config kept. */
static void reload(struct am_daemon *d)
{
    struct am_config cfg;
    struct am_diag diag;
    struct am_pricing *pricing = NULL;
    struct am_rules *rules = NULL;
    struct am_filter *filters = NULL;

    if (d->config_path == NULL) {
        AM_LOG_INFO("daemon", "SIGHUP: no config file; nothing to reload");
        return;
    }
    am_config_defaults(&cfg);
    if (am_config_load(d->config_path, &cfg, &diag) != 0 ||
        am_daemon_build_pricing(&cfg, &pricing, &diag) != 0 ||
        am_daemon_build_rules(&cfg, &rules, &diag) != 0 ||
        am_daemon_build_filters(&cfg, &filters, &diag) != 0) {
        AM_LOG_ERROR("daemon", "reload rejected, keeping the running config: %s", diag.msg);
        am_pricing_destroy(pricing);
        am_rules_destroy(rules);
        am_config_free(&cfg);
        return;
    }
    struct am_retired *r = am_xcalloc(1, sizeof(*r));
    r->pricing = atomic_exchange(&d->pricing, pricing);
    r->rules = atomic_exchange(&d->rules, rules);
    r->filters = atomic_exchange(&d->filters, filters);
    r->next = d->retired;
    d->retired = r;
    atomic_store(&d->semconv_metrics, cfg.semconv_metrics);
    if (!same_dimensions(&d->cfg, &cfg)) {
        AM_LOG_WARN("daemon", "reload: processors.genai.dimensions changed; kept the running ones "
                              "(they apply at the next start)");
    }
    if (d->cfg.series_idle_timeout_ns != cfg.series_idle_timeout_ns) {
        /* read only by am_housekeeping_expire, on this (the main) thread */
        d->cfg.series_idle_timeout_ns = cfg.series_idle_timeout_ns;
        d->expire_next_ns = 0;
    }
    am_assembly_configure(d, &cfg);
    reload_buckets(d, &cfg);
    am_memlimit_set(d->memlimit, memory_limit(&cfg));
    if (load_security(d, &d->cfg) != 0) {
        AM_LOG_ERROR("daemon", "reload: kept the running TLS context or token where a file "
                               "failed to load");
    }
    AM_LOG_INFO("daemon", "reloaded %s: %zu priced models, %zu classification rules",
                d->config_path, am_pricing_count(pricing), am_rules_count(atomic_load(&d->rules)));
    am_config_free(&cfg);
}

int am_daemon_run(struct am_daemon *d)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* workers inherit the mask */
    signal(SIGPIPE, SIG_IGN);

    for (unsigned i = 0; i < d->worker_count; i++) {
        if (pthread_create(&d->workers[i].thread, NULL, worker_main, &d->workers[i]) != 0) {
            AM_LOG_ERROR("daemon", "cannot start worker %u", i);
            am_daemon_stop(d);
            for (unsigned j = 0; j < i; j++) {
                pthread_join(d->workers[j].thread, NULL); /* none left running */
            }
            return 1;
        }
    }
    for (size_t i = 0; i < d->rw_count; i++) {
        am_rw_start(d->rw[i]);
    }
    atomic_store(&d->ready, true);

    /* sigtimedwait rather than sigwait so that am_daemon_stop from another
     * thread (tests, a fatal worker error) is noticed within 100 ms. */
    struct timespec tick = {0, 100 * 1000 * 1000};
    while (!atomic_load(&d->stopping)) {
        am_housekeeping_expire(d);
        am_housekeeping_snapshot(d, false);
        am_housekeeping_release(d);
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig < 0) {
            continue;
        }
        if (sig == SIGHUP) {
            reload(d);
            continue;
        }
        AM_LOG_INFO("daemon", "received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        /* stop accepting; requests already started get shutdown_timeout */
        d->drain_deadline_ns = am_clock_mono(am_clock_system()) + d->cfg.shutdown_timeout_ns;
        atomic_store(&d->draining, true);
        break;
    }
    am_daemon_stop(d);
    for (unsigned i = 0; i < d->worker_count; i++) {
        pthread_join(d->workers[i].thread, NULL);
    }
    am_assembly_shutdown(d);
    /* The final snapshot, then each queue drains until the deadline; what
     * is not sent stays on disk for the next start. */
    am_housekeeping_snapshot(d, true);
    uint64_t deadline = am_clock_mono(am_clock_system()) + AM_DAEMON_DRAIN_NS;
    for (size_t i = 0; i < d->rw_count; i++) {
        am_rw_shutdown(d->rw[i], deadline);
    }
    AM_LOG_INFO("daemon", "stopped");
    return 0;
}

void am_daemon_stop(struct am_daemon *d)
{
    atomic_store(&d->stopping, true);
    for (unsigned i = 0; i < d->worker_count; i++) {
        am_loop_stop(d->workers[i].loop);
    }
}

void am_daemon_destroy(struct am_daemon *d)
{
    if (d == NULL) {
        return;
    }
    am_assembly_destroy(d);
    if (d->workers != NULL) {
        for (unsigned i = 0; i < d->worker_count; i++) {
            worker_fini(&d->workers[i]);
        }
        am_free(d->workers);
    }
    for (size_t i = 0; i < d->rw_count; i++) {
        am_rw_destroy(d->rw[i]);
    }
    am_free(d->rw);
    am_free(d->rw_next_ns);
    am_listener_close(d->otlp_listener);
    am_listener_close(d->grpc_listener);
    am_listener_close(d->prom_listener);
    am_self_destroy(d->self);
    am_series_destroy(d->series);
    am_family_set_dimensions(NULL, NULL, 0); /* the labels live in d->cfg */
    am_pricing_destroy(atomic_load(&d->pricing));
    am_rules_destroy(atomic_load(&d->rules));
    am_filter_destroy(atomic_load(&d->filters));
    am_explain_destroy(d->explain);
    while (d->retired != NULL) {
        struct am_retired *r = d->retired;
        d->retired = r->next;
        am_pricing_destroy(r->pricing);
        am_rules_destroy(r->rules);
        am_filter_destroy(r->filters);
        am_free(r);
    }
    am_memlimit_destroy(d->memlimit);
    am_config_free(&d->cfg);
    am_free(d->config_path);
    am_free(d);
}

int am_daemon_port(const struct am_daemon *d, const char *listener)
{
    if (strcmp(listener, "http") == 0 && d->otlp_listener != NULL) {
        return am_listener_port(d->otlp_listener);
    }
    if (strcmp(listener, "grpc") == 0 && d->grpc_listener != NULL) {
        return am_listener_port(d->grpc_listener);
    }
    if (strcmp(listener, "prometheus") == 0 && d->prom_listener != NULL) {
        return am_listener_port(d->prom_listener);
    }
    return -1;
}
