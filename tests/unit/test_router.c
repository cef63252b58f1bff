/*
 * test_router.c - exact-path routing: the handler for method+path, 404 for
 * an unknown path, 405 with Allow for a known path and another method, the
 * default and a custom error formatter, and the observer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/http.h"

static void handler(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    (void)req;
    resp->status = 202;
    resp->content_type = "text/plain";
    am_buf_append_str(&resp->body, (const char *)ud);
}

static struct am_http_request make_req(enum am_http_method m, const char *path)
{
    struct am_http_request r;
    memset(&r, 0, sizeof(r));
    r.method = m;
    r.path = am_str_from(path);
    r.protocol = "http";
    return r;
}

static int setup(void **st)
{
    struct am_router *r = am_router_create();
    am_router_add(r, AM_HTTP_POST, "/v1/traces", handler, "traces");
    am_router_add(r, AM_HTTP_POST, "/v1/logs", handler, "logs");
    am_router_add(r, AM_HTTP_GET, "/metrics", handler, "metrics");
    am_router_add(r, AM_HTTP_HEAD, "/metrics", handler, "metrics-head");
    *st = r;
    return 0;
}

static int teardown(void **st)
{
    am_router_destroy(*st);
    return 0;
}

static void test_router_dispatch_routes_and_errors(void **st)
{
    const struct am_router *r = *st;
    static const struct {
        enum am_http_method m;
        const char *path;
        int status;
        const char *body;
        const char *allow; /* NULL: no extra header */
    } cases[] = {
        {AM_HTTP_POST, "/v1/traces", 202, "traces", NULL},
        {AM_HTTP_POST, "/v1/logs", 202, "logs", NULL},
        {AM_HTTP_GET, "/metrics", 202, "metrics", NULL},
        {AM_HTTP_GET, "/v1/traces/", 404, "not found\n", NULL},
        {AM_HTTP_GET, "/", 404, "not found\n", NULL},
        {AM_HTTP_GET, "/v1/traces", 405, "method not allowed\n", "POST"},
        {AM_HTTP_POST, "/metrics", 405, "method not allowed\n", "GET, HEAD"},
        {AM_HTTP_OTHER, "/metrics", 405, "method not allowed\n", "GET, HEAD"},
    };
    struct am_http_response resp;
    am_http_response_init(&resp, 1024);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_http_request req = make_req(cases[i].m, cases[i].path);
        am_router_dispatch(r, &req, &resp);
        assert_int_equal(resp.status, cases[i].status);
        assert_int_equal(resp.body.len, strlen(cases[i].body));
        assert_memory_equal(resp.body.data, cases[i].body, resp.body.len);
        if (cases[i].allow == NULL) {
            assert_int_equal(resp.extra_count, 0);
        } else {
            assert_int_equal(resp.extra_count, 1);
            assert_string_equal(resp.extra[0].name, "Allow");
            assert_string_equal(resp.extra[0].value, cases[i].allow);
        }
        if (cases[i].status >= 400) {
            assert_string_equal(resp.content_type, "text/plain; charset=utf-8");
        }
    }
    am_http_response_fini(&resp);
}

struct seen {
    int status;
    const char *why;
    unsigned calls;
};

static void custom_error(void *ud, const struct am_http_request *req, int status, const char *why,
                         struct am_http_response *resp)
{
    struct seen *s = ud;
    (void)req;
    s->status = status;
    s->why = why;
    s->calls++;
    resp->content_type = "application/json";
    am_buf_append_str(&resp->body, "{}");
}

static void observer(void *ud, const struct am_http_request *req, int status)
{
    struct seen *s = ud;
    (void)req;
    s->status = status;
    s->calls++;
}

static void test_router_custom_error_and_observer_are_called(void **st)
{
    struct am_router *r = *st;
    struct seen err = {0};
    struct seen obs = {0};
    struct am_http_response resp;
    struct am_http_request req = make_req(AM_HTTP_GET, "/nope");
    am_http_response_init(&resp, 1024);
    am_router_set_error(r, custom_error, &err);
    am_router_set_observer(r, observer, &obs);

    am_router_dispatch(r, &req, &resp);
    assert_int_equal(resp.status, 404);
    assert_int_equal(err.status, 404);
    assert_string_equal(err.why, "not found");
    assert_string_equal(resp.content_type, "application/json");
    assert_int_equal(resp.body.len, 2);

    /* Transport errors go through the same formatter and reset resp first. */
    am_buf_append_str(&resp.body, "stale");
    am_router_error(r, &req, 413, "request body too large", &resp);
    assert_int_equal(resp.status, 413);
    assert_int_equal(err.calls, 2);
    assert_string_equal(err.why, "request body too large");
    assert_int_equal(resp.body.len, 2);

    am_router_observe(r, &req, 413);
    assert_int_equal(obs.calls, 1);
    assert_int_equal(obs.status, 413);

    /* NULL restores the default formatter; a NULL observer is never called. */
    am_router_set_error(r, NULL, NULL);
    am_router_set_observer(r, NULL, NULL);
    am_router_error(r, &req, 400, "bad", &resp);
    assert_int_equal(resp.body.len, 4);
    assert_memory_equal(resp.body.data, "bad\n", 4);
    am_router_observe(r, &req, 400);
    assert_int_equal(obs.calls, 1);
    am_http_response_fini(&resp);
}

static void test_response_extra_header_truncates_value(void **st)
{
    (void)st;
    struct am_http_response resp;
    char longv[100];
    memset(longv, 'v', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    am_http_response_init(&resp, 16);
    for (int i = 0; i < AM_HTTP_MAX_EXTRA_HEADERS + 2; i++) {
        am_http_response_add_header(&resp, "X", longv);
    }
    assert_int_equal(resp.extra_count, AM_HTTP_MAX_EXTRA_HEADERS);
    assert_int_equal(strlen(resp.extra[0].value), sizeof(resp.extra[0].value) - 1);
    am_http_response_reset(&resp);
    assert_int_equal(resp.extra_count, 0);
    assert_int_equal(resp.status, 200);
    am_http_response_fini(&resp);
}

enum { TEXT, OM };

/* The /metrics rule (daemon/scrape.c) over am_http_accept_q: OpenMetrics when
 * its q is above 0 and above every range covering text/plain. */
static int negotiate(const char *accept)
{
    static const char *const om[] = {"application/openmetrics-text"};
    static const char *const text[] = {"text/plain", "text/*", "*/*"};
    int q_om = am_http_accept_q(am_str_from(accept), om, 1);
    int q_text = am_http_accept_q(am_str_from(accept), text, 3);
    return q_om > 0 && q_om > q_text ? OM : TEXT;
}

static void test_accept_q_negotiates_openmetrics_by_q(void **st)
{
    (void)st;
    static const struct {
        const char *accept;
        int want;
    } cases[] = {
        {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
         "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
         OM},
        {"text/plain", TEXT},
        {"", TEXT},
        {"*/*", TEXT},
        {"application/openmetrics-text;q=0.1, text/plain;q=0.9", TEXT},
        {"application/openmetrics-text", OM},
        {"Application/OpenMetrics-Text ; Version=1.0.0 ; Q=1", OM},
        {"application/openmetrics-text;q=0.5, text/plain;q=0.5", TEXT},
        {"application/openmetrics-text;q=0, */*", TEXT},
        {"application/openmetrics-text;q=0.501, text/*;q=0.5", OM},
        {"application/openmetrics-text;q=2, text/plain;q=0.1", TEXT},
        {"application/openmetrics-text;q=0.1234, text/plain;q=0.1", TEXT},
        {"application/openmetrics-text;q=abc", TEXT},
        {"application/openmetrics-text;q=1.000,text/plain", TEXT},
        {"application/json, application/openmetrics-text;q=0.2", OM},
        {",,;;=,", TEXT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = negotiate(cases[i].accept);
        if (got != cases[i].want) {
            fail_msg("case %zu (%s): got %d", i, cases[i].accept, got);
        }
    }
}

static void test_accept_q_values_and_encodings(void **st)
{
    (void)st;
    static const char *const gzip[] = {"gzip"};
    static const char *const any[] = {"*"};
    static const struct {
        const char *header;
        int gzip_q;
        int any_q;
    } cases[] = {
        {"gzip", 1000, -1},
        {"", -1, -1},
        {"deflate, gzip;q=0.5", 500, -1},
        {"gzip;q=0, *", 0, 1000},
        {"GZip ; Q=0.25", 250, -1},
        {"gzip;q=0.1234", -1, -1}, /* four decimals: malformed, skipped */
        {"gzip;q=1.5", -1, -1},
        {"gzip;q=0.2, gzip;q=0.7", 700, -1},
        {"identity, *;q=0.001", -1, 1},
        {"gzip;level=9;q=0.300", 300, -1},
        {"gzip;q=", -1, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_str h = am_str_from(cases[i].header);
        assert_int_equal(am_http_accept_q(h, gzip, 1), cases[i].gzip_q);
        assert_int_equal(am_http_accept_q(h, any, 1), cases[i].any_q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_q_negotiates_openmetrics_by_q),
        cmocka_unit_test(test_accept_q_values_and_encodings),
        cmocka_unit_test_setup_teardown(test_router_dispatch_routes_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_router_custom_error_and_observer_are_called, setup,
                                        teardown),
        cmocka_unit_test(test_response_extra_header_truncates_value),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
