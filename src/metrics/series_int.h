/*
 * series_int.h - the layout of the metric store, shared by series.c (create,
 * apply, the label-set registry) and series_visit.c (merged snapshots).
 * Nothing here is public: include/am/series.h is the contract and
 * docs/design/metrics.md the reasoning.
 */
#ifndef AM_SERIES_INT_H
#define AM_SERIES_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "am/map.h"
#include "am/series.h"

/* Registry shards: top bits of the label-set hash pick one. */
#define SERIES_REG_BITS 6
#define SERIES_REG_SHARDS (1u << SERIES_REG_BITS)

/* Slots of a worker shard's memo (recently resolved cells), a power of 2. */
#define SERIES_MEMO_SLOTS 512u

enum series_trunc_reason { SERIES_TRUNC_INVALID_UTF8, SERIES_TRUNC_TOO_LONG, SERIES_TRUNC_COUNT };

/* Bump allocator for memory that lives as long as the store. */
struct series_chunk {
    struct series_chunk *next;
    size_t used;
    size_t cap;
    unsigned char data[];
};

struct series_pool {
    struct series_chunk *head;
    size_t next_cap;
};

/*
 * One interned label set (a series identity), owned by a registry shard and
 * allocated on its own (am_try_malloc) so idle expiry can free it.
 * Everything but value/has_set/dead is immutable once published;
 * value/has_set change only under the owning registry shard's mutex, dead
 * only in am_series_expire with every lock held.
 */
struct series_entry {
    uint64_t hash;
    struct series_entry *next; /* same family, same registry shard */
    double value;              /* gauges: the value; counters: the last SET */
    uint8_t metric;
    uint8_t dead;     /* being removed by am_series_expire */
    uint8_t overflow; /* the family's "__overflow__" series */
    uint8_t has_set;
    uint32_t created_s;   /* wall clock at interning, seconds (fits the padding) */
    const char *values[]; /* family label_count, NUL-terminated, no NUL inside; each
                           * preceded by its length (series_value_len) */
};

/* Length of e's value i, stored in the 4 bytes before it: a lookup compares
 * it before any byte, so a longer key never reads past the stored value. */
static inline size_t series_value_len(const struct series_entry *e, unsigned i)
{
    uint32_t n;
    memcpy(&n, e->values[i] - sizeof(n), sizeof(n));
    return n;
}

_Static_assert(AM_M_COUNT <= 255, "series_entry.metric is 8 bits");

/* A worker shard's value cell for one series. */
struct series_cell {
    const struct series_entry *entry;
    double value;           /* counters: sum of increments; histograms: sum */
    struct am_exemplar *ex; /* NULL until the first exemplar; then 1 (counters) or nb + 1 */
    uint64_t last_ns;       /* wall clock of the last apply that touched it (idle expiry) */
    uint64_t counts[];      /* histograms: per bound, then +Inf (non-cumulative) */
};

/* A recycled cell or exemplar array (pool memory is never freed singly:
 * expired cells go to per-family free lists of their worker shard, where
 * every block has the family's size). */
struct series_free {
    struct series_free *next;
};

static inline void series_free_push(struct series_free **head, void *p)
{
    struct series_free *f = p;
    f->next = *head;
    *head = f;
}

static inline void *series_free_pop(struct series_free **head)
{
    struct series_free *f = *head;
    if (f != NULL) {
        *head = f->next;
    }
    return f;
}

struct series_rshard {
    pthread_mutex_t mu;
    struct am_map map; /* label set -> series_entry */
    struct series_entry *head[AM_M_COUNT];
    char pad_[64]; /* keep neighbouring shards' hot fields off this cache line */
};

struct series_wshard {
    pthread_mutex_t mu;
    struct am_map map; /* label set or entry -> series_cell */
    struct series_pool pool;
    uint64_t overflow[AM_M_COUNT];
    uint64_t truncated[SERIES_TRUNC_COUNT];
    struct series_free *free_cells[AM_M_COUNT]; /* expired cells, by family */
    struct series_free *free_ex[AM_M_COUNT];    /* their exemplar arrays */
    char *scratch;   /* AM_MAX_LABELS * max_value_bytes, for repaired values */
    uint64_t now_ns; /* wall clock of the am_series_apply in progress */
    /* Cells recently found in map, by a cheap fingerprint of the label set
     * (series.c memo_slot); a hit is checked against the cell's entry like
     * a map hit, so a collision costs a map lookup, never a wrong cell.
     * Cleared (under mu) whenever a cell leaves map. */
    struct series_cell *memo[SERIES_MEMO_SLOTS];
    char pad_[64]; /* keep neighbouring shards' hot fields off this cache line */
};

struct am_series_store {
    unsigned nshards;
    size_t max_series;
    size_t max_value_bytes;
    uint64_t hash_seed; /* drawn from am_map_hash: per process, never output */
    unsigned nbounds[AM_M_COUNT];
    double bounds[AM_M_COUNT][AM_MAX_BUCKETS];
    atomic_size_t fam_count[AM_M_COUNT]; /* regular label sets per family */
    /* FAM_OPEN until a family's first label set is interned, then
     * FAM_FROZEN for good: its bounds never change once a cell may use
     * them. am_series_set_buckets holds FAM_UPDATING while it writes. */
    atomic_int fam_state[AM_M_COUNT];
    _Atomic(struct series_entry *) overflow_entry[AM_M_COUNT];
    atomic_size_t bytes;
    const struct am_clock *clock;
    /* Idle expiry. expire_mu: one am_series_expire at a time (only it frees
     * entries). life: visits hold it shared for their whole run (they keep
     * entry pointers without a lock); expiry takes it exclusively while it
     * unlinks, so a removed entry is never seen by a visit. */
    pthread_mutex_t expire_mu;
    pthread_rwlock_t life;
    atomic_uint_fast64_t expired[AM_M_COUNT];
    struct series_rshard reg[SERIES_REG_SHARDS];
    struct series_wshard *shards;
};

/* The families whose series the store synthesizes rather than stores. */
static inline int series_is_synth(enum am_metric m)
{
    return m == AM_M_SELF_SERIES_ACTIVE || m == AM_M_SELF_SERIES_OVERFLOW_TOTAL ||
           m == AM_M_SELF_SERIES_EXPIRED_TOTAL || m == AM_M_SELF_LABEL_VALUES_TRUNCATED_TOTAL;
}

/* The families idle expiry may drop: those derived from spans (enum order
 * up to the first self-metric). Self-metrics and process_* are SET by the
 * daemon from their sources and must not flap. */
static inline int series_is_expirable(enum am_metric m)
{
    return (unsigned)m < (unsigned)AM_M_SELF_RECEIVER_REQUESTS_TOTAL;
}

/* Heap bytes of entry e (its values included), as accounted in bytes. */
size_t series_entry_size(const struct series_entry *e);

/* Find the shard cell of entry e (pointer identity), or NULL. */
struct series_cell *series_map_cell_of(const struct am_map *mp, const struct series_entry *e);

/* Remove ptr (an entry or a cell) stored under hash from mp, keeping the
 * store's byte count in step with the slot array (which may shrink). */
void series_map_remove(struct am_series_store *s, struct am_map *mp, uint64_t hash,
                       const void *ptr);

/* Does e hold label set v[0..lc) of family m? Lengths are compared before
 * bytes. Exposed for the unit tests (a 64-bit hash collision cannot be
 * forced through the public API any more). */
bool series_entry_matches(const struct series_entry *e, uint32_t m, const struct am_str *v,
                          unsigned lc);

/* The label-set hash: XXH3 over each value in turn, seeded from the store's
 * per-process seed. Exposed for the unit tests. */
uint64_t series_labels_hash(const struct am_series_store *s, uint32_t m, const struct am_str *v,
                            unsigned lc);

#endif
