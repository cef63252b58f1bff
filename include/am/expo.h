#ifndef AM_EXPO_H
#define AM_EXPO_H

#include <stddef.h>

#include "am/buf.h"
#include "am/series.h"

/*
 * expo: the Prometheus text exposition format 0.0.4 (SPEC.md 1, 2). Every
 * family that has at least one series gets HELP and TYPE; histograms give
 * cumulative _bucket lines ending in le="+Inf", then _sum and _count. Label
 * values are escaped (\\, \", \n). Numbers use the shortest text that reads
 * back as the same double, formatted like Go's FormatFloat(v, 'g', -1, 64).
 */

#define AM_EXPO_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Append the exposition of the whole store to out. Returns AM_OK or
 * AM_ETOOBIG when out's cap is hit. */
int am_expo_text(struct am_series_store *s, struct am_buf *out);

/* Format v as Go's strconv.FormatFloat(v, 'g', -1, 64) does, with
 * Prometheus' spellings +Inf, -Inf and NaN. Writes a NUL-terminated string
 * into dst (at least 32 bytes) and returns its length. */
size_t am_expo_format_double(double v, char *dst);

#endif
