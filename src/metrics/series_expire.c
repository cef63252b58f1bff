/*
 * series_expire.c - idle expiry of the metric store (SPEC.md 4,
 * processors.genai.series_idle_timeout): series of span-derived families
 * that no worker shard has updated for idle_ns are removed from every map
 * (core/map: backward-shift deletion; sparse slot arrays shrink), give their
 * cap slot back, recycle their cells and free their entries. The two
 * phases and the lock order are described at am_series_expire and in
 * docs/design/metrics.md.
 */
#include <stdlib.h>
#include <string.h>

#include "am/alloc.h"
#include "am/series.h"
#include "series_int.h"

/* Candidates checked per round of shard locks in phase 1. */
#define EXPIRE_BLOCK 256

struct expire_item {
    struct series_entry *e;
    uint64_t newest; /* latest last_ns over the worker shards; 0 = no cell */
    unsigned rshard;
};

/* A removed series: the entry (now private to the caller) and its final
 * merged values. */
struct expire_drop {
    struct series_entry *e;
    double value;     /* counters and gauges: the value; histograms: the sum */
    uint64_t *counts; /* histograms: nb + 1 non-cumulative counts; else NULL */
};

static int is_idle(uint64_t newest, uint64_t now_ns, uint64_t idle_ns)
{
    return newest <= now_ns && now_ns - newest >= idle_ns;
}

/* Phase 1a: every expirable, non-overflow entry, one registry lock at a time. */
static struct expire_item *gather(struct am_series_store *s, size_t *n)
{
    size_t cap = 64;
    size_t k = 0;
    struct expire_item *it = am_xmalloc(cap * sizeof(*it));
    for (unsigned r = 0; r < SERIES_REG_SHARDS; r++) {
        struct series_rshard *rs = &s->reg[r];
        pthread_mutex_lock(&rs->mu);
        for (unsigned m = 0; series_is_expirable(m); m++) {
            for (struct series_entry *e = rs->head[m]; e != NULL; e = e->next) {
                if (e->overflow) {
                    continue;
                }
                if (k == cap) {
                    cap *= 2;
                    it = am_xrealloc(it, cap * sizeof(*it));
                }
                it[k].e = e;
                it[k].newest = 0;
                it[k].rshard = r;
                k++;
            }
        }
        pthread_mutex_unlock(&rs->mu);
    }
    *n = k;
    return it;
}

/* Phase 1b: the newest update of each item over the shards, one shard lock
 * per block, then keep only the idle ones. Returns how many are left. */
static size_t filter_idle(struct am_series_store *s, struct expire_item *it, size_t n,
                          uint64_t now_ns, uint64_t idle_ns)
{
    for (size_t i = 0; i < n; i += EXPIRE_BLOCK) {
        size_t end = n - i < EXPIRE_BLOCK ? n : i + EXPIRE_BLOCK;
        for (unsigned w = 0; w < s->nshards; w++) {
            struct series_wshard *ws = &s->shards[w];
            pthread_mutex_lock(&ws->mu);
            for (size_t j = i; j < end; j++) {
                const struct series_cell *c = series_map_cell_of(&ws->map, it[j].e);
                if (c != NULL && c->last_ns > it[j].newest) {
                    it[j].newest = c->last_ns;
                }
            }
            pthread_mutex_unlock(&ws->mu);
        }
    }
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (is_idle(it[j].newest, now_ns, idle_ns)) {
            it[k++] = it[j];
        }
    }
    return k;
}

static int item_rshard_cmp(const void *a, const void *b)
{
    const struct expire_item *x = a;
    const struct expire_item *y = b;
    return (x->rshard > y->rshard) - (x->rshard < y->rshard);
}

/*
 * Phase 2, one candidate (every worker shard and its registry shard held):
 * re-check it is still idle, merge its final values into d, take its cells
 * out of the shard maps into the shard free lists. Returns 1 if removed.
 */
static int drop_cells(struct am_series_store *s, struct series_entry *e, uint64_t now_ns,
                      uint64_t idle_ns, struct expire_drop *d)
{
    uint64_t newest = 0;
    for (unsigned w = 0; w < s->nshards; w++) {
        const struct series_cell *c = series_map_cell_of(&s->shards[w].map, e);
        if (c != NULL && c->last_ns > newest) {
            newest = c->last_ns;
        }
    }
    if (!is_idle(newest, now_ns, idle_ns)) {
        return 0; /* updated since phase 1 */
    }
    enum am_metric_type t = am_family_get(e->metric)->type;
    unsigned nb = s->nbounds[e->metric];
    d->e = e;
    d->value = e->value; /* gauges: the value; counters: the last SET; histograms: 0 */
    for (unsigned w = 0; w < s->nshards; w++) {
        struct series_wshard *ws = &s->shards[w];
        struct series_cell *c = series_map_cell_of(&ws->map, e);
        if (c == NULL) {
            continue;
        }
        if (t != AM_TYPE_GAUGE) {
            d->value += c->value;
        }
        for (unsigned b = 0; t == AM_TYPE_HISTOGRAM && b <= nb; b++) {
            d->counts[b] += c->counts[b];
        }
        series_map_remove(s, &ws->map, e->hash, c);
        if (c->ex != NULL) {
            series_free_push(&ws->free_ex[e->metric], c->ex);
        }
        series_free_push(&ws->free_cells[e->metric], c);
    }
    return 1;
}

/* Unlink the dead entries of the families marked in fams from rs's lists. */
static void unlink_dead(struct series_rshard *rs, const uint8_t *fams)
{
    for (unsigned m = 0; series_is_expirable(m); m++) {
        if (!fams[m]) {
            continue;
        }
        struct series_entry **pp = &rs->head[m];
        while (*pp != NULL) {
            if ((*pp)->dead) {
                *pp = (*pp)->next;
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

/* Phase 2 for the candidates it[0..n) of one registry shard; d[j] gets
 * item j's drop (d[j].e stays NULL when it was updated meanwhile). */
static size_t drop_run(struct am_series_store *s, const struct expire_item *it, size_t n,
                       uint64_t now_ns, uint64_t idle_ns, struct expire_drop *d)
{
    struct series_rshard *rs = &s->reg[it[0].rshard];
    uint8_t fams[AM_M_COUNT] = {0};
    size_t k = 0;
    pthread_mutex_lock(&rs->mu);
    for (size_t j = 0; j < n; j++) {
        struct series_entry *e = it[j].e;
        if (!drop_cells(s, e, now_ns, idle_ns, &d[j])) {
            continue;
        }
        e->dead = 1;
        fams[e->metric] = 1;
        series_map_remove(s, &rs->map, e->hash, e);
        atomic_fetch_sub(&s->fam_count[e->metric], 1);
        atomic_fetch_add_explicit(&s->expired[e->metric], 1, memory_order_relaxed);
        k++;
    }
    unlink_dead(rs, fams);
    pthread_mutex_unlock(&rs->mu);
    return k;
}

/* Count slots: give every candidate its histogram count array in one block. */
static uint64_t *drops_prepare(struct am_series_store *s, const struct expire_item *it, size_t n,
                               struct expire_drop *d)
{
    size_t total = 0;
    for (size_t j = 0; j < n; j++) {
        if (am_family_get(it[j].e->metric)->type == AM_TYPE_HISTOGRAM) {
            total += s->nbounds[it[j].e->metric] + 1u;
        }
    }
    uint64_t *counts = am_xcalloc(total ? total : 1, sizeof(*counts));
    size_t off = 0;
    for (size_t j = 0; j < n; j++) {
        d[j].counts = NULL;
        if (am_family_get(it[j].e->metric)->type == AM_TYPE_HISTOGRAM) {
            d[j].counts = counts + off;
            off += s->nbounds[it[j].e->metric] + 1u;
        }
    }
    return counts;
}

/*
 * Phase 2: with the store's life lock exclusive (no visit holds entry
 * pointers) and every worker shard locked in index order (no apply is
 * running), each registry shard in turn (it is sorted by registry shard).
 * The removed drops are compacted to the front of d.
 */
static size_t remove_all(struct am_series_store *s, const struct expire_item *it, size_t n,
                         uint64_t now_ns, uint64_t idle_ns, struct expire_drop *d)
{
    size_t removed = 0;
    pthread_rwlock_wrlock(&s->life);
    for (unsigned w = 0; w < s->nshards; w++) {
        pthread_mutex_lock(&s->shards[w].mu);
    }
    for (size_t i = 0; i < n;) {
        size_t end = i + 1;
        while (end < n && it[end].rshard == it[i].rshard) {
            end++;
        }
        removed += drop_run(s, it + i, end - i, now_ns, idle_ns, d + i);
        i = end;
    }
    for (unsigned w = s->nshards; w-- > 0;) {
        if (removed > 0) { /* cells left the maps: none may stay in a memo */
            memset(s->shards[w].memo, 0, sizeof(s->shards[w].memo));
        }
        pthread_mutex_unlock(&s->shards[w].mu);
    }
    pthread_rwlock_unlock(&s->life);
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (d[j].e != NULL) {
            d[k++] = d[j];
        }
    }
    return removed;
}

static int drop_cmp(const void *a, const void *b)
{
    const struct expire_drop *x = a;
    const struct expire_drop *y = b;
    if (x->e->metric != y->e->metric) {
        return x->e->metric < y->e->metric ? -1 : 1;
    }
    unsigned lc = am_family_get(x->e->metric)->label_count;
    for (unsigned i = 0; i < lc; i++) {
        int c = strcmp(x->e->values[i], y->e->values[i]);
        if (c != 0) {
            return c;
        }
    }
    return 0;
}

/* Hand each removed series to cb (no lock held), then free its entry. */
static void report_and_free(struct am_series_store *s, struct expire_drop *d, size_t n,
                            am_series_visit_cb cb, void *ud)
{
    if (n == 0) {
        return;
    }
    qsort(d, n, sizeof(*d), drop_cmp);
    for (size_t j = 0; j < n; j++) {
        struct series_entry *e = d[j].e;
        enum am_metric m = e->metric;
        struct am_series_view v = {
            .metric = m, .label_values = e->values, .created_ns = e->created_s * 1000000000ull};
        if (d[j].counts != NULL) {
            v.bounds = am_series_bounds(s, m, &v.bound_count);
            v.bucket_counts = d[j].counts;
            v.sum = d[j].value;
            for (unsigned b = 0; b <= v.bound_count; b++) {
                v.count += d[j].counts[b];
            }
        } else {
            v.value = d[j].value;
        }
        if (cb != NULL) {
            cb(ud, &v);
        }
        atomic_fetch_sub(&s->bytes, series_entry_size(e));
        am_free(e);
    }
}

size_t am_series_expire(struct am_series_store *s, uint64_t now_ns, uint64_t idle_ns,
                        am_series_visit_cb dropped, void *ud)
{
    if (idle_ns == 0) {
        return 0;
    }
    pthread_mutex_lock(&s->expire_mu);
    size_t n;
    struct expire_item *it = gather(s, &n);
    n = filter_idle(s, it, n, now_ns, idle_ns);
    size_t removed = 0;
    struct expire_drop *d = NULL;
    uint64_t *counts = NULL;
    if (n > 0) {
        qsort(it, n, sizeof(*it), item_rshard_cmp);
        d = am_xcalloc(n, sizeof(*d));
        counts = drops_prepare(s, it, n, d);
        removed = remove_all(s, it, n, now_ns, idle_ns, d);
    }
    pthread_mutex_unlock(&s->expire_mu);
    am_free(it);
    /* The removed entries are in no map and no list now: they are ours. */
    report_and_free(s, d, removed, dropped, ud);
    am_free(counts);
    am_free(d);
    return removed;
}
