/*
 * test_http1.c - the sans-I/O HTTP/1.1 parser: valid requests (Content-Length,
 * chunked with extensions and trailers, pipelining), every split point and
 * every prefix of each valid request, each rejection rule and each cap.
 * Inputs are copied into exact-size heap blocks so ASan sees any overread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/http1.h"

#define MAX_HEAD 4096
#define MAX_BODY 1024

/* Copies of inputs stay alive (head views point into them) until freed. */
static uint8_t *copies[8];
static size_t ncopies;

static void free_copies(void)
{
    while (ncopies > 0) {
        am_free(copies[--ncopies]);
    }
}

/* Feed `in` (n bytes) from an exact-size copy until done, an error, or no
 * progress. Returns the last feed result; *used gets the bytes consumed. */
static ssize_t parse(struct am_http1_parser *p, const char *in, size_t n, size_t *used, bool *done,
                     const char **why)
{
    uint8_t *copy = am_xmalloc(n ? n : 1);
    copies[ncopies++] = copy;
    memcpy(copy, in, n);
    size_t off = 0;
    ssize_t rc = 0;
    *done = false;
    for (;;) {
        rc = am_http1_feed(p, copy + off, n - off, done, why);
        if (rc < 0) {
            break;
        }
        off += (size_t)rc;
        if (*done || rc == 0) {
            break;
        }
    }
    *used = off;
    return rc;
}

struct valid_case {
    const char *name;
    const char *in;
    const char *method;
    const char *target;
    int minor;
    bool keep_alive;
    bool expect_continue;
    const char *body;
    size_t header_count;
};

static const struct valid_case valid_cases[] = {
    {"get11", "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/metrics", 1, true, false, "", 1},
    {"get10", "GET /x?q=1 HTTP/1.0\r\n\r\n", "GET", "/x?q=1", 0, false, false, "", 0},
    {"get10_keepalive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", 0, true,
     false, "", 1},
    {"get11_close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", "GET", "/", 1,
     false, false, "", 2},
    {"post_cl", "POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "POST",
     "/v1/traces", 1, true, false, "hello", 2},
    {"post_dup_cl",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc", "POST", "/",
     1, true, false, "abc", 3},
    {"post_chunked",
     "POST /v1/traces HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5;name=val;x=\"q\"\r\nhello\r\n6 ; ext\r\n world\r\n0\r\nX-Trailer: t\r\nY: u\r\n\r\n",
     "POST", "/v1/traces", 1, true, false, "hello world", 2},
    {"post_chunked_hex",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
     "POST", "/", 1, true, false, "0123456789", 2},
    {"expect", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok",
     "POST", "/", 1, true, true, "ok", 3},
    {"leading_crlf", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 1, true, false, "",
     1},
    {"post_no_length", "POST / HTTP/1.1\r\nHost: a\r\n\r\n", "POST", "/", 1, true, false, "", 1},
    {"ows_value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t spaced value \t\r\n\r\n", "GET", "/", 1,
     true, false, "", 2},
    {"host_empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "/", 1, true, false, "", 1},
    {"get10_one_host", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", "GET", "/", 0, false, false, "", 1},
};

static void check_valid(const struct valid_case *c, struct am_http1_parser *p)
{
    const struct am_http1_request *r = &p->req;
    assert_true(am_str_eq(r->method, am_str_from(c->method)));
    assert_true(am_str_eq(r->target, am_str_from(c->target)));
    assert_int_equal(r->minor_version, c->minor);
    assert_int_equal(r->keep_alive, c->keep_alive);
    assert_int_equal(r->expect_continue, c->expect_continue);
    assert_int_equal(r->header_count, c->header_count);
    assert_int_equal(r->body.len, strlen(c->body));
    if (r->body.len > 0) {
        assert_memory_equal(r->body.data, c->body, r->body.len);
    }
}

static void test_http1_valid_requests_parse(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct valid_case *c = &valid_cases[i];
        struct am_http1_parser p;
        size_t used;
        bool done;
        const char *why = NULL;
        am_http1_parser_init(&p, MAX_HEAD, MAX_BODY);
        ssize_t rc = parse(&p, c->in, strlen(c->in), &used, &done, &why);
        if (rc < 0 || !done) {
            print_error("case %s: rc=%zd why=%s\n", c->name, rc, why ? why : "-");
        }
        assert_true(rc >= 0);
        assert_true(done);
        assert_int_equal(used, strlen(c->in));
        assert_int_equal(p.state, AM_HTTP1_DONE);
        check_valid(c, &p);
        am_http1_parser_fini(&p);
        free_copies();
    }
}

/* Split each valid request at every byte: first piece alone must ask for
 * more (never done, never an error), and the rest must finish identically. */
static void test_http1_every_split_point_parses_same(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct valid_case *c = &valid_cases[i];
        size_t n = strlen(c->in);
        for (size_t split = 0; split < n; split++) {
            struct am_http1_parser p;
            size_t used1, used2;
            bool done;
            const char *why = NULL;
            am_http1_parser_init(&p, MAX_HEAD, MAX_BODY);
            ssize_t rc = parse(&p, c->in, split, &used1, &done, &why);
            assert_true(rc >= 0);
            assert_false(done);
            rc = parse(&p, c->in + used1, n - used1, &used2, &done, &why);
            assert_true(rc >= 0);
            assert_true(done);
            assert_int_equal(used1 + used2, n);
            check_valid(c, &p);
            am_http1_parser_fini(&p);
            free_copies();
        }
    }
}

static void test_http1_pipelined_requests_parse_in_turn(void **st)
{
    (void)st;
    static const char in[] =
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
        "GET /c HTTP/1.1\r\nHost: a\r\n\r\n";
    static const struct {
        const char *target;
        const char *body;
    } want[] = {{"/a", "abc"}, {"/b", "xy"}, {"/c", ""}};
    struct am_http1_parser p;
    size_t off = 0;
    am_http1_parser_init(&p, MAX_HEAD, MAX_BODY);
    for (size_t i = 0; i < 3; i++) {
        size_t used;
        bool done;
        const char *why = NULL;
        assert_true(parse(&p, in + off, sizeof(in) - 1 - off, &used, &done, &why) >= 0);
        assert_true(done);
        /* The parser stops at the end of the request, not at the input's. */
        assert_int_equal(am_http1_feed(&p, (const uint8_t *)in + off + used, 1, &done, &why), 0);
        assert_true(am_str_eq(p.req.target, am_str_from(want[i].target)));
        assert_int_equal(p.req.body.len, strlen(want[i].body));
        off += used;
        am_http1_parser_reset(&p);
    }
    assert_int_equal(off, sizeof(in) - 1);
    am_http1_parser_fini(&p);
    free_copies();
}

struct reject_case {
    const char *in;
    int rc;
    const char *why;
};

static const struct reject_case reject_cases[] = {
    {"GET / HTTP/1.1\nHost: a\r\n\r\n", AM_EINVAL, "bare LF line ending"},
    {"GET / HTTP/1.1\r\nHost: a\n\r\n", AM_EINVAL, "bare LF line ending"},
    {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", AM_EINVAL, "bare CR in head"},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", AM_EINVAL, "obs-fold header continuation"},
    {"GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n", AM_EINVAL, "obs-fold header continuation"},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     AM_EINVAL, "both Content-Length and Transfer-Encoding"},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", AM_EINVAL,
     "conflicting Content-Length values"},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", AM_EINVAL, "bad Content-Length"},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", AM_EINVAL, "bad Content-Length"},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", AM_EINVAL, "bad Content-Length"},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", AM_EINVAL,
     "Content-Length overflow"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", AM_EINVAL,
     "unsupported Transfer-Encoding"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", AM_EINVAL,
     "unsupported Transfer-Encoding"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     AM_EINVAL, "unsupported Transfer-Encoding"},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", AM_EINVAL,
     "Transfer-Encoding in HTTP/1.0"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", AM_EINVAL,
     "bad chunk size"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n", AM_EINVAL,
     "bad chunk size"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\n", AM_EINVAL,
     "bad chunk size"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\n", AM_EINVAL,
     "bare LF line ending"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
     AM_EINVAL, "chunk size overflow"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY", AM_EINVAL,
     "missing CRLF after chunk data"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
     AM_EINVAL, "bad header name"},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost : a\r\n\r\n", AM_EINVAL, "bad header name"},
    {"GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", AM_EINVAL, "bad header name"},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", AM_EINVAL, "bad byte in header value"},
    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", AM_EINVAL, "bad request method"},
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", AM_EINVAL, "bad request target"},
    {"GET / HTTP/2.0\r\n\r\n", AM_EINVAL, "unsupported HTTP version"},
    {"GET / HTTP/1.1 \r\n\r\n", AM_EINVAL, "unsupported HTTP version"},
    {"GET /\r\n\r\n", AM_EINVAL, "bad request target"},
    /* RFC 9112 3.2: Host is required in HTTP/1.1, and at most one in any. */
    {"GET / HTTP/1.1\r\n\r\n", AM_EINVAL, "missing Host header (required in HTTP/1.1)"},
    {"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", AM_EINVAL,
     "missing Host header (required in HTTP/1.1)"},
    {"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", AM_EINVAL, "more than one Host header"},
    {"GET / HTTP/1.1\r\nHOST: a\r\nX: y\r\nHost: b\r\n\r\n", AM_EINVAL,
     "more than one Host header"},
    {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", AM_EINVAL, "more than one Host header"},
};

static void test_http1_rejections_are_einval(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]); i++) {
        const struct reject_case *c = &reject_cases[i];
        struct am_http1_parser p;
        size_t used;
        bool done;
        const char *why = NULL;
        am_http1_parser_init(&p, MAX_HEAD, MAX_BODY);
        ssize_t rc = parse(&p, c->in, strlen(c->in), &used, &done, &why);
        if (rc != c->rc || why == NULL || strcmp(why, c->why) != 0) {
            print_error("case %zu: rc=%zd why=%s\n", i, rc, why ? why : "-");
        }
        assert_int_equal(rc, c->rc);
        assert_string_equal(why, c->why);
        assert_false(done);
        am_http1_parser_fini(&p);
        free_copies();
    }
}

/* Built around a 47-byte head "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: N\r\n\r\n"
 * (N one digit) or a 56-byte chunked head. */
static void test_http1_caps_are_etoobig(void **st)
{
    (void)st;
    static const char cl5[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    static const char chunked[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "3\r\nabc\r\n3\r\ndef\r\n0\r\nT: x\r\n\r\n";
    static const struct {
        int which; /* 0: cl5, 1: chunked */
        size_t max_head;
        size_t max_body;
        int rc;
        bool head_parsed;
        const char *why;
    } cases[] = {
        {0, 47, 5, 0, true, NULL},
        {0, 46, 5, AM_ETOOBIG, false, "request head too large"},
        {0, 47, 4, AM_ETOOBIG, true, "request body too large"},
        {1, 56 + 8, 6, 0, true, NULL}, /* trailers: "T: x\r\n" + "\r\n" = 8 bytes */
        {1, 56 + 7, 6, AM_ETOOBIG, true, "trailer section too large"},
        {1, 100, 5, AM_ETOOBIG, true, "request body too large"},
        {1, 55, 100, AM_ETOOBIG, false, "request head too large"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *in = cases[i].which ? chunked : cl5;
        size_t n = cases[i].which ? sizeof(chunked) - 1 : sizeof(cl5) - 1;
        struct am_http1_parser p;
        size_t used;
        bool done;
        const char *why = NULL;
        am_http1_parser_init(&p, cases[i].max_head, cases[i].max_body);
        ssize_t rc = parse(&p, in, n, &used, &done, &why);
        if (cases[i].rc == 0) {
            assert_true(rc >= 0);
            assert_true(done);
            assert_int_equal(p.req.body.len, cases[i].which ? 6 : 5);
        } else {
            assert_int_equal(rc, cases[i].rc);
            assert_string_equal(why, cases[i].why);
        }
        assert_int_equal(p.state != AM_HTTP1_HEAD, cases[i].head_parsed);
        if (cases[i].head_parsed) {
            assert_true(am_str_eq(p.req.method, AM_STR("POST")));
        }
        am_http1_parser_fini(&p);
        free_copies();
    }
}

static void test_http1_header_count_cap_is_etoobig(void **st)
{
    (void)st;
    char in[4096];
    for (size_t count = AM_HTTP1_MAX_HEADERS; count <= AM_HTTP1_MAX_HEADERS + 1; count++) {
        size_t n = 0;
        memcpy(in, "GET / HTTP/1.1\r\nHost: a\r\n", 25);
        n = 25;
        for (size_t i = 1; i < count; i++) { /* Host is one of the count */
            memcpy(in + n, "X: y\r\n", 6);
            n += 6;
        }
        memcpy(in + n, "\r\n", 2);
        n += 2;
        struct am_http1_parser p;
        size_t used;
        bool done;
        const char *why = NULL;
        am_http1_parser_init(&p, sizeof(in), 0);
        ssize_t rc = parse(&p, in, n, &used, &done, &why);
        if (count == AM_HTTP1_MAX_HEADERS) {
            assert_true(done);
            assert_int_equal(p.req.header_count, AM_HTTP1_MAX_HEADERS);
        } else {
            assert_int_equal(rc, AM_ETOOBIG);
            assert_string_equal(why, "too many header fields");
        }
        am_http1_parser_fini(&p);
        free_copies();
    }
}

/* A chunk-size line longer than AM_HTTP1_MAX_CHUNK_LINE is malformed. */
static void test_http1_long_chunk_line_is_einval(void **st)
{
    (void)st;
    static const char head[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;";
    size_t n = sizeof(head) - 1 + AM_HTTP1_MAX_CHUNK_LINE;
    char *in = am_xmalloc(n);
    memcpy(in, head, sizeof(head) - 1);
    memset(in + sizeof(head) - 1, 'e', AM_HTTP1_MAX_CHUNK_LINE);
    struct am_http1_parser p;
    size_t used;
    bool done;
    const char *why = NULL;
    am_http1_parser_init(&p, MAX_HEAD, MAX_BODY);
    assert_int_equal(parse(&p, in, n, &used, &done, &why), AM_EINVAL);
    assert_string_equal(why, "chunk size line too long");
    am_http1_parser_fini(&p);
    free_copies();
    am_free(in);
}

static void test_http1_header_lookup_ignores_case(void **st)
{
    (void)st;
    static const char in[] =
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nX-A: 1\r\n\r\n";
    struct am_http1_parser p;
    size_t used;
    bool done;
    const char *why = NULL;
    am_http1_parser_init(&p, MAX_HEAD, MAX_BODY);
    assert_true(parse(&p, in, sizeof(in) - 1, &used, &done, &why) >= 0);
    assert_true(
        am_str_eq(am_http1_header(&p.req, AM_STR("content-TYPE")), AM_STR("application/json")));
    assert_true(am_str_eq(am_http1_header(&p.req, AM_STR("x-a")), AM_STR("1")));
    assert_null(am_http1_header(&p.req, AM_STR("x-b")).ptr);
    am_http1_parser_fini(&p);
    free_copies();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http1_valid_requests_parse),
        cmocka_unit_test(test_http1_every_split_point_parses_same),
        cmocka_unit_test(test_http1_pipelined_requests_parse_in_turn),
        cmocka_unit_test(test_http1_rejections_are_einval),
        cmocka_unit_test(test_http1_caps_are_etoobig),
        cmocka_unit_test(test_http1_header_count_cap_is_etoobig),
        cmocka_unit_test(test_http1_long_chunk_line_is_einval),
        cmocka_unit_test(test_http1_header_lookup_ignores_case),
    };
    return cmocka_run_group_tests_name("http1", tests, NULL, NULL);
}
