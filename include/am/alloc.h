#ifndef AM_ALLOC_H
#define AM_ALLOC_H

#include <stddef.h>

/*
 * Process- and state-lifetime allocation. The x-functions never return NULL:
 * on exhaustion they log one line and abort (STYLE.md 5.5). Request-lifetime
 * memory comes from struct am_arena instead, which fails softly.
 *
 * Tests may install a hook that makes the n-th allocation fail; the
 * am_try_* variants return NULL then, so failure paths can be exercised.
 */

void *am_xmalloc(size_t n);
void *am_xcalloc(size_t count, size_t n);
void *am_xrealloc(void *p, size_t n);
char *am_xstrdup(const char *s);
char *am_xstrndup(const char *s, size_t n);
void am_free(void *p);

/* Fallible variants: NULL on failure (or when the test hook says fail). */
void *am_try_malloc(size_t n);
void *am_try_calloc(size_t count, size_t n);
void *am_try_realloc(void *p, size_t n);

/* Test hook: fail the allocation numbered `nth` (1-based) made through the
 * am_try_* family after this call; 0 disables. Returns how many were made. */
void am_alloc_fail_at(unsigned long nth);
unsigned long am_alloc_count(void);

#endif
