/*
 * proc.c - the process_* self-metrics (SPEC.md 2) from /proc/self: CPU time
 * and start time from /proc/self/stat (clock ticks), RSS from its page
 * count, open fds by listing /proc/self/fd (not counting the listing's own
 * descriptor), the fd limit from getrlimit, boot time from /proc/stat btime.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "am/err.h"
#include "am/proc.h"

/* Read up to cap-1 bytes of a small /proc file, NUL-terminated. */
static int read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return AM_EIO;
    }
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return n > 0 ? AM_OK : AM_EIO;
}

/* Fields of /proc/self/stat after "pid (comm) ": state is field 3. */
static int parse_stat(const char *buf, uint64_t *ticks, uint64_t *start, uint64_t *rss_pages)
{
    const char *p = strrchr(buf, ')');
    if (p == NULL) {
        return AM_EIO;
    }
    p++;
    uint64_t f[25] = {0};
    for (int field = 3; field <= 24; field++) {
        while (*p == ' ') {
            p++;
        }
        char *end;
        f[field] = strtoull(p, &end, 10);
        if (field > 3 && end == p) {
            return AM_EIO;
        }
        p = field == 3 ? strchr(p, ' ') : end;
        if (p == NULL) {
            return AM_EIO;
        }
    }
    *ticks = f[14] + f[15];
    *start = f[22];
    *rss_pages = f[24];
    return AM_OK;
}

static int boot_time(uint64_t *out)
{
    char buf[16384];
    if (read_small("/proc/stat", buf, sizeof(buf)) != AM_OK) {
        return AM_EIO;
    }
    const char *p = strstr(buf, "\nbtime ");
    if (p == NULL) {
        return AM_EIO;
    }
    *out = strtoull(p + 7, NULL, 10);
    return AM_OK;
}

static int count_fds(uint64_t *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return AM_EIO;
    }
    long self = dirfd(d);
    uint64_t n = 0;
    struct dirent *e;
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (e->d_name[0] != '.' && strtol(e->d_name, NULL, 10) != self) {
            n++;
        }
    }
    closedir(d);
    *out = n;
    return AM_OK;
}

int am_proc_read(struct am_proc_stats *out)
{
    char buf[1024];
    uint64_t ticks;
    uint64_t start;
    uint64_t pages;
    uint64_t btime;
    long hz = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (hz <= 0 || page <= 0 || read_small("/proc/self/stat", buf, sizeof(buf)) != AM_OK ||
        parse_stat(buf, &ticks, &start, &pages) != AM_OK || boot_time(&btime) != AM_OK ||
        count_fds(&out->open_fds) != AM_OK) {
        return AM_EIO;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return AM_EIO;
    }
    out->cpu_seconds = (double)ticks / (double)hz;
    out->rss_bytes = pages * (uint64_t)page;
    out->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    out->start_time_seconds = (double)btime + (double)start / (double)hz;
    return AM_OK;
}
