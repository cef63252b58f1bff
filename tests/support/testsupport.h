#ifndef AM_TESTSUPPORT_H
#define AM_TESTSUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Shared test helpers: reading fixture files and comparing with goldens. */

/* Read a whole file into a NUL-terminated heap buffer; aborts the test run
 * if it cannot. *len gets the size without the NUL. */
char *ts_read_file(const char *path, size_t *len);

/* Compare got with the golden file at path byte for byte. When they differ,
 * prints the first differing line and returns nonzero. With the environment
 * variable AM_REGEN_GOLDEN=1 the golden file is rewritten instead. */
int ts_golden_compare(const char *path, const char *got, size_t got_len);

/* Allocation-failure sweep (STYLE.md 5.9): run fn(ctx, 0) with no failure and
 * count its am_try_* allocations, then run fn(ctx, nth) once for each nth,
 * failing that allocation. fn asserts its own invariants (AM_OK or AM_ENOMEM,
 * state consistent). Returns the count of the clean run. */
unsigned long ts_each_alloc(void (*fn)(void *ctx, unsigned long nth), void *ctx);
#define AM_TEST_EACH_ALLOC(fn, ctx) ts_each_alloc((fn), (ctx))

#endif
