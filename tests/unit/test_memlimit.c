/*
 * test_memlimit.c - limits.memory (am/memlimit.h): cgroup and meminfo
 * parsing, the verdict against the real RSS of this process, and handing
 * freed heap back (am_mem_release).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "am/alloc.h"
#include "am/memlimit.h"

static void test_memlimit_parse_cgroup_values(void **st)
{
    (void)st;
    assert_int_equal(am_memlimit_parse_cgroup("max\n"), 0);
    assert_int_equal(am_memlimit_parse_cgroup("1073741824\n"), 1073741824ull);
    assert_int_equal(am_memlimit_parse_cgroup("536870912"), 536870912ull);
    /* cgroup v1 "unlimited" */
    assert_int_equal(am_memlimit_parse_cgroup("9223372036854771712\n"), 0);
    assert_int_equal(am_memlimit_parse_cgroup(""), 0);
}

static void test_memlimit_parse_meminfo_memtotal(void **st)
{
    (void)st;
    assert_int_equal(am_memlimit_parse_meminfo("MemTotal:       24683892 kB\n"
                                               "MemFree:        23511316 kB\n"),
                     24683892ull * 1024);
    assert_int_equal(am_memlimit_parse_meminfo("MemFree: 1 kB\n"), 0);
}

static void test_memlimit_total_is_known_here(void **st)
{
    (void)st;
    uint64_t t = am_memlimit_total();
    assert_true(t >= 64ull << 20);      /* this machine has more than 64 MiB */
    assert_true(t < (uint64_t)1 << 50); /* and is not unlimited */
}

static void test_memlimit_verdict_follows_the_limit(void **st)
{
    (void)st;
    struct am_memlimit *m = am_memlimit_create(0);
    uint64_t now = 1000;
    assert_false(am_memlimit_over(m, now)); /* 0: off */
    am_memlimit_set(m, 1);                  /* one byte: RSS is over it */
    assert_int_equal(am_memlimit_get(m), 1);
    assert_true(am_memlimit_over(m, now));
    /* the verdict stands until the next reading is due ... */
    assert_true(am_memlimit_over(m, now + AM_MEMLIMIT_RECHECK_NS - 1));
    /* ... and a new limit is judged at once */
    am_memlimit_set(m, (uint64_t)1 << 50);
    assert_false(am_memlimit_over(m, now + 1));
    am_memlimit_set(m, 1);
    assert_true(am_memlimit_over(m, now + 2));
    am_memlimit_set(m, 0);
    assert_false(am_memlimit_over(m, now + 3));
    assert_false(am_memlimit_over(NULL, now));
    am_memlimit_destroy(m);
    am_memlimit_destroy(NULL);
}

static void test_mem_release_needs_free_memory(void **st)
{
    (void)st;
    assert_int_equal(am_mem_release(SIZE_MAX), 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__has_feature)
#define AM_GLIBC_MALLOC 1
#elif defined(__has_feature)
#if !__has_feature(address_sanitizer)
#define AM_GLIBC_MALLOC 1
#endif
#endif
#ifdef AM_GLIBC_MALLOC
    /* glibc's own allocator (ASan brings its own): 32 MiB of 64 KiB blocks
     * freed below a live guard stay in the arena until released. */
    enum { N = 512 };
    void **blocks = am_xcalloc(N, sizeof(*blocks));
    for (int i = 0; i < N; i++) {
        blocks[i] = am_xmalloc(64u << 10);
    }
    void *guard = am_xmalloc(64);
    for (int i = 0; i < N; i++) {
        am_free(blocks[i]);
    }
    assert_true(am_mem_release(16u << 20) >= (16u << 20));
    am_free(guard);
    am_free(blocks);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memlimit_parse_cgroup_values),
        cmocka_unit_test(test_memlimit_parse_meminfo_memtotal),
        cmocka_unit_test(test_memlimit_total_is_known_here),
        cmocka_unit_test(test_memlimit_verdict_follows_the_limit),
        cmocka_unit_test(test_mem_release_needs_free_memory),
    };
    return cmocka_run_group_tests_name("memlimit", tests, NULL, NULL);
}
