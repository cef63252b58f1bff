/*
 * log.c - one line per event on stderr, logfmt or JSON (am/log.h).
 * Lines are built in a stack buffer and written with one write(2) so lines
 * from different threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "am/err.h"
#include "am/log.h"

volatile int am_log_level_current = AM_LOG_LEVEL_INFO;
static enum am_log_format log_format = AM_LOG_FORMAT_LOGFMT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void am_log_set_level(enum am_log_level level)
{
    am_log_level_current = (int)level;
}

void am_log_set_format(enum am_log_format format)
{
    log_format = format;
}

int am_log_level_parse(const char *s, enum am_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum am_log_level)i;
            return AM_OK;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = AM_LOG_LEVEL_WARN;
        return AM_OK;
    }
    return AM_EINVAL;
}

/* Append s to dst[*n..cap), escaping quotes, backslashes and control bytes. */
static void put_escaped(char *dst, size_t cap, size_t *n, const char *s)
{
    for (; *s && *n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[(*n)++] = '\\';
            dst[(*n)++] = (char)c;
        } else if (c == '\n') {
            dst[(*n)++] = '\\';
            dst[(*n)++] = 'n';
        } else if (c < 0x20) {
            *n += (size_t)snprintf(dst + *n, cap - *n, "\\u%04x", c);
        } else {
            dst[(*n)++] = (char)c;
        }
    }
}

void am_log_write(enum am_log_level level, const char *mod, const char *fmt, ...)
{
    char msg[1024];
    char line[2304];
    size_t n = 0;
    struct timespec ts;
    struct tm tm;
    char tsbuf[40];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(tsbuf, sizeof(tsbuf), "%Y-%m-%dT%H:%M:%S", &tm);

    if (log_format == AM_LOG_FORMAT_JSON) {
        n = (size_t)snprintf(line, sizeof(line),
                             "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"mod\":\"%s\",\"msg\":\"",
                             tsbuf, ts.tv_nsec / 1000000, level_names[level], mod);
        put_escaped(line, sizeof(line), &n, msg);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\"}\n");
    } else {
        n = (size_t)snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s mod=%s msg=\"", tsbuf,
                             ts.tv_nsec / 1000000, level_names[level], mod);
        put_escaped(line, sizeof(line), &n, msg);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\"\n");
    }
    if (n > sizeof(line)) {
        n = sizeof(line);
    }
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

int am_log_rl_allow(struct am_log_rl *rl, uint64_t *suppressed)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    /* Any thread may hit the same call site: the one whose compare-exchange
     * moves last_ns prints, every other one counts itself suppressed. */
    uint64_t last = __atomic_load_n(&rl->last_ns, __ATOMIC_RELAXED);
    if ((last != 0 && now - last < 10000000000u) ||
        !__atomic_compare_exchange_n(&rl->last_ns, &last, now, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
        return 0;
    }
    *suppressed = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
    return 1;
}
