#ifndef AM_TRACE_BUF_H
#define AM_TRACE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/classify.h"
#include "am/conv.h"
#include "am/derive.h"
#include "am/quality.h"
#include "am/span.h"

/*
 * trace_buf: trace assembly (SPEC.md 3, DESIGN.md 1/3). Every span leaves a
 * skeleton in its trace (ids, operation, agent, conversation, per-request
 * contribution); a span that needs an agent and has neither its own
 * gen_ai.agent.name nor an invoke_agent ancestor already held waits, with a
 * copy of what it needs to be derived later, until the ancestor arrives or
 * its trace has been quiet for trace_wait (then: service.name, counted).
 * A quiet trace is finished: per-request sums of every invoke_agent span,
 * aggregate usage counted only when nothing below carried usage, turns and
 * escalations handed to conv. Strings are interned per shard.
 *
 * Opaque and thread-safe: traces are sharded by trace id hash with one mutex
 * per shard, never held across I/O. conv and quality locks are taken inside
 * a shard lock (never the other way). The sink runs under the shard lock:
 * it may apply observations to the series store but must not call back
 * into trace_buf, conv or quality. Time is passed in.
 */

struct am_trace_buf_opts {
    unsigned shards;                       /* >= 1 */
    uint64_t trace_wait_ns;                /* processors.genai.trace_wait */
    size_t max_pending_spans;              /* all shards together; 0 = unlimited */
    size_t max_spans_per_trace;            /* 0 = unlimited */
    struct am_str escalation_attribute;    /* empty = none (copied) */
    const struct am_str *escalation_tools; /* copied */
    size_t escalation_tool_count;
    struct am_conv *conv;       /* may be NULL: no conversation metrics */
    struct am_quality *quality; /* may be NULL: evaluations ignored */
};

struct am_trace_buf_stats {
    size_t traces;          /* traces held */
    size_t spans;           /* span skeletons held */
    size_t waiting;         /* spans (and evaluations) waiting for an agent */
    size_t tombstones;      /* traces finished at once, kept for trace_wait */
    size_t tombstone_spans; /* their span ids */
    size_t bytes;           /* heap held, by the module's own accounting */
};

struct am_trace_buf;

struct am_trace_buf *am_trace_buf_create(const struct am_trace_buf_opts *opts);
/* Frees everything held, emitting nothing (flush first). NULL is a no-op. */
void am_trace_buf_destroy(struct am_trace_buf *tb);
/* Change trace_wait, max_pending_spans and the escalation rules at runtime;
 * held spans are kept (conv and quality in opts are ignored). */
void am_trace_buf_configure(struct am_trace_buf *tb, const struct am_trace_buf_opts *opts);

/* Take one classified span that arrived at now_ns (collector monotonic
 * clock). Observations that can be made now go to sink (the span's own, and
 * those of waiting spans it unblocks); the rest is held. Views in span and
 * facts are not kept. */
void am_trace_buf_add(struct am_trace_buf *tb, const struct am_derive_opts *dopts,
                      const struct am_span *span, const struct am_span_facts *facts,
                      uint64_t now_ns, const struct am_obs_sink *sink);

/* How add_batch classifies a span: am_classify plus what the caller adds. */
typedef void (*am_trace_buf_classify_cb)(void *ud, const struct am_span *span,
                                         struct am_span_facts *out);

/* The spans of one request, classified (by classify, or am_classify when
 * NULL) and added as am_trace_buf_add does, but each shard is locked once
 * for all of its spans, and at the end of a shard's spans every trace of the
 * batch whose root has arrived and that has no waiting span is finished at
 * once: its per-interaction metrics observed, a tombstone kept for
 * trace_wait (a re-sent span is ignored, a late one derived with its agent
 * and counted in agentmeter_spans_late_total). Span views are not kept. */
void am_trace_buf_add_batch(struct am_trace_buf *tb, const struct am_derive_opts *dopts,
                            const struct am_span *const *spans, size_t n,
                            am_trace_buf_classify_cb classify, void *classify_ud, uint64_t now_ns,
                            const struct am_obs_sink *sink);

/* One gen_ai.evaluation.result carried by a log record: its agent is that
 * of span (trace_id, span_id), waiting for it like a span. trace_id NULL (no
 * trace context): service_name at once. */
void am_trace_buf_add_eval(struct am_trace_buf *tb, const uint8_t *trace_id, const uint8_t *span_id,
                           struct am_str service_name, const struct am_eval *ev, uint64_t now_ns,
                           const struct am_obs_sink *sink);

/* Finish every trace quiet for trace_wait at now_ns, and SET the pending
 * gauges (agentmeter_traces_pending, _spans_pending, _spans_waiting). */
void am_trace_buf_tick(struct am_trace_buf *tb, const struct am_derive_opts *dopts, uint64_t now_ns,
                       const struct am_obs_sink *sink);
/* Shutdown: finish every trace as if its wait had ended. */
void am_trace_buf_flush(struct am_trace_buf *tb, const struct am_derive_opts *dopts,
                        uint64_t now_ns, const struct am_obs_sink *sink);

void am_trace_buf_stats(struct am_trace_buf *tb, struct am_trace_buf_stats *out);

#endif
