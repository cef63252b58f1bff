#ifndef AM_QUALITY_H
#define AM_QUALITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/derive.h"
#include "am/span.h"
#include "am/str.h"

/*
 * quality: evaluation results (SPEC.md 3, Quality) and the sliding windows
 * that quality and escalation rates are computed over.
 *
 * struct am_window is a value type (caller storage, _init/_fini): two sums
 * per time bucket, buckets of span_ns / 60 aligned on the monotonic clock.
 * A value counts from its arrival until the end of its bucket is span_ns
 * old: between span_ns and span_ns + span_ns / 60.
 *
 * struct am_quality is opaque and thread-safe (one mutex; evaluations are
 * rare next to spans). It keeps one window per (agent_name, metric_type)
 * and copies both strings. Time is passed in; no I/O, no clock.
 */

struct am_window_bucket {
    uint64_t end_ns; /* the bucket covers [end_ns - width, end_ns) */
    double a;        /* quality: sum of scores; escalation: escalated */
    double b;        /* quality: count; escalation: finished */
};

struct am_window {
    uint64_t span_ns;
    uint64_t width_ns;
    struct am_window_bucket *buckets; /* ring */
    unsigned head, count, cap;
};

void am_window_init(struct am_window *w, uint64_t span_ns);
void am_window_fini(struct am_window *w);
/* Change the span; buckets already held keep their start and width. */
void am_window_set_span(struct am_window *w, uint64_t span_ns);
/* Add (a, b) at now_ns (now_ns never goes backwards). */
void am_window_add(struct am_window *w, uint64_t now_ns, double a, double b);
/* Drop buckets that left the window, then sum what is left. */
void am_window_sum(struct am_window *w, uint64_t now_ns, double *a, double *b);

/* One gen_ai.evaluation.result: views into the caller's attributes. */
struct am_eval {
    struct am_str name;  /* gen_ai.evaluation.name (not yet lower-cased) */
    struct am_str label; /* gen_ai.evaluation.score.label, empty when absent */
    double score;        /* gen_ai.evaluation.score.value */
    bool has_score;
};

/* The event name evaluations carry (span event name or log event_name). */
#define AM_EVAL_EVENT_NAME "gen_ai.evaluation.result"

/* Read an evaluation from attributes. Returns true when it has a name and
 * a score or a label (anything else is not an evaluation). */
bool am_eval_parse(const struct am_attrs *attrs, struct am_eval *out);

struct am_quality;

struct am_quality *am_quality_create(uint64_t window_ns);
void am_quality_destroy(struct am_quality *q);
/* Change quality_window at runtime; held scores are kept. */
void am_quality_configure(struct am_quality *q, uint64_t window_ns);

/* Record one evaluation for agent at now_ns: agent_evaluation_score observe
 * and agent_evaluation_labels_total += 1 (when labelled), and the updated
 * agent_quality_score (SET) go to sink. Exemplar ids may be NULL. */
void am_quality_add(struct am_quality *q, struct am_str agent, const struct am_eval *ev,
                    const uint8_t *trace_id, const uint8_t *span_id, uint64_t now_ns,
                    const struct am_obs_sink *sink);

/* Roll the windows: SET agent_quality_score for every (agent, metric_type)
 * with a score in the window; forget those with none (their gauge keeps its
 * last value until series_idle_timeout drops it). */
void am_quality_tick(struct am_quality *q, uint64_t now_ns, const struct am_obs_sink *sink);

/* Number of (agent, metric_type) windows held. */
size_t am_quality_count(struct am_quality *q);

#endif
