#ifndef AM_SELF_H
#define AM_SELF_H

#include <stddef.h>

#include "am/obs.h"
#include "am/series.h"
#include "am/str.h"

/*
 * self: collectors of agentmeter's own gauges and counters whose source is
 * not a span (process_*, build info, connections, remote_write). Each module
 * that keeps such numbers gets a collector callback that sets them
 * (AM_OBS_SET) when a snapshot is taken; am_self_collect runs every
 * collector in registration order and applies what they set to one series
 * shard. The /metrics handler calls it before each exposition and the main
 * thread before each round of remote_write snapshots, so a remote_write-only
 * deployment sends the same self-metrics a scraper sees. Span-driven
 * counters (spans accepted, drops, evictions) are counted where they happen
 * and need no collector. Collectors are registered before the workers start
 * and never after; collecting may run on several threads at once (each call
 * has its own buffer, collectors read relaxed atomics, the store locks).
 * The list of registered collectors is in src/daemon/self.c;
 * docs/design/metrics.md names each one and what it sets.
 */

struct am_self;
struct am_self_out;

/* Set this collector's gauges and counters through am_self_set. */
typedef void (*am_self_collect_cb)(void *ud, struct am_self_out *out);

/* A registry that applies to store (not owned). Never NULL. */
struct am_self *am_self_create(struct am_series_store *store);
void am_self_destroy(struct am_self *s);
/* Add a collector; name (static) is for docs and tests. Not thread-safe:
 * call before any am_self_collect. */
void am_self_register(struct am_self *s, const char *name, am_self_collect_cb cb, void *ud);
/* Run every collector and apply what they set to shard. Returns AM_OK, or
 * the first error of am_series_apply (a collector set a bad value). */
int am_self_collect(struct am_self *s, unsigned shard);
size_t am_self_count(const struct am_self *s);
/* Name of the i-th collector (i < am_self_count), in registration order. */
const char *am_self_name(const struct am_self *s, size_t i);

/* Set metric m (a gauge, or a counter to its running total) to v, with up
 * to two label values, which are copied. */
void am_self_set(struct am_self_out *out, enum am_metric m, double v, struct am_str l0,
                 struct am_str l1);

/* Collectors of metrics and core, for am_self_register. */
/* process_*: CPU, RSS, fds from /proc/self; ud is a double *, the start
 * time in seconds since the epoch (process_start_time_seconds). */
void am_self_process(void *ud, struct am_self_out *out);
/* agentmeter_build_info{version}; ud unused. */
void am_self_build_info(void *ud, struct am_self_out *out);

#endif
