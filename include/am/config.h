#ifndef AM_CONFIG_H
#define AM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/pricing.h"
#include "am/rw.h"
#include "am/series.h"
#include "am/server.h"
#include "am/yaml.h"

/*
 * Configuration (SPEC.md 4): YAML through am_yaml (yaml.h) into a node tree
 * that keeps file:line:col, then binding tables {path, type, offset, default,
 * min, max, help} into an immutable struct am_config. Unknown keys, wrong
 * types, out-of-range values and cross-field conflicts are errors reported as
 * "FILE:LINE:COL: key.path: what is wrong" in a struct am_diag. Every key has
 * a default; no file means all defaults. `${env:NAME}` is expanded in any
 * value scalar before it is parsed ($${ is a literal ${). Durations take
 * ms s m h; sizes KiB MiB GiB. Strings and arrays are heap copies owned by
 * the config (am_config_free). No global state; not thread-safe per cfg.
 * Each module owns its options struct in its own header (am_listener_opts
 * and am_tls_opts in net, am_rw_opts in rw.h, am_bucket_override in
 * series.h, am_price in pricing.h); config fills them. docs/design/config.md.
 */

/* One processors.genai.dimensions item (SPEC.md 3 "Dimensions"). */
struct am_dimension_config {
    char *attribute; /* span attribute, else resource attribute */
    char *label;     /* sanitized Prometheus label name (defaults to the attribute's) */
    char *def;       /* value when absent ("default"); "" when unset */
    char **metrics;  /* family names; none = every span-derived family */
    size_t metric_count;
    uint64_t metric_mask; /* bit per enum am_metric, computed */
};

struct am_price_entry {
    char *model;
    struct am_price price;
};

struct am_config {
    struct am_listener_opts http;
    struct am_listener_opts grpc;
    struct am_listener_opts prom; /* exporters.prometheus: endpoint + tls */

    /* processors.genai */
    uint64_t trace_wait_ns;
    uint64_t max_pending_spans;
    uint64_t max_spans_per_trace;
    uint64_t conversation_idle_timeout_ns;
    uint64_t max_open_conversations;
    uint64_t quality_window_ns;
    char *state_dir; /* NULL: no state */
    char **escalation_tools;
    size_t escalation_tool_count;
    char *escalation_attribute; /* never NULL or empty */
    uint64_t max_series_per_metric;
    uint64_t max_label_value_bytes;
    uint64_t series_idle_timeout_ns;
    bool semconv_metrics;
    char *sampling_multiplier_attribute;    /* NULL: tracestate only (read at start) */
    struct am_dimension_config *dimensions; /* at most AM_MAX_DIMS (read at start) */
    struct am_ydoc *filters; /* processors.genai.filters as written (NULL: none); compiled
                                by the daemon (am_filter_compile) */
    size_t dimension_count;
    struct am_bucket_override *buckets;
    size_t bucket_count;
    struct am_ydoc *rules; /* processors.genai.rules as written (NULL: none); the daemon
                              compiles it and each rule file (am_daemon_build_rules) */
    char **rule_files;     /* processors.genai.rule_files */
    size_t rule_file_count;

    struct am_rw_opts *remote_write;
    size_t remote_write_count;

    struct am_header_kv *external_labels;
    size_t external_label_count;

    /* pricing */
    bool pricing_builtin;
    char *pricing_file;
    struct am_price_entry *prices; /* pricing.models, in file order */
    size_t price_count;

    /* log */
    int log_level;  /* enum am_log_level */
    int log_format; /* enum am_log_format */

    /* top-level `workers:` (0 = number of CPUs) */
    uint32_t workers;
    /* top-level `shutdown_timeout:` (SIGTERM: in-flight requests finish within it) */
    uint64_t shutdown_timeout_ns;

    /* exporters.prometheus.debug: GET /debug/spans and /debug/ (read at start) */
    bool prom_debug;
    uint32_t prom_debug_spans;

    /* limits.memory: "80%" (of the cgroup or machine memory), a size, or 0
     * (off); parsed into exactly one of the two fields below. */
    char *memory_limit;
    uint64_t memory_limit_bytes;
    uint32_t memory_limit_percent;
};

/* Fill cfg with every default (it allocates: free with am_config_free).
 * The /metrics listener's limits other than endpoint/tls are fixed here. */
void am_config_defaults(struct am_config *cfg);
/* Load path over cfg, which must hold am_config_defaults (or an earlier
 * load). Returns AM_OK, or AM_ECONFIG with diag set (AM_EIO when the file
 * cannot be read: diag is "FILE: cannot read: <strerror>"). On error cfg is
 * partly overwritten; am_config_free still frees all of it. */
int am_config_load(const char *path, struct am_config *cfg, struct am_diag *diag);
/* Same, from memory; `name` is used in diagnostics. */
int am_config_load_string(const char *text, size_t len, const char *name, struct am_config *cfg,
                          struct am_diag *diag);
/* Free everything cfg owns and zero it; safe twice, on defaults only, and
 * after a failed load. */
void am_config_free(struct am_config *cfg);

/* Parse a pricing file (top-level `models:` map of model -> {input, output,
 * cached_input, cache_write}, optional `updated:`) into entries.
 * Returns AM_OK or AM_ECONFIG with diag set. *entries is heap, freed with
 * am_config_free_prices. */
int am_config_parse_pricing(const char *text, size_t len, const char *name,
                            struct am_price_entry **entries, size_t *count, struct am_diag *diag);
void am_config_free_prices(struct am_price_entry *entries, size_t count);

/* Read a whole file (at most 16 MiB) into a heap buffer (am_free).
 * Returns AM_OK, or AM_EIO with diag "FILE: cannot read: <strerror>". */
int am_config_read_file(const char *path, char **out, size_t *len, struct am_diag *diag);

/* The compiled-in deploy/pricing.yaml. */
extern const char am_builtin_pricing_yaml[];
extern const size_t am_builtin_pricing_yaml_len;

/* Parse a duration ("250ms", "10s", "30m", "1h", "0s") / size ("20MiB",
 * "512KiB", "1GiB", "1024"). Returns AM_OK or AM_EINVAL. */
int am_config_parse_duration(const char *s, uint64_t *ns);
int am_config_parse_size(const char *s, uint64_t *bytes);

#endif
