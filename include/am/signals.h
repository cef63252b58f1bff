#ifndef AM_SIGNALS_H
#define AM_SIGNALS_H

#include <stdint.h>

#include "am/classify.h"
#include "am/span.h"
#include "am/str.h"

/*
 * signals: what a span says beyond its operation, read after am_classify
 * into the same facts (SPEC.md 3): streaming latency (time to the first
 * chunk, from the semconv and instrumentation attributes or the first
 * chunk event) and the sampling-adjusted count (W3C tracestate `ot=th:` /
 * `ot=p:`, or a configured multiplier attribute). Pure: no I/O, no clock,
 * no globals written; views are not kept.
 */

enum am_adjust_source {
    AM_ADJ_NONE = 0,  /* not sampled, or nothing usable: counts as 1 */
    AM_ADJ_THRESHOLD, /* ot=th:<hex> (OpenTelemetry probability sampling) */
    AM_ADJ_PVALUE,    /* ot=p:<0..62> (the older power-of-two encoding) */
    AM_ADJ_ATTRIBUTE, /* processors.genai.sampling.multiplier_attribute */
};

/* Set f->ttft_ns / f->has_ttft from an inference span: the first of
 * gen_ai.response.time_to_first_chunk (s), gen_ai.server.time_to_first_token
 * (s, OpenLIT), ai.response.msToFirstChunk / ai.stream.msToFirstChunk (ms,
 * Vercel AI SDK), else the time of its first chunk event ("First Token
 * Stream Event" OpenInference, "llm.content.completion.chunk" OpenLLMetry,
 * "ai.stream.firstChunk" Vercel) minus the span start. Negative, non-finite
 * or unparsable values are ignored. Other operations are left alone. */
void am_signals_stream(const struct am_span *span, struct am_span_facts *f);

/* The adjusted count a W3C tracestate's `ot` member gives: th wins over p.
 * Returns the source, with *adjusted set (>= 1), or AM_ADJ_NONE when the
 * tracestate carries neither, or only malformed ones (then *adjusted = 1). */
enum am_adjust_source am_signals_tracestate(struct am_str tracestate, double *adjusted);

/* The span's adjusted count: the attribute named multiplier_attr (empty =
 * none) when it holds a finite number >= 1 (or such a numeric string), else
 * the tracestate. Sets f->adjusted_count (0 when AM_ADJ_NONE). */
enum am_adjust_source am_signals_sampling(const struct am_span *span, struct am_str multiplier_attr,
                                          struct am_span_facts *f);

/* Dimension values: for j < n, attribute attrs[j] of the span, else of its
 * resource; strings as they are, bools as true/false, ints and doubles as
 * decimal text (in f->dim_text). Sets f->dims[j] and bit j of f->dims_set
 * when found; empty strings and other types count as absent. */
void am_signals_dimensions(const struct am_span *span, const struct am_str *attrs, unsigned n,
                           struct am_span_facts *f);

/* Label value of a source ("threshold", "p_value", "attribute"). */
struct am_str am_signals_source_name(enum am_adjust_source src);

#endif
