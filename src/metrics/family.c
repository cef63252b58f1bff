/*
 * family.c - the metric families agentmeter exposes (SPEC.md 2): names,
 * help, types, label names in order, default buckets. Data, not code;
 * enum am_metric in am/obs.h indexes it.
 */
#include <string.h>

#include "am/obs.h"

/* Label and bucket lists are passed parenthesized: ("a", "b"). */
#define LIST(...)                                                                                  \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define NB(...) (sizeof((double[]){__VA_ARGS__}) / sizeof(double))
#define NL(...) (sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *))

#define COUNTER(id, n, h, lbl)                                                                     \
    [id] = {                                                                                       \
        .name = n, .help = h, .type = AM_TYPE_COUNTER, .label_count = NL lbl, .labels = LIST lbl}
#define GAUGE(id, n, h, lbl)                                                                       \
    [id] = {.name = n, .help = h, .type = AM_TYPE_GAUGE, .label_count = NL lbl, .labels = LIST lbl}
#define PLAIN(id, n, h, t) [id] = {.name = n, .help = h, .type = t}
#define HIST(id, n, h, lbl, bk)                                                                    \
    [id] = {.name = n,                                                                             \
            .help = h,                                                                             \
            .type = AM_TYPE_HISTOGRAM,                                                             \
            .label_count = NL lbl,                                                                 \
            .labels = LIST lbl,                                                                    \
            .bucket_count = NB bk,                                                                 \
            .buckets = LIST bk}

#define SEMCONV_LABELS                                                                             \
    ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",                      \
     "gen_ai_response_model", "error_type")
#define SEMCONV_TOKEN_LABELS                                                                       \
    ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",                      \
     "gen_ai_response_model", "gen_ai_token_type")

static const struct am_family builtin[AM_M_COUNT] = {
    COUNTER(AM_M_AGENT_REQUESTS_TOTAL, "agent_requests_total",
            "Agent requests (invoke_agent spans) by outcome.", ("agent_name", "status")),
    HIST(AM_M_AGENT_REQUEST_DURATION, "agent_request_duration_seconds",
         "Agent request duration, including every model and tool call.", ("agent_name"),
         (0.5, 1, 2, 3, 5, 8, 13, 21, 30, 60)),
    HIST(AM_M_MODEL_INFERENCE_DURATION, "model_inference_duration_seconds",
         "Model inference call duration (excludes tool execution).", ("agent_name", "model_id"),
         (0.2, 0.5, 1, 2, 3, 5, 10)),
    COUNTER(AM_M_MODEL_INFERENCE_CALLS_TOTAL, "model_inference_calls_total",
            "Model inference calls.", ("agent_name", "model_id")),
    COUNTER(AM_M_AGENT_TOKEN_USAGE_TOTAL, "agent_token_usage_total",
            "Tokens consumed; input is cache-inclusive, output reasoning-inclusive.",
            ("agent_name", "model_id", "token_type")),
    COUNTER(AM_M_AGENT_ESTIMATED_COST_TOTAL, "agent_estimated_cost_dollars_total",
            "Estimated model cost in US dollars from the configured prices.",
            ("agent_name", "model_id")),
    COUNTER(AM_M_AGENT_TOOL_CALLS_TOTAL, "agent_tool_calls_total", "Tool calls by outcome.",
            ("agent_name", "tool_name", "status")),
    HIST(AM_M_AGENT_TOOL_CALL_DURATION, "agent_tool_call_duration_seconds", "Tool call duration.",
         ("agent_name", "tool_name"), (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10)),
    GAUGE(AM_M_AGENT_QUALITY_SCORE, "agent_quality_score",
          "Mean evaluation score over the quality window.", ("agent_name", "metric_type")),
    HIST(AM_M_AGENT_CONVERSATION_TURNS, "agent_conversation_turns",
         "Turns per finished conversation.", ("agent_name"), (1, 2, 3, 5, 8, 13, 20)),
    GAUGE(AM_M_AGENT_ESCALATION_RATE, "agent_escalation_rate",
          "Percent of conversations finished in the last hour that escalated to a human.",
          ("agent_name")),
    HIST(AM_M_AGENT_REQUEST_COST, "agent_request_cost_dollars",
         "Estimated cost of one agent request (its invoke_agent subtree).", ("agent_name"),
         (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5)),
    HIST(AM_M_AGENT_REQUEST_TOKENS, "agent_request_tokens", "Tokens used by one agent request.",
         ("agent_name"), (500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000)),
    HIST(AM_M_AGENT_REQUEST_INFERENCE_CALLS, "agent_request_inference_calls",
         "Model inference calls made by one agent request.", ("agent_name"),
         (1, 2, 4, 8, 16, 32, 64, 128)),
    HIST(AM_M_AGENT_REQUEST_TOOL_CALLS, "agent_request_tool_calls",
         "Tool calls made by one agent request.", ("agent_name"), (1, 2, 4, 8, 16, 32, 64, 128)),
    COUNTER(AM_M_AGENT_TOKEN_USAGE_DETAIL_TOTAL, "agent_token_usage_detail_total",
            "Token subsets: cache_read and cache_write of input, reasoning of output.",
            ("agent_name", "model_id", "token_type")),
    HIST(AM_M_AGENT_EVALUATION_SCORE, "agent_evaluation_score", "Evaluation scores.",
         ("agent_name", "metric_type"), (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1)),
    COUNTER(AM_M_AGENT_EVALUATION_LABELS_TOTAL, "agent_evaluation_labels_total",
            "Evaluation results by label.", ("agent_name", "metric_type", "label")),
    COUNTER(AM_M_AGENT_CONVERSATIONS_TOTAL, "agent_conversations_total",
            "Finished conversations by outcome.", ("agent_name", "outcome")),
    HIST(AM_M_GENAI_OPERATION_DURATION, "gen_ai_client_operation_duration_seconds",
         "GenAI operation duration (OpenTelemetry semantic conventions).", SEMCONV_LABELS,
         (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)),
    HIST(AM_M_GENAI_TOKEN_USAGE, "gen_ai_client_token_usage",
         "GenAI tokens used per operation (OpenTelemetry semantic conventions).",
         SEMCONV_TOKEN_LABELS,
         (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
          67108864)),
    HIST(AM_M_GENAI_TIME_TO_FIRST_TOKEN, "gen_ai_time_to_first_token_seconds",
         "Time from an inference request to its first streamed chunk.", ("agent_name", "model_id"),
         (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)),
    HIST(AM_M_GENAI_TIME_PER_OUTPUT_TOKEN, "gen_ai_time_per_output_token_seconds",
         "Time per output token after the first: (duration - time to first token) / (output "
         "tokens - 1).",
         ("agent_name", "model_id"),
         (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5)),
    COUNTER(AM_M_AGENT_GRAPH_CALLS_TOTAL, "agent_graph_calls_total",
            "Calls from an agent to a sub-agent, tool or model, by outcome.",
            ("caller", "callee", "callee_kind", "status")),
    HIST(AM_M_AGENT_GRAPH_CALL_DURATION, "agent_graph_call_duration_seconds",
         "Duration of agent to sub-agent calls (the callee's invoke_agent span).",
         ("caller", "callee"), (0.5, 1, 2, 3, 5, 8, 13, 21, 30, 60)),
    COUNTER(AM_M_SELF_RECEIVER_REQUESTS_TOTAL, "agentmeter_receiver_requests_total",
            "Requests answered by the receivers, by protocol and status code.",
            ("protocol", "code")),
    COUNTER(AM_M_SELF_SPANS_ACCEPTED_TOTAL, "agentmeter_spans_accepted_total",
            "Spans accepted for derivation.", ("protocol")),
    COUNTER(AM_M_SELF_SPANS_REJECTED_TOTAL, "agentmeter_spans_rejected_total",
            "Spans rejected, by reason.", ("reason")),
    COUNTER(AM_M_SELF_SPANS_FILTERED_TOTAL, "agentmeter_spans_filtered_total",
            "Spans processors.genai.filters excluded from every metric (they still link their "
            "trace), by reason (exclude, include).",
            ("reason")),
    COUNTER(AM_M_SELF_SPANS_ADJUSTED_TOTAL, "agentmeter_spans_adjusted_total",
            "Spans counted by their sampling-adjusted count, by source (threshold, p_value, "
            "attribute).",
            ("source")),
    COUNTER(AM_M_SELF_LOG_RECORDS_ACCEPTED_TOTAL, "agentmeter_log_records_accepted_total",
            "OTLP log records accepted (only evaluation events are used).", ("protocol")),
    COUNTER(AM_M_SELF_EVALUATIONS_ACCEPTED_TOTAL, "agentmeter_evaluations_accepted_total",
            "gen_ai.evaluation.result events taken from log records.", ("source")),
    GAUGE(AM_M_SELF_SERIES_ACTIVE, "agentmeter_series_active", "Active series per metric.",
          ("metric")),
    COUNTER(AM_M_SELF_SERIES_OVERFLOW_TOTAL, "agentmeter_series_overflow_total",
            "Observations sent to the overflow series because max_series_per_metric was hit.",
            ("metric")),
    COUNTER(AM_M_SELF_SERIES_EXPIRED_TOTAL, "agentmeter_series_expired_total",
            "Series dropped after processors.genai.series_idle_timeout without an update.",
            ("metric")),
    COUNTER(AM_M_SELF_LABEL_VALUES_TRUNCATED_TOTAL, "agentmeter_label_values_truncated_total",
            "Label values shortened or repaired, by reason (too_long, invalid_utf8).", ("reason")),
    COUNTER(AM_M_SELF_UNPRICED_TOKENS_TOTAL, "agentmeter_unpriced_tokens_total",
            "Tokens of models with no configured price (cost counted as 0).", ("model_id")),
    COUNTER(AM_M_SELF_CONNECTIONS_ACCEPTED_TOTAL, "agentmeter_connections_accepted_total",
            "Connections accepted, by listener.", ("listener")),
    COUNTER(AM_M_SELF_CONNECTIONS_REJECTED_TOTAL, "agentmeter_connections_rejected_total",
            "Connections refused or closed early, by listener and reason.", ("listener", "reason")),
    GAUGE(AM_M_SELF_CONNECTIONS_ACTIVE, "agentmeter_connections_active",
          "Open connections, by listener.", ("listener")),
    COUNTER(AM_M_SELF_REQUESTS_REFUSED_TOTAL, "agentmeter_requests_refused_total",
            "Requests or streams a listener limit refused, by listener and reason.",
            ("listener", "reason")),
    GAUGE(AM_M_SELF_INFLIGHT_BYTES, "agentmeter_inflight_request_bytes",
          "Request body bytes buffered and not yet handled, by listener.", ("listener")),
    GAUGE(AM_M_SELF_BUILD_INFO, "agentmeter_build_info", "Build information; always 1.",
          ("version")),
    COUNTER(AM_M_SELF_RW_SAMPLES_SENT_TOTAL, "agentmeter_remote_write_samples_sent_total",
            "Samples acknowledged (2xx) by the remote_write endpoint.", ("url")),
    COUNTER(AM_M_SELF_RW_SAMPLES_FAILED_TOTAL, "agentmeter_remote_write_samples_failed_total",
            "Samples the endpoint refused with a non-retryable status.", ("url")),
    COUNTER(AM_M_SELF_RW_SAMPLES_RETRIED_TOTAL, "agentmeter_remote_write_samples_retried_total",
            "Samples sent again after a 5xx, 429 or transport error.", ("url")),
    COUNTER(AM_M_SELF_RW_SAMPLES_DROPPED_TOTAL, "agentmeter_remote_write_samples_dropped_total",
            "Samples dropped, by reason (queue_full, http_4NN).", ("url", "reason")),
    COUNTER(AM_M_SELF_RW_REQUESTS_TOTAL, "agentmeter_remote_write_requests_total",
            "remote_write requests by response class (2xx..5xx, or error).", ("url", "code")),
    GAUGE(AM_M_SELF_RW_QUEUE_LENGTH, "agentmeter_remote_write_queue_length",
          "Batches waiting in the disk queue.", ("url")),
    GAUGE(AM_M_SELF_RW_QUEUE_BYTES, "agentmeter_remote_write_queue_bytes",
          "Bytes waiting in the disk queue.", ("url")),
    COUNTER(AM_M_SELF_RW_QUEUE_CORRUPT_TOTAL, "agentmeter_remote_write_queue_corrupt_records_total",
            "Torn or corrupt queue records skipped.", ("url")),
    GAUGE(AM_M_SELF_RW_LAST_SEND_TIMESTAMP, "agentmeter_remote_write_last_send_timestamp_seconds",
          "Wall-clock time of the last successful send.", ("url")),
    PLAIN(AM_M_SELF_TRACES_PENDING, "agentmeter_traces_pending",
          "Traces held for assembly (waiting spans or per-request sums not yet emitted).",
          AM_TYPE_GAUGE),
    PLAIN(AM_M_SELF_SPANS_PENDING, "agentmeter_spans_pending",
          "Span skeletons held for trace assembly.", AM_TYPE_GAUGE),
    PLAIN(AM_M_SELF_SPANS_WAITING, "agentmeter_spans_waiting",
          "Spans waiting for their invoke_agent ancestor (trace_wait).", AM_TYPE_GAUGE),
    COUNTER(AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, "agentmeter_trace_spans_evicted_total",
            "Spans trace assembly could not hold, by reason (max_pending_spans: finished early; "
            "max_spans_per_trace: turned away).",
            ("reason")),
    COUNTER(AM_M_SELF_AGENT_FALLBACK_TOTAL, "agentmeter_agent_fallback_total",
            "Spans labelled with service.name because no invoke_agent ancestor was found.",
            ("reason")),
    PLAIN(AM_M_SELF_SPANS_LATE_TOTAL, "agentmeter_spans_late_total",
          "Spans that arrived after their trace's interactions were observed.", AM_TYPE_COUNTER),
    PLAIN(AM_M_SELF_CONVERSATIONS_OPEN, "agentmeter_conversations_open",
          "Conversations with a turn in the last conversation_idle_timeout.", AM_TYPE_GAUGE),
    COUNTER(AM_M_SELF_CONVERSATIONS_EVICTED_TOTAL, "agentmeter_conversations_evicted_total",
            "Conversations finished early, by reason (max_open_conversations).", ("reason")),
    COUNTER(AM_M_SELF_SPANS_CLASSIFIED_TOTAL, "agentmeter_spans_classified_total",
            "Spans by what classified them (builtin table or rule:NAME) and the operation found.",
            ("by", "operation")),
    PLAIN(AM_M_PROCESS_CPU_SECONDS_TOTAL, "process_cpu_seconds_total",
          "Total user and system CPU time spent in seconds.", AM_TYPE_COUNTER),
    PLAIN(AM_M_PROCESS_RESIDENT_MEMORY_BYTES, "process_resident_memory_bytes",
          "Resident memory size in bytes.", AM_TYPE_GAUGE),
    PLAIN(AM_M_PROCESS_OPEN_FDS, "process_open_fds", "Number of open file descriptors.",
          AM_TYPE_GAUGE),
    PLAIN(AM_M_PROCESS_MAX_FDS, "process_max_fds", "Maximum number of open file descriptors.",
          AM_TYPE_GAUGE),
    PLAIN(AM_M_PROCESS_START_TIME_SECONDS, "process_start_time_seconds",
          "Start time of the process since unix epoch in seconds.", AM_TYPE_GAUGE),
};

/* The families with dimensions appended; used only once set (startup). */
static struct am_family configured[AM_M_COUNT];
static const struct am_family *families = builtin;

const struct am_family *am_family_get(enum am_metric m)
{
    return &families[m];
}

bool am_family_dimensionable(enum am_metric m)
{
    switch (m) {
    case AM_M_AGENT_QUALITY_SCORE:
    case AM_M_AGENT_CONVERSATION_TURNS:
    case AM_M_AGENT_ESCALATION_RATE:
    case AM_M_AGENT_EVALUATION_SCORE:
    case AM_M_AGENT_EVALUATION_LABELS_TOTAL:
    case AM_M_AGENT_CONVERSATIONS_TOTAL:
        return false;
    default:
        return (unsigned)m < (unsigned)AM_M_SELF_RECEIVER_REQUESTS_TOTAL;
    }
}

void am_family_set_dimensions(const char *const *labels, const uint64_t *masks, size_t n)
{
    if (n == 0) {
        families = builtin;
        return;
    }
    memcpy(configured, builtin, sizeof(configured));
    for (int m = 0; m < AM_M_COUNT; m++) {
        struct am_family *f = &configured[m];
        f->base_label_count = f->label_count;
        for (size_t j = 0; j < n && j < AM_MAX_DIMS; j++) {
            if (am_family_dimensionable((enum am_metric)m) && (masks[j] >> m & 1) &&
                f->label_count < AM_MAX_LABELS) {
                f->labels[f->label_count++] = labels[j];
                f->dims |= (uint8_t)(1u << j);
            }
        }
    }
    families = configured;
}

int am_family_find(const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < AM_M_COUNT; i++) {
        const char *fn = families[i].name;
        if (strcmp(fn, name) == 0) {
            return i;
        }
        /* counters are also found by their name without _total */
        size_t fl = strlen(fn);
        if (families[i].type == AM_TYPE_COUNTER && fl == n + 6 && strncmp(fn, name, n) == 0 &&
            strcmp(fn + n, "_total") == 0) {
            return i;
        }
    }
    return -1;
}
