/*
 * test_map.c - core/map: probing, backward-shift deletion, growth and shrink,
 * iteration with removal, the seeded hash, allocation failure. Hashes are
 * chosen by the tests where slot positions are asserted exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/map.h"
#include "testsupport.h"

struct ent {
    const char *key; /* heap, exactly len bytes (ASan catches reads past it) */
    size_t len;
    uint64_t hash;
    int id;
};

static void ent_key(const void *v, const void **key, size_t *len)
{
    const struct ent *e = v;
    *key = e->key;
    *len = e->len;
}

static const struct am_map_ops ent_ops = {.key = ent_key};

static bool ent_eq(const void *v, const void *key, size_t len, void *ctx)
{
    const struct ent *e = v;
    (*(int *)ctx)++;
    return am_map_bytes_eq(e->key, e->len, key, len);
}

static const struct am_map_ops ent_eq_ops = {.eq = ent_eq};

#define NENT 1200
static struct ent ents[NENT];

static void make_ents(void)
{
    for (int i = 0; i < NENT; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "key-%d", i);
        char *k = am_xmalloc((size_t)n);
        memcpy(k, buf, (size_t)n);
        ents[i] = (struct ent){k, (size_t)n, am_map_hash(k, (size_t)n), i};
    }
}

static void free_ents(void)
{
    for (int i = 0; i < NENT; i++) {
        am_free((void *)ents[i].key);
    }
}

static struct ent *get(struct am_map *m, const struct ent *e)
{
    return am_map_get(m, e->hash, e->key, e->len);
}

/* A permutation of 0..n-1 from a fixed LCG, different per salt. */
static void perm(int *p, int n, unsigned salt)
{
    uint64_t x = 0x9e3779b97f4a7c15ull ^ salt;
    for (int i = 0; i < n; i++) {
        p[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int j = (int)((x >> 33) % (uint64_t)(i + 1));
        int t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* Must run first: the drawn seed is not zero (and so not the unseeded hash). */
static void test_hash_default_seed_is_random(void **st)
{
    (void)st;
    am_map_seed_init();
    uint64_t h = am_map_hash("trace-id", 8);
    assert_true(h != XXH3_64bits_withSeed("trace-id", 8, 0));
    assert_true(h == am_map_hash("trace-id", 8));
}

static void test_hash_seed_changes_hash(void **st)
{
    (void)st;
    am_map_seed_set_for_testing(1);
    uint64_t a = am_map_hash("abc", 3);
    assert_true(a == XXH3_64bits_withSeed("abc", 3, 1));
    am_map_seed_set_for_testing(2);
    uint64_t b = am_map_hash("abc", 3);
    assert_true(b == XXH3_64bits_withSeed("abc", 3, 2));
    assert_true(a != b);
    am_map_seed_set_for_testing(1);
    assert_true(am_map_hash("abc", 3) == a);
    assert_true(am_map_hash("abd", 3) != a);
}

static void test_map_insert_get_delete_many_orders_exact(void **st)
{
    (void)st;
    static int ins[NENT], del[NENT];
    for (unsigned round = 0; round < 4; round++) {
        struct am_map m;
        am_map_init(&m, &ent_ops, NULL);
        perm(ins, NENT, round);
        perm(del, NENT, round + 100);
        if (round == 0) {
            for (int i = 0; i < NENT; i++) {
                ins[i] = i;            /* round 0: insert in order, */
                del[i] = NENT - 1 - i; /* delete in reverse */
            }
        }
        for (int i = 0; i < NENT; i++) {
            assert_null(get(&m, &ents[ins[i]]));
            assert_int_equal(am_map_insert(&m, ents[ins[i]].hash, &ents[ins[i]]), AM_OK);
        }
        assert_int_equal(am_map_count(&m), NENT);
        assert_int_equal(m.cap, 2048); /* 1200 / 0.7 = 1715 -> 2048 */
        for (int i = 0; i < NENT; i++) {
            assert_ptr_equal(get(&m, &ents[i]), &ents[i]);
        }
        for (int i = 0; i < NENT; i++) {
            const struct ent *e = &ents[del[i]];
            assert_ptr_equal(am_map_remove(&m, e->hash, e->key, e->len), e);
            assert_null(am_map_remove(&m, e->hash, e->key, e->len));
            if (i % 97 == 0 || i > NENT - 20) {
                for (int k = 0; k < NENT; k++) {
                    bool gone = false;
                    for (int d = 0; d <= i && !gone; d++) {
                        gone = del[d] == k;
                    }
                    assert_ptr_equal(get(&m, &ents[k]), gone ? NULL : &ents[k]);
                }
            }
        }
        assert_int_equal(am_map_count(&m), 0);
        assert_int_equal(m.cap, 0); /* emptied by removal: array released */
        am_map_fini(&m);
    }
}

/* Entries with chosen hashes, so slot positions can be asserted. */
static struct ent fixed[8];

static void set_fixed(uint64_t *hashes, int n)
{
    static const char *names[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    for (int i = 0; i < n; i++) {
        fixed[i] = (struct ent){names[i], 1, hashes[i], i};
    }
}

static int slot_of(const struct am_map *m, int id)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].value == &fixed[id]) {
            return (int)i;
        }
    }
    return -1;
}

static void test_map_backward_shift_in_cluster_exact_slots(void **st)
{
    (void)st;
    struct am_map m;
    am_map_init(&m, &ent_ops, NULL);
    assert_int_equal(am_map_reserve(&m, 5), AM_OK);
    assert_int_equal(m.cap, 8);
    /* homes: a3 b3 c4 d3 e6 (cap 8, mask 7; high bits must not matter) */
    uint64_t h[5] = {3 | 0x100, 3 | 0x200, 4, 3 | 0x300, 6 | 0x800};
    set_fixed(h, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(am_map_insert(&m, fixed[i].hash, &fixed[i]), AM_OK);
    }
    /* a3 b4 c5 d6 e7 */
    int want0[5] = {3, 4, 5, 6, 7};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(slot_of(&m, i), want0[i]);
    }
    /* remove b (slot 4): c (home 4) -> 4, d (home 3) -> 5, e (home 6) -> 6 */
    assert_true(am_map_remove_value(&m, fixed[1].hash, &fixed[1]));
    assert_int_equal(slot_of(&m, 0), 3);
    assert_int_equal(slot_of(&m, 2), 4);
    assert_int_equal(slot_of(&m, 3), 5);
    assert_int_equal(slot_of(&m, 4), 6);
    assert_null(m.slots[7].value);
    /* remove a (slot 3): c stays at its home 4; d (home 3) moves to 3; e stays at 6 */
    assert_ptr_equal(am_map_remove(&m, fixed[0].hash, "a", 1), &fixed[0]);
    assert_int_equal(slot_of(&m, 3), 3);
    assert_int_equal(slot_of(&m, 2), 4);
    assert_int_equal(slot_of(&m, 4), 6);
    assert_null(m.slots[5].value);
    for (int i = 2; i < 5; i++) {
        assert_ptr_equal(get(&m, &fixed[i]), &fixed[i]);
    }
    am_map_fini(&m);
}

static void test_map_backward_shift_wraps_around_exact_slots(void **st)
{
    (void)st;
    struct am_map m;
    am_map_init(&m, &ent_ops, NULL);
    assert_int_equal(am_map_reserve(&m, 5), AM_OK);
    /* homes: a6 b7 c7 d6 e0 -> a6 b7 c0 d1 e2 */
    uint64_t h[5] = {6, 7, 7 | 0x40, 6 | 0x40, 0};
    set_fixed(h, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(am_map_insert(&m, fixed[i].hash, &fixed[i]), AM_OK);
    }
    assert_int_equal(slot_of(&m, 2), 0);
    assert_int_equal(slot_of(&m, 3), 1);
    assert_int_equal(slot_of(&m, 4), 2);
    /* remove a (6): b at 7 and c at 0 have home 7 and stay; d at 1 (home 6)
     * moves into the hole at 6, then e at 2 (home 0) into the hole at 1 */
    assert_true(am_map_remove_value(&m, fixed[0].hash, &fixed[0]));
    assert_int_equal(slot_of(&m, 3), 6);
    assert_int_equal(slot_of(&m, 1), 7);
    assert_int_equal(slot_of(&m, 2), 0);
    assert_int_equal(slot_of(&m, 4), 1);
    assert_null(m.slots[2].value);
    for (int i = 1; i < 5; i++) {
        assert_ptr_equal(get(&m, &fixed[i]), &fixed[i]);
    }
    am_map_fini(&m);
}

static void test_map_lengths_compared_before_bytes(void **st)
{
    (void)st;
    struct am_map m;
    int calls = 0;
    am_map_init(&m, &ent_eq_ops, &calls);
    char *one = am_xmalloc(1);
    one[0] = 'x';
    struct ent e = {one, 1, 42, 0};
    assert_int_equal(am_map_insert(&m, 42, &e), AM_OK);
    char longer[100];
    memset(longer, 'x', sizeof longer);
    /* same hash, longer key: must not match nor read past the 1-byte key */
    assert_null(am_map_get(&m, 42, longer, sizeof longer));
    assert_int_equal(calls, 1);
    assert_ptr_equal(am_map_get(&m, 42, "x", 1), &e);
    assert_null(am_map_get(&m, 43, "x", 1)); /* other hash: callback not asked */
    assert_int_equal(calls, 2);
    assert_false(am_map_bytes_eq("ab", 2, "abc", 3));
    assert_true(am_map_bytes_eq("", 0, NULL, 0));
    am_map_fini(&m);
    am_free(one);
}

static void test_map_shrinks_when_sparse(void **st)
{
    (void)st;
    struct am_map m;
    am_map_init(&m, &ent_ops, NULL);
    for (int i = 0; i < NENT; i++) {
        assert_int_equal(am_map_insert(&m, ents[i].hash, &ents[i]), AM_OK);
    }
    assert_int_equal(m.cap, 2048);
    for (int i = 10; i < NENT; i++) {
        assert_non_null(am_map_remove(&m, ents[i].hash, ents[i].key, ents[i].len));
        if (i == NENT - 1 - 250) { /* 260 left: 260 >= 2048/8: not yet */
            assert_int_equal(m.cap, 2048);
        }
    }
    /* 2048 -> (255 left) 1024 -> (127) 512 -> (63) 256 -> (31) 128 -> (15) 64 */
    assert_int_equal(m.cap, 64);
    for (int i = 0; i < 10; i++) {
        assert_ptr_equal(get(&m, &ents[i]), &ents[i]);
    }
    /* reset keeps the capacity */
    am_map_reset(&m);
    assert_int_equal(am_map_count(&m), 0);
    assert_int_equal(m.cap, 64);
    assert_null(get(&m, &ents[0]));
    assert_int_equal(am_map_insert(&m, ents[0].hash, &ents[0]), AM_OK);
    assert_ptr_equal(get(&m, &ents[0]), &ents[0]);
    am_map_fini(&m);
    assert_int_equal(m.cap, 0);
    assert_null(m.slots);
}

static void test_map_iteration_visits_each_once_with_removal(void **st)
{
    (void)st;
    static int seen[NENT];
    struct am_map m;
    am_map_init(&m, &ent_ops, NULL);
    for (int i = 0; i < NENT; i++) {
        assert_int_equal(am_map_insert(&m, ents[i].hash, &ents[i]), AM_OK);
    }
    /* remove every third while iterating; each value is still seen once */
    memset(seen, 0, sizeof seen);
    struct am_map_iter it = AM_MAP_ITER_INIT;
    struct ent *e;
    int n = 0;
    while ((e = am_map_next(&m, &it)) != NULL) {
        seen[e->id]++;
        n++;
        if (e->id % 3 == 0) {
            am_map_iter_remove(&m, &it);
        }
    }
    assert_int_equal(n, NENT);
    for (int i = 0; i < NENT; i++) {
        assert_int_equal(seen[i], 1);
        assert_ptr_equal(get(&m, &ents[i]), i % 3 == 0 ? NULL : &ents[i]);
    }
    assert_int_equal(am_map_count(&m), NENT - 400);
    /* a second pass sees exactly the rest */
    it = AM_MAP_ITER_INIT;
    n = 0;
    while ((e = am_map_next(&m, &it)) != NULL) {
        assert_true(e->id % 3 != 0);
        n++;
        am_map_iter_remove(&m, &it);
    }
    assert_int_equal(n, NENT - 400);
    assert_int_equal(am_map_count(&m), 0);
    assert_int_equal(m.cap, 2048); /* iteration removal never shrinks ... */
    am_map_shrink(&m);
    assert_int_equal(m.cap, 0); /* ... am_map_shrink does */
    it = AM_MAP_ITER_INIT;
    assert_null(am_map_next(&m, &it));
    am_map_fini(&m);
}

static void test_map_iteration_wrapping_cluster_removal(void **st)
{
    (void)st;
    struct am_map m;
    am_map_init(&m, &ent_ops, NULL);
    assert_int_equal(am_map_reserve(&m, 5), AM_OK);
    uint64_t h[5] = {6, 7, 7 | 0x40, 6 | 0x40, 0}; /* a6 b7 c0 d1 e2 */
    set_fixed(h, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(am_map_insert(&m, fixed[i].hash, &fixed[i]), AM_OK);
    }
    int seen[5] = {0};
    struct am_map_iter it = AM_MAP_ITER_INIT;
    struct ent *e;
    while ((e = am_map_next(&m, &it)) != NULL) {
        seen[e->id]++;
        am_map_iter_remove(&m, &it);
    }
    for (int i = 0; i < 5; i++) {
        assert_int_equal(seen[i], 1);
    }
    assert_int_equal(am_map_count(&m), 0);
    am_map_fini(&m);
}

/* Allocation failure: every insert either lands or returns AM_ENOMEM with
 * the map unchanged; whatever landed is found, and the map keeps working. */
static void alloc_scenario(void *ctx, unsigned long nth)
{
    (void)ctx;
    (void)nth;
    static bool in[300];
    struct am_map m;
    am_map_init(&m, &ent_ops, NULL);
    size_t landed = 0;
    for (int i = 0; i < 300; i++) {
        int rc = am_map_insert(&m, ents[i].hash, &ents[i]);
        assert_true(rc == AM_OK || rc == AM_ENOMEM);
        in[i] = rc == AM_OK;
        landed += in[i];
        assert_int_equal(am_map_count(&m), landed);
    }
    for (int i = 0; i < 300; i += 2) {
        void *v = am_map_remove(&m, ents[i].hash, ents[i].key, ents[i].len);
        assert_ptr_equal(v, in[i] ? &ents[i] : NULL);
        in[i] = false;
    }
    for (int i = 0; i < 300; i++) {
        assert_ptr_equal(get(&m, &ents[i]), in[i] ? &ents[i] : NULL);
    }
    int rc = am_map_reserve(&m, 1000);
    assert_true(rc == AM_OK || rc == AM_ENOMEM);
    size_t left = 0;
    for (int i = 0; i < 300; i++) {
        left += in[i];
    }
    assert_int_equal(am_map_count(&m), left);
    for (int i = 0; i < 300; i++) {
        assert_ptr_equal(get(&m, &ents[i]), in[i] ? &ents[i] : NULL);
    }
    if (nth == 0) {
        assert_int_equal(landed, 300);
        assert_int_equal(left, 150);
    }
    am_map_fini(&m);
}

static void test_map_each_alloc_failure_returns_enomem(void **st)
{
    (void)st;
    unsigned long n = AM_TEST_EACH_ALLOC(alloc_scenario, NULL);
    /* growths 8 16 32 64 128 256 512, no shrink at 150 of 512, reserve 2048 */
    assert_int_equal(n, 8);
}

static int group_setup(void **st)
{
    (void)st;
    make_ents();
    return 0;
}

static int group_teardown(void **st)
{
    (void)st;
    free_ents();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_default_seed_is_random),
        cmocka_unit_test(test_hash_seed_changes_hash),
        cmocka_unit_test(test_map_insert_get_delete_many_orders_exact),
        cmocka_unit_test(test_map_backward_shift_in_cluster_exact_slots),
        cmocka_unit_test(test_map_backward_shift_wraps_around_exact_slots),
        cmocka_unit_test(test_map_lengths_compared_before_bytes),
        cmocka_unit_test(test_map_shrinks_when_sparse),
        cmocka_unit_test(test_map_iteration_visits_each_once_with_removal),
        cmocka_unit_test(test_map_iteration_wrapping_cluster_removal),
        cmocka_unit_test(test_map_each_alloc_failure_returns_enomem),
    };
    return cmocka_run_group_tests_name("map", tests, group_setup, group_teardown);
}
