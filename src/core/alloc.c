/*
 * alloc.c - the only place raw malloc/free appear (STYLE.md 5.5).
 * am_x* abort with a log line on exhaustion; am_try_* return NULL and honour
 * the test hook that fails the n-th allocation, so error paths get exercised.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "am/alloc.h"
#include "am/log.h"

/* The test hook: every thread allocates (workers, nghttp2 through its
 * allocator, the series pools), so both are atomics, relaxed: a test that
 * fails the n-th allocation drives one thread at a time anyway. */
static _Atomic unsigned long alloc_count;
static _Atomic unsigned long alloc_fail_at;

static void oom(size_t n)
{
    am_log_write(AM_LOG_LEVEL_ERROR, "alloc", "out of memory allocating %zu bytes", n);
    abort();
}

static int hook_fails(void)
{
    unsigned long n = atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed) + 1;
    unsigned long at = atomic_load_explicit(&alloc_fail_at, memory_order_relaxed);
    return at != 0 && n == at;
}

void am_alloc_fail_at(unsigned long nth)
{
    atomic_store_explicit(&alloc_fail_at, nth, memory_order_relaxed);
    atomic_store_explicit(&alloc_count, 0, memory_order_relaxed);
}

unsigned long am_alloc_count(void)
{
    return atomic_load_explicit(&alloc_count, memory_order_relaxed);
}

void *am_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        oom(n);
    }
    return p;
}

void *am_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL) {
        oom(count * n);
    }
    return p;
}

void *am_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        oom(n);
    }
    return q;
}

char *am_xstrdup(const char *s)
{
    return am_xstrndup(s, strlen(s));
}

char *am_xstrndup(const char *s, size_t n)
{
    char *p = am_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void am_free(void *p)
{
    free(p);
}

void *am_try_malloc(size_t n)
{
    if (hook_fails()) {
        return NULL;
    }
    return malloc(n ? n : 1);
}

void *am_try_calloc(size_t count, size_t n)
{
    if (hook_fails()) {
        return NULL;
    }
    return calloc(count ? count : 1, n ? n : 1);
}

void *am_try_realloc(void *p, size_t n)
{
    if (hook_fails()) {
        return NULL;
    }
    return realloc(p, n ? n : 1);
}
