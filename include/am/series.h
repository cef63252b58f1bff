#ifndef AM_SERIES_H
#define AM_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "am/obs.h"

/*
 * series: the metric store. Label sets are interned once, globally, in a
 * table sharded by hash (one mutex per shard) that is the single source of
 * truth for cardinality: past max_series_per_metric a new label set of a
 * family goes to that family's overflow series (every label "__overflow__")
 * and agentmeter_series_overflow_total{metric} grows. Values live in
 * per-worker shards: worker i applies a whole request's observations with
 * one uncontended lock of shard i; snapshots lock each shard in turn and
 * sum the shards. Label values are made valid UTF-8 and capped at
 * max_label_value_bytes (counted in
 * agentmeter_label_values_truncated_total{reason}).
 */

struct am_series_store;
struct am_clock;

/* The most recent observation that landed in a counter series or a
 * histogram bucket, with the span it came from (SPEC.md 2 Exemplars). */
struct am_exemplar {
    double value;     /* the increment (counters) or the observed value */
    uint64_t wall_ns; /* wall-clock time of am_series_apply; 0 = no exemplar */
    uint8_t trace_id[16];
    uint8_t span_id[8];
};

struct am_bucket_override {
    enum am_metric metric;
    unsigned count;
    double bounds[AM_MAX_BUCKETS]; /* strictly increasing, finite */
};

struct am_series_opts {
    unsigned shards;                          /* one per worker, >= 1 */
    size_t max_series_per_metric;             /* per family; 0 = unlimited */
    size_t max_label_value_bytes;             /* 0 = 256 */
    const struct am_bucket_override *buckets; /* per-family overrides */
    size_t bucket_count;
    const struct am_clock *clock; /* wall time for exemplars and _created; NULL = system */
};

struct am_series_store *am_series_create(const struct am_series_opts *opts);
void am_series_destroy(struct am_series_store *s);

/* Apply n observations on the shard of the calling worker. Label views are
 * copied (interned) as needed. The wall clock is read once per call; an
 * observation with has_exemplar replaces the exemplar of its counter series
 * or histogram bucket in this shard. Returns AM_OK, or AM_EINVAL if an
 * observation is malformed (negative counter increment, bad metric id). */
int am_series_apply(struct am_series_store *s, unsigned shard, const struct am_obs *obs, size_t n);

/* am_series_apply with the wall clock (ns, of the store's clock) read by the
 * caller, for a caller that applies many small batches for one request. */
int am_series_apply_at(struct am_series_store *s, unsigned shard, const struct am_obs *obs,
                       size_t n, uint64_t wall_ns);

/* A merged, read-only view of one series, handed to the visitor. */
struct am_series_view {
    enum am_metric metric;
    const char *const *label_values; /* family label_count entries, NUL-terminated */
    double value;                    /* counters and gauges */
    uint64_t count;                  /* histograms: observation count */
    double sum;                      /* histograms */
    const uint64_t *bucket_counts;   /* histograms: NON-cumulative per bound, then +Inf */
    const double *bounds;            /* histograms: the family's effective bounds */
    unsigned bound_count;
    uint64_t
        created_ns; /* wall time the series was first seen (whole seconds); 0 for synthesized */
    /* counters: one; histograms: per bound, then +Inf (the latest over the
     * shards). NULL when the series has none; a slot with wall_ns 0 is empty. */
    const struct am_exemplar *exemplars;
};

typedef void (*am_series_visit_cb)(void *ud, const struct am_series_view *v);

/* Visit every series of every family, families in enum order and series of
 * a family in a stable order (sorted by label values), with values summed
 * over the shards. Counters and gauges with no series are not visited.
 * Memory used during the visit is bounded by one family's series. */
void am_series_visit(struct am_series_store *s, am_series_visit_cb cb, void *ud);

/*
 * Idle expiry (processors.genai.series_idle_timeout). Removes every series
 * of the span-derived families (agent_*, model_*, gen_ai_*: enum order up
 * to the first self-metric; never self-metrics, process_* or a family's
 * overflow series) whose newest update on any shard -- the wall_ns of the
 * last am_series_apply(_at) that touched it -- is at least idle_ns before
 * now_ns (same clock). A removed series gives its max_series_per_metric
 * slot back; a later observation of its label set starts from zero. It is
 * counted in agentmeter_series_expired_total{metric}. dropped (may be
 * NULL) is called once per removed series with its final merged view
 * (exemplars NULL), families in enum order and labels sorted, after every
 * store lock is released; the view's strings are freed when it returns.
 * Locks: one expiry at a time; phase 1 takes registry and worker shards
 * one at a time; phase 2 (only when something is idle) takes the visit
 * lock exclusively, then every worker shard in index order, then each
 * registry shard in turn -- apply takes its worker shard then a registry
 * shard, so the order is consistent. Must not be called from a visit
 * callback. idle_ns 0 does nothing. Returns the number removed.
 */
size_t am_series_expire(struct am_series_store *s, uint64_t now_ns, uint64_t idle_ns,
                        am_series_visit_cb dropped, void *ud);

/* Reload: new bucket bounds for a histogram family that has no series yet
 * (existing series keep theirs, so no series is lost or re-bucketed).
 * Returns AM_OK, AM_EAGAIN when the family already has series, or
 * AM_EINVAL for a non-histogram family or bounds that are not finite and
 * strictly increasing. Thread-safe against concurrent am_series_apply. */
int am_series_set_buckets(struct am_series_store *s, const struct am_bucket_override *b);

/* Number of distinct label sets of metric m (the overflow series included). */
size_t am_series_count(struct am_series_store *s, enum am_metric m);

/* Heap bytes the store holds, by its own accounting (maps, interned label
 * sets, value cells, shard scratch); allocator overhead not included. */
size_t am_series_bytes(struct am_series_store *s);

/* The effective bucket bounds of a histogram family. */
const double *am_series_bounds(struct am_series_store *s, enum am_metric m, unsigned *count);

#endif
