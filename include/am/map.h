#ifndef AM_MAP_H
#define AM_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The one hash map of the daemon (STYLE.md 5.1, 5.5): open addressing with
 * linear probing, a power-of-two slot array, backward-shift deletion (no
 * tombstones). It grows past a load of 0.7 and shrinks when under 1/8 full,
 * so memory comes back after a burst.
 *
 * A slot holds the 64-bit hash and a non-NULL `void *` value: the caller's
 * entry, which holds its own key. The map owns only its slot array; entries
 * stay the caller's. Lookups compare the stored hash first, then ask the
 * caller's callback, which must compare lengths before bytes
 * (am_map_bytes_eq does). Tables keyed by peer data hash with am_map_hash,
 * XXH3 seeded once per process from getrandom(); the seed never leaves the
 * process. Allocation failure returns AM_ENOMEM and leaves the map intact.
 *
 * Not thread-safe: one owner, or the caller's lock. am_map_hash is safe from
 * any thread.
 */

/* Equality: does `value` hold the key (key, key_len)? ctx is the map's. */
typedef bool (*am_map_eq_cb)(const void *value, const void *key, size_t key_len, void *ctx);
/* Key extractor: the key bytes `value` holds. */
typedef void (*am_map_key_cb)(const void *value, const void **key, size_t *key_len);

/* How a map compares: give `eq`, or `key` (the map then compares length, then bytes). */
struct am_map_ops {
    am_map_eq_cb eq;
    am_map_key_cb key;
};

struct am_map_slot {
    uint64_t hash;
    void *value; /* NULL: empty */
};

struct am_map {
    struct am_map_slot *slots; /* NULL until the first insert */
    size_t cap;                /* 0 or a power of two */
    size_t count;
    const struct am_map_ops *ops;
    void *ctx;
};

/* Cursor for am_map_next; init with AM_MAP_ITER_INIT. */
struct am_map_iter {
    size_t start; /* an empty slot: no probe run crosses it */
    size_t step;  /* slots visited so far */
    size_t pos;   /* the slot of the value last returned */
    bool fresh;
};
#define AM_MAP_ITER_INIT ((struct am_map_iter){0, 0, 0, true})

/* Length first, then bytes: never reads past the shorter key. */
static inline bool am_map_bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Seeded 64-bit hash (XXH3) of peer-chosen bytes; the seed is drawn on first use. */
uint64_t am_map_hash(const void *key, size_t len);
/* Draw the per-process seed now (idempotent, thread-safe); main calls it at start. */
void am_map_seed_init(void);
#ifdef AM_MAP_TESTING
/* Tests only (built with AM_MAP_TESTING): fix the seed so colliding keys can be made. */
void am_map_seed_set_for_testing(uint64_t seed);
#endif

/* Empty map with no slots; ops must outlive the map. */
void am_map_init(struct am_map *m, const struct am_map_ops *ops, void *ctx);
/* Free the slot array (not the values); the map is empty and reusable. */
void am_map_fini(struct am_map *m);
/* Drop every value, keep the capacity. */
void am_map_reset(struct am_map *m);

static inline size_t am_map_count(const struct am_map *m)
{
    return m->count;
}

/*
 * The probe loop, inline for hot paths that compare keys themselves: the
 * value stored under hash for which eq(value, key) holds, or NULL. eq gets
 * only values whose stored hash equals hash, and must compare lengths
 * before bytes. With a static eq the compiler inlines it (no indirect call
 * per probe). am_map_get is this with the map's ops.
 */
static inline void *am_map_find(const struct am_map *m, uint64_t hash,
                                bool (*eq)(const void *value, const void *key), const void *key)
{
    if (m->count == 0) {
        return NULL;
    }
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask; m->slots[i].value != NULL; i = (i + 1) & mask) {
        if (m->slots[i].hash == hash && eq(m->slots[i].value, key)) {
            return m->slots[i].value;
        }
    }
    return NULL;
}

/* The value stored under (hash, key), or NULL. */
void *am_map_get(const struct am_map *m, uint64_t hash, const void *key, size_t key_len);
/* Add value under hash; the caller knows no equal key is stored (am_map_get first).
 * Returns AM_OK, or AM_ENOMEM if the map had to grow and could not (nothing changed). */
int am_map_insert(struct am_map *m, uint64_t hash, void *value);
/* Make room for n values in all without growing. Returns AM_OK or AM_ENOMEM. */
int am_map_reserve(struct am_map *m, size_t n);
/* Remove and return the value stored under (hash, key), or NULL. May shrink. */
void *am_map_remove(struct am_map *m, uint64_t hash, const void *key, size_t key_len);
/* Remove this exact value (pointer identity) stored under hash; true if it was there. */
bool am_map_remove_value(struct am_map *m, uint64_t hash, const void *value);

/* Next value, or NULL at the end: each value once, no insert while iterating. */
void *am_map_next(struct am_map *m, struct am_map_iter *it);
/* Remove the value am_map_next last returned; iteration goes on correctly.
 * It never shrinks: call am_map_shrink after the loop. */
void am_map_iter_remove(struct am_map *m, struct am_map_iter *it);
/* Shrink if sparse (under 1/8 full); stays as is if the smaller array cannot be had. */
void am_map_shrink(struct am_map *m);

#endif
