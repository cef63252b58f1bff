/*
 * test_server.c - loopback integration of listener + loop + http1 + router:
 * a loop thread serves an echo router on 127.0.0.1:0 and a plain-socket
 * client drives keep-alive, pipelining, chunked bodies, 100-continue, the
 * 413/400/431 paths, read_timeout and max_connections. Every wait is a
 * poll() against a deadline; nothing sleeps blindly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "am/err.h"
#include "am/server.h"

#define MAX_BODY 1024
#define MAX_HEAD 2048
#define READ_TIMEOUT_NS 400000000ull
#define MAX_CONNS 4
#define DEADLINE_MS 5000

struct fixture {
    struct am_loop *loop;
    struct am_listener *l;
    struct am_server *s;
    struct am_router *router;
    pthread_t th;
    int observed;
    int last_status;
};

static void echo(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    (void)ud;
    char len[32];
    resp->content_type = "application/octet-stream";
    am_buf_append(&resp->body, req->body, req->body_len);
    snprintf(len, sizeof(len), "%zu", req->body_len);
    am_http_response_add_header(resp, "X-Len", len);
}

static void ok(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    (void)ud;
    resp->content_type = "text/plain";
    am_buf_append(&resp->body, req->content_type.ptr, req->content_type.len);
}

static void observe(void *ud, const struct am_http_request *req, int status)
{
    struct fixture *f = ud;
    (void)req;
    __atomic_store_n(&f->last_status, status, __ATOMIC_RELAXED);
    __atomic_fetch_add(&f->observed, 1, __ATOMIC_RELEASE);
}

static void *run_loop(void *arg)
{
    am_loop_run(arg);
    return NULL;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t stat_of(const struct fixture *f, size_t offset)
{
    const uint64_t *p = (const uint64_t *)((const char *)am_listener_stats(f->l) + offset);
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Poll (5 ms steps) until the stat reaches want or the deadline passes. */
static uint64_t wait_stat(const struct fixture *f, size_t offset, uint64_t want)
{
    uint64_t end = now_ms() + DEADLINE_MS;
    while (stat_of(f, offset) != want && now_ms() < end) {
        poll(NULL, 0, 5);
    }
    return stat_of(f, offset);
}

static int setup(void **st)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *why = NULL;
    struct am_server_opts opts = {.name = "test",
                                  .max_body_bytes = MAX_BODY,
                                  .max_header_bytes = MAX_HEAD,
                                  .read_timeout_ns = READ_TIMEOUT_NS,
                                  .max_connections = MAX_CONNS,
                                  .h2c = true,
                                  .arena_budget_bytes = 1 << 16};
    f->router = am_router_create();
    am_router_add(f->router, AM_HTTP_POST, "/echo", echo, NULL);
    am_router_add(f->router, AM_HTTP_GET, "/ok", ok, NULL);
    am_router_set_observer(f->router, observe, f);
    f->loop = am_loop_create(NULL);
    f->l = am_listener_open("127.0.0.1:0", &why);
    if (f->l == NULL || f->loop == NULL) {
        return -1;
    }
    f->s = am_server_attach(f->loop, f->l, &opts, f->router);
    if (f->s == NULL) {
        return -1;
    }
    pthread_create(&f->th, NULL, run_loop, f->loop);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fixture *f = *st;
    /* Clients are closed by now; let the server notice before stopping. */
    assert_int_equal(wait_stat(f, offsetof(struct am_server_stats, active), 0), 0);
    am_loop_stop(f->loop);
    pthread_join(f->th, NULL);
    am_server_close(f->s);
    am_listener_close(f->l);
    am_loop_destroy(f->loop);
    am_router_destroy(f->router);
    free(f);
    return 0;
}

static int client(const struct fixture *f)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(am_listener_port(f->l))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Read up to cap bytes until `enough` says the buffer holds a full unit or
 * the peer closes; returns the length read (the buffer is NUL-terminated). */
static size_t recv_until(int fd, char *buf, size_t cap, size_t have,
                         size_t (*enough)(const char *, size_t))
{
    uint64_t end = now_ms() + DEADLINE_MS;
    while (have < cap - 1 && enough(buf, have) == 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint64_t now = now_ms();
        assert_true(now < end);
        if (poll(&p, 1, (int)(end - now)) <= 0) {
            continue;
        }
        ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
        if (n <= 0) {
            break;
        }
        have += (size_t)n;
    }
    buf[have] = '\0';
    return have;
}

/* Length of the first complete response in buf (head + Content-Length), or 0. */
static size_t full_response(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL) {
        return 0;
    }
    size_t head = (size_t)(end - buf) + 4;
    if (memmem(buf, head, " 100 Continue", 13) != NULL) {
        return head;
    }
    const char *cl = memmem(buf, head, "Content-Length: ", 16);
    size_t body = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
    return len >= head + body ? head + body : 0;
}

struct resp {
    int status;
    char head[512];
    char body[2048];
};

/* Read exactly one response; leftover bytes stay in *pending. */
static void read_response(int fd, char *pending, size_t *plen, struct resp *r)
{
    *plen = recv_until(fd, pending, 8192, *plen, full_response);
    size_t n = full_response(pending, *plen);
    assert_true(n > 0);
    const char *end = memmem(pending, n, "\r\n\r\n", 4);
    size_t head = (size_t)(end - pending) + 4;
    assert_true(head < sizeof(r->head) && n - head < sizeof(r->body));
    memcpy(r->head, pending, head);
    r->head[head] = '\0';
    memcpy(r->body, pending + head, n - head);
    r->body[n - head] = '\0';
    r->status = atoi(r->head + 9);
    memmove(pending, pending + n, *plen - n);
    *plen -= n;
}

static size_t never(const char *buf, size_t len)
{
    (void)buf;
    (void)len;
    return 0;
}

/* After everything sent so far has been read: the server closed. */
static void assert_closed(int fd)
{
    char buf[256];
    size_t n = recv_until(fd, buf, sizeof(buf), 0, never);
    assert_int_equal(n, 0);
}

static void test_server_keep_alive_serves_requests_in_turn(void **st)
{
    struct fixture *f = *st;
    int fd = client(f);
    char pend[8192];
    size_t plen = 0;
    struct resp r;
    for (int i = 0; i < 3; i++) {
        send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
        read_response(fd, pend, &plen, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello");
        assert_non_null(strstr(r.head, "Content-Type: application/octet-stream\r\n"));
        assert_non_null(strstr(r.head, "X-Len: 5\r\n"));
        assert_null(strstr(r.head, "Connection: close"));
    }
    send_str(fd,
             "GET /ok HTTP/1.1\r\nHost: a\r\nContent-Type:  application/json ; charset=utf-8\r\n"
             "Connection: close\r\n\r\n");
    read_response(fd, pend, &plen, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "application/json"); /* media type only, trimmed */
    assert_non_null(strstr(r.head, "Connection: close\r\n"));
    assert_closed(fd);
    close(fd);
    assert_int_equal(wait_stat(f, offsetof(struct am_server_stats, accepted), 1), 1);
    assert_int_equal(__atomic_load_n(&f->observed, __ATOMIC_RELAXED), 4);
}

static void test_server_pipelined_and_chunked_answer_in_order(void **st)
{
    struct fixture *f = *st;
    int fd = client(f);
    char pend[8192];
    size_t plen = 0;
    struct resp r;
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                 "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "4;ext=1\r\nchun\r\n3\r\nked\r\n0\r\nX-Trailer: 1\r\n\r\n"
                 "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                 "DELETE /echo HTTP/1.1\r\nHost: a\r\n\r\n");
    static const struct {
        int status;
        const char *body;
    } want[] = {
        {200, "abc"}, {200, "chunked"}, {404, "not found\n"}, {405, "method not allowed\n"}};
    for (size_t i = 0; i < 4; i++) {
        read_response(fd, pend, &plen, &r);
        assert_int_equal(r.status, want[i].status);
        assert_string_equal(r.body, want[i].body);
    }
    assert_non_null(strstr(r.head, "Allow: POST\r\n"));
    /* A chunked body split across writes. */
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    send_str(fd, "lo\r\n0\r\n\r\n");
    read_response(fd, pend, &plen, &r);
    assert_string_equal(r.body, "hello");
    close(fd);
}

static void test_server_expect_continue_sends_100_first(void **st)
{
    struct fixture *f = *st;
    int fd = client(f);
    char pend[8192];
    size_t plen = 0;
    struct resp r;
    send_str(fd,
             "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    read_response(fd, pend, &plen, &r);
    assert_int_equal(r.status, 100);
    assert_int_equal(plen, 0);
    send_str(fd, "body");
    read_response(fd, pend, &plen, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "body");
    close(fd);
}

static void test_server_oversized_length_is_413_before_body(void **st)
{
    struct fixture *f = *st;
    int fd = client(f);
    char pend[8192];
    size_t plen = 0;
    struct resp r;
    send_str(
        fd,
        "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1025\r\n\r\n");
    read_response(fd, pend, &plen, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body, "request body too large\n");
    assert_non_null(strstr(r.head, "Connection: close\r\n"));
    assert_closed(fd);
    close(fd);
    /* Chunked: 413 as soon as the running total passes the cap. */
    fd = client(f);
    plen = 0;
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n");
    char chunk[1024 + 3];
    memset(chunk, 'x', 1024);
    memcpy(chunk + 1024, "\r\n", 3);
    send_str(fd, chunk);
    send_str(fd, "1\r\n");
    read_response(fd, pend, &plen, &r);
    assert_int_equal(r.status, 413);
    assert_closed(fd);
    close(fd);
}

/* HTTP/2 prior knowledge: preface, SETTINGS, POST /echo, one DATA frame of
 * n bytes ending the stream. */
static void h2_post_echo(int fd, size_t n)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    static const uint8_t head[] = {
        0,    0,    0,    4, 0,   0,   0,   0,   0, /* SETTINGS */
        0,    0,    12,   1, 4,   0,   0,   0,   1, /* HEADERS, END_HEADERS */
        0x83, 0x86, 0x04, 5, '/', 'e', 'c', 'h', 'o', 0x41, 1, 'a',
    };
    uint8_t data[9 + MAX_BODY + 16];
    assert_true(n <= MAX_BODY + 16);
    data[0] = 0;
    data[1] = (uint8_t)(n >> 8);
    data[2] = (uint8_t)n;
    data[3] = 0; /* DATA */
    data[4] = 1; /* END_STREAM */
    memcpy(data + 5, "\0\0\0\1", 4);
    memset(data + 9, 'x', n);
    send_str(fd, preface);
    assert_int_equal(write(fd, head, sizeof(head)), (ssize_t)sizeof(head));
    assert_int_equal(write(fd, data, 9 + n), (ssize_t)(9 + n));
}

static int wait_observed(const struct fixture *f, int want)
{
    uint64_t end = now_ms() + DEADLINE_MS;
    while (__atomic_load_n(&f->observed, __ATOMIC_ACQUIRE) != want && now_ms() < end) {
        poll(NULL, 0, 5);
    }
    return __atomic_load_n(&f->observed, __ATOMIC_ACQUIRE);
}

/* Over HTTP/2 the session's body cap leaves room for a gRPC prefix; a plain
 * request one byte over max_body_bytes must still be 413, and counted. */
static void test_server_h2_body_over_cap_is_413(void **st)
{
    struct fixture *f = *st;
    int fd = client(f);
    h2_post_echo(fd, MAX_BODY);
    assert_int_equal(wait_observed(f, 1), 1);
    assert_int_equal(__atomic_load_n(&f->last_status, __ATOMIC_RELAXED), 200);
    close(fd);
    fd = client(f);
    h2_post_echo(fd, MAX_BODY + 1);
    assert_int_equal(wait_observed(f, 2), 2);
    assert_int_equal(__atomic_load_n(&f->last_status, __ATOMIC_RELAXED), 413);
    assert_int_equal(wait_stat(f, offsetof(struct am_server_stats, bodies_too_large), 1), 1);
    close(fd);
}

static void test_server_bad_requests_get_400_431_and_close(void **st)
{
    struct fixture *f = *st;
    static const struct {
        const char *req;
        int status;
        const char *why; /* in the body, when set */
    } cases[] = {
        {"GET /ok HTTP/1.1\nHost: x\n\n", 400, NULL},
        {"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
         "conflicting Content-Length values"},
        {"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
         "bad chunk size"},
        {"GET /ok HTTP/1.1\r\n\r\n", 400, "missing Host header (required in HTTP/1.1)"},
        {"GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header"},
    };
    char pend[8192];
    struct resp r;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = client(f);
        size_t plen = 0;
        send_str(fd, cases[i].req);
        read_response(fd, pend, &plen, &r);
        assert_int_equal(r.status, cases[i].status);
        if (cases[i].why != NULL) {
            assert_non_null(strstr(r.body, cases[i].why));
        }
        assert_non_null(strstr(r.head, "Connection: close\r\n"));
        assert_closed(fd);
        close(fd);
    }
    assert_int_equal(wait_stat(f, offsetof(struct am_server_stats, bad_requests), 5), 5);
    /* A head over max_header_bytes. */
    int fd = client(f);
    size_t plen = 0;
    char big[MAX_HEAD + 64];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "GET /ok HTTP/1.1\r\nHost: a\r\nX: ", 30);
    send_str(fd, big);
    read_response(fd, pend, &plen, &r);
    assert_int_equal(r.status, 431);
    assert_closed(fd);
    close(fd);
}

static void test_server_read_timeout_closes_slow_and_idle(void **st)
{
    struct fixture *f = *st;
    char pend[8192];
    size_t plen = 0;
    struct resp r;
    int slow = client(f);
    int idle = client(f);
    int kept = client(f);
    uint64_t start = now_ms();
    send_str(slow, "GET /ok HT");
    send_str(kept, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    read_response(kept, pend, &plen, &r);
    assert_int_equal(r.status, 200);
    assert_closed(slow);
    assert_closed(idle);
    assert_closed(kept);
    assert_true(now_ms() - start >= READ_TIMEOUT_NS / 1000000 - 50);
    close(slow);
    close(idle);
    close(kept);
    /* The partial request is a read timeout; the silent connection and the
     * idle keep-alive one are idle timeouts. */
    assert_int_equal(wait_stat(f, offsetof(struct am_server_stats, read_timeouts), 1), 1);
    assert_int_equal(wait_stat(f, offsetof(struct am_server_stats, idle_timeouts), 2), 2);
}

/* An HTTP/2 connection with no stream open closes after read_timeout and is
 * counted as idle, like an idle HTTP/1.1 keep-alive connection. */
static void test_server_h2_idle_close_is_counted(void **st)
{
    struct fixture *f = *st;
    int fd = client(f);
    h2_post_echo(fd, 1);
    assert_int_equal(wait_observed(f, 1), 1);
    assert_int_equal(wait_stat(f, offsetof(struct am_server_stats, idle_timeouts), 1), 1);
    assert_int_equal(stat_of(f, offsetof(struct am_server_stats, read_timeouts)), 0);
    close(fd);
}

static void test_server_max_connections_rejects_extra(void **st)
{
    struct fixture *f = *st;
    int fds[MAX_CONNS];
    char pend[8192];
    struct resp r;
    for (int i = 0; i < MAX_CONNS; i++) {
        size_t plen = 0;
        fds[i] = client(f);
        send_str(fds[i], "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
        read_response(fds[i], pend, &plen, &r);
        assert_int_equal(r.status, 200);
    }
    int extra = client(f); /* the kernel completes the handshake; the server closes */
    assert_closed(extra);
    close(extra);
    assert_int_equal(wait_stat(f, offsetof(struct am_server_stats, rejected_max_connections), 1),
                     1);
    assert_int_equal(stat_of(f, offsetof(struct am_server_stats, active)), MAX_CONNS);
    for (int i = 0; i < MAX_CONNS; i++) {
        close(fds[i]);
    }
}

static void test_listener_endpoints_parse(void **st)
{
    (void)st;
    static const struct {
        const char *ep;
        bool ok;
    } cases[] = {
        {"127.0.0.1:0", true},
        {"localhost:0", true},
        {":0", true},
        {"0.0.0.0:0", true},
        {"127.0.0.1", false},
        {"127.0.0.1:x", false},
        {"1.2.3.4:70000", false},
        {"::1:0", false},
        {"[::1:0", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        struct am_listener *l = am_listener_open(cases[i].ep, &why);
        assert_int_equal(l != NULL, cases[i].ok);
        if (l != NULL) {
            assert_true(am_listener_port(l) > 0);
        } else {
            assert_non_null(why);
        }
        am_listener_close(l);
    }
}

static void test_listener_parse_endpoint_splits_host_port(void **st)
{
    (void)st;
    static const struct {
        const char *ep;
        int rc;
        const char *host;
        unsigned port;
    } cases[] = {
        {":4318", AM_OK, "", 4318},
        {"0.0.0.0:4318", AM_OK, "0.0.0.0", 4318},
        {"localhost:9464", AM_OK, "localhost", 9464},
        {"[::1]:4318", AM_OK, "::1", 4318},
        {"[::]:0", AM_OK, "::", 0},
        {"host:65535", AM_OK, "host", 65535},
        {"host:65536", AM_EINVAL, NULL, 0},
        {"host:004318", AM_EINVAL, NULL, 0}, /* more than 5 digits */
        {"host:", AM_EINVAL, NULL, 0},
        {"::1:4318", AM_EINVAL, NULL, 0},
        {"[]:4318", AM_EINVAL, NULL, 0},
        {"[::1]4318", AM_EINVAL, NULL, 0},
        {"a b:1", AM_EINVAL, NULL, 0},
        {"a/b:1", AM_EINVAL, NULL, 0},
        {"4318", AM_EINVAL, NULL, 0},
        {"host:-1", AM_EINVAL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char host[64] = "unset";
        uint16_t port = 7;
        int rc = am_listener_parse_endpoint(cases[i].ep, host, sizeof(host), &port);
        if (rc != cases[i].rc) {
            fail_msg("%s: rc %d", cases[i].ep, rc);
        }
        if (rc == AM_OK) {
            assert_string_equal(host, cases[i].host);
            assert_int_equal(port, cases[i].port);
        }
    }
    char tiny[4];
    uint16_t port;
    assert_int_equal(am_listener_parse_endpoint("abcd:1", tiny, sizeof(tiny), &port), AM_EINVAL);
    assert_int_equal(am_listener_parse_endpoint("abc:1", tiny, sizeof(tiny), &port), AM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_keep_alive_serves_requests_in_turn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_pipelined_and_chunked_answer_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_h2_body_over_cap_is_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_expect_continue_sends_100_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_oversized_length_is_413_before_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_bad_requests_get_400_431_and_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_h2_idle_close_is_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_read_timeout_closes_slow_and_idle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_max_connections_rejects_extra, setup, teardown),
        cmocka_unit_test(test_listener_endpoints_parse),
        cmocka_unit_test(test_listener_parse_endpoint_splits_host_port),
    };
    return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
