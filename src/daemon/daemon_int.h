#ifndef AM_DAEMON_INT_H
#define AM_DAEMON_INT_H

/*
 * Internals of src/daemon/: daemon.c (lifecycle, workers, signals, reload),
 * ingest.c (the OTLP handlers), scrape.c (the Prometheus listener),
 * assembly.c (trace assembly, conversations, quality), housekeeping.c (the
 * periodic work), state.c (state_dir) and pricing.c (the price table). One
 * struct am_worker per worker thread: its loop, its routers, its shard.
 */

#include <pthread.h>
#include <stdatomic.h>

#include "am/config.h"
#include "am/derive.h"
#include "am/http.h"
#include "am/loop.h"
#include "am/memlimit.h"
#include "am/filter.h"
#include "am/pricing.h"
#include "am/rules.h"
#include "am/rw.h"
#include "am/trace_buf.h"
#include "am/self.h"
#include "am/series.h"
#include "am/server.h"

struct am_daemon;

#define AM_WORKER_OBS_CAP 4096

struct am_worker {
    struct am_daemon *d;
    unsigned index; /* also the series shard */
    pthread_t thread;
    struct am_loop *loop;
    struct am_router *otlp_router;
    struct am_router *prom_router;
    struct am_server *otlp_server;
    struct am_server *prom_server;
    struct am_server *grpc_server; /* OTLP/gRPC: served by otlp_router */
    struct am_obs *obs;            /* AM_WORKER_OBS_CAP observations, flushed per request */
    size_t obs_len;
    struct am_obs_sink sink; /* trace assembly's: deferred during a request */
    struct am_obs *dobs;     /* deferred observations, labels as offsets in dbytes */
    size_t dobs_len;
    char *dbytes;
    size_t dbytes_len;
    struct am_price_cache price_cache; /* lookups of this thread (derive) */
    uint64_t wall_ns;                  /* wall clock of the request being ingested; 0 outside one */
    uint64_t housekeeping_timer;       /* worker 0 only */
};

/* What the listener collector reads (self.c). */
struct am_self_listener {
    struct am_listener *l;
    const char *name; /* the listener label */
};

struct am_retired {
    struct am_retired *next;
    struct am_pricing *pricing;
    struct am_rules *rules;
    struct am_filter *filters;
};

struct am_daemon {
    struct am_config cfg;
    char *config_path;
    struct am_memlimit *memlimit; /* limits.memory, shared by the OTLP listeners */
    struct am_series_store *series;
    _Atomic(struct am_pricing *) pricing; /* swapped on reload */
    _Atomic(struct am_rules *) rules;     /* processors.genai.rules; swapped on reload */
    struct am_explain *explain;           /* exporters.prometheus.debug; NULL when off */
    struct am_retired *retired;           /* old tables, freed at exit */
    atomic_bool semconv_metrics;
    /* processors.genai.dimensions as set at start (views into cfg) */
    unsigned dim_count;
    struct am_str dim_attrs[AM_MAX_DIMS];
    struct am_str dim_defaults[AM_MAX_DIMS];
    _Atomic(struct am_filter *) filters; /* processors.genai.filters; swapped on reload */
    struct am_listener *otlp_listener;
    struct am_listener *prom_listener;
    struct am_listener *grpc_listener;
    unsigned worker_count;
    struct am_worker *workers;
    struct am_trace_buf *trace_buf; /* trace assembly, shared by the workers */
    struct am_conv *conv;
    struct am_quality *quality;
    struct am_rw **rw;        /* one per exporters.remote_write entry */
    uint64_t *rw_next_ns;     /* when each endpoint's next snapshot is due */
    uint64_t expire_next_ns;  /* monotonic: next idle expiry pass (main thread) */
    uint64_t release_next_ns; /* monotonic: next am_housekeeping_release pass */
    size_t rw_count;
    struct am_self *self; /* the self-metric collectors (self.c) */
    struct am_self_listener self_listeners[3];
    atomic_bool ready;
    atomic_bool draining;       /* SIGTERM: workers detach and drain before stopping */
    uint64_t drain_deadline_ns; /* monotonic; written before draining is set */
    atomic_bool stopping;
    double start_time_seconds;
};

/* ingest.c: routes of the OTLP/HTTP listener. */
void am_ingest_routes(struct am_worker *w, struct am_router *r);
/* Queue one observation on the worker; flushes to the shard when full. */
void am_worker_obs(struct am_worker *w, const struct am_obs *o);
void am_worker_flush(struct am_worker *w);
/* Apply the observations trace assembly made during the request (once,
 * outside every trace_buf lock, at the request's wall clock). */
void am_worker_flush_deferred(struct am_worker *w);

/* assembly.c: trace assembly, conversations and quality (SPEC.md 3). */
int am_assembly_create(struct am_daemon *d);
/* Re-apply the processor settings of cfg without losing pending state. */
void am_assembly_configure(struct am_daemon *d, const struct am_config *cfg);
/* Shutdown: resolve waiting spans, then save (state_dir) or finish open
 * conversations. Workers must be stopped; observations go to shard 0. */
void am_assembly_shutdown(struct am_daemon *d);
void am_assembly_destroy(struct am_daemon *d);
struct am_derive_opts am_daemon_derive_opts(struct am_worker *w);

/* scrape.c: routes of the Prometheus listener. */
void am_scrape_routes(struct am_worker *w, struct am_router *r);

/* housekeeping.c: arm the once-a-second timer on worker 0's loop (traces
 * past trace_wait, idle conversations, quality windows). */
void am_housekeeping_start(struct am_worker *w0);
/* Main thread: queue the snapshot of every endpoint whose send_interval is
 * due (all of them when force). */
void am_housekeeping_snapshot(struct am_daemon *d, bool force);
/* Main thread: expire idle series and queue their stale markers. */
void am_housekeeping_expire(struct am_daemon *d);
/* Main thread, at most once a second: hand memory freed by a burst back to
 * the system (malloc_trim when malloc holds >= 8 MiB free). */
void am_housekeeping_release(struct am_daemon *d);

/* self.c: create d->self and register every collector. */
void am_daemon_self_register(struct am_daemon *d);

/* state.c: restore the conversations saved in state_dir, then remove the
 * file. Logs and goes on when there is none or it is bad. */
void am_state_load(struct am_daemon *d);
/* Save the open conversations to state_dir. Returns AM_OK, AM_ETOOBIG, or
 * AM_EIO (logged). */
int am_state_save(struct am_daemon *d, uint64_t now);

#endif
