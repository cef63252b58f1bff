/*
 * series_visit.c - merged, sorted snapshots of the store (am_series_visit)
 * and the four self-metric families the store is the source of. A family's
 * entries are gathered from the registry, sorted by label values, then
 * summed over the worker shards in blocks so no shard lock is held for long
 * and no lock is held while the visitor runs.
 */
#include <stdlib.h>
#include <string.h>

#include "am/alloc.h"
#include "am/series.h"
#include "series_int.h"

/* Series merged per round of shard locks: bounds each lock hold time. */
#define VISIT_BLOCK 256

struct visit_item {
    const struct series_entry *e;
    double base; /* gauges: value; counters: last SET (0 when none) */
};

static int item_cmp(const void *a, const void *b)
{
    const struct visit_item *x = a;
    const struct visit_item *y = b;
    unsigned lc = am_family_get(x->e->metric)->label_count;
    for (unsigned i = 0; i < lc; i++) {
        int c = strcmp(x->e->values[i], y->e->values[i]);
        if (c != 0) {
            return c;
        }
    }
    return 0;
}

/* The entries of m with their registry-held values. *n gets the count. */
static struct visit_item *collect(struct am_series_store *s, enum am_metric m, size_t *n)
{
    size_t cap = 64;
    size_t k = 0;
    struct visit_item *items = am_xmalloc(cap * sizeof(*items));
    for (unsigned r = 0; r < SERIES_REG_SHARDS; r++) {
        struct series_rshard *rs = &s->reg[r];
        pthread_mutex_lock(&rs->mu);
        for (const struct series_entry *e = rs->head[m]; e != NULL; e = e->next) {
            if (k == cap) {
                cap *= 2;
                items = am_xrealloc(items, cap * sizeof(*items));
            }
            items[k].e = e;
            items[k].base = e->value;
            k++;
        }
        pthread_mutex_unlock(&rs->mu);
    }
    qsort(items, k, sizeof(*items), item_cmp);
    *n = k;
    return items;
}

struct visit_acc {
    double value[VISIT_BLOCK];
    uint64_t counts[VISIT_BLOCK][AM_MAX_BUCKETS + 1];
    uint8_t has_ex[VISIT_BLOCK];
    struct am_exemplar ex[VISIT_BLOCK][AM_MAX_BUCKETS + 1];
};

/* Keep, slot by slot, the later of two shards' exemplars (n slots). */
static void merge_exemplars(struct am_exemplar *into, const struct am_exemplar *from, unsigned n)
{
    for (unsigned b = 0; b < n; b++) {
        if (from[b].wall_ns > into[b].wall_ns) {
            into[b] = from[b];
        }
    }
}

/* Sum the shard cells of items[0..k) into acc, one lock per shard. */
static void merge_block(struct am_series_store *s, const struct visit_item *items, size_t k,
                        unsigned nb, struct visit_acc *acc)
{
    for (size_t j = 0; j < k; j++) {
        acc->value[j] = items[j].base;
        acc->has_ex[j] = 0;
        memset(acc->counts[j], 0, (nb + 1) * sizeof(uint64_t));
    }
    unsigned nex = nb + 1; /* nb is 0 for counters */
    enum am_metric_type t = am_family_get(items[0].e->metric)->type;
    if (t == AM_TYPE_GAUGE) {
        return;
    }
    for (unsigned w = 0; w < s->nshards; w++) {
        struct series_wshard *ws = &s->shards[w];
        pthread_mutex_lock(&ws->mu);
        for (size_t j = 0; j < k; j++) {
            const struct series_cell *c = series_map_cell_of(&ws->map, items[j].e);
            if (c == NULL) {
                continue;
            }
            acc->value[j] += c->value;
            if (c->ex != NULL) {
                if (!acc->has_ex[j]) {
                    memset(acc->ex[j], 0, nex * sizeof(struct am_exemplar));
                    acc->has_ex[j] = 1;
                }
                merge_exemplars(acc->ex[j], c->ex, nex);
            }
            for (unsigned b = 0; t == AM_TYPE_HISTOGRAM && b <= nb; b++) {
                acc->counts[j][b] += c->counts[b];
            }
        }
        pthread_mutex_unlock(&ws->mu);
    }
}

static void emit_block(struct am_series_store *s, const struct visit_item *items, size_t k,
                       const struct visit_acc *acc, am_series_visit_cb cb, void *ud)
{
    enum am_metric m = items[0].e->metric;
    for (size_t j = 0; j < k; j++) {
        struct am_series_view v = {.metric = m,
                                   .label_values = items[j].e->values,
                                   .created_ns = items[j].e->created_s * 1000000000ull,
                                   .exemplars = acc->has_ex[j] ? acc->ex[j] : NULL};
        if (am_family_get(m)->type == AM_TYPE_HISTOGRAM) {
            v.bounds = am_series_bounds(s, m, &v.bound_count);
            v.bucket_counts = acc->counts[j];
            v.sum = acc->value[j];
            for (unsigned b = 0; b <= v.bound_count; b++) {
                v.count += acc->counts[j][b];
            }
        } else {
            v.value = acc->value[j];
        }
        cb(ud, &v);
    }
}

static void visit_family(struct am_series_store *s, enum am_metric m, am_series_visit_cb cb,
                         void *ud, struct visit_acc *acc)
{
    size_t n;
    struct visit_item *items = collect(s, m, &n);
    unsigned nb = s->nbounds[m];
    for (size_t i = 0; i < n; i += VISIT_BLOCK) {
        size_t k = n - i < VISIT_BLOCK ? n - i : VISIT_BLOCK;
        merge_block(s, items + i, k, nb, acc);
        emit_block(s, items + i, k, acc, cb, ud);
    }
    am_free(items);
}

static int name_cmp(const void *a, const void *b)
{
    const enum am_metric *x = a;
    const enum am_metric *y = b;
    return strcmp(am_family_get(*x)->name, am_family_get(*y)->name);
}

static uint64_t overflow_sum(struct am_series_store *s, enum am_metric m)
{
    uint64_t n = 0;
    for (unsigned w = 0; w < s->nshards; w++) {
        pthread_mutex_lock(&s->shards[w].mu);
        n += s->shards[w].overflow[m];
        pthread_mutex_unlock(&s->shards[w].mu);
    }
    return n;
}

static uint64_t truncated_sum(struct am_series_store *s, unsigned reason)
{
    uint64_t n = 0;
    for (unsigned w = 0; w < s->nshards; w++) {
        pthread_mutex_lock(&s->shards[w].mu);
        n += s->shards[w].truncated[reason];
        pthread_mutex_unlock(&s->shards[w].mu);
    }
    return n;
}

/* Value of the synthesized series of family `self` about family m (0 = none). */
static double synth_value(struct am_series_store *s, enum am_metric self, enum am_metric m)
{
    if (self == AM_M_SELF_SERIES_ACTIVE) {
        return (double)am_series_count(s, m);
    }
    if (self == AM_M_SELF_SERIES_EXPIRED_TOTAL) {
        return (double)atomic_load_explicit(&s->expired[m], memory_order_relaxed);
    }
    return (double)overflow_sum(s, m);
}

/* Visit (or, with cb NULL, count) the synthesized series of family self. */
static size_t visit_synth(struct am_series_store *s, enum am_metric self, am_series_visit_cb cb,
                          void *ud)
{
    static const char *const reasons[SERIES_TRUNC_COUNT] = {"invalid_utf8", "too_long"};
    size_t visited = 0;
    if (self == AM_M_SELF_LABEL_VALUES_TRUNCATED_TOTAL) {
        for (unsigned r = 0; r < SERIES_TRUNC_COUNT; r++) {
            uint64_t n = truncated_sum(s, r);
            struct am_series_view v = {
                .metric = self, .label_values = &reasons[r], .value = (double)n};
            if (n > 0 && cb != NULL) {
                cb(ud, &v);
            }
            visited += n > 0;
        }
        return visited;
    }
    enum am_metric order[AM_M_COUNT];
    for (unsigned m = 0; m < AM_M_COUNT; m++) {
        order[m] = (enum am_metric)m;
    }
    qsort(order, AM_M_COUNT, sizeof(order[0]), name_cmp);
    for (unsigned i = 0; i < AM_M_COUNT; i++) {
        if (series_is_synth(order[i])) {
            continue;
        }
        double val = synth_value(s, self, order[i]);
        const char *name = am_family_get(order[i])->name;
        struct am_series_view v = {.metric = self, .label_values = &name, .value = val};
        if (val > 0 && cb != NULL) {
            cb(ud, &v);
        }
        visited += val > 0;
    }
    return visited;
}

void am_series_visit(struct am_series_store *s, am_series_visit_cb cb, void *ud)
{
    struct visit_acc *acc = am_xmalloc(sizeof(*acc));
    pthread_rwlock_rdlock(&s->life); /* no entry is freed while we hold pointers */
    for (unsigned m = 0; m < AM_M_COUNT; m++) {
        if (series_is_synth(m)) {
            visit_synth(s, m, cb, ud);
        } else {
            visit_family(s, m, cb, ud, acc);
        }
    }
    pthread_rwlock_unlock(&s->life);
    am_free(acc);
}

size_t am_series_count(struct am_series_store *s, enum am_metric m)
{
    if ((unsigned)m >= AM_M_COUNT) {
        return 0;
    }
    if (series_is_synth(m)) {
        return visit_synth(s, m, NULL, NULL);
    }
    const struct series_entry *o = atomic_load(&s->overflow_entry[m]);
    return atomic_load(&s->fam_count[m]) + (o != NULL && o->overflow);
}
