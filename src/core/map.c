/*
 * map.c - the daemon's one hash map (include/am/map.h, STYLE.md 5.5).
 * Invariants: cap is 0 or a power of two; count <= 0.7 cap, so an empty slot
 * always ends every probe; a value sits in the probe run that starts at its
 * home slot (hash & mask) with no empty slot between, which backward-shift
 * deletion keeps true without tombstones. The hash seed is drawn once per
 * process from getrandom() and is never printed.
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/map.h"

#define MIN_CAP 8u

static uint64_t map_seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

/* getrandom() can only fail on very old kernels or an interrupted call; the
 * fallback still differs per process and per run, which is what the seed is
 * for (an attacker must not predict it from the source). */
static void seed_draw(void)
{
    uint64_t s = 0;
    ssize_t got = getrandom(&s, sizeof s, 0);
    if (got != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix[3] = {(uint64_t)ts.tv_nsec, (uint64_t)ts.tv_sec,
                           (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&ts};
        s = XXH3_64bits(mix, sizeof mix);
    }
    map_seed = s;
}

void am_map_seed_init(void)
{
    pthread_once(&seed_once, seed_draw);
}

#ifdef AM_MAP_TESTING
void am_map_seed_set_for_testing(uint64_t seed)
{
    am_map_seed_init();
    map_seed = seed;
}
#endif

uint64_t am_map_hash(const void *key, size_t len)
{
    am_map_seed_init();
    return XXH3_64bits_withSeed(key, len, map_seed);
}

void am_map_init(struct am_map *m, const struct am_map_ops *ops, void *ctx)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
    m->ops = ops;
    m->ctx = ctx;
}

void am_map_fini(struct am_map *m)
{
    am_free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void am_map_reset(struct am_map *m)
{
    if (m->slots != NULL) {
        memset(m->slots, 0, m->cap * sizeof *m->slots);
    }
    m->count = 0;
}

static bool matches(const struct am_map *m, const struct am_map_slot *s, uint64_t hash,
                    const void *key, size_t key_len)
{
    if (s->hash != hash) {
        return false;
    }
    if (m->ops->eq != NULL) {
        return m->ops->eq(s->value, key, key_len, m->ctx);
    }
    const void *k = NULL;
    size_t klen = 0;
    m->ops->key(s->value, &k, &klen);
    return am_map_bytes_eq(k, klen, key, key_len);
}

/* The slot holding (hash, key), or SIZE_MAX. */
static size_t find(const struct am_map *m, uint64_t hash, const void *key, size_t key_len)
{
    if (m->count == 0) {
        return SIZE_MAX;
    }
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct am_map_slot *s = &m->slots[i];
        if (s->value == NULL) {
            return SIZE_MAX;
        }
        if (matches(m, s, hash, key, key_len)) {
            return i;
        }
    }
}

void *am_map_get(const struct am_map *m, uint64_t hash, const void *key, size_t key_len)
{
    size_t i = find(m, hash, key, key_len);
    return i == SIZE_MAX ? NULL : m->slots[i].value;
}

static void place(struct am_map_slot *slots, size_t mask, uint64_t hash, void *value)
{
    size_t i = hash & mask;
    while (slots[i].value != NULL) {
        i = (i + 1) & mask;
    }
    slots[i].hash = hash;
    slots[i].value = value;
}

static int resize(struct am_map *m, size_t cap)
{
    struct am_map_slot *slots = am_try_calloc(cap, sizeof *slots);
    if (slots == NULL) {
        return AM_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].value != NULL) {
            place(slots, cap - 1, m->slots[i].hash, m->slots[i].value);
        }
    }
    am_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return AM_OK;
}

/* Room for n values at a load of at most 0.7. */
static bool fits(size_t n, size_t cap)
{
    return n * 10 <= cap * 7;
}

int am_map_reserve(struct am_map *m, size_t n)
{
    if (m->cap != 0 && fits(n, m->cap)) {
        return AM_OK;
    }
    size_t cap = m->cap ? m->cap : MIN_CAP;
    while (!fits(n, cap)) {
        if (cap > SIZE_MAX / 20) {
            return AM_ENOMEM;
        }
        cap *= 2;
    }
    return resize(m, cap);
}

int am_map_insert(struct am_map *m, uint64_t hash, void *value)
{
    if (m->cap == 0 || !fits(m->count + 1, m->cap)) {
        int rc = am_map_reserve(m, m->count + 1);
        if (rc != AM_OK) {
            return rc;
        }
    }
    place(m->slots, m->cap - 1, hash, value);
    m->count++;
    return AM_OK;
}

/* Empty slot i, then pull later members of its probe run back so that no
 * value is separated from its home slot by an empty one. A value at j may
 * move to i when its home is not inside (i, j]. */
static void delete_at(struct am_map *m, size_t i)
{
    size_t mask = m->cap - 1;
    m->slots[i].value = NULL;
    m->count--;
    for (size_t j = (i + 1) & mask; m->slots[j].value != NULL; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j].value = NULL;
            i = j;
        }
    }
}

void am_map_shrink(struct am_map *m)
{
    if (m->count == 0) {
        am_map_fini(m); /* nothing left: give the whole array back */
        return;
    }
    if (m->cap <= MIN_CAP || m->count >= m->cap / 8) {
        return;
    }
    size_t cap = MIN_CAP;
    while (cap < m->count * 4) {
        cap *= 2;
    }
    (void)resize(m, cap); /* AM_ENOMEM: keep the larger array, still correct */
}

void *am_map_remove(struct am_map *m, uint64_t hash, const void *key, size_t key_len)
{
    size_t i = find(m, hash, key, key_len);
    if (i == SIZE_MAX) {
        return NULL;
    }
    void *v = m->slots[i].value;
    delete_at(m, i);
    am_map_shrink(m);
    return v;
}

bool am_map_remove_value(struct am_map *m, uint64_t hash, const void *value)
{
    if (m->count == 0) {
        return false;
    }
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask; m->slots[i].value != NULL; i = (i + 1) & mask) {
        if (m->slots[i].value == value) {
            delete_at(m, i);
            am_map_shrink(m);
            return true;
        }
    }
    return false;
}

/* Iteration walks the cap-1 slots after an empty one, in order. No probe run
 * crosses an empty slot, so backward shifts during iteration only move values
 * from slots not yet visited to the slot just emptied, which is visited again. */
void *am_map_next(struct am_map *m, struct am_map_iter *it)
{
    if (m->count == 0 && it->fresh) {
        return NULL;
    }
    size_t mask = m->cap - 1;
    if (it->fresh) {
        it->fresh = false;
        it->step = 0;
        it->start = 0;
        while (m->slots[it->start].value != NULL) {
            it->start++;
        }
    }
    while (it->step + 1 < m->cap) {
        size_t p = (it->start + 1 + it->step) & mask;
        it->step++;
        if (m->slots[p].value != NULL) {
            it->pos = p;
            return m->slots[p].value;
        }
    }
    return NULL;
}

void am_map_iter_remove(struct am_map *m, struct am_map_iter *it)
{
    delete_at(m, it->pos);
    if (m->slots[it->pos].value != NULL) {
        it->step--; /* a later value moved here: visit this slot again */
    }
}
