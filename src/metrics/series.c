/*
 * series.c - the metric store: creation, the sharded label-set registry and
 * the ingest path (am_series_apply). Invariants: a label set is interned once
 * in the registry, which alone decides cardinality (max_series_per_metric);
 * worker shards only cache entry -> cell and hold additive values; gauge
 * values and counter SETs live in the registry entry. See
 * docs/design/metrics.md and SPEC.md 2, 4 (max_series_per_metric).
 */
#include <math.h>
#include <string.h>

#include "am/alloc.h"
#include "am/clock.h"
#include "am/err.h"
#include "am/map.h"
#include "am/series.h"
#include "am/str.h"
#include "series_int.h"

/* XXH3 inline: the label-set hash runs for every observation. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#define POOL_FIRST_CHUNK 4096
#define POOL_MAX_CHUNK 65536
#define DEFAULT_VALUE_BYTES 256
#define OVERFLOW_VALUE "__overflow__"

static void *pool_alloc(struct am_series_store *s, struct series_pool *p, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    struct series_chunk *c = p->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = p->next_cap ? p->next_cap : POOL_FIRST_CHUNK;
        if (cap < n) {
            cap = n;
        }
        c = am_try_malloc(sizeof(*c) + cap);
        if (c == NULL) {
            return NULL;
        }
        atomic_fetch_add(&s->bytes, sizeof(*c) + cap);
        c->next = p->head;
        c->used = 0;
        c->cap = cap;
        p->head = c;
        p->next_cap = cap * 2 > POOL_MAX_CHUNK ? POOL_MAX_CHUNK : cap * 2;
    }
    void *r = c->data + c->used;
    c->used += n;
    return r;
}

static void pool_fini(struct series_pool *p)
{
    struct series_chunk *c = p->head;
    while (c != NULL) {
        struct series_chunk *next = c->next;
        am_free(c);
        c = next;
    }
    p->head = NULL;
}

/* The store's bytes follow each slot array's size: call after anything that
 * may resize mp, with its capacity from before. */
static void map_account(struct am_series_store *s, const struct am_map *mp, size_t cap_before)
{
    if (mp->cap > cap_before) {
        atomic_fetch_add(&s->bytes, (mp->cap - cap_before) * sizeof(struct am_map_slot));
    } else if (mp->cap < cap_before) {
        atomic_fetch_sub(&s->bytes, (cap_before - mp->cap) * sizeof(struct am_map_slot));
    }
}

/* Make room for one more value, so the insert that follows cannot fail.
 * Returns AM_OK or AM_ENOMEM. */
static int map_room(struct am_series_store *s, struct am_map *mp)
{
    size_t cap = mp->cap;
    int rc = am_map_reserve(mp, am_map_count(mp) + 1);
    map_account(s, mp, cap);
    return rc;
}

void series_map_remove(struct am_series_store *s, struct am_map *mp, uint64_t hash, const void *ptr)
{
    size_t cap = mp->cap;
    am_map_remove_value(mp, hash, ptr);
    map_account(s, mp, cap);
}

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

static inline uint32_t load32(const unsigned char *p)
{
    uint32_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

/* a[0..n) == b[0..n), inline: label values are short, a libc call is not. */
static inline int bytes_eq(const unsigned char *a, const unsigned char *b, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
            if (load64(a + i) != load64(b + i)) {
                return 0;
            }
        }
        return load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4) {
        return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    }
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

static inline bool entry_matches(const struct series_entry *e, uint32_t m, const struct am_str *v,
                                 unsigned lc)
{
    if (e->metric != m) {
        return false;
    }
    for (unsigned i = 0; i < lc; i++) {
        if (series_value_len(e, i) != v[i].len ||
            !bytes_eq((const unsigned char *)e->values[i], (const unsigned char *)v[i].ptr,
                      v[i].len)) {
            return false;
        }
    }
    return true;
}

bool series_entry_matches(const struct series_entry *e, uint32_t m, const struct am_str *v,
                          unsigned lc)
{
    return entry_matches(e, m, v, lc);
}

/*
 * What the store's maps are looked up by: a label set, or (worker shards
 * only) the registry entry a cell belongs to, by pointer identity.
 */
struct series_key {
    const struct series_entry *entry; /* non-NULL: the cell of this entry */
    const struct am_str *v;
    uint32_t metric;
    unsigned lc;
};

static inline bool entry_eq(const void *value, const void *key)
{
    const struct series_key *k = key;
    return entry_matches(value, k->metric, k->v, k->lc);
}

static inline bool cell_eq(const void *value, const void *key)
{
    const struct series_key *k = key;
    const struct series_entry *e = ((const struct series_cell *)value)->entry;
    return k->entry != NULL ? e == k->entry : entry_matches(e, k->metric, k->v, k->lc);
}

/* The map's own callbacks (am_map_get/remove); the hot path inlines the above. */
static bool reg_ops_eq(const void *value, const void *key, size_t key_len, void *ctx)
{
    (void)key_len;
    (void)ctx;
    return entry_eq(value, key);
}

static bool cell_ops_eq(const void *value, const void *key, size_t key_len, void *ctx)
{
    (void)key_len;
    (void)ctx;
    return cell_eq(value, key);
}

static const struct am_map_ops reg_ops = {.eq = reg_ops_eq};
static const struct am_map_ops cell_ops = {.eq = cell_ops_eq};

/* The registry entry (via_cell 0) or shard cell (1) holding the label set, or NULL. */
static inline void *map_find(const struct am_map *mp, uint64_t hash, uint32_t m,
                             const struct am_str *v, unsigned lc, int via_cell)
{
    struct series_key k = {.entry = NULL, .v = v, .metric = m, .lc = lc};
    return am_map_find(mp, hash, via_cell ? cell_eq : entry_eq, &k);
}

struct series_cell *series_map_cell_of(const struct am_map *mp, const struct series_entry *e)
{
    struct series_key k = {.entry = e, .v = NULL, .metric = e->metric, .lc = 0};
    return am_map_find(mp, e->hash, cell_eq, &k);
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid or NUL. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80) {
        return c != 0;
    }
    size_t len;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return len;
}

static int utf8_clean(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (p[i] != 0 && p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0) {
            return 0;
        }
        i += k;
    }
    return 1;
}

/*
 * Make *v valid UTF-8 with no NUL and at most max bytes. A repaired value is
 * written to out (max bytes) and *v pointed at it. Every invalid byte (and
 * NUL, which the NUL-terminated interned copy cannot hold) becomes U+FFFD;
 * truncation stops at a character boundary. Returns a bit per reason.
 */
static unsigned label_sanitize(struct am_str *v, size_t max, char *out)
{
    const unsigned char *p = (const unsigned char *)v->ptr;
    if (v->len <= max && utf8_clean(p, v->len)) {
        return 0;
    }
    unsigned why = 0;
    size_t o = 0;
    for (size_t i = 0; i < v->len;) {
        size_t k = utf8_seq(p + i, v->len - i);
        const char *src = (const char *)p + i;
        size_t outk = k;
        if (k == 0) {
            why |= 1u << SERIES_TRUNC_INVALID_UTF8;
            src = "\xEF\xBF\xBD";
            outk = 3;
            k = 1;
        }
        if (o + outk > max) {
            why |= 1u << SERIES_TRUNC_TOO_LONG;
            break;
        }
        memcpy(out + o, src, outk);
        o += outk;
        i += k;
    }
    v->ptr = out;
    v->len = o;
    return why;
}

/*
 * The label-set hash: XXH3 over each value in turn, each seeded with the
 * hash so far (XXH3 mixes the length in, so value boundaries count), the
 * first with the store's seed plus the family. The store's seed comes from
 * am_map_hash, so it differs per process and a peer cannot choose values
 * that collide (STYLE.md 5.5). The top bits pick the registry shard, the
 * low bits the slot. Never stored outside the process.
 */
static inline uint64_t labels_hash(uint64_t seed, uint32_t m, const struct am_str *v, unsigned lc)
{
    uint64_t h = seed + m;
    for (unsigned i = 0; i < lc; i++) {
        h = XXH3_64bits_withSeed(v[i].ptr, v[i].len, h);
    }
    return h;
}

uint64_t series_labels_hash(const struct am_series_store *s, uint32_t m, const struct am_str *v,
                            unsigned lc)
{
    return labels_hash(s->hash_seed, m, v, lc);
}

size_t series_entry_size(const struct series_entry *e)
{
    unsigned lc = am_family_get(e->metric)->label_count;
    size_t n = sizeof(struct series_entry) + lc * sizeof(char *);
    for (unsigned i = 0; i < lc; i++) {
        n += sizeof(uint32_t) + series_value_len(e, i) + 1;
    }
    return n;
}

/* Allocate and fill an entry (freed by expiry or destroy); NULL on
 * allocation failure. */
static struct series_entry *entry_new(struct am_series_store *s, uint64_t hash, uint32_t m,
                                      const struct am_str *v, unsigned lc)
{
    size_t n = sizeof(struct series_entry) + lc * sizeof(char *);
    for (unsigned i = 0; i < lc; i++) {
        n += sizeof(uint32_t) + v[i].len + 1;
    }
    struct series_entry *e = am_try_malloc(n);
    if (e == NULL) {
        return NULL;
    }
    atomic_fetch_add(&s->bytes, n);
    char *str = (char *)&e->values[lc];
    for (unsigned i = 0; i < lc; i++) {
        uint32_t len = (uint32_t)v[i].len; /* <= max_value_bytes */
        memcpy(str, &len, sizeof(len));
        str += sizeof(len);
        if (v[i].len > 0) {
            memcpy(str, v[i].ptr, v[i].len);
        }
        str[v[i].len] = '\0';
        e->values[i] = str;
        str += v[i].len + 1;
    }
    e->hash = hash;
    e->value = 0;
    e->metric = (uint8_t)m;
    e->dead = 0;
    e->overflow = 0;
    e->has_set = 0;
    return e;
}

static int bounds_valid(const struct am_bucket_override *b)
{
    if ((unsigned)b->metric >= AM_M_COUNT || b->count > AM_MAX_BUCKETS ||
        am_family_get(b->metric)->type != AM_TYPE_HISTOGRAM) {
        return 0;
    }
    for (unsigned i = 0; i < b->count; i++) {
        if (!isfinite(b->bounds[i]) || (i > 0 && !(b->bounds[i] > b->bounds[i - 1]))) {
            return 0;
        }
    }
    return 1;
}

enum { FAM_OPEN = 0, FAM_FROZEN = 1, FAM_UPDATING = 2 };

/* Before family m's first label set exists: no bounds change after this. */
static void family_freeze(struct am_series_store *s, uint32_t m)
{
    for (;;) {
        int st = atomic_load(&s->fam_state[m]);
        if (st == FAM_FROZEN) {
            return;
        }
        if (st == FAM_OPEN && atomic_compare_exchange_weak(&s->fam_state[m], &st, FAM_FROZEN)) {
            return;
        }
        /* FAM_UPDATING: a reload is copying at most 32 doubles */
    }
}

int am_series_set_buckets(struct am_series_store *s, const struct am_bucket_override *b)
{
    if (!bounds_valid(b)) {
        return AM_EINVAL;
    }
    int open = FAM_OPEN;
    if (!atomic_compare_exchange_strong(&s->fam_state[b->metric], &open, FAM_UPDATING)) {
        return AM_EAGAIN; /* series exist: their buckets stay */
    }
    s->nbounds[b->metric] = b->count;
    memcpy(s->bounds[b->metric], b->bounds, b->count * sizeof(double));
    atomic_store(&s->fam_state[b->metric], FAM_OPEN);
    return AM_OK;
}

/* Take one of family m's max_series slots; 0 when the cap is reached. */
static int cap_take(struct am_series_store *s, uint32_t m)
{
    if (s->max_series == 0) {
        atomic_fetch_add(&s->fam_count[m], 1);
        return 1;
    }
    size_t c = atomic_load(&s->fam_count[m]);
    while (c < s->max_series) {
        if (atomic_compare_exchange_weak(&s->fam_count[m], &c, c + 1)) {
            return 1;
        }
    }
    return 0;
}

/*
 * Find or intern the (sanitized) label set in the registry. as_overflow
 * creates the family's overflow series without taking a cap slot. Returns
 * the entry, NULL with *capped set when the family is full, or NULL on
 * allocation failure.
 */
static struct series_entry *reg_intern(struct am_series_store *s, uint64_t hash, uint32_t m,
                                       const struct am_str *v, int as_overflow, int *capped,
                                       uint64_t now_ns)
{
    unsigned lc = am_family_get(m)->label_count;
    struct series_rshard *rs = &s->reg[hash >> (64 - SERIES_REG_BITS)];
    pthread_mutex_lock(&rs->mu);
    struct series_entry *e = map_find(&rs->map, hash, m, v, lc, 0);
    if (e != NULL) {
        goto out;
    }
    if (map_room(s, &rs->map) != AM_OK) {
        goto out;
    }
    if (!as_overflow && !cap_take(s, m)) {
        *capped = 1;
        goto out;
    }
    family_freeze(s, m);
    e = entry_new(s, hash, m, v, lc);
    if (e == NULL) {
        if (!as_overflow) {
            atomic_fetch_sub(&s->fam_count[m], 1);
        }
        goto out;
    }
    e->overflow = (uint8_t)as_overflow;
    e->created_s = (uint32_t)(now_ns / 1000000000u);
    e->next = rs->head[m];
    rs->head[m] = e;
    (void)am_map_insert(&rs->map, hash, e); /* map_room made the space */
out:
    pthread_mutex_unlock(&rs->mu);
    return e;
}

static struct series_entry *overflow_entry(struct am_series_store *s, uint32_t m, uint64_t now_ns)
{
    struct series_entry *e = atomic_load(&s->overflow_entry[m]);
    if (e != NULL) {
        return e;
    }
    unsigned lc = am_family_get(m)->label_count;
    size_t len = strlen(OVERFLOW_VALUE);
    struct am_str v[AM_MAX_LABELS];
    for (unsigned i = 0; i < lc; i++) {
        v[i].ptr = OVERFLOW_VALUE;
        v[i].len = len < s->max_value_bytes ? len : s->max_value_bytes;
    }
    int capped = 0;
    e = reg_intern(s, labels_hash(s->hash_seed, m, v, lc), m, v, 1, &capped, now_ns);
    if (e != NULL) {
        atomic_store(&s->overflow_entry[m], e);
    }
    return e;
}

static size_t cell_size(const struct am_series_store *s, uint32_t m)
{
    size_t n = sizeof(struct series_cell);
    if (am_family_get(m)->type == AM_TYPE_HISTOGRAM) {
        n += (s->nbounds[m] + 1) * sizeof(uint64_t);
    }
    return n;
}

/* The cell of entry e in shard w, created on first use; NULL on ENOMEM. */
static struct series_cell *cell_get(struct am_series_store *s, struct series_wshard *w,
                                    const struct series_entry *e)
{
    struct series_cell *c = series_map_cell_of(&w->map, e);
    if (c != NULL) {
        return c;
    }
    if (map_room(s, &w->map) != AM_OK) {
        return NULL;
    }
    size_t n = cell_size(s, e->metric);
    c = series_free_pop(&w->free_cells[e->metric]);
    if (c == NULL) {
        c = pool_alloc(s, &w->pool, n);
    }
    if (c == NULL) {
        return NULL;
    }
    memset(c, 0, n);
    c->entry = e;
    (void)am_map_insert(&w->map, e->hash, c); /* map_room made the space */
    return c;
}

/*
 * The miss path of cell_resolve: repair the values (counting truncations),
 * look the repaired set up again if anything changed, else intern it.
 */
static int cell_resolve_slow(struct am_series_store *s, struct series_wshard *w,
                             const struct am_obs *o, unsigned lc, uint64_t hash,
                             struct series_cell **out)
{
    struct am_str v[AM_MAX_LABELS];
    unsigned changed = 0;
    for (unsigned i = 0; i < lc; i++) {
        v[i] = o->labels[i];
        unsigned why =
            label_sanitize(&v[i], s->max_value_bytes, w->scratch + i * s->max_value_bytes);
        for (unsigned r = 0; r < SERIES_TRUNC_COUNT; r++) {
            w->truncated[r] += (why >> r) & 1u;
        }
        changed |= v[i].ptr != o->labels[i].ptr;
    }
    if (changed) {
        hash = labels_hash(s->hash_seed, o->metric, v, lc);
        *out = map_find(&w->map, hash, o->metric, v, lc, 1);
        if (*out != NULL) {
            return AM_OK;
        }
    }
    int capped = 0;
    struct series_entry *e = reg_intern(s, hash, o->metric, v, 0, &capped, w->now_ns);
    if (e == NULL && capped) {
        e = overflow_entry(s, o->metric, w->now_ns);
        w->overflow[o->metric] += e != NULL;
    }
    if (e == NULL) {
        return AM_ENOMEM;
    }
    *out = cell_get(s, w, e);
    return *out != NULL ? AM_OK : AM_ENOMEM;
}

/* A value's length and its first and last bytes, folded: the memo's key. */
static inline uint64_t edge_bits(const struct am_str *v)
{
    const unsigned char *p = (const unsigned char *)v->ptr;
    size_t n = v->len;
    if (n >= 8) {
        return load64(p) ^ (load64(p + n - 8) * 0xc2b2ae3d27d4eb4fu) ^ n;
    }
    if (n >= 4) {
        return (load32(p) | (uint64_t)load32(p + n - 4) << 32) ^ n;
    }
    return n == 0 ? 0
                  : (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16 | n << 24;
}

/*
 * The memo slot of a label set: unseeded and weak on purpose, it only
 * spreads the sets a shard sees often. A peer that makes sets share a slot
 * gets what it had before the memo (hash and probe); the cell found is
 * always checked against the values, so nothing else changes.
 */
static inline size_t memo_slot(uint32_t m, const struct am_str *v, unsigned lc)
{
    uint64_t h = m;
    for (unsigned i = 0; i < lc; i++) {
        h = (h ^ edge_bits(&v[i])) * 0x9e3779b97f4a7c15u;
        h ^= h >> 29;
    }
    return (size_t)(h >> 40) & (SERIES_MEMO_SLOTS - 1);
}

/*
 * Resolve an observation's label set to its cell in w. Interned values are
 * already clean (valid UTF-8, no NUL, within max_value_bytes), so raw values
 * that match an interned set byte for byte need no repair: the common case
 * hashes and probes the raw views and never scans them for UTF-8. Before
 * that, the shard's memo: a set seen lately is found with one compare of
 * its values, no hash and no probe.
 */
static int cell_resolve(struct am_series_store *s, struct series_wshard *w, const struct am_obs *o,
                        unsigned lc, struct series_cell **out)
{
    size_t slot = memo_slot(o->metric, o->labels, lc);
    struct series_cell *c = w->memo[slot];
    if (c != NULL && entry_matches(c->entry, o->metric, o->labels, lc)) {
        *out = c;
        return AM_OK;
    }
    uint64_t hash = labels_hash(s->hash_seed, o->metric, o->labels, lc);
    *out = map_find(&w->map, hash, o->metric, o->labels, lc, 1);
    if (*out != NULL) {
        w->memo[slot] = *out;
        return AM_OK;
    }
    return cell_resolve_slow(s, w, o, lc, hash, out);
}

static int obs_valid(const struct am_obs *o, enum am_metric_type t)
{
    switch (o->kind) {
    case AM_OBS_INC:
        if (t == AM_TYPE_COUNTER) {
            return o->value >= 0; /* false for NaN too */
        }
        return t == AM_TYPE_GAUGE && !isnan(o->value);
    case AM_OBS_SET:
        return t == AM_TYPE_GAUGE || (t == AM_TYPE_COUNTER && o->value >= 0);
    case AM_OBS_OBSERVE:
        return t == AM_TYPE_HISTOGRAM && !isnan(o->value);
    }
    return 0;
}

/* Index of the first bound >= v (inclusive upper bounds), n for +Inf. */
static unsigned bucket_index(const double *b, unsigned n, double v)
{
    unsigned lo = 0;
    unsigned hi = n;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (v <= b[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

/* Gauge values and counter SETs live in the registry entry (see the header). */
static void entry_update(struct am_series_store *s, const struct am_obs *o,
                         const struct series_cell *c)
{
    struct series_entry *e = (struct series_entry *)c->entry;
    struct series_rshard *rs = &s->reg[e->hash >> (64 - SERIES_REG_BITS)];
    pthread_mutex_lock(&rs->mu);
    if (o->kind == AM_OBS_SET) {
        e->value = o->value;
        e->has_set = 1;
    } else {
        e->value += o->value;
    }
    pthread_mutex_unlock(&rs->mu);
}

/*
 * The exemplar slot an observation replaces, allocating the cell's exemplar
 * array on first use (so series fed without spans cost nothing). NULL when
 * the observation carries none; *rc = AM_ENOMEM when the array cannot be had.
 */
static struct am_exemplar *exemplar_slot(struct am_series_store *s, struct series_wshard *w,
                                         const struct am_obs *o, enum am_metric_type t,
                                         struct series_cell *c, unsigned idx, int *rc)
{
    if (!o->has_exemplar || o->kind == AM_OBS_SET || t == AM_TYPE_GAUGE) {
        return NULL;
    }
    if (c->ex == NULL) {
        size_t n = t == AM_TYPE_HISTOGRAM ? s->nbounds[o->metric] + 1u : 1u;
        c->ex = series_free_pop(&w->free_ex[o->metric]);
        if (c->ex == NULL) {
            c->ex = pool_alloc(s, &w->pool, n * sizeof(*c->ex));
        }
        if (c->ex == NULL) {
            *rc = AM_ENOMEM;
            return NULL;
        }
        memset(c->ex, 0, n * sizeof(*c->ex));
    }
    return &c->ex[idx];
}

static int apply_one(struct am_series_store *s, struct series_wshard *w, const struct am_obs *o)
{
    if ((unsigned)o->metric >= AM_M_COUNT || series_is_synth(o->metric)) {
        return AM_EINVAL;
    }
    const struct am_family *f = am_family_get(o->metric);
    enum am_metric_type t = f->type;
    if (!obs_valid(o, t)) {
        return AM_EINVAL;
    }
    struct series_cell *c;
    int rc = cell_resolve(s, w, o, f->label_count, &c);
    if (rc != AM_OK) {
        return rc;
    }
    unsigned idx = 0;
    if (t == AM_TYPE_HISTOGRAM) {
        idx = bucket_index(s->bounds[o->metric], s->nbounds[o->metric], o->value);
    }
    struct am_exemplar *ex = exemplar_slot(s, w, o, t, c, idx, &rc);
    if (rc != AM_OK) {
        return rc;
    }
    if (ex != NULL) {
        ex->value = o->value;
        ex->wall_ns = w->now_ns;
        memcpy(ex->trace_id, o->trace_id, sizeof(ex->trace_id));
        memcpy(ex->span_id, o->span_id, sizeof(ex->span_id));
    }
    c->last_ns = w->now_ns; /* this cell's line is being written anyway */
    if (t == AM_TYPE_HISTOGRAM) {
        uint32_t wt = o->weight > 0 ? o->weight : 1; /* sampling-adjusted count */
        c->counts[idx] += wt;
        c->value += wt == 1 ? o->value : o->value * (double)wt;
    } else if (t == AM_TYPE_COUNTER && o->kind == AM_OBS_INC) {
        c->value += o->value;
    } else {
        entry_update(s, o, c);
    }
    return AM_OK;
}

/*
 * One lock for the whole batch. A malformed observation is skipped and the
 * rest still applied; the first error code is returned.
 */
int am_series_apply(struct am_series_store *s, unsigned shard, const struct am_obs *obs, size_t n)
{
    if (shard >= s->nshards) {
        return AM_EINVAL;
    }
    return am_series_apply_at(s, shard, obs, n, am_clock_wall(s->clock));
}

int am_series_apply_at(struct am_series_store *s, unsigned shard, const struct am_obs *obs,
                       size_t n, uint64_t wall_ns)
{
    if (shard >= s->nshards) {
        return AM_EINVAL;
    }
    struct series_wshard *w = &s->shards[shard];
    int first = AM_OK;
    pthread_mutex_lock(&w->mu);
    w->now_ns = wall_ns;
    for (size_t i = 0; i < n; i++) {
        int rc = apply_one(s, w, &obs[i]);
        if (rc != AM_OK && first == AM_OK) {
            first = rc;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return first;
}

static int store_bounds(struct am_series_store *s, const struct am_series_opts *opts)
{
    for (unsigned m = 0; m < AM_M_COUNT; m++) {
        const struct am_family *f = am_family_get(m);
        s->nbounds[m] = f->bucket_count;
        memcpy(s->bounds[m], f->buckets, sizeof(f->buckets));
    }
    for (size_t i = 0; i < opts->bucket_count; i++) {
        const struct am_bucket_override *b = &opts->buckets[i];
        if (!bounds_valid(b)) {
            return AM_EINVAL;
        }
        s->nbounds[b->metric] = b->count;
        memcpy(s->bounds[b->metric], b->bounds, b->count * sizeof(double));
    }
    return AM_OK;
}

struct am_series_store *am_series_create(const struct am_series_opts *opts)
{
    if (opts->shards == 0) {
        return NULL;
    }
    struct am_series_store *s = am_try_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->nshards = opts->shards;
    s->clock = opts->clock != NULL ? opts->clock : am_clock_system();
    s->max_series = opts->max_series_per_metric;
    s->max_value_bytes =
        opts->max_label_value_bytes ? opts->max_label_value_bytes : DEFAULT_VALUE_BYTES;
    atomic_store(&s->bytes, sizeof(*s));
    s->hash_seed = am_map_hash("agentmeter series", 17);
    for (unsigned i = 0; i < SERIES_REG_SHARDS; i++) {
        pthread_mutex_init(&s->reg[i].mu, NULL);
        am_map_init(&s->reg[i].map, &reg_ops, NULL);
    }
    pthread_mutex_init(&s->expire_mu, NULL);
    pthread_rwlock_init(&s->life, NULL);
    if (store_bounds(s, opts) != AM_OK) {
        goto fail;
    }
    s->shards = am_try_calloc(s->nshards, sizeof(*s->shards));
    if (s->shards == NULL) {
        goto fail;
    }
    for (unsigned i = 0; i < s->nshards; i++) {
        pthread_mutex_init(&s->shards[i].mu, NULL);
        am_map_init(&s->shards[i].map, &cell_ops, NULL);
    }
    for (unsigned i = 0; i < s->nshards; i++) {
        s->shards[i].scratch = am_try_malloc(AM_MAX_LABELS * s->max_value_bytes);
        if (s->shards[i].scratch == NULL) {
            goto fail;
        }
    }
    atomic_fetch_add(&s->bytes,
                     s->nshards * (sizeof(*s->shards) + AM_MAX_LABELS * s->max_value_bytes));
    return s;
fail:
    am_series_destroy(s);
    return NULL;
}

void am_series_destroy(struct am_series_store *s)
{
    if (s == NULL) {
        return;
    }
    for (unsigned i = 0; i < SERIES_REG_SHARDS; i++) {
        for (unsigned m = 0; m < AM_M_COUNT; m++) {
            struct series_entry *e = s->reg[i].head[m];
            while (e != NULL) {
                struct series_entry *next = e->next;
                am_free(e);
                e = next;
            }
        }
        am_map_fini(&s->reg[i].map);
        pthread_mutex_destroy(&s->reg[i].mu);
    }
    pthread_mutex_destroy(&s->expire_mu);
    pthread_rwlock_destroy(&s->life);
    for (unsigned i = 0; s->shards != NULL && i < s->nshards; i++) {
        pool_fini(&s->shards[i].pool);
        am_map_fini(&s->shards[i].map);
        am_free(s->shards[i].scratch);
        pthread_mutex_destroy(&s->shards[i].mu);
    }
    am_free(s->shards);
    am_free(s);
}

size_t am_series_bytes(struct am_series_store *s)
{
    return atomic_load(&s->bytes);
}

const double *am_series_bounds(struct am_series_store *s, enum am_metric m, unsigned *count)
{
    *count = (unsigned)m < AM_M_COUNT ? s->nbounds[m] : 0;
    return (unsigned)m < AM_M_COUNT ? s->bounds[m] : NULL;
}
