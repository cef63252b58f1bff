#ifndef AM_LOG_H
#define AM_LOG_H

#include <stdint.h>

/*
 * One line per event on stderr: `ts=... level=... mod=... msg="..." k=v`
 * (logfmt) or the same fields as a JSON object. Only the edges log (net,
 * config, daemon, rw_queue); cores return codes. The level check happens
 * before any formatting. AM_LOG_RL is rate-limited per call site: at most one
 * line per 10 s, and the next line printed says how many were suppressed.
 */

enum am_log_level {
    AM_LOG_LEVEL_ERROR = 0,
    AM_LOG_LEVEL_WARN = 1,
    AM_LOG_LEVEL_INFO = 2,
    AM_LOG_LEVEL_DEBUG = 3,
};

enum am_log_format {
    AM_LOG_FORMAT_LOGFMT = 0,
    AM_LOG_FORMAT_JSON = 1,
};

extern volatile int am_log_level_current;

void am_log_set_level(enum am_log_level level);
void am_log_set_format(enum am_log_format format);
/* Parse "error" / "warn" / "info" / "debug". Returns AM_OK or AM_EINVAL. */
int am_log_level_parse(const char *s, enum am_log_level *out);

__attribute__((format(printf, 3, 4))) void am_log_write(enum am_log_level level, const char *mod,
                                                        const char *fmt, ...);

struct am_log_rl {
    uint64_t last_ns;
    uint64_t suppressed;
};
/* Returns 1 if a rate-limited line may be printed now (and how many were
 * suppressed since the last one in *suppressed), else 0. */
int am_log_rl_allow(struct am_log_rl *rl, uint64_t *suppressed);

#define AM_LOG_(lvl, mod, ...)                                                                     \
    do {                                                                                           \
        if ((int)(lvl) <= am_log_level_current) {                                                  \
            am_log_write((lvl), (mod), __VA_ARGS__);                                               \
        }                                                                                          \
    } while (0)

#define AM_LOG_ERROR(mod, ...) AM_LOG_(AM_LOG_LEVEL_ERROR, mod, __VA_ARGS__)
#define AM_LOG_WARN(mod, ...) AM_LOG_(AM_LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define AM_LOG_INFO(mod, ...) AM_LOG_(AM_LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define AM_LOG_DEBUG(mod, ...) AM_LOG_(AM_LOG_LEVEL_DEBUG, mod, __VA_ARGS__)

/* Rate-limited: at most one line per call site per 10 s. */
#define AM_LOG_RL(lvl, mod, fmt, ...)                                                              \
    do {                                                                                           \
        static struct am_log_rl rl_;                                                               \
        uint64_t supp_;                                                                            \
        if ((int)(lvl) <= am_log_level_current && am_log_rl_allow(&rl_, &supp_)) {                 \
            am_log_write((lvl), (mod), fmt " suppressed=%llu", __VA_ARGS__,                        \
                         (unsigned long long)supp_);                                               \
        }                                                                                          \
    } while (0)

#define AM_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            am_log_write(AM_LOG_LEVEL_ERROR, "assert", "%s:%d: %s", __FILE__, __LINE__, #cond);    \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

#endif
