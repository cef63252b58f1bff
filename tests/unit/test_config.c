/*
 * test_config.c - configuration (SPEC.md 4): every default, SPEC.md 4's
 * example and a file with every key off its default loading to exact values,
 * a table of bad configs with their exact "FILE:LINE:COL: key: what"
 * diagnostics, ${env:NAME} expansion, units (durations and sizes), pricing
 * files, and deploy/agentmeter.yaml.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/alloc.h"
#include "am/config.h"
#include "am/err.h"
#include "am/log.h"
#include "testsupport.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define MIB (1024ull * 1024)

static int load(const char *text, struct am_config *cfg, struct am_diag *diag)
{
    am_config_defaults(cfg);
    return am_config_load_string(text, strlen(text), "agentmeter.yaml", cfg, diag);
}

static void assert_listener(const struct am_listener_opts *l, const char *endpoint)
{
    assert_string_equal(l->endpoint, endpoint);
    assert_int_equal(l->max_request_body_size, 20 * MIB);
    assert_int_equal(l->read_timeout_ns, 30 * SEC);
    assert_int_equal(l->max_connections, 4096);
    assert_int_equal(l->max_concurrent_streams, 100);
    assert_int_equal(l->max_header_bytes, 64 * 1024);
    assert_int_equal(l->max_inflight_bytes, 256 * MIB);
}

static void assert_no_tls(const struct am_tls_opts *t)
{
    assert_null(t->cert_file);
    assert_null(t->key_file);
    assert_null(t->client_ca_file);
}

static void assert_defaults(const struct am_config *c)
{
    assert_listener(&c->http, "0.0.0.0:4318");
    assert_listener(&c->grpc, "0.0.0.0:4317");
    assert_no_tls(&c->http.tls);
    assert_no_tls(&c->grpc.tls);
    assert_null(c->http.bearer_token_file);
    assert_null(c->grpc.bearer_token_file);
    assert_string_equal(c->prom.endpoint, "0.0.0.0:9464");
    assert_no_tls(&c->prom.tls);
    assert_int_equal(c->trace_wait_ns, 10 * SEC);
    assert_int_equal(c->max_pending_spans, 1000000);
    assert_int_equal(c->max_spans_per_trace, 100000);
    assert_int_equal(c->conversation_idle_timeout_ns, 30 * 60 * SEC);
    assert_int_equal(c->max_open_conversations, 1000000);
    assert_int_equal(c->quality_window_ns, 3600 * SEC);
    assert_null(c->state_dir);
    assert_int_equal(c->escalation_tool_count, 3);
    assert_string_equal(c->escalation_tools[0], "escalate_to_human");
    assert_string_equal(c->escalation_tools[1], "handoff_to_human");
    assert_string_equal(c->escalation_tools[2], "transfer_to_human");
    assert_string_equal(c->escalation_attribute, "agent.escalated");
    assert_int_equal(c->max_series_per_metric, 10000);
    assert_int_equal(c->max_label_value_bytes, 256);
    assert_int_equal(c->series_idle_timeout_ns, 0);
    assert_true(c->semconv_metrics);
    assert_int_equal(c->bucket_count, 0);
    assert_int_equal(c->remote_write_count, 0);
    assert_int_equal(c->external_label_count, 0);
    assert_true(c->pricing_builtin);
    assert_null(c->pricing_file);
    assert_int_equal(c->price_count, 0);
    assert_int_equal(c->log_level, AM_LOG_LEVEL_INFO);
    assert_int_equal(c->log_format, AM_LOG_FORMAT_LOGFMT);
    assert_int_equal(c->workers, 0);
    assert_string_equal(c->memory_limit, "80%");
    assert_int_equal(c->memory_limit_percent, 80);
    assert_int_equal(c->memory_limit_bytes, 0);
}

static void test_defaults_every_field(void **st)
{
    struct am_config cfg;
    am_config_defaults(&cfg);
    assert_defaults(&cfg);
    am_config_free(&cfg);
    am_config_free(&cfg); /* twice is harmless */
}

static void test_load_empty_text_gives_defaults(void **st)
{
    struct am_config cfg;
    struct am_diag diag;
    assert_int_equal(load("# nothing\n", &cfg, &diag), AM_OK);
    assert_defaults(&cfg);
    am_config_free(&cfg);
}

static void assert_rw_defaults_but_auth(const struct am_rw_opts *rw)
{
    assert_int_equal(rw->send_interval_ns, 15 * SEC);
    assert_int_equal(rw->timeout_ns, 30 * SEC);
    assert_int_equal(rw->queue_max_bytes, 1024 * MIB);
    assert_int_equal(rw->max_samples_per_send, 2000);
    assert_int_equal(rw->min_backoff_ns, 30 * MS);
    assert_int_equal(rw->max_backoff_ns, 5 * SEC);
}

static void test_load_spec_example_exact_values(void **st)
{
    struct am_config cfg;
    struct am_diag diag;
    am_config_defaults(&cfg);
    int rc = am_config_load(AM_TEST_DATA_DIR "/config/full.yaml", &cfg, &diag);
    if (rc != AM_OK) {
        fail_msg("%s", diag.msg);
    }
    assert_listener(&cfg.http, "0.0.0.0:4318");
    assert_string_equal(cfg.http.tls.cert_file, "/etc/agentmeter/tls/server.crt");
    assert_string_equal(cfg.http.tls.key_file, "/etc/agentmeter/tls/server.key");
    assert_string_equal(cfg.http.tls.client_ca_file, "/etc/agentmeter/tls/clients.pem");
    assert_string_equal(cfg.http.bearer_token_file, "/etc/agentmeter/otlp-token");
    assert_listener(&cfg.grpc, "0.0.0.0:4317");
    assert_no_tls(&cfg.grpc.tls);
    assert_string_equal(cfg.state_dir, "/var/lib/agentmeter/state");
    assert_int_equal(cfg.bucket_count, 1);
    assert_int_equal(cfg.buckets[0].metric, AM_M_AGENT_REQUEST_DURATION);
    assert_int_equal(cfg.buckets[0].count, 10);
    assert_true(cfg.buckets[0].bounds[0] == 0.5);
    assert_true(cfg.buckets[0].bounds[9] == 60);
    assert_string_equal(cfg.prom.endpoint, "0.0.0.0:9464");
    assert_string_equal(cfg.prom.tls.cert_file, "/etc/agentmeter/tls/metrics.crt");
    assert_string_equal(cfg.prom.tls.key_file, "/etc/agentmeter/tls/metrics.key");

    assert_int_equal(cfg.remote_write_count, 2);
    const struct am_rw_opts *rw = &cfg.remote_write[0];
    assert_string_equal(rw->url, "https://thanos-receive:19291/api/v1/receive");
    assert_rw_defaults_but_auth(rw);
    assert_int_equal(rw->header_count, 1);
    assert_string_equal(rw->headers[0].name, "THANOS-TENANT");
    assert_string_equal(rw->headers[0].value, "team-a");
    assert_string_equal(rw->basic_auth_username, "agentmeter");
    assert_string_equal(rw->basic_auth_password_file, "/etc/agentmeter/rw-password");
    assert_null(rw->bearer_token_file);
    assert_string_equal(rw->tls.ca_file, "/etc/agentmeter/tls/ca.pem");
    assert_string_equal(rw->tls.cert_file, "/etc/agentmeter/tls/rw.crt");
    assert_string_equal(rw->tls.key_file, "/etc/agentmeter/tls/rw.key");
    assert_false(rw->tls.insecure_skip_verify);
    assert_string_equal(rw->queue_dir, "/var/lib/agentmeter/wal/thanos");
    rw = &cfg.remote_write[1];
    assert_string_equal(rw->url, "http://mimir:9009/api/v1/push");
    assert_rw_defaults_but_auth(rw);
    assert_string_equal(rw->headers[0].name, "X-Scope-OrgID");
    assert_string_equal(rw->bearer_token_file, "/etc/agentmeter/mimir-token");
    assert_null(rw->basic_auth_username);
    assert_null(rw->queue_dir);

    assert_int_equal(cfg.external_label_count, 2);
    assert_string_equal(cfg.external_labels[0].name, "cluster");
    assert_string_equal(cfg.external_labels[0].value, "prod-eu");
    assert_string_equal(cfg.external_labels[1].name, "replica");
    assert_string_equal(cfg.external_labels[1].value, "a");
    assert_true(cfg.pricing_builtin);
    assert_string_equal(cfg.pricing_file, "/etc/agentmeter/prices.yaml");
    assert_int_equal(cfg.price_count, 1);
    assert_string_equal(cfg.prices[0].model, "gpt-4o");
    assert_true(cfg.prices[0].price.input == 2.5);
    assert_true(cfg.prices[0].price.output == 10.0);
    assert_true(cfg.prices[0].price.has_cached_input && cfg.prices[0].price.cached_input == 1.25);
    assert_true(cfg.prices[0].price.has_cache_write && cfg.prices[0].price.cache_write == 3.125);
    assert_int_equal(cfg.log_level, AM_LOG_LEVEL_INFO);
    assert_int_equal(cfg.log_format, AM_LOG_FORMAT_LOGFMT);
    assert_int_equal(cfg.workers, 0);
    am_config_free(&cfg);
}

static void assert_listener_values(const struct am_listener_opts *l, const char *ep, uint64_t body,
                                   uint64_t rt, uint32_t conns, uint32_t streams, uint64_t hdr,
                                   const char *pfx)
{
    char buf[64];
    assert_string_equal(l->endpoint, ep);
    assert_int_equal(l->max_request_body_size, body);
    assert_int_equal(l->read_timeout_ns, rt);
    assert_int_equal(l->max_connections, conns);
    assert_int_equal(l->max_concurrent_streams, streams);
    assert_int_equal(l->max_header_bytes, hdr);
    snprintf(buf, sizeof(buf), "%s.crt", pfx);
    assert_string_equal(l->tls.cert_file, buf);
    snprintf(buf, sizeof(buf), "%s.key", pfx);
    assert_string_equal(l->tls.key_file, buf);
    snprintf(buf, sizeof(buf), "%s.ca", pfx);
    assert_string_equal(l->tls.client_ca_file, buf);
}

static void assert_nondefault_rw(const struct am_rw_opts *rw)
{
    assert_string_equal(rw->url, "http://a:1/push");
    assert_int_equal(rw->send_interval_ns, 60 * SEC);
    assert_int_equal(rw->header_count, 2);
    assert_string_equal(rw->headers[1].name, "B");
    assert_string_equal(rw->headers[1].value, "2");
    assert_string_equal(rw->basic_auth_username, "u");
    assert_string_equal(rw->basic_auth_password_file, "u.pw");
    assert_string_equal(rw->tls.ca_file, "r.ca");
    assert_string_equal(rw->tls.cert_file, "r.crt");
    assert_string_equal(rw->tls.key_file, "r.key");
    assert_true(rw->tls.insecure_skip_verify);
    assert_int_equal(rw->timeout_ns, 10 * SEC);
    assert_string_equal(rw->queue_dir, "/tmp/q");
    assert_int_equal(rw->queue_max_bytes, 64 * MIB);
    assert_int_equal(rw->max_samples_per_send, 500);
    assert_int_equal(rw->min_backoff_ns, SEC);
    assert_int_equal(rw->max_backoff_ns, 60 * SEC);
}

static void test_load_every_key_off_default_exact_values(void **st)
{
    struct am_config cfg;
    struct am_diag diag;
    am_config_defaults(&cfg);
    int rc = am_config_load(AM_TEST_DATA_DIR "/config/nondefault.yaml", &cfg, &diag);
    if (rc != AM_OK) {
        fail_msg("%s", diag.msg);
    }
    assert_listener_values(&cfg.http, "127.0.0.1:14318", 4 * MIB, 5 * SEC, 100, 50, 16384, "h");
    assert_string_equal(cfg.http.bearer_token_file, "h.token");
    assert_listener_values(&cfg.grpc, "[::1]:14317", 8 * MIB, 7 * SEC, 200, 60, 32768, "g");
    assert_string_equal(cfg.grpc.bearer_token_file, "g.token");
    assert_string_equal(cfg.prom.endpoint, "localhost:19464");
    assert_string_equal(cfg.prom.tls.client_ca_file, "p.ca");
    assert_int_equal(cfg.trace_wait_ns, 2 * SEC);
    assert_int_equal(cfg.max_pending_spans, 5000);
    assert_int_equal(cfg.conversation_idle_timeout_ns, 300 * SEC);
    assert_int_equal(cfg.max_open_conversations, 6000);
    assert_int_equal(cfg.quality_window_ns, 900 * SEC);
    assert_string_equal(cfg.state_dir, "/tmp/state");
    assert_int_equal(cfg.escalation_tool_count, 1);
    assert_string_equal(cfg.escalation_tools[0], "call_manager");
    assert_string_equal(cfg.escalation_attribute, "app.escalated");
    assert_int_equal(cfg.max_series_per_metric, 0);
    assert_int_equal(cfg.max_label_value_bytes, 128);
    assert_int_equal(cfg.series_idle_timeout_ns, 600 * SEC);
    assert_false(cfg.semconv_metrics);
    assert_int_equal(cfg.bucket_count, 2);
    assert_int_equal(cfg.buckets[0].metric, AM_M_GENAI_TOKEN_USAGE);
    assert_int_equal(cfg.buckets[0].count, 3);
    assert_true(cfg.buckets[0].bounds[2] == 100);
    assert_int_equal(cfg.buckets[1].metric, AM_M_AGENT_CONVERSATION_TURNS);
    assert_true(cfg.buckets[1].bounds[0] == -1 && cfg.buckets[1].bounds[1] == 0.5);
    assert_int_equal(cfg.remote_write_count, 1);
    assert_nondefault_rw(&cfg.remote_write[0]);
    assert_string_equal(cfg.external_labels[0].name, "z");
    assert_string_equal(cfg.external_labels[1].value, "2");
    assert_false(cfg.pricing_builtin);
    assert_string_equal(cfg.pricing_file, "p.yaml");
    assert_int_equal(cfg.price_count, 2);
    assert_false(cfg.prices[0].price.has_cached_input);
    assert_false(cfg.prices[0].price.has_cache_write);
    assert_string_equal(cfg.prices[1].model, "m2");
    assert_true(cfg.prices[1].price.output == 0.5 && cfg.prices[1].price.cached_input == 0.25);
    assert_true(cfg.prices[1].price.has_cache_write && cfg.prices[1].price.cache_write == 0);
    assert_int_equal(cfg.log_level, AM_LOG_LEVEL_DEBUG);
    assert_int_equal(cfg.log_format, AM_LOG_FORMAT_JSON);
    assert_int_equal(cfg.workers, 3);
    am_config_free(&cfg);
}

#define RW "exporters:\n  remote_write:\n    - url: http://a/\n"
#define HTTP "receivers:\n  otlp:\n    http:\n"
#define GENAI "processors:\n  genai:\n"

static const struct {
    const char *text;
    const char *msg;
} bad[] = {
    /* unknown keys, at several depths; the diagnostic points at the key */
    {"foo: 1\n", "agentmeter.yaml:1:1: foo: unknown key"},
    {HTTP "      endpont: x\n", "agentmeter.yaml:4:7: receivers.otlp.http.endpont: unknown key"},
    {HTTP "      tls: {cert: a}\n",
     "agentmeter.yaml:4:13: receivers.otlp.http.tls.cert: unknown key"},
    {"exporters: {prometheus: {max_connections: 5}}\n",
     "agentmeter.yaml:1:26: exporters.prometheus.max_connections: unknown key"},
    {RW "      queue: {dirr: x}\n",
     "agentmeter.yaml:4:15: exporters.remote_write[0].queue.dirr: unknown key"},
    {"pricing:\n  models:\n    gpt-4o: {input: 1, output: 2, extra: 3}\n",
     "agentmeter.yaml:3:35: pricing.models.gpt-4o.extra: unknown key"},
    /* wrong node types */
    {"- a\n", "agentmeter.yaml:1:1: expected a mapping at the top level, got a sequence"},
    {"receivers:\n  otlp:\n    http: [a]\n",
     "agentmeter.yaml:3:11: receivers.otlp.http: expected a mapping, got a sequence"},
    {"workers: {a: 1}\n", "agentmeter.yaml:1:10: workers: expected an integer, got a mapping"},
    {GENAI "    escalation_tools: human\n",
     "agentmeter.yaml:3:23: processors.genai.escalation_tools: expected a sequence of strings, "
     "got a scalar"},
    {GENAI "    escalation_tools: [a, [b]]\n",
     "agentmeter.yaml:3:27: processors.genai.escalation_tools[1]: expected a string, got a "
     "sequence"},
    {"exporters: {remote_write: {url: x}}\n",
     "agentmeter.yaml:1:27: exporters.remote_write: expected a sequence of mappings, got a "
     "mapping"},
    {"workers:\n", "agentmeter.yaml:1:9: workers: missing value (expected an integer)"},
    /* values and ranges */
    {"workers: 300\n", "agentmeter.yaml:1:10: workers: \"300\" is out of range (0..256)"},
    {"workers: -1\n", "agentmeter.yaml:1:10: workers: invalid integer \"-1\""},
    {HTTP "      read_timeout: 30 seconds\n",
     "agentmeter.yaml:4:21: receivers.otlp.http.read_timeout: invalid duration \"30 seconds\" "
     "(use ms, s, m or h)"},
    {GENAI "    trace_wait: 2h\n",
     "agentmeter.yaml:3:17: processors.genai.trace_wait: \"2h\" is out of range (0s..1h)"},
    {HTTP "      max_request_body_size: 20 MB\n",
     "agentmeter.yaml:4:30: receivers.otlp.http.max_request_body_size: invalid size \"20 MB\" "
     "(use bytes, KiB, MiB or GiB)"},
    {HTTP "      max_request_body_size: 2GiB\n",
     "agentmeter.yaml:4:30: receivers.otlp.http.max_request_body_size: \"2GiB\" is out of range "
     "(1KiB..1GiB)"},
    {HTTP "      max_inflight_bytes: 512KiB\n",
     "agentmeter.yaml:4:27: receivers.otlp.http.max_inflight_bytes: \"512KiB\" is out of range "
     "(1MiB..64GiB)"},
    {GENAI "    semconv_metrics: yes\n",
     "agentmeter.yaml:3:22: processors.genai.semconv_metrics: invalid boolean \"yes\" (use true "
     "or false)"},
    {"log: {level: verbose}\n",
     "agentmeter.yaml:1:14: log.level: invalid value \"verbose\" (use error, warn, info or "
     "debug)"},
    {"log: {format: text}\n",
     "agentmeter.yaml:1:15: log.format: invalid value \"text\" (use logfmt or json)"},
    {HTTP "      endpoint: 0.0.0.0:70000\n",
     "agentmeter.yaml:4:17: receivers.otlp.http.endpoint: invalid endpoint \"0.0.0.0:70000\" "
     "(want host:port, port 0-65535)"},
    {"exporters: {prometheus: {endpoint: localhost}}\n",
     "agentmeter.yaml:1:36: exporters.prometheus.endpoint: invalid endpoint \"localhost\" (want "
     "host:port, port 0-65535)"},
    {GENAI "    escalation_attribute: \"\"\n",
     "agentmeter.yaml:3:27: processors.genai.escalation_attribute: must not be empty"},
    /* buckets */
    {GENAI "    buckets: {agent_request_duration_seconds: [1, 2, 2]}\n",
     "agentmeter.yaml:3:54: processors.genai.buckets.agent_request_duration_seconds[2]: bucket "
     "bounds must be strictly increasing"},
    {GENAI "    buckets: {agent_request_duration_seconds: []}\n",
     "agentmeter.yaml:3:47: processors.genai.buckets.agent_request_duration_seconds: needs 1 to "
     "32 bucket bounds, got 0"},
    {GENAI "    buckets: {agent_request_duration_seconds: [1, .inf]}\n",
     "agentmeter.yaml:3:51: processors.genai.buckets.agent_request_duration_seconds[1]: invalid "
     "bucket bound \".inf\" (want a finite number)"},
    {GENAI "    buckets: {agent_request_duration_seconds: [nan]}\n",
     "agentmeter.yaml:3:48: processors.genai.buckets.agent_request_duration_seconds[0]: invalid "
     "bucket bound \"nan\" (want a finite number)"},
    {GENAI "    buckets: {agent_requests_total: [1]}\n",
     "agentmeter.yaml:3:15: processors.genai.buckets.agent_requests_total: not a histogram "
     "metric"},
    {GENAI "    buckets: {no_such_metric: [1]}\n",
     "agentmeter.yaml:3:15: processors.genai.buckets.no_such_metric: unknown metric"},
    /* external labels */
    {"external_labels: {1cluster: a}\n",
     "agentmeter.yaml:1:19: external_labels.1cluster: invalid label name (want "
     "[a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"},
    {"external_labels: {__name__: a}\n",
     "agentmeter.yaml:1:19: external_labels.__name__: invalid label name (want "
     "[a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"},
    {"external_labels: {cluster: \"\"}\n",
     "agentmeter.yaml:1:28: external_labels.cluster: label value must not be empty"},
    /* cross-field checks */
    {"receivers:\n  otlp:\n    grpc:\n      tls: {cert_file: a.crt}\n",
     "agentmeter.yaml:4:12: receivers.otlp.grpc.tls: cert_file and key_file must be set "
     "together"},
    {HTTP "      tls: {client_ca_file: ca.pem}\n",
     "agentmeter.yaml:4:12: receivers.otlp.http.tls: client_ca_file needs cert_file and "
     "key_file"},
    {RW "      queue: {min_backoff: 10s}\n",
     "agentmeter.yaml:4:14: exporters.remote_write[0].queue: min_backoff must not exceed "
     "max_backoff"},
    {RW "      basic_auth: {username: u}\n",
     "agentmeter.yaml:4:19: exporters.remote_write[0].basic_auth: username and password_file "
     "must be set together"},
    {RW "      basic_auth: {username: u, password_file: p}\n      bearer_token_file: t\n",
     "agentmeter.yaml:3:7: exporters.remote_write[0]: basic_auth and bearer_token_file are "
     "mutually exclusive"},
    {RW "      tls: {key_file: k}\n",
     "agentmeter.yaml:4:12: exporters.remote_write[0].tls: cert_file and key_file must be set "
     "together"},
    /* remote_write items */
    {"exporters:\n  remote_write:\n    - timeout: 5s\n",
     "agentmeter.yaml:3:7: exporters.remote_write[0]: url is required"},
    {"exporters:\n  remote_write:\n    - url: ftp://x/\n",
     "agentmeter.yaml:3:12: exporters.remote_write[0].url: invalid URL \"ftp://x/\" (want "
     "http://host/... or https://host/...)"},
    {RW "      headers: {User-Agent: me}\n",
     "agentmeter.yaml:4:17: exporters.remote_write[0].headers.User-Agent: header is set by "
     "agentmeter and cannot be configured"},
    {RW "      headers: {\"bad header\": x}\n",
     "agentmeter.yaml:4:17: exporters.remote_write[0].headers.bad header: invalid header name"},
    /* pricing */
    {"pricing: {models: {m: {input: -1, output: 1}}}\n",
     "agentmeter.yaml:1:31: pricing.models.m.input: invalid price \"-1\" (want a number >= 0)"},
    {"pricing: {models: {m: {input: 1}}}\n",
     "agentmeter.yaml:1:23: pricing.models.m: output is required"},
    /* dimensions */
    {GENAI "    dimensions:\n      - {attribute: x, label: agent_name}\n",
     "agentmeter.yaml:4:31: processors.genai.dimensions[0].label: \"agent_name\" collides with a "
     "built-in label of agent_requests_total"},
    {GENAI "    dimensions:\n      - {attribute: gen_ai.request.model, label: status,\n"
           "         metrics: [agent_tool_calls_total]}\n",
     "agentmeter.yaml:4:50: processors.genai.dimensions[0].label: \"status\" collides with a "
     "built-in label of agent_tool_calls_total"},
    {GENAI "    dimensions:\n      - {attribute: le}\n",
     "agentmeter.yaml:4:21: processors.genai.dimensions[0].label: \"le\" is reserved or empty"},
    {GENAI "    dimensions:\n      - {attribute: x, label: \"__x\"}\n",
     "agentmeter.yaml:4:31: processors.genai.dimensions[0].label: \"__x\" is reserved or empty"},
    {GENAI "    dimensions:\n      - {attribute: tenant.id}\n      - {attribute: y, label: "
           "tenant-id}\n",
     "agentmeter.yaml:5:31: processors.genai.dimensions[1].label: \"tenant_id\" is already the "
     "label of dimension 0"},
    {GENAI "    dimensions:\n      - {attribute: x, metrics: [agent_conversations_total]}\n",
     "agentmeter.yaml:4:34: processors.genai.dimensions[0].metrics[0]: "
     "\"agent_conversations_total\" is not a span-derived metric (agent_*, model_*, gen_ai_*; not "
     "conversation or evaluation metrics)"},
    {GENAI "    dimensions:\n      - {label: x}\n",
     "agentmeter.yaml:4:9: processors.genai.dimensions[0]: attribute is required"},
    {GENAI "    dimensions: [{attribute: a}, {attribute: b}, {attribute: c}, {attribute: d}, "
           "{attribute: e}]\n",
     "agentmeter.yaml:3:82: processors.genai.dimensions: at most 4 dimensions"},
    /* environment */
    {"log:\n  level: ${env:AM_TEST_UNSET_VAR}\n",
     "agentmeter.yaml:2:10: log.level: environment variable AM_TEST_UNSET_VAR is not set"},
    {GENAI "    state_dir: /x/${HOME}\n",
     "agentmeter.yaml:3:16: processors.genai.state_dir: invalid ${...} reference (use "
     "${env:NAME}, or $${ for a literal ${)"},
    /* the YAML layer */
    {HTTP "      endpoint: 0.0.0.0:1\n      endpoint: 0.0.0.0:2\n",
     "agentmeter.yaml:5:7: receivers.otlp.http.endpoint: duplicate key (first at line 4, column "
     "7)"},
    {"workers: &w 1\n", "agentmeter.yaml:1:10: workers: anchors and aliases are not supported"},
    /* limits */
    {"limits:\n  memory: 0%\n",
     "agentmeter.yaml:2:3: limits: memory: want N% (1-100), a size or 0"},
    {"limits:\n  memory: 101%\n",
     "agentmeter.yaml:2:3: limits: memory: want N% (1-100), a size or 0"},
    {"limits:\n  memory: lots\n",
     "agentmeter.yaml:2:3: limits: memory: want N% (1-100), a size >= 16MiB or 0"},
    {"limits:\n  memory: 1MiB\n",
     "agentmeter.yaml:2:3: limits: memory: want N% (1-100), a size >= 16MiB or 0"},
    {"a: b: c\n",
     "agentmeter.yaml:1:5: invalid YAML: mapping values are not allowed in this context"},
};

static void test_load_bad_configs_exact_diagnostics(void **st)
{
    int failed = 0;
    unsetenv("AM_TEST_UNSET_VAR");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct am_config cfg;
        struct am_diag diag = {{0}};
        int rc = load(bad[i].text, &cfg, &diag);
        if (rc != AM_ECONFIG || strcmp(diag.msg, bad[i].msg) != 0) {
            print_error("case %zu: rc %d\n got: %s\nwant: %s\n", i, rc, diag.msg, bad[i].msg);
            failed++;
        }
        am_config_free(&cfg); /* a failed load leaves nothing am_config_free misses */
    }
    assert_int_equal(failed, 0);
}

/* limits.memory: a share, a size or 0; exactly one of the parsed fields set. */
static void test_load_limits_memory(void **st)
{
    static const struct {
        const char *text;
        uint32_t percent;
        uint64_t bytes;
    } ok[] = {
        {"limits:\n  memory: 50%\n", 50, 0},
        {"limits:\n  memory: 100%\n", 100, 0},
        {"limits:\n  memory: 1GiB\n", 0, 1024 * MIB},
        {"limits:\n  memory: 16MiB\n", 0, 16 * MIB},
        {"limits:\n  memory: 0\n", 0, 0},
        {"limits: {}\n", 80, 0},
    };
    (void)st;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct am_config cfg;
        struct am_diag diag = {{0}};
        assert_int_equal(load(ok[i].text, &cfg, &diag), AM_OK);
        assert_int_equal(cfg.memory_limit_percent, ok[i].percent);
        assert_int_equal(cfg.memory_limit_bytes, ok[i].bytes);
        am_config_free(&cfg);
    }
}

static void test_load_dimensions_sanitized_and_resolved(void **st)
{
    struct am_config cfg;
    struct am_diag diag = {{0}};
    const char *text =
        "processors:\n  genai:\n    dimensions:\n"
        "      - {attribute: deployment.environment, label: environment}\n"
        "      - {attribute: tenant.id, default: none,\n"
        "         metrics: [agent_requests_total, agent_estimated_cost_dollars]}\n"
        "      - {attribute: x, label: 9model_id, metrics: [agent_requests_total]}\n";
    if (load(text, &cfg, &diag) != AM_OK) {
        fail_msg("%s", diag.msg);
    }
    assert_int_equal(cfg.dimension_count, 3);
    assert_string_equal(cfg.dimensions[0].label, "environment");
    assert_string_equal(cfg.dimensions[0].def, "");
    assert_true(cfg.dimensions[0].metric_mask >> AM_M_AGENT_GRAPH_CALLS_TOTAL & 1);
    assert_true(cfg.dimensions[0].metric_mask >> AM_M_GENAI_OPERATION_DURATION & 1);
    assert_false(cfg.dimensions[0].metric_mask >> AM_M_AGENT_CONVERSATION_TURNS & 1);
    assert_false(cfg.dimensions[0].metric_mask >> AM_M_AGENT_QUALITY_SCORE & 1);
    assert_string_equal(cfg.dimensions[1].attribute, "tenant.id");
    assert_string_equal(cfg.dimensions[1].label, "tenant_id");
    assert_string_equal(cfg.dimensions[1].def, "none");
    assert_int_equal(cfg.dimensions[1].metric_mask,
                     (UINT64_C(1) << AM_M_AGENT_REQUESTS_TOTAL) |
                         (UINT64_C(1) << AM_M_AGENT_ESTIMATED_COST_TOTAL));
    assert_string_equal(cfg.dimensions[2].label, "_9model_id");
    am_config_free(&cfg);
}

static void test_load_env_expansion_in_any_scalar(void **st)
{
    struct am_config cfg;
    struct am_diag diag;
    setenv("AM_TEST_EP", "127.0.0.1:9999", 1);
    setenv("AM_TEST_SUB", "lib", 1);
    setenv("AM_TEST_DUR", "250ms", 1);
    setenv("AM_TEST_TOOL", "page_oncall", 1);
    int rc = load("exporters: {prometheus: {endpoint: \"${env:AM_TEST_EP}\"}}\n"
                  "processors:\n  genai:\n"
                  "    state_dir: /var/${env:AM_TEST_SUB}/$${env:AM_TEST_SUB}/$$x\n"
                  "    trace_wait: ${env:AM_TEST_DUR}\n"
                  "    escalation_tools: [\"${env:AM_TEST_TOOL}\", \"x${env:AM_TEST_SUB}${env:"
                  "AM_TEST_SUB}\"]\n"
                  "external_labels: {replica: \"${env:AM_TEST_SUB}\"}\n",
                  &cfg, &diag);
    if (rc != AM_OK) {
        fail_msg("%s", diag.msg);
    }
    assert_string_equal(cfg.prom.endpoint, "127.0.0.1:9999");
    assert_string_equal(cfg.state_dir, "/var/lib/${env:AM_TEST_SUB}/$$x");
    assert_int_equal(cfg.trace_wait_ns, 250 * MS);
    assert_string_equal(cfg.escalation_tools[0], "page_oncall");
    assert_string_equal(cfg.escalation_tools[1], "xliblib");
    assert_string_equal(cfg.external_labels[0].value, "lib");
    am_config_free(&cfg);

    /* an expanded value is still checked */
    setenv("AM_TEST_EP", "nowhere", 1);
    rc = load("exporters: {prometheus: {endpoint: \"${env:AM_TEST_EP}\"}}\n", &cfg, &diag);
    assert_int_equal(rc, AM_ECONFIG);
    assert_string_equal(diag.msg, "agentmeter.yaml:1:36: exporters.prometheus.endpoint: invalid "
                                  "endpoint \"nowhere\" (want host:port, port 0-65535)");
    am_config_free(&cfg);

    /* the listeners' own syntax: ":port" is every interface */
    setenv("AM_TEST_EP", ":19464", 1);
    rc = load("exporters: {prometheus: {endpoint: \"${env:AM_TEST_EP}\"}}\n", &cfg, &diag);
    assert_int_equal(rc, AM_OK);
    assert_string_equal(cfg.prom.endpoint, ":19464");
    am_config_free(&cfg);
}

static void test_load_null_values(void **st)
{
    struct am_config cfg;
    struct am_diag diag;
    int rc = load("receivers:\n  otlp:\n    http:\n      tls:\n"
                  "processors:\n  genai:\n    state_dir: ~\n    escalation_tools: []\n"
                  "exporters:\n  remote_write:\n",
                  &cfg, &diag);
    if (rc != AM_OK) {
        fail_msg("%s", diag.msg);
    }
    assert_null(cfg.http.tls.cert_file);
    assert_null(cfg.state_dir);
    assert_int_equal(cfg.escalation_tool_count, 0);
    assert_int_equal(cfg.remote_write_count, 0);
    am_config_free(&cfg);
}

static void test_load_missing_file_is_eio(void **st)
{
    struct am_config cfg;
    struct am_diag diag;
    am_config_defaults(&cfg);
    assert_int_equal(am_config_load("/nonexistent/agentmeter.yaml", &cfg, &diag), AM_EIO);
    assert_string_equal(diag.msg,
                        "/nonexistent/agentmeter.yaml: cannot read: No such file or directory");
    assert_defaults(&cfg);
    am_config_free(&cfg);
}

static void test_units_durations_and_sizes(void **st)
{
    static const struct {
        const char *s;
        int rc;
        uint64_t v;
    } dur[] = {
        {"250ms", AM_OK, 250 * MS}, {"10s", AM_OK, 10 * SEC}, {"30m", AM_OK, 1800 * SEC},
        {"1h", AM_OK, 3600 * SEC},  {"0s", AM_OK, 0},         {"0", AM_OK, 0},
        {"1.5s", AM_OK, 1500 * MS}, {"100us", AM_OK, 100000}, {"5ns", AM_OK, 5},
        {"", AM_EINVAL, 0},         {"s", AM_EINVAL, 0},      {"10", AM_EINVAL, 0},
        {"-1s", AM_EINVAL, 0},      {"10 s", AM_EINVAL, 0},   {"10sec", AM_EINVAL, 0},
        {"1d", AM_EINVAL, 0},       {"1e3s", AM_EINVAL, 0},   {"6000000h", AM_EINVAL, 0},
    };
    static const struct {
        const char *s;
        int rc;
        uint64_t v;
    } size[] = {
        {"1024", AM_OK, 1024},
        {"20MiB", AM_OK, 20 * MIB},
        {"512KiB", AM_OK, 512 * 1024},
        {"1GiB", AM_OK, 1024 * MIB},
        {"7B", AM_OK, 7},
        {"2KB", AM_OK, 2000},
        {"18446744073709551615", AM_OK, UINT64_MAX},
        {"", AM_EINVAL, 0},
        {"MiB", AM_EINVAL, 0},
        {"1.5GiB", AM_EINVAL, 0},
        {"-1", AM_EINVAL, 0},
        {"1 MiB", AM_EINVAL, 0},
        {"1TiB", AM_EINVAL, 0},
        {"18446744073709551616", AM_EINVAL, 0},
        {"17179869184GiB", AM_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(dur) / sizeof(dur[0]); i++) {
        uint64_t v = 12345;
        int rc = am_config_parse_duration(dur[i].s, &v);
        if (rc != dur[i].rc || (rc == AM_OK && v != dur[i].v)) {
            fail_msg("duration \"%s\": rc %d v %llu", dur[i].s, rc, (unsigned long long)v);
        }
    }
    for (size_t i = 0; i < sizeof(size) / sizeof(size[0]); i++) {
        uint64_t v = 12345;
        int rc = am_config_parse_size(size[i].s, &v);
        if (rc != size[i].rc || (rc == AM_OK && v != size[i].v)) {
            fail_msg("size \"%s\": rc %d v %llu", size[i].s, rc, (unsigned long long)v);
        }
    }
}

static void test_parse_pricing_file(void **st)
{
    struct am_price_entry *e = NULL;
    size_t n = 0;
    struct am_diag diag;
    const char *text = "updated: \"2026-11-01\"\n"
                       "models:\n"
                       "  gpt-4o: { input: 2.50, output: 10.00, cached_input: 1.25 }\n"
                       "  claude-sonnet-4: { input: 3, output: 15, cached_input: 0.3, "
                       "cache_write: 3.75 }\n";
    assert_int_equal(am_config_parse_pricing(text, strlen(text), "p.yaml", &e, &n, &diag), AM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].model, "gpt-4o");
    assert_true(e[0].price.input == 2.5 && e[0].price.output == 10);
    assert_true(e[0].price.has_cached_input && e[0].price.cached_input == 1.25);
    assert_false(e[0].price.has_cache_write);
    assert_string_equal(e[1].model, "claude-sonnet-4");
    assert_true(e[1].price.has_cache_write && e[1].price.cache_write == 3.75);
    am_config_free_prices(e, n);
}

static void test_parse_pricing_bad_files_exact_diagnostics(void **st)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"updated: x\n", "p.yaml:1:1: models is required"},
        {"models: {}\nsource: web\n", "p.yaml:2:1: source: unknown key"},
        {"models: {m: {output: 1}}\n", "p.yaml:1:13: models.m: input is required"},
        {"models: {m: {input: 1, output: x}}\n",
         "p.yaml:1:32: models.m.output: invalid price \"x\" (want a number >= 0)"},
        {"models: {m: 3}\n", "p.yaml:1:13: models.m: expected a mapping, got a scalar"},
        {"models: [m]\n", "p.yaml:1:9: models: expected a mapping, got a sequence"},
        {"[1]\n", "p.yaml:1:1: expected a mapping at the top level, got a sequence"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_price_entry *e = (struct am_price_entry *)1;
        size_t n = 7;
        struct am_diag diag = {{0}};
        int rc =
            am_config_parse_pricing(cases[i].text, strlen(cases[i].text), "p.yaml", &e, &n, &diag);
        if (rc != AM_ECONFIG || strcmp(diag.msg, cases[i].msg) != 0) {
            fail_msg("case %zu: rc %d\n got: %s\nwant: %s", i, rc, diag.msg, cases[i].msg);
        }
        assert_null(e);
        assert_int_equal(n, 0);
    }
}

static void test_builtin_pricing_parses(void **st)
{
    struct am_price_entry *e = NULL;
    size_t n = 0;
    struct am_diag diag;
    int rc = am_config_parse_pricing(am_builtin_pricing_yaml, am_builtin_pricing_yaml_len,
                                     "builtin:deploy/pricing.yaml", &e, &n, &diag);
    if (rc != AM_OK) {
        fail_msg("%s", diag.msg);
    }
    am_config_free_prices(e, n);
}

/* deploy/agentmeter.yaml: as shipped it is all defaults; its "#> " lines are
 * commented-out examples of the optional keys, which must load too. */
static void test_deploy_reference_config_loads(void **st)
{
    struct am_config cfg;
    struct am_diag diag;
    size_t len;
    am_config_defaults(&cfg);
    int rc = am_config_load(AM_SOURCE_DIR "/deploy/agentmeter.yaml", &cfg, &diag);
    if (rc != AM_OK) {
        fail_msg("%s", diag.msg);
    }
    assert_defaults(&cfg);
    am_config_free(&cfg);

    char *text = ts_read_file(AM_SOURCE_DIR "/deploy/agentmeter.yaml", &len);
    char *out = am_xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        bool bol = i == 0 || text[i - 1] == '\n';
        if (bol) {
            size_t sp = i;
            while (sp < len && text[sp] == ' ') {
                sp++;
            }
            if (len - sp >= 3 && memcmp(text + sp, "#> ", 3) == 0) {
                memcpy(out + o, text + i, sp - i);
                o += sp - i;
                i = sp + 2;
                continue;
            }
        }
        out[o++] = text[i];
    }
    out[o] = '\0';
    rc = load(out, &cfg, &diag);
    if (rc != AM_OK) {
        fail_msg("uncommented: %s", diag.msg);
    }
    assert_non_null(cfg.http.tls.cert_file);
    assert_non_null(cfg.state_dir);
    assert_true(cfg.remote_write_count >= 1);
    assert_true(cfg.external_label_count >= 1);
    assert_true(cfg.price_count >= 1);
    assert_non_null(cfg.pricing_file);
    am_config_free(&cfg);
    am_free(out);
    am_free(text); /* ts_read_file memory is plain malloc, which am_free releases */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_every_field),
        cmocka_unit_test(test_load_empty_text_gives_defaults),
        cmocka_unit_test(test_load_spec_example_exact_values),
        cmocka_unit_test(test_load_every_key_off_default_exact_values),
        cmocka_unit_test(test_load_bad_configs_exact_diagnostics),
        cmocka_unit_test(test_load_limits_memory),
        cmocka_unit_test(test_load_env_expansion_in_any_scalar),
        cmocka_unit_test(test_load_null_values),
        cmocka_unit_test(test_load_missing_file_is_eio),
        cmocka_unit_test(test_units_durations_and_sizes),
        cmocka_unit_test(test_parse_pricing_file),
        cmocka_unit_test(test_parse_pricing_bad_files_exact_diagnostics),
        cmocka_unit_test(test_builtin_pricing_parses),
        cmocka_unit_test(test_load_dimensions_sanitized_and_resolved),
        cmocka_unit_test(test_deploy_reference_config_loads),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
