/*
 * config.c - the binding tables of SPEC.md 4 (every key, its C field, default,
 * range and help) and am_config_load/defaults/free. The walker in bind.c does
 * the work; this file holds the data and the cross-field checks (TLS pairs,
 * backoff order, auth exclusivity). No global state: --check-config runs
 * exactly this code.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/config.h"
#include "am/err.h"
#include "config_int.h"

#define C(f) offsetof(struct am_config, f)
#define R(f) offsetof(struct am_rw_opts, f)
#define MS 1000000ull
#define SEC 1000000000ull
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define KIB 1024ull
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

#define SECTION(p, o, v, h)                                                                        \
    {                                                                                              \
        .path = (p), .type = AM_CT_SECTION, .off = (o), .validate = (v), .help = (h)               \
    }
#define STRING(p, o, d, h)                                                                         \
    {                                                                                              \
        .path = (p), .type = AM_CT_STRING, .off = (o), .def = (d), .help = (h)                     \
    }
#define VALUE(p, t, o, d, lo, hi, h)                                                               \
    {                                                                                              \
        .path = (p), .type = (t), .off = (o), .def = (d), .min = (lo), .max = (hi), .help = (h)    \
    }
#define COLLECTION(p, t, o, n, h)                                                                  \
    {                                                                                              \
        .path = (p), .type = (t), .off = (o), .count_off = (n), .help = (h)                        \
    }

/* Config file size cap: a config is kilobytes; anything near this is a mistake. */
#define MAX_CONFIG_BYTES (16 * MIB)

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"logfmt", "json", NULL};

static int check_listener_tls(struct am_bctx *c, const struct am_ynode *n, const char *path,
                              const void *section)
{
    const struct am_tls_opts *tls = section;
    if ((tls->cert_file == NULL) != (tls->key_file == NULL)) {
        return am_bind_fail(c, n, path, "cert_file and key_file must be set together");
    }
    if (tls->client_ca_file != NULL && tls->cert_file == NULL) {
        return am_bind_fail(c, n, path, "client_ca_file needs cert_file and key_file");
    }
    return AM_OK;
}

static int check_client_tls(struct am_bctx *c, const struct am_ynode *n, const char *path,
                            const void *section)
{
    const struct am_rw_tls_opts *tls = section;
    if ((tls->cert_file == NULL) != (tls->key_file == NULL)) {
        return am_bind_fail(c, n, path, "cert_file and key_file must be set together");
    }
    return AM_OK;
}

static int check_basic_auth(struct am_bctx *c, const struct am_ynode *n, const char *path,
                            const void *section)
{
    const struct am_rw_opts *rw = section;
    if ((rw->basic_auth_username == NULL) != (rw->basic_auth_password_file == NULL)) {
        return am_bind_fail(c, n, path, "username and password_file must be set together");
    }
    return AM_OK;
}

static int check_queue(struct am_bctx *c, const struct am_ynode *n, const char *path,
                       const void *section)
{
    const struct am_rw_opts *rw = section;
    if (rw->min_backoff_ns > rw->max_backoff_ns) {
        return am_bind_fail(c, n, path, "min_backoff must not exceed max_backoff");
    }
    return AM_OK;
}

static int check_rw_item(struct am_bctx *c, const struct am_ynode *n, const char *path,
                         const void *section)
{
    const struct am_rw_opts *rw = section;
    if (rw->basic_auth_username != NULL && rw->bearer_token_file != NULL) {
        return am_bind_fail(c, n, path, "basic_auth and bearer_token_file are mutually exclusive");
    }
    return AM_OK;
}

/* The listener keys of SPEC.md 4, for receivers.otlp.http and .grpc. */
#define LISTENER(p, f, ep)                                                                         \
    SECTION(p, 0, NULL, "OTLP listener"),                                                          \
        VALUE(p ".endpoint", AM_CT_ENDPOINT, C(f.endpoint), ep, 0, 0, "host:port to listen on"),   \
        VALUE(p ".max_request_body_size", AM_CT_SIZE, C(f.max_request_body_size), "20MiB", KIB,    \
              GIB, "largest request body, checked after gzip inflation (413 past it)"),            \
        VALUE(p ".read_timeout", AM_CT_DURATION, C(f.read_timeout_ns), "30s", MS, HOUR,            \
              "headers and body must arrive within this"),                                         \
        VALUE(p ".max_connections", AM_CT_U32, C(f.max_connections), "4096", 1, 1000000,           \
              "open connections past this are refused"),                                           \
        VALUE(p ".max_concurrent_streams", AM_CT_U32, C(f.max_concurrent_streams), "100", 1,       \
              100000, "HTTP/2 streams per connection"),                                            \
        VALUE(p ".max_header_bytes", AM_CT_SIZE, C(f.max_header_bytes), "64KiB", KIB, 16 * MIB,    \
              "request header block limit"),                                                       \
        VALUE(p ".max_inflight_bytes", AM_CT_SIZE, C(f.max_inflight_bytes), "256MiB", MIB,         \
              64 * GIB, "request bytes buffered over all connections (503 past it)"),              \
        SECTION(p ".tls", C(f.tls), check_listener_tls, "TLS; off unless cert_file is set"),       \
        STRING(p ".tls.cert_file", C(f.tls.cert_file), NULL, "PEM certificate chain"),             \
        STRING(p ".tls.key_file", C(f.tls.key_file), NULL, "PEM private key"),                     \
        STRING(p ".tls.client_ca_file", C(f.tls.client_ca_file), NULL,                             \
               "CA bundle for client certificates; turns on mutual TLS"),                          \
        SECTION(p ".auth", 0, NULL, "request authentication"),                                     \
        STRING(p ".auth.bearer_token_file", C(f.bearer_token_file), NULL,                          \
               "file holding the expected bearer token (401 otherwise)")

/* limits.memory: "N%" (1-100) of the memory the process may use, a size,
 * or 0 (no limit). */
static int check_limits(struct am_bctx *c, const struct am_ynode *n, const char *path,
                        const void *section)
{
    struct am_config *cfg = (struct am_config *)section;
    const char *s = cfg->memory_limit != NULL ? cfg->memory_limit : "0";
    size_t len = strlen(s);
    cfg->memory_limit_bytes = 0;
    cfg->memory_limit_percent = 0;
    if (len > 1 && s[len - 1] == '%') {
        uint64_t pct = 0;
        for (size_t i = 0; i + 1 < len; i++) {
            if (s[i] < '0' || s[i] > '9' || pct > 100) {
                return am_bind_fail(c, n, path, "memory: want N%% (1-100), a size or 0");
            }
            pct = pct * 10 + (uint64_t)(s[i] - '0');
        }
        if (pct < 1 || pct > 100) {
            return am_bind_fail(c, n, path, "memory: want N%% (1-100), a size or 0");
        }
        cfg->memory_limit_percent = (uint32_t)pct;
        return AM_OK;
    }
    if (am_config_parse_size(s, &cfg->memory_limit_bytes) != AM_OK ||
        (cfg->memory_limit_bytes != 0 && cfg->memory_limit_bytes < 16 * MIB)) {
        return am_bind_fail(c, n, path, "memory: want N%% (1-100), a size >= 16MiB or 0");
    }
    return AM_OK;
}

static const struct am_binding config_rows[] = {
    SECTION("receivers", 0, NULL, "OTLP receivers"),
    SECTION("receivers.otlp", 0, NULL, "OTLP receivers"),
    LISTENER("receivers.otlp.http", http, "0.0.0.0:4318"),
    LISTENER("receivers.otlp.grpc", grpc, "0.0.0.0:4317"),

    SECTION("processors", 0, NULL, "span processors"),
    SECTION("processors.genai", 0, NULL, "GenAI span -> metric derivation"),
    VALUE("processors.genai.trace_wait", AM_CT_DURATION, C(trace_wait_ns), "10s", 0, HOUR,
          "how long a span waits for its invoke_agent ancestor"),
    VALUE("processors.genai.max_pending_spans", AM_CT_U64, C(max_pending_spans), "1000000", 1,
          100000000, "spans waiting for an ancestor, at most"),
    VALUE("processors.genai.max_spans_per_trace", AM_CT_U64, C(max_spans_per_trace), "100000", 1,
          100000000, "spans of one trace held for assembly, at most (more are derived at once)"),
    VALUE("processors.genai.conversation_idle_timeout", AM_CT_DURATION,
          C(conversation_idle_timeout_ns), "30m", SEC, 168 * HOUR,
          "a conversation with no new turn for this long is finished"),
    VALUE("processors.genai.max_open_conversations", AM_CT_U64, C(max_open_conversations),
          "1000000", 1, 100000000, "open conversations tracked, at most"),
    VALUE("processors.genai.quality_window", AM_CT_DURATION, C(quality_window_ns), "1h", SEC,
          168 * HOUR, "agent_quality_score averages over this window"),
    STRING("processors.genai.state_dir", C(state_dir), NULL,
           "where open conversations survive a restart; unset: no state"),
    {.path = "processors.genai.escalation_tools",
     .type = AM_CT_STRLIST,
     .off = C(escalation_tools),
     .count_off = C(escalation_tool_count),
     .def = "escalate_to_human,handoff_to_human,transfer_to_human",
     .help = "tool names that mark a conversation escalated"},
    STRING("processors.genai.escalation_attribute", C(escalation_attribute), "agent.escalated",
           "span attribute that marks an escalation when true"),
    VALUE("processors.genai.max_series_per_metric", AM_CT_U64, C(max_series_per_metric), "10000", 0,
          100000000, "label sets per metric before __overflow__; 0 = unlimited"),
    VALUE("processors.genai.max_label_value_bytes", AM_CT_U64, C(max_label_value_bytes), "256", 1,
          65536, "label values are truncated to this many bytes"),
    VALUE("processors.genai.series_idle_timeout", AM_CT_DURATION, C(series_idle_timeout_ns), "0s",
          0, 168 * HOUR, ">0: drop series not updated for this long"),
    VALUE("processors.genai.semconv_metrics", AM_CT_BOOL, C(semconv_metrics), "true", 0, 0,
          "also export the gen_ai_client_* semantic-convention metrics"),
    SECTION("processors.genai.sampling", 0, NULL, "sampling-adjusted counts"),
    STRING("processors.genai.sampling.multiplier_attribute", C(sampling_multiplier_attribute), NULL,
           "span attribute holding the adjusted count (1/probability); wins over tracestate"),
    COLLECTION("processors.genai.dimensions", AM_CT_DIM_LIST, C(dimensions), C(dimension_count),
               "labels from span/resource attributes: [{attribute, label, default, metrics}]"),
    COLLECTION("processors.genai.buckets", AM_CT_BUCKETS, C(buckets), C(bucket_count),
               "histogram name -> bucket bounds"),
    COLLECTION("processors.genai.filters", AM_CT_RULES, C(filters), 0,
               "include / exclude lists of span matchers; excluded spans change no metric"),
    COLLECTION("processors.genai.rules", AM_CT_RULES, C(rules), 0,
               "classification rules, tried before the built-in table (first match wins)"),
    COLLECTION("processors.genai.rule_files", AM_CT_STRLIST, C(rule_files), C(rule_file_count),
               "files whose top-level `rules:` list follows processors.genai.rules"),

    SECTION("exporters", 0, NULL, "metric exporters"),
    SECTION("exporters.prometheus", 0, NULL, "the /metrics endpoint"),
    VALUE("exporters.prometheus.endpoint", AM_CT_ENDPOINT, C(prom.endpoint), "0.0.0.0:9464", 0, 0,
          "host:port serving /metrics"),
    VALUE("exporters.prometheus.debug", AM_CT_BOOL, C(prom_debug), "false", 0, 0,
          "serve GET /debug/spans and /debug/ (they show attribute values)"),
    VALUE("exporters.prometheus.debug_spans", AM_CT_U32, C(prom_debug_spans), "1000", 1, 100000,
          "spans kept for /debug/spans (about 1.3 KiB each)"),
    SECTION("exporters.prometheus.tls", C(prom.tls), check_listener_tls, "TLS for /metrics"),
    STRING("exporters.prometheus.tls.cert_file", C(prom.tls.cert_file), NULL, "PEM chain"),
    STRING("exporters.prometheus.tls.key_file", C(prom.tls.key_file), NULL, "PEM private key"),
    STRING("exporters.prometheus.tls.client_ca_file", C(prom.tls.client_ca_file), NULL,
           "CA bundle for scraper certificates (mutual TLS)"),
    {.path = "exporters.remote_write",
     .type = AM_CT_RW_LIST,
     .off = C(remote_write),
     .count_off = C(remote_write_count),
     .validate = check_rw_item,
     .help = "Prometheus remote_write endpoints"},

    COLLECTION("external_labels", AM_CT_LABELS, C(external_labels), C(external_label_count),
               "labels added to every remote-written series"),

    SECTION("pricing", 0, NULL, "USD per 1M tokens"),
    VALUE("pricing.builtin", AM_CT_BOOL, C(pricing_builtin), "true", 0, 0,
          "start from the compiled-in deploy/pricing.yaml"),
    STRING("pricing.file", C(pricing_file), NULL, "extra price table, same format"),
    COLLECTION("pricing.models", AM_CT_PRICES, C(prices), C(price_count),
               "inline prices; win over the file and builtin"),

    SECTION("log", 0, NULL, "logging"),
    {.path = "log.level",
     .type = AM_CT_ENUM,
     .off = C(log_level),
     .def = "info",
     .choices = log_levels,
     .help = "error, warn, info or debug"},
    {.path = "log.format",
     .type = AM_CT_ENUM,
     .off = C(log_format),
     .def = "logfmt",
     .choices = log_formats,
     .help = "logfmt or json"},

    VALUE("workers", AM_CT_U32, C(workers), "0", 0, 256, "event-loop threads; 0 = number of CPUs"),
    VALUE("shutdown_timeout", AM_CT_DURATION, C(shutdown_timeout_ns), "10s", 0, HOUR,
          "SIGTERM: how long requests already started may take to finish"),

    SECTION("limits", 0, check_limits, "process-wide limits"),
    STRING("limits.memory", C(memory_limit), "80%",
           "soft RSS limit: N% of the cgroup/machine memory, a size, or 0 (off); "
           "above it new exports get 503 / UNAVAILABLE"),
};

static const struct am_btable config_table = {config_rows,
                                              sizeof(config_rows) / sizeof(config_rows[0])};

static const struct am_binding rw_rows[] = {
    {.path = "url",
     .type = AM_CT_URL,
     .off = R(url),
     .flags = AM_CF_REQUIRED,
     .help = "remote_write URL (http:// or https://)"},
    VALUE("send_interval", AM_CT_DURATION, R(send_interval_ns), "15s", SEC, HOUR,
          "a snapshot is queued this often"),
    COLLECTION("headers", AM_CT_HEADERS, R(headers), R(header_count),
               "extra HTTP headers (e.g. THANOS-TENANT, X-Scope-OrgID)"),
    SECTION("basic_auth", 0, check_basic_auth, "HTTP basic authentication"),
    STRING("basic_auth.username", R(basic_auth_username), NULL, "user name"),
    STRING("basic_auth.password_file", R(basic_auth_password_file), NULL, "file with password"),
    STRING("bearer_token_file", R(bearer_token_file), NULL, "file with a bearer token"),
    SECTION("tls", R(tls), check_client_tls, "TLS towards the receiver"),
    STRING("tls.ca_file", R(tls.ca_file), NULL, "CA bundle to verify the receiver"),
    STRING("tls.cert_file", R(tls.cert_file), NULL, "client certificate"),
    STRING("tls.key_file", R(tls.key_file), NULL, "client key"),
    VALUE("tls.insecure_skip_verify", AM_CT_BOOL, R(tls.insecure_skip_verify), "false", 0, 0,
          "do not verify the receiver's certificate"),
    VALUE("timeout", AM_CT_DURATION, R(timeout_ns), "30s", SEC, 10 * MIN, "per-request timeout"),
    SECTION("queue", 0, check_queue, "disk-backed send queue"),
    STRING("queue.dir", R(queue_dir), NULL, "queue directory; unset: memory only"),
    VALUE("queue.max_bytes", AM_CT_SIZE, R(queue_max_bytes), "1GiB", MIB, 1024 * GIB,
          "past this the oldest samples are dropped"),
    VALUE("queue.max_samples_per_send", AM_CT_U32, R(max_samples_per_send), "2000", 1, 1000000,
          "samples per request"),
    VALUE("queue.min_backoff", AM_CT_DURATION, R(min_backoff_ns), "30ms", MS, 10 * MIN,
          "first retry delay"),
    VALUE("queue.max_backoff", AM_CT_DURATION, R(max_backoff_ns), "5s", MS, 10 * MIN,
          "retry delay cap"),
};

const struct am_btable am_rw_table = {rw_rows, sizeof(rw_rows) / sizeof(rw_rows[0])};

void am_config_defaults(struct am_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    am_bind_defaults(&config_table, cfg);
    cfg->memory_limit_percent = 80; /* what check_limits makes of the default "80%" */
    /* Limits of the /metrics listener are not configurable (SPEC.md 4
     * lists only endpoint and tls); scrapes are small GETs. */
    cfg->prom.max_request_body_size = 64 * KIB;
    cfg->prom.read_timeout_ns = 30 * SEC;
    cfg->prom.max_connections = 64;
    cfg->prom.max_concurrent_streams = 16;
    cfg->prom.max_header_bytes = 64 * KIB;
    cfg->prom.max_inflight_bytes = 16 * MIB;
}

int am_config_load_string(const char *text, size_t len, const char *name, struct am_config *cfg,
                          struct am_diag *diag)
{
    struct am_ydoc *doc = NULL;
    struct am_bctx c = {.diag = diag};
    int rc = am_yaml_parse(text, len, name, &doc, diag);
    if (rc != AM_OK) {
        return AM_ECONFIG;
    }
    if (doc->root->type != AM_YNODE_MAPPING) {
        rc = am_bind_fail(&c, doc->root, NULL, "expected a mapping at the top level, got %s",
                          am_ynode_type_name(doc->root->type));
    } else {
        rc = am_bind_mapping(&c, &config_table, doc->root, "", cfg);
    }
    am_yaml_destroy(doc);
    return rc;
}

int am_config_read_file(const char *path, char **out, size_t *len, struct am_diag *diag)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    size_t cap = 4096;
    int err = 0;
    if (f == NULL) {
        err = errno;
        goto out;
    }
    errno = 0;
    buf = am_xmalloc(cap);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            err = ferror(f) ? (errno != 0 ? errno : EIO) : 0;
            break;
        }
        if (cap >= MAX_CONFIG_BYTES) {
            err = EFBIG;
            break;
        }
        cap *= 2;
        buf = am_xrealloc(buf, cap);
    }
    fclose(f);
out:
    if (err != 0) {
        am_free(buf);
        snprintf(diag->msg, sizeof(diag->msg), "%s: cannot read: %s", path, strerror(err));
        return AM_EIO;
    }
    *out = buf;
    *len = n;
    return AM_OK;
}

int am_config_load(const char *path, struct am_config *cfg, struct am_diag *diag)
{
    char *text = NULL;
    size_t len = 0;
    int rc = am_config_read_file(path, &text, &len, diag);
    if (rc != AM_OK) {
        return rc;
    }
    rc = am_config_load_string(text, len, path, cfg, diag);
    am_free(text);
    return rc;
}

void am_config_free(struct am_config *cfg)
{
    am_bind_free(&config_table, cfg);
    memset(cfg, 0, sizeof(*cfg));
}
