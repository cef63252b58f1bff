/*
 * test_arena.c - the request arena (am/arena.h): budget, reset keeping a
 * chunk, trim giving every chunk back, growth of the last allocation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/arena.h"

static void test_arena_budget_reset_and_trim(void **st)
{
    (void)st;
    struct am_arena *a = am_arena_create(1u << 20);
    uint8_t *p = am_arena_alloc(a, 1000);
    assert_non_null(p);
    memset(p, 0xab, 1000);
    assert_int_equal(am_arena_used(a), 1008); /* 16-byte aligned */
    assert_null(am_arena_alloc(a, 1u << 20)); /* past the budget */
    assert_int_equal(am_arena_used(a), 1008);
    am_arena_reset(a);
    assert_int_equal(am_arena_used(a), 0);
    uint8_t *q = am_arena_alloc(a, 16);
    assert_ptr_equal(q, p); /* the kept chunk is reused */
    am_arena_trim(a);
    assert_int_equal(am_arena_used(a), 0);
    /* after a trim the arena works as new, budget included */
    uint8_t *r = am_arena_alloc(a, (1u << 20) - 16);
    assert_non_null(r);
    memset(r, 1, (1u << 20) - 16);
    assert_null(am_arena_alloc(a, 32));
    am_arena_trim(a);
    am_arena_trim(a); /* twice is harmless */
    am_arena_destroy(a);
}

static void test_arena_grow_last_in_place(void **st)
{
    (void)st;
    struct am_arena *a = am_arena_create(1u << 20);
    char *p = am_arena_alloc(a, 100);
    memcpy(p, "hello", 5);
    char *q = am_arena_grow(a, p, 100, 200);
    assert_ptr_equal(q, p);
    assert_memory_equal(q, "hello", 5);
    assert_int_equal(am_arena_used(a), 208);
    am_arena_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_budget_reset_and_trim),
        cmocka_unit_test(test_arena_grow_last_in_place),
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
