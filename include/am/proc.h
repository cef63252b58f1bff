#ifndef AM_PROC_H
#define AM_PROC_H

#include <stdint.h>

/*
 * The process_* self-metrics, read from /proc/self at scrape time.
 */

struct am_proc_stats {
    double cpu_seconds; /* user + system */
    uint64_t rss_bytes;
    uint64_t open_fds;
    uint64_t max_fds;
    double start_time_seconds; /* since the epoch */
};

/* Returns AM_OK, or AM_EIO when /proc could not be read. */
int am_proc_read(struct am_proc_stats *out);

#endif
