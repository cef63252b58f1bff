#ifndef AM_DERIVE_H
#define AM_DERIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/classify.h"
#include "am/obs.h"
#include "am/pricing.h"
#include "am/span.h"

/*
 * derive: span facts -> observations (SPEC.md 3). Pure: no I/O, no clock,
 * no state. The observations' label views point into the facts, at the
 * agent name passed in, or at static strings; they are valid as long as
 * those are (for trace_buf: under its shard lock, while the sink runs).
 *
 * Attribution is the caller's: am_derive_facts takes the resolved agent
 * name (trace_buf finds it through the invoke_agent ancestor). What a span
 * contributes to its agent request's sums (am_derive_contrib) is split from
 * how it is labelled, and aggregate usage on invoke_agent / wrapper spans
 * (am_derive_usage) is emitted only when trace assembly decides no
 * inference span below carried usage.
 */

struct am_derive_opts {
    const struct am_pricing *pricing;   /* may be NULL: every model unpriced */
    struct am_price_cache *price_cache; /* the calling thread's; may be NULL */
    bool semconv_metrics;               /* emit gen_ai_client_* families */
    const struct am_str *dim_defaults;  /* per dimension, when neither span nor agent has it */
    unsigned dim_count;
};

/* Where observations go. Called with n >= 1; the label views are valid only
 * during the call (apply or copy them). */
typedef void (*am_obs_sink_cb)(void *ud, const struct am_obs *obs, size_t n);
struct am_obs_sink {
    am_obs_sink_cb fn;
    void *ud;
};

/* What one span adds to its agent request (per-interaction sums). */
struct am_contrib {
    double cost;     /* carried, else priced; 0 when unpriced */
    uint64_t tokens; /* input + output */
    bool has_usage;  /* input or output tokens present */
};

/* Per-interaction sums of one invoke_agent span. */
struct am_request_sums {
    double cost;
    uint64_t tokens;
    uint32_t inference_calls;
    uint32_t tool_calls;
    /* The invoke_agent span's own facts (dimensions, adjusted count); NULL:
     * no dimensions, counted once. */
    const struct am_span_facts *agent_facts;
};

/* The span's own agent name, else service.name, else "unknown". */
struct am_str am_derive_agent_name(const struct am_span_facts *f);

#define AM_DERIVE_MAX_OBS 24

/* Observations of one span labelled with `agent` (agent requests, inference
 * calls + tokens + cost, tool calls, semconv). Usage on AGENT, WRAPPER and
 * FETCH spans is not counted here. Exemplar: trace_id/span_id (16/8 bytes).
 * Returns the number written to out (at most AM_DERIVE_MAX_OBS). */
size_t am_derive_facts(const struct am_derive_opts *opts, const struct am_span_facts *facts,
                       struct am_str agent, const uint8_t *trace_id, const uint8_t *span_id,
                       struct am_obs *out);

/* am_derive_facts with the span's own attribution (am_derive_agent_name). */
size_t am_derive_span(const struct am_derive_opts *opts, const struct am_span *span,
                      const struct am_span_facts *facts, struct am_obs *out);

/* Aggregate usage of an AGENT or WRAPPER span counted as its own: token
 * usage, detail and cost (model_id as for inference). Returns the count. */
size_t am_derive_usage(const struct am_derive_opts *opts, const struct am_span_facts *facts,
                       struct am_str agent, const uint8_t *trace_id, const uint8_t *span_id,
                       struct am_obs *out);

/* The span's contribution to its agent request (tokens, cost). */
void am_derive_contrib(const struct am_derive_opts *opts, const struct am_span_facts *facts,
                       struct am_contrib *out);

/* The four agent_request_* observations of one invoke_agent span. Returns 4. */
size_t am_derive_request(const struct am_derive_opts *opts, struct am_str agent,
                         const struct am_request_sums *sums, const uint8_t *trace_id,
                         const uint8_t *span_id, struct am_obs *out);

/* The agent -> sub-agent edge of an invoke_agent span (facts: outcome,
 * duration, adjusted count) whose nearest invoke_agent ancestor is caller:
 * agent_graph_calls_total{callee_kind="agent"} and
 * agent_graph_call_duration_seconds. Returns 2. */
size_t am_derive_agent_edge(const struct am_derive_opts *opts, struct am_str caller,
                            struct am_str callee, const struct am_span_facts *facts,
                            const uint8_t *trace_id, const uint8_t *span_id, struct am_obs *out);

#endif
