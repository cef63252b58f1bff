#ifndef AM_FMT_H
#define AM_FMT_H

#include <stddef.h>

/*
 * fmt: number formatting shared by the exposition and remote_write. Pure;
 * no allocation, no locale (digits and '.' only).
 */

/* Room for any am_fmt_double result and its NUL ("-2.2250738585072014e-308"). */
#define AM_FMT_DOUBLE_MAX 32

/* Format v as Go's strconv.FormatFloat(v, 'g', -1, 64) does (shortest digits
 * that round-trip, the closest of those to v; exponent form when the decimal
 * exponent is < -4 or >= 6), with Prometheus' spellings +Inf, -Inf and NaN.
 * Writes a NUL-terminated string into dst and returns its length. */
size_t am_fmt_double(double v, char dst[AM_FMT_DOUBLE_MAX]);

#endif
