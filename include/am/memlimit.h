#ifndef AM_MEMLIMIT_H
#define AM_MEMLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * memlimit: the soft memory limit (limits.memory, SPEC.md 4), like the
 * OpenTelemetry Collector's memory_limiter. The process RSS is read from
 * /proc/self/statm at most every AM_MEMLIMIT_RECHECK_NS by whichever worker
 * asks first; above the limit the heap's free pages are first handed back
 * (malloc_trim, at most once a second) and RSS read again, and only then do
 * the listeners refuse new exports (503 + Retry-After / UNAVAILABLE) until
 * it is below again. Thread-safe (atomics); one per daemon, shared by the
 * listeners of every worker. The default limit is a share of the cgroup's
 * memory.max or, without one, of the machine's memory (am_memlimit_total).
 */

#define AM_MEMLIMIT_RECHECK_NS (10ull * 1000 * 1000)

struct am_memlimit;

/* limit_bytes 0: never over. Process lifetime (aborts on OOM). */
struct am_memlimit *am_memlimit_create(uint64_t limit_bytes);
void am_memlimit_destroy(struct am_memlimit *m);
/* A reload's new limit (0 turns it off). */
void am_memlimit_set(struct am_memlimit *m, uint64_t limit_bytes);
uint64_t am_memlimit_get(const struct am_memlimit *m);
/* Whether RSS is over the limit at now_ns (monotonic), re-reading RSS when
 * the last reading is older than AM_MEMLIMIT_RECHECK_NS. NULL: false. */
bool am_memlimit_over(struct am_memlimit *m, uint64_t now_ns);

/* Memory this process may use: the smallest cgroup (v2 memory.max up the
 * hierarchy, or v1 memory.limit_in_bytes) and MemTotal. 0 when unknown. */
uint64_t am_memlimit_total(void);
/* A cgroup limit file's value ("max" or a byte count); 0: no limit. */
uint64_t am_memlimit_parse_cgroup(const char *text);
/* MemTotal of a /proc/meminfo text, in bytes; 0 when absent. */
uint64_t am_memlimit_parse_meminfo(const char *text);

/* Hand freed heap back to the system when at least min_free_bytes sit free
 * in malloc's arenas (housekeeping calls it after bursts). Returns the free
 * bytes seen, or 0 when nothing was done. */
size_t am_mem_release(size_t min_free_bytes);

#endif
