/*
 * alloc.c - the only place raw malloc/free appear (STYLE.md 5.5).
 * am_x* abort with a log line on exhaustion; am_try_* return NULL and honour
 * the test hook that fails the n-th allocation, so error paths get exercised.
 */
#include <stdlib.h>
#include <string.h>

#include "am/alloc.h"
#include "am/log.h"

static unsigned long alloc_count;
static unsigned long alloc_fail_at;

static void oom(size_t n)
{
    am_log_write(AM_LOG_LEVEL_ERROR, "alloc", "out of memory allocating %zu bytes", n);
    abort();
}

static int hook_fails(void)
{
    alloc_count++;
    return alloc_fail_at != 0 && alloc_count == alloc_fail_at;
}

void am_alloc_fail_at(unsigned long nth)
{
    alloc_fail_at = nth;
    alloc_count = 0;
}

unsigned long am_alloc_count(void)
{
    return alloc_count;
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
