/*
 * test_daemon.c - the whole collector in-process (STYLE.md 5.9): listeners
 * on 127.0.0.1 port 0, one or two workers, driven over loopback with
 * libcurl. Checks exact values on /metrics after OTLP/JSON requests (plain
 * and gzip), and that every bad request of SPEC.md 1 leaves them unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "am/alloc.h"
#include "am/config.h"
#include "am/daemon.h"
#include "am/inflate.h"
#include "am/log.h"
#include "testsupport.h"

struct harness {
    struct am_daemon *d;
    pthread_t thread;
    int otlp_port;
    int prom_port;
};

struct reply {
    long status;
    char *body;
    size_t len;
    char content_type[128];
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    r->body = realloc(r->body, r->len + size * n + 1);
    memcpy(r->body + r->len, p, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static void reply_free(struct reply *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Records the Content-Encoding response header (64 bytes at most). */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    char *enc = ud;
    size_t len = size * n;
    if (len > 18 && strncasecmp(p, "Content-Encoding: ", 18) == 0) {
        size_t v = len - 18;
        while (v > 0 && (p[18 + v - 1] == '\r' || p[18 + v - 1] == '\n')) {
            v--;
        }
        snprintf(enc, 64, "%.*s", (int)v, p + 18);
    }
    return len;
}

/* One request; method NULL means GET (or POST when body != NULL). */
static void request(int port, const char *method, const char *path, const char *ctype,
                    const char *cenc, const void *body, size_t len, struct reply *out)
{
    char url[256];
    char h1[128];
    char h2[128];
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (ctype != NULL) {
        snprintf(h1, sizeof(h1), "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, h1);
    }
    if (cenc != NULL) {
        snprintf(h2, sizeof(h2), "Content-Encoding: %s", cenc);
        hdrs = curl_slist_append(hdrs, h2);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    if (method != NULL) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    assert_int_equal(rc, CURLE_OK);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct != NULL) {
        snprintf(out->content_type, sizeof(out->content_type), "%s", ct);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
}

/* GET with extra request headers; libcurl inflates a gzip body itself when
 * accept_encoding is set, and *encoding tells what the server sent. */
static void get_with(int port, const char *path, const char *accept, const char *accept_encoding,
                     struct reply *out, char *encoding, size_t enc_cap)
{
    char url[256];
    char h[256];
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (accept != NULL) {
        snprintf(h, sizeof(h), "Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, h);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    if (accept_encoding != NULL) {
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, accept_encoding);
    }
    encoding[0] = '\0';
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, encoding);
    (void)enc_cap;
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct != NULL) {
        snprintf(out->content_type, sizeof(out->content_type), "%s", ct);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
}

static void *run_daemon(void *arg)
{
    struct harness *h = arg;
    am_daemon_run(h->d);
    return NULL;
}

static struct harness *start(unsigned workers, uint64_t max_body)
{
    static const char yaml[] = "receivers:\n"
                               "  otlp:\n"
                               "    http: { endpoint: 127.0.0.1:0, max_request_body_size: %llu }\n"
                               "exporters:\n"
                               "  prometheus: { endpoint: 127.0.0.1:0 }\n"
                               "workers: %u\n"
                               "pricing:\n"
                               "  builtin: false\n"
                               "  models:\n"
                               "    gpt-4o: { input: 2.5, output: 10 }\n"
                               "log: { level: error }\n";
    char text[1024];
    struct am_config cfg;
    struct am_diag diag;
    int n = snprintf(text, sizeof(text), yaml, (unsigned long long)max_body, workers);
    am_config_defaults(&cfg);
    assert_int_equal(am_config_load_string(text, (size_t)n, "test.yaml", &cfg, &diag), 0);
    am_log_set_level(AM_LOG_LEVEL_ERROR);
    struct harness *h = calloc(1, sizeof(*h));
    h->d = am_daemon_create(&cfg, NULL);
    assert_non_null(h->d);
    h->otlp_port = am_daemon_port(h->d, "http");
    h->prom_port = am_daemon_port(h->d, "prometheus");
    assert_true(h->otlp_port > 0 && h->prom_port > 0);
    assert_int_equal(pthread_create(&h->thread, NULL, run_daemon, h), 0);
    /* Wait for readiness by polling with a deadline. */
    for (int i = 0; i < 500; i++) {
        struct reply r;
        request(h->prom_port, NULL, "/-/ready", NULL, NULL, NULL, 0, &r);
        long st = r.status;
        reply_free(&r);
        if (st == 200) {
            return h;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("collector not ready within 5 s");
    return NULL;
}

static void stop(struct harness *h)
{
    am_daemon_stop(h->d);
    pthread_join(h->thread, NULL);
    am_daemon_destroy(h->d);
    free(h);
}

/* The value of the sample whose line starts with `series ` ("" if absent). */
static const char *sample(const char *expo, const char *series, char *out, size_t cap)
{
    size_t n = strlen(series);
    const char *p = expo;
    out[0] = '\0';
    while (p != NULL && *p != '\0') {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            const char *v = p + n + 1;
            size_t l = strcspn(v, "\n");
            snprintf(out, cap, "%.*s", (int)(l < cap - 1 ? l : cap - 1), v);
            return out;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    return out;
}

static char *scrape(struct harness *h)
{
    struct reply r;
    request(h->prom_port, NULL, "/metrics", NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
}

static void post_trace_fixture(struct harness *h, int gzip)
{
    size_t len;
    char *json = ts_read_file(AM_TEST_DATA_DIR "/daemon/agent_trace.json", &len);
    struct reply r;
    if (gzip) {
        /* Another trace (same shape, new trace ids): a retried export of
         * the first one would be recognised as a duplicate. */
        for (char *p = strstr(json, "af7651916cd43dd"); p != NULL;
             p = strstr(p + 1, "af7651916cd43dd")) {
            p[0] = 'b';
        }
        uint8_t *z;
        size_t zlen;
        assert_int_equal(am_gzip_compress((const uint8_t *)json, len, &z, &zlen), 0);
        request(h->otlp_port, NULL, "/v1/traces", "application/json", "gzip", z, zlen, &r);
        am_free(z);
    } else {
        request(h->otlp_port, NULL, "/v1/traces", "application/json", NULL, json, len, &r);
    }
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{}");
    reply_free(&r);
    free(json);
}

struct expect {
    const char *series;
    const char *value;
};

/* Exact values after one copy of agent_trace.json (SPEC.md 3). */
static const struct expect after_one[] = {
    {"agent_requests_total{agent_name=\"support-bot\",status=\"success\"}", "1"},
    {"agent_request_duration_seconds_bucket{agent_name=\"support-bot\",le=\"2\"}", "0"},
    {"agent_request_duration_seconds_bucket{agent_name=\"support-bot\",le=\"3\"}", "1"},
    {"agent_request_duration_seconds_bucket{agent_name=\"support-bot\",le=\"+Inf\"}", "1"},
    {"agent_request_duration_seconds_sum{agent_name=\"support-bot\"}", "2.5"},
    {"agent_request_duration_seconds_count{agent_name=\"support-bot\"}", "1"},
    {"model_inference_calls_total{agent_name=\"support-bot\",model_id=\"gpt-4o-2024-08-06\"}", "1"},
    {"model_inference_duration_seconds_bucket{agent_name=\"support-bot\",model_id=\"gpt-4o-2024-"
     "08-06\",le=\"0.2\"}",
     "0"},
    {"model_inference_duration_seconds_bucket{agent_name=\"support-bot\",model_id=\"gpt-4o-2024-"
     "08-06\",le=\"0.5\"}",
     "1"},
    {"agent_token_usage_total{agent_name=\"support-bot\",model_id=\"gpt-4o-2024-08-06\",token_"
     "type=\"input\"}",
     "1200"},
    {"agent_token_usage_total{agent_name=\"support-bot\",model_id=\"gpt-4o-2024-08-06\",token_"
     "type=\"output\"}",
     "300"},
    {"agent_estimated_cost_dollars_total{agent_name=\"support-bot\",model_id=\"gpt-4o-2024-08-"
     "06\"}",
     "0.006"},
    {"agent_tool_calls_total{agent_name=\"support-bot\",tool_name=\"search_kb\",status="
     "\"success\"}",
     "1"},
    {"agent_tool_calls_total{agent_name=\"support-bot\",tool_name=\"crm_lookup\",status="
     "\"timeout\"}",
     "1"},
    {"agent_tool_call_duration_seconds_bucket{agent_name=\"support-bot\",tool_name=\"search_kb\","
     "le=\"0.25\"}",
     "0"},
    {"agent_tool_call_duration_seconds_bucket{agent_name=\"support-bot\",tool_name=\"search_kb\","
     "le=\"0.5\"}",
     "1"},
    {"agent_tool_call_duration_seconds_sum{agent_name=\"support-bot\",tool_name=\"crm_lookup\"}",
     "1"},
    {"model_inference_calls_total{agent_name=\"summarizer\",model_id=\"mystery-model\"}", "1"},
    {"agentmeter_unpriced_tokens_total{model_id=\"mystery-model\"}", "15"},
    {"agent_estimated_cost_dollars_total{agent_name=\"summarizer\",model_id=\"mystery-model\"}",
     ""},
    {"agentmeter_spans_accepted_total{protocol=\"http/json\"}", "5"},
};

static void check(const char *expo, const struct expect *e, size_t n, int times)
{
    char got[64];
    for (size_t i = 0; i < n; i++) {
        char want[64];
        double v = e[i].value[0] != '\0' ? strtod(e[i].value, NULL) * times : 0;
        if (e[i].value[0] == '\0') {
            want[0] = '\0';
        } else if (strcmp(e[i].value, "0.006") == 0) {
            snprintf(want, sizeof(want), "%s", times == 1 ? "0.006" : "0.012");
        } else {
            snprintf(want, sizeof(want), "%.17g", v);
        }
        sample(expo, e[i].series, got, sizeof(got));
        if (strcmp(got, want) != 0) {
            fail_msg("%s: got '%s', want '%s'", e[i].series, got, want);
        }
    }
}

static void test_daemon_json_trace_exact_values(void **st)
{
    (void)st;
    for (unsigned workers = 1; workers <= 2; workers++) {
        struct harness *h = start(workers, 1u << 20);
        post_trace_fixture(h, 0);
        char *expo = scrape(h);
        check(expo, after_one, sizeof(after_one) / sizeof(after_one[0]), 1);
        assert_non_null(strstr(expo, "# HELP agent_requests_total "));
        assert_non_null(strstr(expo, "# TYPE agent_requests_total counter\n"));
        assert_non_null(strstr(expo, "# TYPE agent_request_duration_seconds histogram\n"));
        free(expo);
        post_trace_fixture(h, 1); /* the same again, gzip */
        expo = scrape(h);
        check(expo, after_one, sizeof(after_one) / sizeof(after_one[0]), 2);
        free(expo);
        stop(h);
    }
}

struct bad {
    const char *method;
    const char *path;
    const char *ctype;
    const char *cenc;
    const char *body;
    long status;
    const char *why; /* substring of the google.rpc.Status message */
};

static void test_daemon_bad_requests_change_nothing(void **st)
{
    (void)st;
    static const struct bad cases[] = {
        {NULL, "/v1/traces", "application/json", NULL, "{\"resourceSpans\":[", 400, ""},
        {NULL, "/v1/traces", "application/x-protobuf", NULL, "\x0a\xff\xff\xff\xff\x0f", 400, ""},
        {NULL, "/v1/traces", "application/json", "gzip", "not gzip at all", 400, ""},
        {NULL, "/v1/traces", "text/plain", NULL, "{}", 415, "Content-Type"},
        {NULL, "/v1/traces", "application/json", "br", "{}", 415, "Content-Encoding"},
        {"GET", "/v1/traces", NULL, NULL, NULL, 405, ""},
        {NULL, "/v1/nope", "application/json", NULL, "{}", 404, ""},
    };
    struct harness *h = start(1, 4096);
    post_trace_fixture(h, 0);
    post_trace_fixture(h, 0); /* a retried export: its spans are already held */
    char *before = scrape(h);
    /* Every derived value as after one copy; only the receiver counted twice. */
    check(before, after_one, sizeof(after_one) / sizeof(after_one[0]) - 1, 1);
    assert_non_null(strstr(before, "agentmeter_spans_accepted_total{protocol=\"http/json\"} 10\n"));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad *c = &cases[i];
        struct reply r;
        request(h->otlp_port, c->method, c->path, c->ctype, c->cenc, c->body,
                c->body ? strlen(c->body) : 0, &r);
        if (r.status != c->status) {
            fail_msg("case %zu (%s %s): status %ld, want %ld", i, c->ctype ? c->ctype : "", c->path,
                     r.status, c->status);
        }
        if (c->ctype != NULL && strcmp(c->ctype, "application/json") == 0) {
            assert_string_equal(r.content_type, "application/json");
            assert_non_null(strstr(r.body, "\"code\":"));
            assert_non_null(strstr(r.body, c->why));
        } else if (c->why[0] != '\0') {
            assert_string_equal(r.content_type, "application/x-protobuf");
            assert_non_null(memmem(r.body, r.len, c->why, strlen(c->why)));
        }
        reply_free(&r);
    }
    /* 413: a body over the cap, and a small gzip body that inflates past it. */
    char big[8192];
    memset(big, ' ', sizeof(big));
    struct reply r;
    request(h->otlp_port, NULL, "/v1/traces", "application/json", NULL, big, sizeof(big), &r);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    uint8_t *z;
    size_t zlen;
    assert_int_equal(am_gzip_compress((const uint8_t *)big, sizeof(big), &z, &zlen), 0);
    assert_true(zlen < 4096);
    request(h->otlp_port, NULL, "/v1/traces", "application/json", "gzip", z, zlen, &r);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    am_free(z);

    char *after = scrape(h);
    char want[64];
    char got[64];
    for (size_t i = 0; i < sizeof(after_one) / sizeof(after_one[0]); i++) {
        sample(before, after_one[i].series, want, sizeof(want));
        sample(after, after_one[i].series, got, sizeof(got));
        assert_string_equal(got, want);
    }
    assert_non_null(
        strstr(after, "agentmeter_receiver_requests_total{protocol=\"http\",code=\"400\"} 3\n"));
    assert_non_null(
        strstr(after, "agentmeter_receiver_requests_total{protocol=\"http\",code=\"413\"} 2\n"));
    assert_non_null(
        strstr(after, "agentmeter_receiver_requests_total{protocol=\"http\",code=\"415\"} 2\n"));
    free(before);
    free(after);
    stop(h);
}

static void test_daemon_openmetrics_with_exemplars_and_gzip(void **st)
{
    (void)st;
    struct harness *h = start(1, 1u << 20);
    post_trace_fixture(h, 0);
    struct reply r;
    char enc[64];
    get_with(h->prom_port, "/metrics",
             "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5", "gzip",
             &r, enc, sizeof(enc));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert_string_equal(enc, "gzip");
    assert_true(r.len > 6 && strcmp(r.body + r.len - 6, "# EOF\n") == 0);
    assert_non_null(strstr(r.body, "# TYPE agent_requests counter\n"));
    /* The counter's exemplar is the invoke_agent span of the fixture. */
    assert_non_null(strstr(r.body, "agent_requests_total{agent_name=\"support-bot\",status=\""
                                   "success\"} 1 # {trace_id=\"0af7651916cd43dd8448eb211c80319c"
                                   "\",span_id=\"b7ad6b7169203331\"} 1 "));
    reply_free(&r);
    /* No Accept: text 0.0.4, not compressed. */
    get_with(h->prom_port, "/metrics", NULL, NULL, &r, enc, sizeof(enc));
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(enc, "");
    assert_null(strstr(r.body, "# EOF"));
    reply_free(&r);
    stop(h);
}

/* An evaluation sent as an OTLP log record finds its agent through the span
 * it names (the fixture's invoke_agent span). */
static void test_daemon_logs_evaluation_scores_agent(void **st)
{
    (void)st;
    static const char logs[] =
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"evaluator\"}}]},\"scopeLogs\":[{\"logRecords\":[{"
        "\"timeUnixNano\":\"1700000003000000000\",\"eventName\":\"gen_ai.evaluation.result\","
        "\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\","
        "\"attributes\":[{\"key\":\"gen_ai.evaluation.name\",\"value\":{\"stringValue\":"
        "\"Groundedness\"}},{\"key\":\"gen_ai.evaluation.score.value\",\"value\":{"
        "\"doubleValue\":0.75}},{\"key\":\"gen_ai.evaluation.score.label\",\"value\":{"
        "\"stringValue\":\"grounded\"}}]},{\"eventName\":\"something.else\"}]}]}]}";
    struct harness *h = start(1, 1u << 20);
    post_trace_fixture(h, 0);
    struct reply r;
    request(h->otlp_port, NULL, "/v1/logs", "application/json", NULL, logs, strlen(logs), &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    reply_free(&r);
    char *expo = scrape(h);
    char got[64];
    sample(expo, "agent_quality_score{agent_name=\"support-bot\",metric_type=\"groundedness\"}",
           got, sizeof(got));
    assert_string_equal(got, "0.75");
    sample(expo,
           "agent_evaluation_labels_total{agent_name=\"support-bot\",metric_type=\"groundedness"
           "\",label=\"grounded\"}",
           got, sizeof(got));
    assert_string_equal(got, "1");
    sample(expo, "agentmeter_log_records_accepted_total{protocol=\"http/json\"}", got, sizeof(got));
    assert_string_equal(got, "2");
    free(expo);
    /* A logs body that does not decode: 400, nothing changes. */
    request(h->otlp_port, NULL, "/v1/logs", "application/x-protobuf", NULL, "\x0a\x05\x0a", 3, &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    stop(h);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_json_trace_exact_values),
        cmocka_unit_test(test_daemon_bad_requests_change_nothing),
        cmocka_unit_test(test_daemon_openmetrics_with_exemplars_and_gzip),
        cmocka_unit_test(test_daemon_logs_evaluation_scores_agent),
    };
    int rc = cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
