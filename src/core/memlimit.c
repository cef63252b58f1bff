/*
 * memlimit.c - the soft memory limit and returning freed heap (am/memlimit.h).
 * RSS comes from /proc/self/statm (kept open, read with pread); one thread at
 * a time re-reads it (a compare-and-swap on the next reading's time), the
 * others use the last verdict. glibc keeps freed memory in its arenas, and
 * with its dynamic mmap threshold even large request buffers end up there,
 * so RSS stays at a burst's peak until malloc_trim hands the free pages back:
 * before refusing, and from housekeeping once a burst is over.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/alloc.h"
#include "am/memlimit.h"

#define TRIM_EVERY_NS (1000ull * 1000 * 1000)

struct am_memlimit {
    _Atomic uint64_t limit;
    _Atomic uint64_t next_ns; /* next RSS reading */
    _Atomic uint64_t trim_ns; /* next malloc_trim allowed */
    atomic_bool over;
    int statm_fd;
    uint64_t page_bytes;
};

struct am_memlimit *am_memlimit_create(uint64_t limit_bytes)
{
    struct am_memlimit *m = am_xcalloc(1, sizeof(*m));
    atomic_init(&m->limit, limit_bytes);
    m->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    long page = sysconf(_SC_PAGESIZE);
    m->page_bytes = page > 0 ? (uint64_t)page : 4096;
    return m;
}

void am_memlimit_destroy(struct am_memlimit *m)
{
    if (m == NULL) {
        return;
    }
    if (m->statm_fd >= 0) {
        close(m->statm_fd);
    }
    am_free(m);
}

void am_memlimit_set(struct am_memlimit *m, uint64_t limit_bytes)
{
    atomic_store(&m->limit, limit_bytes);
    atomic_store(&m->next_ns, 0); /* judge again at the next request */
}

uint64_t am_memlimit_get(const struct am_memlimit *m)
{
    return atomic_load(&((struct am_memlimit *)m)->limit);
}

/* Resident bytes (statm field 2), or 0 when unreadable. */
static uint64_t rss_bytes(const struct am_memlimit *m)
{
    char buf[128];
    ssize_t n = m->statm_fd >= 0 ? pread(m->statm_fd, buf, sizeof(buf) - 1, 0) : -1;
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    char *p = strchr(buf, ' ');
    return p != NULL ? strtoull(p + 1, NULL, 10) * m->page_bytes : 0;
}

static bool judge(struct am_memlimit *m, uint64_t limit, uint64_t now_ns)
{
    uint64_t rss = rss_bytes(m);
    if (rss <= limit) {
        return false;
    }
    uint64_t t = atomic_load(&m->trim_ns);
    if (now_ns >= t && atomic_compare_exchange_strong(&m->trim_ns, &t, now_ns + TRIM_EVERY_NS)) {
        malloc_trim(0);
        rss = rss_bytes(m);
    }
    return rss > limit;
}

bool am_memlimit_over(struct am_memlimit *m, uint64_t now_ns)
{
    if (m == NULL) {
        return false;
    }
    uint64_t limit = atomic_load(&m->limit);
    if (limit == 0) {
        return false;
    }
    uint64_t next = atomic_load(&m->next_ns);
    if (now_ns >= next &&
        atomic_compare_exchange_strong(&m->next_ns, &next, now_ns + AM_MEMLIMIT_RECHECK_NS)) {
        atomic_store(&m->over, judge(m, limit, now_ns));
    }
    return atomic_load(&m->over);
}

uint64_t am_memlimit_parse_cgroup(const char *text)
{
    while (*text == ' ' || *text == '\t') {
        text++;
    }
    if (*text < '0' || *text > '9') {
        return 0; /* "max" */
    }
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    /* cgroup v1 says "unlimited" with a huge page-rounded LONG_MAX */
    return v >= (1ull << 60) ? 0 : (uint64_t)v;
}

uint64_t am_memlimit_parse_meminfo(const char *text)
{
    const char *p = strstr(text, "MemTotal:");
    if (p == NULL) {
        return 0;
    }
    return strtoull(p + 9, NULL, 10) * 1024; /* kB */
}

static int read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0 ? 0 : -1;
}

static uint64_t min_nonzero(uint64_t a, uint64_t b)
{
    return a == 0 ? b : (b == 0 || a < b ? a : b);
}

/* The smallest memory.max from our cgroup (v2) up to the root. */
static uint64_t cgroup_v2_limit(void)
{
    char cg[4096];
    char path[4400];
    char val[64];
    if (read_text("/proc/self/cgroup", cg, sizeof(cg)) != 0) {
        return 0;
    }
    char *p = strstr(cg, "0::");
    if (p == NULL) {
        return 0;
    }
    p += 3;
    p[strcspn(p, "\n")] = '\0';
    uint64_t best = 0;
    for (;;) {
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", strcmp(p, "/") ? p : "");
        if (read_text(path, val, sizeof(val)) == 0) {
            best = min_nonzero(best, am_memlimit_parse_cgroup(val));
        }
        char *slash = strrchr(p, '/');
        if (slash == NULL || slash == p) {
            break;
        }
        *slash = '\0';
    }
    return best;
}

uint64_t am_memlimit_total(void)
{
    char buf[8192];
    char val[64];
    uint64_t total = 0;
    if (read_text("/proc/meminfo", buf, sizeof(buf)) == 0) {
        total = am_memlimit_parse_meminfo(buf);
    }
    total = min_nonzero(total, cgroup_v2_limit());
    if (read_text("/sys/fs/cgroup/memory/memory.limit_in_bytes", val, sizeof(val)) == 0) {
        total = min_nonzero(total, am_memlimit_parse_cgroup(val));
    }
    return total;
}

size_t am_mem_release(size_t min_free_bytes)
{
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks < min_free_bytes) {
        return 0;
    }
    malloc_trim(0);
    return mi.fordblks;
}
