/*
 * housekeeping.c - the daemon's periodic work (DESIGN.md 3). On worker 0's
 * loop, once a second: spans past trace_wait resolve, idle conversations
 * finish, the quality and escalation windows roll. On the main thread,
 * between signals: idle series expire (stale markers queued on every
 * remote_write endpoint) and each endpoint's snapshot is queued every
 * send_interval, so a slow disk never stalls ingest; memory a burst freed
 * is handed back to the system (malloc_trim), off the workers' loops.
 */
#include <string.h>

#include "am/alloc.h"
#include "am/clock.h"
#include "am/conv.h"
#include "am/err.h"
#include "am/log.h"
#include "am/memlimit.h"
#include "am/quality.h"
#include "am/self.h"
#include "am/trace_buf.h"

#include "daemon_int.h"

#define HOUSEKEEPING_NS (1000ull * 1000 * 1000)
#define AM_DAEMON_RELEASE_NS (1000ull * 1000 * 1000)
#define AM_DAEMON_RELEASE_MIN_FREE ((size_t)8 << 20)
/* Idle expiry runs at most this often (and at least 4 times per timeout). */
#define AM_DAEMON_EXPIRE_NS (1000ull * 1000 * 1000)

static void housekeeping(struct am_loop *loop, void *ud)
{
    struct am_worker *w = ud;
    struct am_daemon *d = w->d;
    uint64_t now = am_clock_mono(am_loop_clock(loop));
    struct am_derive_opts opts = am_daemon_derive_opts(w);
    am_trace_buf_tick(d->trace_buf, &opts, now, &w->sink);
    am_conv_tick(d->conv, now, &w->sink);
    am_quality_tick(d->quality, now, &w->sink);
    w->housekeeping_timer = am_loop_timer_add(loop, HOUSEKEEPING_NS, housekeeping, w);
}

void am_housekeeping_release(struct am_daemon *d)
{
    uint64_t now = am_clock_mono(am_clock_system());
    if (now < d->release_next_ns) {
        return;
    }
    d->release_next_ns = now + AM_DAEMON_RELEASE_NS;
    am_mem_release(AM_DAEMON_RELEASE_MIN_FREE);
}

void am_housekeeping_start(struct am_worker *w0)
{
    w0->housekeeping_timer = am_loop_timer_add(w0->loop, HOUSEKEEPING_NS, housekeeping, w0);
}

/* Every send_interval, each endpoint's snapshot goes to its disk queue; the
 * endpoint's own sender thread drains the queue. Runs on the main thread,
 * so a slow disk never stalls ingest. */
void am_housekeeping_snapshot(struct am_daemon *d, bool force)
{
    uint64_t now = am_clock_mono(am_clock_system());
    bool collected = false;
    for (size_t i = 0; i < d->rw_count; i++) {
        if (!force && now < d->rw_next_ns[i]) {
            continue;
        }
        if (!collected) {
            /* the self-metrics a scrape would see, whether or not one comes */
            am_self_collect(d->self, 0);
            collected = true;
        }
        d->rw_next_ns[i] = now + d->cfg.remote_write[i].send_interval_ns;
        int rc = am_rw_snapshot(d->rw[i], d->series);
        if (rc != 0) {
            AM_LOG_RL(AM_LOG_LEVEL_ERROR, "remote_write", "url=%s snapshot not queued: %s",
                      d->cfg.remote_write[i].url, am_strerror(rc));
        }
    }
}

/* Dropped series collected during one expiry pass: their views, with the
 * label values copied (the store frees its own when the callback returns). */
struct expired_batch {
    struct am_series_view *v;
    size_t n;
    size_t cap;
};

static void on_expired(void *ud, const struct am_series_view *v)
{
    struct expired_batch *b = ud;
    unsigned lc = am_family_get(v->metric)->label_count;
    size_t bytes = lc * sizeof(char *);
    for (unsigned i = 0; i < lc; i++) {
        bytes += strlen(v->label_values[i]) + 1;
    }
    char **copy = am_xmalloc(bytes ? bytes : 1);
    char *str = (char *)(copy + lc);
    for (unsigned i = 0; i < lc; i++) {
        size_t len = strlen(v->label_values[i]) + 1;
        memcpy(str, v->label_values[i], len);
        copy[i] = str;
        str += len;
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->v = am_xrealloc(b->v, b->cap * sizeof(*b->v));
    }
    /* the encoder reads metric, labels and the (store-lifetime) bounds */
    b->v[b->n++] = (struct am_series_view){.metric = v->metric,
                                           .label_values = (const char *const *)copy,
                                           .bounds = v->bounds,
                                           .bound_count = v->bound_count};
}

/* processors.genai.series_idle_timeout: every second (or a quarter of the
 * timeout when shorter), drop idle series and queue one stale marker per
 * sample series on every remote_write endpoint right away. Runs on the main
 * thread, like the snapshots, so the disk write never stalls ingest. */
void am_housekeeping_expire(struct am_daemon *d)
{
    uint64_t idle = d->cfg.series_idle_timeout_ns;
    uint64_t now = am_clock_mono(am_clock_system());
    if (idle == 0 || now < d->expire_next_ns) {
        return;
    }
    uint64_t period = idle / 4 < AM_DAEMON_EXPIRE_NS ? idle / 4 : AM_DAEMON_EXPIRE_NS;
    d->expire_next_ns = now + period;
    struct expired_batch b = {0};
    size_t n = am_series_expire(d->series, am_clock_wall(am_clock_system()), idle, on_expired, &b);
    for (size_t i = 0; i < d->rw_count && n > 0; i++) {
        int rc = am_rw_stale(d->rw[i], b.v, b.n);
        if (rc != 0) {
            AM_LOG_RL(AM_LOG_LEVEL_ERROR, "remote_write", "url=%s stale markers not queued: %s",
                      d->cfg.remote_write[i].url, am_strerror(rc));
        }
    }
    if (n > 0) {
        AM_LOG_DEBUG("daemon", "expired %zu idle series", n);
    }
    for (size_t i = 0; i < b.n; i++) {
        am_free((void *)b.v[i].label_values);
    }
    am_free(b.v);
}
