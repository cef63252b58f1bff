#ifndef AM_DERIVE_H
#define AM_DERIVE_H

#include <stddef.h>

#include "am/classify.h"
#include "am/obs.h"
#include "am/pricing.h"
#include "am/span.h"

/*
 * derive: span facts -> observations (SPEC.md 3). Pure: no I/O, no clock,
 * no state. The observations' label views point into the span/facts (the
 * request arena) or at static strings; they are valid until the arena is
 * reset, which is after am_series_apply has interned them.
 *
 * This first path derives from one span alone: agent_name is the span's own,
 * else service.name, else "unknown" (no ancestor lookup yet). Token usage is
 * counted on inference spans only; usage on AGENT, WRAPPER and FETCH spans is
 * not counted here (children carry it; trace assembly adds the "only when no
 * child carried usage" rule).
 */

struct am_derive_opts {
    const struct am_pricing *pricing; /* may be NULL: every model unpriced */
    bool semconv_metrics;             /* emit gen_ai_client_* families */
};

/* Resolved attribution for one span: the agent name to label it with. */
struct am_str am_derive_agent_name(const struct am_span_facts *f);

/* Append the observations for one span to out[0..cap). Returns the number
 * written (at most AM_DERIVE_MAX_OBS), never fails. */
#define AM_DERIVE_MAX_OBS 24
size_t am_derive_span(const struct am_derive_opts *opts, const struct am_span *span,
                      const struct am_span_facts *facts, struct am_obs *out);

#endif
