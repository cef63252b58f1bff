/*
 * units.c - durations (ms s m h) and sizes (KiB MiB GiB, or plain bytes)
 * as SPEC.md 4 spells them. Whole numbers only for sizes; durations accept a
 * decimal fraction ("1.5s"). Overflow is an error, not a wrap.
 */
#include <stdint.h>
#include <string.h>

#include "am/config.h"
#include "am/err.h"
#include "am/str.h"

static int split_number(const char *s, double *num, const char **unit)
{
    const char *p = s;
    double v = 0;
    double scale = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        scale = 0.1;
        while (*p >= '0' && *p <= '9') {
            v += (*p - '0') * scale;
            scale /= 10;
            p++;
            digits++;
        }
    }
    if (digits == 0) {
        return AM_EINVAL;
    }
    *num = v;
    *unit = p;
    return AM_OK;
}

int am_config_parse_duration(const char *s, uint64_t *ns)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    double v;
    const char *unit;
    if (split_number(s, &v, &unit) != AM_OK) {
        return AM_EINVAL;
    }
    if (*unit == '\0') {
        if (v != 0) {
            return AM_EINVAL; /* a bare number other than 0 has no unit */
        }
        *ns = 0;
        return AM_OK;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].unit) == 0) {
            double r = v * units[i].ns;
            if (r >= 18446744073709551615.0) {
                return AM_EINVAL;
            }
            *ns = (uint64_t)(r + 0.5);
            return AM_OK;
        }
    }
    return AM_EINVAL;
}

int am_config_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KiB", 1024},
                 {"MiB", 1024 * 1024},
                 {"GiB", 1024ull * 1024 * 1024},
                 {"KB", 1000},
                 {"MB", 1000 * 1000},
                 {"GB", 1000ull * 1000 * 1000}};
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        n++;
    }
    uint64_t v;
    if (n == 0 || am_str_to_u64((struct am_str){s, n}, &v) != AM_OK) {
        return AM_EINVAL;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + n, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mul) {
                return AM_EINVAL;
            }
            *bytes = v * units[i].mul;
            return AM_OK;
        }
    }
    return AM_EINVAL;
}
