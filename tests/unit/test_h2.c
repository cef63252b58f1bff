/*
 * test_h2.c - the HTTP/2 server session against an nghttp2 client session,
 * in memory: concurrent streams, flow control past the initial window,
 * limits (streams, header list, body, in-flight), stream timeouts and
 * grpc-timeout, trailers, malformed frames answered with GOAWAY, and every
 * allocation failing in turn (STYLE.md 5.9).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/h2.h"

#define MAXS 64

struct result {
    int status;
    size_t data_len;
    uint32_t rst;
    bool closed;
    char trailer[64];
    char body[16];
};

struct fix {
    struct am_h2 *srv;
    nghttp2_session *cli;
    struct result res[MAXS * 2 + 2];
    unsigned limits[8];
    int respond; /* 0: answer at once with 200 + body length; 1: do not answer */
    int64_t inflight;
    int64_t inflight_cap;
    int last_error_status;
    unsigned requests;
    bool goaway;
    uint32_t goaway_code;
    bool sweep; /* allocations may fail: answering may fail too */
};

static void on_request(void *ud, struct am_h2 *h, const struct am_h2_request *r)
{
    struct fix *f = ud;
    char body[32];
    f->requests++;
    f->last_error_status = r->error_status;
    if (f->respond == 1 && r->error_status == 0) {
        return;
    }
    int n = snprintf(body, sizeof(body), "%zu", r->http.body_len);
    struct am_h2_field fl[1] = {{AM_STR("content-type"), AM_STR("text/plain")}};
    struct am_h2_field tr[1] = {{AM_STR("grpc-status"), AM_STR("0")}};
    int status = r->error_status != 0 ? r->error_status : 200;
    if (f->sweep) {
        am_h2_respond(h, r->stream_id, status, fl, 1, (const uint8_t *)body, (size_t)n, tr,
                      r->grpc ? 1 : 0);
        return;
    }
    assert_int_equal(am_h2_respond(h, r->stream_id, status, fl, 1, (const uint8_t *)body, (size_t)n,
                                   tr, r->grpc ? 1 : 0),
                     AM_OK);
    assert_int_equal(am_h2_respond(h, r->stream_id, 200, NULL, 0, NULL, 0, NULL, 0), AM_EINVAL);
}

static bool reserve(void *ud, int64_t n)
{
    struct fix *f = ud;
    if (n > 0 && f->inflight_cap != 0 && f->inflight + n > f->inflight_cap) {
        return false;
    }
    f->inflight += n;
    return true;
}

static void on_limit(void *ud, enum am_h2_limit what)
{
    struct fix *f = ud;
    f->limits[what]++;
}

/* ---- client callbacks ---- */

static int c_header(nghttp2_session *s, const nghttp2_frame *fr, const uint8_t *name, size_t nl,
                    const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    struct fix *f = ud;
    (void)s;
    (void)flags;
    struct result *r = &f->res[fr->hd.stream_id];
    if (nl == 7 && memcmp(name, ":status", 7) == 0) {
        r->status = (int)strtol((const char *)value, NULL, 10);
    }
    if (nl == 11 && memcmp(name, "grpc-status", 11) == 0 && vl < sizeof(r->trailer)) {
        memcpy(r->trailer, value, vl);
    }
    return 0;
}

static int c_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len,
                  void *ud)
{
    struct fix *f = ud;
    (void)s;
    (void)flags;
    struct result *r = &f->res[id];
    if (r->data_len + len < sizeof(r->body)) {
        memcpy(r->body + r->data_len, d, len);
    }
    r->data_len += len;
    return 0;
}

static int c_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct fix *f = ud;
    (void)s;
    f->res[id].closed = true;
    f->res[id].rst = code;
    return 0;
}

static int c_frame(nghttp2_session *s, const nghttp2_frame *fr, void *ud)
{
    struct fix *f = ud;
    (void)s;
    if (fr->hd.type == NGHTTP2_GOAWAY) {
        f->goaway = true;
        f->goaway_code = fr->goaway.error_code;
    }
    return 0;
}

static int setup_opts(void **st, uint32_t streams, size_t hdr, size_t body)
{
    struct fix *f = calloc(1, sizeof(*f));
    struct am_h2_opts o = {
        .max_concurrent_streams = streams,
        .max_header_bytes = hdr,
        .max_body_bytes = body,
        .on_request = on_request,
        .reserve = reserve,
        .on_limit = on_limit,
        .ud = f,
    };
    f->srv = am_h2_create(&o);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_frame);
    nghttp2_session_client_new(&f->cli, cb, f);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(f->cli, NGHTTP2_FLAG_NONE, NULL, 0);
    *st = f;
    return f->srv != NULL ? 0 : -1;
}

static int setup(void **st)
{
    return setup_opts(st, 100, 4096, 4u << 20);
}

static int setup_small(void **st)
{
    return setup_opts(st, 2, 1024, 1000);
}

static int teardown(void **st)
{
    struct fix *f = *st;
    nghttp2_session_del(f->cli);
    am_h2_destroy(f->srv);
    assert_int_equal(f->inflight, 0); /* every reserved byte released */
    free(f);
    return 0;
}

/* Move bytes both ways until neither side has anything to say. */
static void pump(struct fix *f)
{
    for (int round = 0; round < 1000; round++) {
        const uint8_t *p;
        size_t moved = 0;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(f->cli, &p)) > 0) {
            am_h2_feed(f->srv, p, (size_t)n, 0);
            moved += (size_t)n;
        }
        struct am_buf out;
        am_buf_init(&out, 64u << 20);
        assert_int_equal(am_h2_send(f->srv, &out, 64u << 20), AM_OK);
        if (out.len > 0) {
            nghttp2_session_mem_recv(f->cli, (const uint8_t *)out.data, out.len);
            moved += out.len;
        }
        am_buf_fini(&out);
        if (moved == 0) {
            return;
        }
    }
    fail_msg("pump did not settle");
}

struct body_src {
    size_t left;
    bool hold; /* never end the stream */
};

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)ud;
    struct body_src *b = src->ptr;
    if (b->left == 0 && b->hold) {
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = b->left < len ? b->left : len;
    memset(buf, 'x', n);
    b->left -= n;
    if (b->left == 0 && !b->hold) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

static int32_t post(struct fix *f, const char *path, const char *ct, struct body_src *b,
                    const nghttp2_nv *extra, size_t nextra)
{
    nghttp2_nv nv[8] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":authority", (uint8_t *)"t", 10, 1, 0},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
        {(uint8_t *)"content-type", (uint8_t *)ct, 12, strlen(ct), 0},
    };
    if (nextra > 0) {
        memcpy(nv + 5, extra, nextra * sizeof(nv[0]));
    }
    if (b == NULL) {
        return nghttp2_submit_headers(f->cli, NGHTTP2_FLAG_NONE, -1, NULL, nv, 5 + nextra, NULL);
    }
    nghttp2_data_provider prd = {.source.ptr = b, .read_callback = body_read};
    return nghttp2_submit_request(f->cli, NULL, nv, 5 + nextra, &prd, NULL);
}

static void test_h2_concurrent_streams_all_answered(void **st)
{
    struct fix *f = *st;
    struct body_src b[20];
    int32_t id[20];
    for (int i = 0; i < 20; i++) {
        b[i].left = (size_t)(100 * i);
        b[i].hold = false;
        id[i] = post(f, "/v1/traces", "application/x-protobuf", &b[i], NULL, 0);
    }
    pump(f);
    assert_int_equal(f->requests, 20);
    for (int i = 0; i < 20; i++) {
        char want[16];
        assert_int_equal(f->res[id[i]].status, 200);
        assert_int_equal(f->res[id[i]].data_len, (size_t)snprintf(want, 16, "%d", 100 * i));
        assert_true(f->res[id[i]].closed);
        assert_int_equal(f->res[id[i]].rst, 0);
    }
    assert_int_equal(am_h2_stream_count(f->srv), 0);
}

static void test_h2_body_past_initial_window_flows(void **st)
{
    struct fix *f = *st;
    struct body_src b = {3u << 20, false}; /* 3 MiB: three times the stream window */
    int32_t id = post(f, "/v1/traces", "application/x-protobuf", &b, NULL, 0);
    pump(f);
    assert_int_equal(f->res[id].status, 200);
    assert_int_equal(f->res[id].data_len, 7); /* "3145728" */
}

static void test_h2_grpc_trailers_sent(void **st)
{
    struct fix *f = *st;
    struct body_src b = {5, false};
    int32_t id = post(f, "/x", "application/grpc", &b, NULL, 0);
    pump(f);
    assert_int_equal(f->res[id].status, 200);
    assert_string_equal(f->res[id].trailer, "0");
}

static void test_h2_streams_over_limit_refused(void **st)
{
    struct fix *f = *st;
    f->respond = 1;
    int32_t id[4];
    for (int i = 0; i < 4; i++) {
        id[i] = post(f, "/v1/traces", "application/x-protobuf", NULL, NULL, 0);
    }
    pump(f);
    assert_int_equal(f->limits[AM_H2_LIMIT_STREAMS], 2);
    assert_int_equal(f->res[id[2]].rst, NGHTTP2_REFUSED_STREAM);
    assert_int_equal(f->res[id[3]].rst, NGHTTP2_REFUSED_STREAM);
    assert_false(f->res[id[0]].closed);
    assert_int_equal(am_h2_stream_count(f->srv), 2);
    /* Stream read timeout: both stale streams reset with CANCEL. */
    assert_int_equal(am_h2_expire(f->srv, 5, 10), 2);
    assert_int_equal(am_h2_expire(f->srv, 10, 10), 0);
    pump(f);
    assert_int_equal(f->limits[AM_H2_LIMIT_READ_TIMEOUT], 2);
    assert_int_equal(f->res[id[0]].rst, NGHTTP2_CANCEL);
    assert_int_equal(f->res[id[1]].rst, NGHTTP2_CANCEL);
}

static void test_h2_huge_header_block_431_others_fine(void **st)
{
    struct fix *f = *st;
    static char big[3000];
    memset(big, 'a', sizeof(big));
    nghttp2_nv x = {(uint8_t *)"x-big", (uint8_t *)big, 5, sizeof(big), NGHTTP2_NV_FLAG_NO_INDEX};
    struct body_src b1 = {10, false};
    struct body_src b2 = {10, false};
    int32_t bad = post(f, "/v1/traces", "application/x-protobuf", &b1, &x, 1);
    int32_t good = post(f, "/v1/traces", "application/x-protobuf", &b2, NULL, 0);
    pump(f);
    assert_int_equal(f->res[bad].status, 431);
    assert_int_equal(f->res[good].status, 200);
    assert_int_equal(f->limits[AM_H2_LIMIT_HEADER_BYTES], 1);
}

static void test_h2_body_over_cap_413(void **st)
{
    struct fix *f = *st;
    struct body_src b = {1001, false};
    int32_t id = post(f, "/v1/traces", "application/x-protobuf", &b, NULL, 0);
    pump(f);
    assert_int_equal(f->res[id].status, 413);
    assert_int_equal(f->limits[AM_H2_LIMIT_BODY_BYTES], 1);
    assert_int_equal(f->requests, 1);
}

static void test_h2_inflight_cap_503(void **st)
{
    struct fix *f = *st;
    f->inflight_cap = 500;
    struct body_src b1 = {400, false};
    struct body_src b2 = {400, false};
    int32_t a = post(f, "/v1/traces", "application/x-protobuf", &b1, NULL, 0);
    pump(f);
    int32_t b = post(f, "/v1/traces", "application/x-protobuf", &b2, NULL, 0);
    pump(f);
    assert_int_equal(f->res[a].status, 200); /* released after dispatch */
    assert_int_equal(f->res[b].status, 200);
    struct body_src b3 = {400, true}; /* holds its 400 bytes in flight */
    struct body_src b4 = {400, false};
    int32_t c = post(f, "/v1/traces", "application/x-protobuf", &b3, NULL, 0);
    pump(f);
    assert_int_equal(f->inflight, 400);
    int32_t d = post(f, "/v1/traces", "application/x-protobuf", &b4, NULL, 0);
    pump(f);
    assert_int_equal(f->res[c].status, 0);
    assert_int_equal(f->res[d].status, 503);
    assert_int_equal(f->limits[AM_H2_LIMIT_INFLIGHT_BYTES], 1);
}

static void test_h2_grpc_timeout_dispatches_408(void **st)
{
    struct fix *f = *st;
    nghttp2_nv t = {(uint8_t *)"grpc-timeout", (uint8_t *)"1S", 12, 2, 0};
    int32_t id = post(f, "/x", "application/grpc", NULL, &t, 1);
    pump(f);
    assert_int_equal(f->requests, 0);
    assert_int_equal(am_h2_expire(f->srv, 999999999ull, 0), 1);
    assert_int_equal(am_h2_expire(f->srv, 1000000000ull, 0), 0);
    pump(f);
    assert_int_equal(f->last_error_status, 408);
    assert_int_equal(f->res[id].status, 408);
}

static void test_h2_malformed_frames_goaway(void **st)
{
    (void)st;
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"not a preface", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27},
        {"DATA on stream 0", "\0\0\1\0\0\0\0\0\0x", 10},
        {"SETTINGS with a bad length", "\0\0\5\4\0\0\0\0\0abcde", 14},
        {"HEADERS with a bad HPACK block", "\0\0\2\1\5\0\0\0\1\xff\xff", 11},
        {"WINDOW_UPDATE of 0 on the connection", "\0\0\4\x8\0\0\0\0\0\0\0\0\0", 13},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fix f;
        memset(&f, 0, sizeof(f));
        struct am_h2_opts o = {.on_request = on_request, .on_limit = on_limit, .ud = &f};
        struct am_h2 *h = am_h2_create(&o);
        static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
        if (i > 0) {
            assert_int_equal(am_h2_feed(h, (const uint8_t *)preface, sizeof(preface) - 1, 0),
                             (ssize_t)sizeof(preface) - 1);
        }
        am_h2_feed(h, (const uint8_t *)cases[i].bytes, cases[i].len, 0);
        struct am_buf out;
        am_buf_init(&out, 1 << 20);
        am_h2_send(h, &out, 1 << 20);
        /* The last frame sent is a GOAWAY (type 7) and the session is done. */
        bool goaway = false;
        for (size_t off = 0; off + 9 <= out.len;) {
            const uint8_t *p = (const uint8_t *)out.data + off;
            size_t len = ((size_t)p[0] << 16) | ((size_t)p[1] << 8) | p[2];
            goaway = goaway || p[3] == 7;
            off += 9 + len;
        }
        if (!goaway) {
            fail_msg("%s: no GOAWAY", cases[i].what);
        }
        assert_false(am_h2_alive(h));
        assert_true(f.limits[AM_H2_LIMIT_PROTOCOL] >= 1);
        am_buf_fini(&out);
        am_h2_destroy(h);
    }
}

/* ---- allocation failures (STYLE.md 5.9) ---- */

/* Like pump, but a server that fails (allocation) ends the exchange. */
static void pump_tolerant(struct fix *f)
{
    for (int round = 0; round < 1000; round++) {
        const uint8_t *p;
        size_t moved = 0;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(f->cli, &p)) > 0) {
            if (am_h2_feed(f->srv, p, (size_t)n, 0) < 0) {
                return;
            }
            moved += (size_t)n;
        }
        struct am_buf out;
        am_buf_init(&out, 64u << 20);
        int rc = am_h2_send(f->srv, &out, 64u << 20);
        if (out.len > 0) {
            nghttp2_session_mem_recv(f->cli, (const uint8_t *)out.data, out.len);
            moved += out.len;
        }
        am_buf_fini(&out);
        if (rc != AM_OK || moved == 0) {
            return;
        }
    }
    fail_msg("pump did not settle");
}

/* Three requests on one session (small, past the initial window, gRPC).
 * Returns how many were answered completely with 200; each such answer
 * carries its body's exact length (never a truncated body dispatched as
 * whole). */
static unsigned alloc_scenario(bool *created)
{
    static const size_t sizes[3] = {10, 100000, 5};
    struct fix *f;
    *created = setup_opts((void **)&f, 100, 4096, 4u << 20) == 0;
    f->sweep = true;
    unsigned ok = 0;
    if (*created) {
        struct body_src b[3] = {{sizes[0], false}, {sizes[1], false}, {sizes[2], false}};
        nghttp2_nv te = {(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, 0};
        int32_t id[3] = {
            post(f, "/v1/traces", "application/x-protobuf", &b[0], NULL, 0),
            post(f, "/v1/traces", "application/x-protobuf", &b[1], NULL, 0),
            post(f, "/s/Export", "application/grpc", &b[2], &te, 1),
        };
        pump_tolerant(f);
        for (int i = 0; i < 3; i++) {
            const struct result *r = &f->res[id[i]];
            /* complete: 200 and the stream ended cleanly (a session that
             * failed mid-answer is closed, and the client sees it cut) */
            if (r->status == 200 && r->closed && r->rst == 0) {
                char want[16];
                snprintf(want, sizeof(want), "%zu", sizes[i]);
                assert_string_equal(r->body, want);
                ok++;
            }
        }
        assert_true(f->requests <= 3);
    }
    nghttp2_session_del(f->cli);
    am_h2_destroy(f->srv);
    assert_int_equal(f->inflight, 0); /* every reserved byte released */
    free(f);
    return ok;
}

static void test_h2_each_alloc_failure(void **st)
{
    (void)st;
    bool created;
    am_alloc_fail_at(0);
    assert_int_equal(alloc_scenario(&created), 3);
    unsigned long total = am_alloc_count();
    assert_true(created && total > 10);
    unsigned failed_create = 0;
    unsigned partial = 0;
    for (unsigned long nth = 1; nth <= total; nth++) {
        am_alloc_fail_at(nth);
        unsigned ok = alloc_scenario(&created);
        am_alloc_fail_at(0);
        failed_create += !created;
        partial += created && ok < 3;
    }
    /* Some failures hit session creation, some a live session. */
    assert_true(failed_create > 0);
    assert_true(partial > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_h2_concurrent_streams_all_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h2_body_past_initial_window_flows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h2_grpc_trailers_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h2_streams_over_limit_refused, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_h2_huge_header_block_431_others_fine, setup_small,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_h2_body_over_cap_413, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_h2_inflight_cap_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h2_grpc_timeout_dispatches_408, setup, teardown),
        cmocka_unit_test(test_h2_malformed_frames_goaway),
        cmocka_unit_test(test_h2_each_alloc_failure),
    };
    return cmocka_run_group_tests_name("h2", tests, NULL, NULL);
}
