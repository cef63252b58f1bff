#ifndef AM_EXPO_H
#define AM_EXPO_H

#include <stddef.h>

#include "am/buf.h"
#include "am/str.h"
#include "am/series.h"

/*
 * expo: the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0.0
 * (SPEC.md 1, 2). Every
 * family that has at least one series gets HELP and TYPE; histograms give
 * cumulative _bucket lines ending in le="+Inf", then _sum and _count. Label
 * values are escaped (\\, \", \n). Numbers use the shortest text that reads
 * back as the same double, formatted like Go's FormatFloat(v, 'g', -1, 64).
 */

#define AM_EXPO_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define AM_EXPO_OPENMETRICS_CONTENT_TYPE                                                           \
    "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Append the exposition of the whole store to out. Returns AM_OK or
 * AM_ETOOBIG when out's cap is hit. */
int am_expo_text(struct am_series_store *s, struct am_buf *out);

/* Append the OpenMetrics 1.0.0 exposition: TYPE then HELP per family
 * (counters named without _total), counters as _total plus _created,
 * histograms as _bucket (le canonical: "1.0", "+Inf"), _count, _sum,
 * _created; exemplars ` # {trace_id="..",span_id=".."} value ts` on counter
 * _total lines and histogram buckets; ends with "# EOF\n". Returns AM_OK or
 * AM_ETOOBIG when out's cap is hit (output then partial). */
int am_expo_openmetrics(struct am_series_store *s, struct am_buf *out);

#endif
