#ifndef AM_RW_H
#define AM_RW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/buf.h"
#include "am/clock.h"
#include "am/self.h"
#include "am/series.h"

/*
 * rw: the Prometheus remote_write 1.0 client (SPEC.md 5), in three layers.
 * rw_enc (sans-I/O) turns series views into snappy-compressed
 * prometheus.WriteRequest batches of at most max_samples_per_send samples.
 * rw_queue is one disk-backed FIFO per endpoint (append-only segments of
 * CRC-checked records, a persisted read cursor). am_rw ties them to one
 * libcurl sender thread per endpoint. am_rw_snapshot* run on the caller's
 * (timer) thread and never wait on the network; the stats are relaxed
 * atomics any thread may read. Design: docs/design/remote_write.md.
 */

/* ---- options (exporters.remote_write[], filled by config) ---- */

/* A name/value pair: an endpoint's HTTP header, or an external label. */
struct am_header_kv {
    char *name;
    char *value;
};

/* TLS towards the receiver. */
struct am_rw_tls_opts {
    char *ca_file; /* CA to verify the receiver; NULL: the system's */
    char *cert_file;
    char *key_file;
    bool insecure_skip_verify;
};

struct am_rw_opts {
    char *url;
    uint64_t send_interval_ns;
    struct am_header_kv *headers;
    size_t header_count;
    char *basic_auth_username;
    char *basic_auth_password_file;
    char *bearer_token_file;
    struct am_rw_tls_opts tls;
    uint64_t timeout_ns;
    char *queue_dir;
    uint64_t queue_max_bytes;
    uint32_t max_samples_per_send;
    uint64_t min_backoff_ns;
    uint64_t max_backoff_ns;
};

/* Whether name (any case) is a header every request sets (Content-Encoding,
 * Content-Type, X-Prometheus-Remote-Write-Version, User-Agent), which
 * exporters.remote_write[].headers may not name. */
bool am_rw_header_reserved(const char *name);

/* ---- encoder ---- */

struct am_rw_enc;

/* Called once per finished batch with the snappy block-compressed
 * WriteRequest; the bytes are valid only during the call. A nonzero return
 * aborts the encoding (it is returned by the am_rw_enc call that flushed). */
typedef int (*am_rw_enc_batch_cb)(void *ud, const void *data, size_t len, uint32_t samples);

/* External labels are copied; empty values are ignored. max_samples 0 means
 * 2000. Never NULL (allocation failure aborts). */
struct am_rw_enc *am_rw_enc_create(const struct am_header_kv *external_labels, size_t n_external,
                                   uint32_t max_samples);
void am_rw_enc_destroy(struct am_rw_enc *e);
/* Start a snapshot: every sample gets timestamp ts_ms. */
void am_rw_enc_begin(struct am_rw_enc *e, int64_t ts_ms, am_rw_enc_batch_cb cb, void *ud);
/* Add one series view (histograms expand to _bucket{le}, _sum, _count).
 * Returns AM_OK, AM_EINVAL for a bad metric id, or the callback's code. */
int am_rw_enc_add_view(struct am_rw_enc *e, const struct am_series_view *v);
/* Add stale markers (AM_RW_STALE_NAN) for every sample series of a dropped
 * series; only v->metric, label_values, bounds, bound_count are read. */
int am_rw_enc_stale(struct am_rw_enc *e, const struct am_series_view *v);
/* Flush the last partial batch. Returns AM_OK or the callback's code. */
int am_rw_enc_finish(struct am_rw_enc *e);

/* The Prometheus stale marker bit pattern. */
#define AM_RW_STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

/* ---- disk queue ---- */

struct am_rw_queue;

struct am_rw_queue_opts {
    const char *dir;        /* created if missing */
    uint64_t max_bytes;     /* 0 = unlimited */
    uint64_t segment_bytes; /* 0 = 64 MiB (capped to max_bytes / 4) */
};

struct am_rw_queue_counts {
    uint64_t records; /* unacknowledged */
    uint64_t bytes;   /* on disk, from the cursor on */
    uint64_t corrupt_records;
    uint64_t dropped_records; /* queue_full */
    uint64_t dropped_samples; /* queue_full */
    uint64_t cursor_writes;   /* commits that wrote the cursor file */
    uint64_t dir_syncs;       /* fsyncs of the queue directory */
};

/* Open or create the queue in opts->dir and recover (torn tails are cut and
 * counted). Returns AM_OK, or AM_EINVAL / AM_EIO / AM_ENOMEM (*why set). */
int am_rw_queue_open(const struct am_rw_queue_opts *opts, struct am_rw_queue **out,
                     const char **why);
void am_rw_queue_close(struct am_rw_queue *q);
/* Append one record (not yet durable; see am_rw_queue_sync). Past
 * max_bytes the oldest segments are dropped and counted. Thread-safe.
 * Returns AM_OK, AM_ETOOBIG if the record alone exceeds max_bytes (counted
 * as dropped), AM_EIO, or AM_ENOMEM (a new segment could not be tracked;
 * nothing was written). */
int am_rw_queue_append(struct am_rw_queue *q, const void *data, size_t len, uint32_t samples);
/* fdatasync the tail segment. Returns AM_OK or AM_EIO. */
int am_rw_queue_sync(struct am_rw_queue *q);
/* Copy the oldest unacknowledged record into out (reset first). Records
 * that cannot be read (bad checksum, read error, larger than out's cap) are
 * skipped and counted in corrupt_records. Returns AM_OK or AM_EAGAIN if
 * empty. */
int am_rw_queue_peek(struct am_rw_queue *q, struct am_buf *out, uint32_t *samples);
/* Acknowledge the record last peeked: advance the cursor in memory and
 * delete segments wholly consumed. Durable at the next am_rw_queue_commit
 * (a crash before it sends the records again). Returns AM_OK. */
int am_rw_queue_ack(struct am_rw_queue *q);
/* Persist the cursor if acks moved it: temporary file, fdatasync, rename,
 * directory fsync; the queue lock is not held meanwhile. Close commits too.
 * Returns AM_OK or AM_EIO (kept dirty, retried next time). */
int am_rw_queue_commit(struct am_rw_queue *q);
void am_rw_queue_counts(struct am_rw_queue *q, struct am_rw_queue_counts *out);

/* ---- one endpoint: queue + sender thread ---- */

struct am_rw;

/* Counters are atomics updated with relaxed ordering. */
struct am_rw_stats {
    const char *url;
    atomic_uint_fast64_t samples_sent;
    atomic_uint_fast64_t samples_failed;  /* non-retryable responses (any 4xx but 429) */
    atomic_uint_fast64_t samples_retried; /* per retry of a batch */
    atomic_uint_fast64_t samples_dropped_queue_full;
    atomic_uint_fast64_t samples_dropped_status[100]; /* reason="http_4NN": index code - 400 */
    atomic_uint_fast64_t requests_status[6];          /* by class: [0] transport error, [2] 2xx.. */
    atomic_uint_fast64_t queue_records;
    atomic_uint_fast64_t queue_bytes;
    atomic_uint_fast64_t queue_corrupt_records;
    atomic_uint_fast64_t last_send_timestamp_s; /* wall clock of the last 2xx */
};

/* Open or create the endpoint's queue (cfg->queue_dir, or ./data/wal/<host>
 * when NULL) and recover it. Copies what it keeps from cfg and the labels.
 * Returns NULL with *why set (and a log line) on failure. */
struct am_rw *am_rw_create(const struct am_rw_opts *cfg, const struct am_header_kv *external_labels,
                           size_t n_external, const struct am_clock *clock, const char **why);
/* Encode the whole store now (timestamp: the clock's wall time) and append
 * it to the queue, then fdatasync. Never waits on the network.
 * Returns AM_OK or AM_EIO. */
int am_rw_snapshot(struct am_rw *rw, struct am_series_store *store);
/* The same over any source that visits views like am_series_visit. */
typedef void (*am_rw_visit_fn)(void *src, am_series_visit_cb cb, void *ud);
int am_rw_snapshot_visit(struct am_rw *rw, am_rw_visit_fn visit, void *src);
/* Append stale markers for dropped series (views as for am_rw_enc_stale). */
int am_rw_stale(struct am_rw *rw, const struct am_series_view *views, size_t n);
/* Start the sender thread. */
void am_rw_start(struct am_rw *rw);
/* Drain the queue until it is empty or the monotonic deadline passes, then
 * stop the sender; what is unsent stays on disk. Idempotent. */
void am_rw_shutdown(struct am_rw *rw, uint64_t deadline_ns);
/* Shut down now (if still running) and free. NULL is a no-op. */
void am_rw_destroy(struct am_rw *rw);
const struct am_rw_stats *am_rw_stats(const struct am_rw *rw);
/* Collector (am/self.h) of one endpoint's agentmeter_remote_write_*; ud is
 * the struct am_rw. */
void am_rw_collect(void *ud, struct am_self_out *out);

#endif
