#ifndef AM_OBS_H
#define AM_OBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/str.h"

/*
 * The boundary between genai and metrics (DESIGN.md 1): derive turns span
 * facts into observations, series consumes them. An observation names a
 * metric family, gives the label *values* in the family's label order, and
 * says what to do with `value`. Label value views must stay valid only for
 * the duration of am_series_apply (series interns what it keeps).
 *
 * The family table itself (names, help, type, label names, default buckets)
 * is data in src/metrics/family.c; SPEC.md 2 is its source.
 */

enum am_metric {
    /* seed metrics (SPEC.md 2) */
    AM_M_AGENT_REQUESTS_TOTAL,        /* agent_name, status */
    AM_M_AGENT_REQUEST_DURATION,      /* agent_name */
    AM_M_MODEL_INFERENCE_DURATION,    /* agent_name, model_id */
    AM_M_MODEL_INFERENCE_CALLS_TOTAL, /* agent_name, model_id */
    AM_M_AGENT_TOKEN_USAGE_TOTAL,     /* agent_name, model_id, token_type */
    AM_M_AGENT_ESTIMATED_COST_TOTAL,  /* agent_name, model_id */
    AM_M_AGENT_TOOL_CALLS_TOTAL,      /* agent_name, tool_name, status */
    AM_M_AGENT_TOOL_CALL_DURATION,    /* agent_name, tool_name */
    AM_M_AGENT_QUALITY_SCORE,         /* agent_name, metric_type */
    AM_M_AGENT_CONVERSATION_TURNS,    /* agent_name */
    AM_M_AGENT_ESCALATION_RATE,       /* agent_name */
    /* beyond the seed */
    AM_M_AGENT_REQUEST_COST,             /* agent_name */
    AM_M_AGENT_REQUEST_TOKENS,           /* agent_name */
    AM_M_AGENT_REQUEST_INFERENCE_CALLS,  /* agent_name */
    AM_M_AGENT_REQUEST_TOOL_CALLS,       /* agent_name */
    AM_M_AGENT_TOKEN_USAGE_DETAIL_TOTAL, /* agent_name, model_id, token_type */
    AM_M_AGENT_EVALUATION_SCORE,         /* agent_name, metric_type */
    AM_M_AGENT_EVALUATION_LABELS_TOTAL,  /* agent_name, metric_type, label */
    AM_M_AGENT_CONVERSATIONS_TOTAL,      /* agent_name, outcome */
    AM_M_GENAI_OPERATION_DURATION,       /* gen_ai_operation_name, gen_ai_provider_name,
                                            gen_ai_request_model, gen_ai_response_model, error_type */
    AM_M_GENAI_TOKEN_USAGE,              /* gen_ai_operation_name, gen_ai_provider_name,
                                            gen_ai_request_model, gen_ai_response_model,
                                            gen_ai_token_type */
    AM_M_GENAI_TIME_TO_FIRST_TOKEN,      /* agent_name, model_id */
    AM_M_GENAI_TIME_PER_OUTPUT_TOKEN,    /* agent_name, model_id */
    AM_M_AGENT_GRAPH_CALLS_TOTAL,        /* caller, callee, callee_kind, status */
    AM_M_AGENT_GRAPH_CALL_DURATION,      /* caller, callee (agent -> agent edges) */
    /* self-metrics */
    AM_M_SELF_RECEIVER_REQUESTS_TOTAL,      /* protocol, code */
    AM_M_SELF_SPANS_ACCEPTED_TOTAL,         /* protocol */
    AM_M_SELF_SPANS_REJECTED_TOTAL,         /* reason */
    AM_M_SELF_SPANS_ADJUSTED_TOTAL,         /* source: spans counted by their sampling weight */
    AM_M_SELF_SPANS_FILTERED_TOTAL,         /* reason: include, exclude */
    AM_M_SELF_LOG_RECORDS_ACCEPTED_TOTAL,   /* protocol */
    AM_M_SELF_EVALUATIONS_ACCEPTED_TOTAL,   /* source */
    AM_M_SELF_SERIES_ACTIVE,                /* metric */
    AM_M_SELF_SERIES_OVERFLOW_TOTAL,        /* metric */
    AM_M_SELF_SERIES_EXPIRED_TOTAL,         /* metric */
    AM_M_SELF_LABEL_VALUES_TRUNCATED_TOTAL, /* reason */
    AM_M_SELF_UNPRICED_TOKENS_TOTAL,        /* model_id */
    AM_M_SELF_CONNECTIONS_ACCEPTED_TOTAL,   /* listener */
    AM_M_SELF_CONNECTIONS_REJECTED_TOTAL,   /* listener, reason */
    AM_M_SELF_CONNECTIONS_ACTIVE,           /* listener */
    AM_M_SELF_REQUESTS_REFUSED_TOTAL,       /* listener, reason */
    AM_M_SELF_INFLIGHT_BYTES,               /* listener */
    AM_M_SELF_BUILD_INFO,                   /* version */
    AM_M_SELF_RW_SAMPLES_SENT_TOTAL,        /* url */
    AM_M_SELF_RW_SAMPLES_FAILED_TOTAL,      /* url */
    AM_M_SELF_RW_SAMPLES_RETRIED_TOTAL,     /* url */
    AM_M_SELF_RW_SAMPLES_DROPPED_TOTAL,     /* url, reason */
    AM_M_SELF_RW_REQUESTS_TOTAL,            /* url, code */
    AM_M_SELF_RW_QUEUE_LENGTH,              /* url */
    AM_M_SELF_RW_QUEUE_BYTES,               /* url */
    AM_M_SELF_RW_QUEUE_CORRUPT_TOTAL,       /* url */
    AM_M_SELF_RW_LAST_SEND_TIMESTAMP,       /* url */
    AM_M_SELF_TRACES_PENDING,               /* (none) gauge: traces held by trace_buf */
    AM_M_SELF_SPANS_PENDING,                /* (none) gauge: span skeletons held */
    AM_M_SELF_SPANS_WAITING,                /* (none) gauge: spans waiting for their agent */
    AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL,    /* reason */
    AM_M_SELF_AGENT_FALLBACK_TOTAL,         /* reason */
    AM_M_SELF_SPANS_LATE_TOTAL,             /* (none): after their interaction was observed */
    AM_M_SELF_CONVERSATIONS_OPEN,           /* (none) gauge */
    AM_M_SELF_CONVERSATIONS_EVICTED_TOTAL,  /* reason */
    AM_M_SELF_SPANS_CLASSIFIED_TOTAL,       /* by (builtin, rule:NAME), operation */
    AM_M_PROCESS_CPU_SECONDS_TOTAL,
    AM_M_PROCESS_RESIDENT_MEMORY_BYTES,
    AM_M_PROCESS_OPEN_FDS,
    AM_M_PROCESS_MAX_FDS,
    AM_M_PROCESS_START_TIME_SECONDS,
    AM_M_COUNT
};

enum am_metric_type {
    AM_TYPE_COUNTER,
    AM_TYPE_GAUGE,
    AM_TYPE_HISTOGRAM,
};

#define AM_MAX_DIMS 4 /* processors.genai.dimensions */
#define AM_MAX_LABELS (5 + AM_MAX_DIMS)
#define AM_MAX_BUCKETS 32

struct am_family {
    const char *name; /* exposition name, counters include _total */
    const char *help;
    enum am_metric_type type;
    unsigned label_count; /* built-in labels, then the family's dimensions */
    const char *labels[AM_MAX_LABELS];
    unsigned bucket_count; /* default buckets (histograms) */
    double buckets[AM_MAX_BUCKETS];
    unsigned base_label_count; /* the built-in labels; 0 until dimensions are set */
    uint8_t dims;              /* bit j: dimension j is a label here (in order) */
};

/* The family descriptor for m (never NULL for m < AM_M_COUNT). */
const struct am_family *am_family_get(enum am_metric m);

/* Whether dimensions may be added to m: the span-derived families except
 * those conversation tracking and quality emit (their observations do not
 * come from one span). */
bool am_family_dimensionable(enum am_metric m);

/* Set the dimensions (label names, already validated; masks: per dimension
 * the bit set of the families it labels, bit m for metric m < 64). Called
 * once at startup, before any series store exists and before any thread
 * reads a family: the one process-wide table set after main starts (like
 * the log level). n 0 restores the built-in families. */
void am_family_set_dimensions(const char *const *labels, const uint64_t *masks, size_t n);
/* Look a family up by exposition name (with or without _total for counters).
 * Returns the metric id, or -1. */
int am_family_find(const char *name);

enum am_obs_kind {
    AM_OBS_INC,     /* counter += value (value >= 0) */
    AM_OBS_OBSERVE, /* histogram observe(value) */
    AM_OBS_SET,     /* gauge = value; also sets a counter to an absolute value (self-metrics) */
};

struct am_obs {
    enum am_metric metric;
    enum am_obs_kind kind;
    double value;
    struct am_str labels[AM_MAX_LABELS];
    /* Exemplar (issue 3): the span that produced it; zero when none. */
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t has_exemplar;
    /* Histograms: how many observations this one stands for (sampling,
     * SPEC.md 3); 0 means 1. Counters carry the scaled value instead. */
    uint32_t weight;
};

#endif
