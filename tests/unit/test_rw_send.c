/*
 * test_rw_send.c - the remote_write sender against a loopback receiver of
 * our own (rw_recv.h): 500, 429 + Retry-After, 400, a receiver that goes
 * away and comes back; every batch that should arrive arrives once and in
 * order, the 400 batch is dropped and counted. Also: a dead endpoint does
 * not hold shutdown past its deadline, and a restart replays what is left.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "am/clock.h"
#include "am/err.h"
#include "am/log.h"
#include "am/rw.h"
#include "rw_recv.h"
#include "rw_tmpdir.h"

#define MS 1000000ull

struct views {
    struct am_series_view v[8];
    size_t n;
};

static void visit_views(void *src, am_series_visit_cb cb, void *ud)
{
    struct views *vs = src;
    for (size_t i = 0; i < vs->n; i++) {
        cb(ud, &vs->v[i]);
    }
}

/* One snapshot holding one label-less gauge whose value is seq. */
static void snapshot_seq(struct am_rw *rw, double seq)
{
    struct views vs = {.n = 1};
    vs.v[0] = (struct am_series_view){.metric = AM_M_PROCESS_OPEN_FDS, .value = seq};
    assert_int_equal(am_rw_snapshot_visit(rw, visit_views, &vs), AM_OK);
}

static uint64_t get(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Poll cond against a deadline of `secs`. */
#define WAIT_FOR(cond, secs)                                                                       \
    do {                                                                                           \
        double until_ = rwr_now() + (secs);                                                        \
        while (!(cond) && rwr_now() < until_) {                                                    \
            poll(NULL, 0, 5);                                                                      \
        }                                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static struct am_rw *make_rw(const char *dir, int port, struct am_header_kv *hdrs, size_t nh,
                             const char *pwfile, const char *tokfile)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/write", port);
    struct am_rw_opts cfg = {
        .url = url,
        .headers = hdrs,
        .header_count = nh,
        .basic_auth_username = pwfile ? "u" : NULL,
        .basic_auth_password_file = (char *)pwfile,
        .bearer_token_file = (char *)tokfile,
        .timeout_ns = 2000 * MS,
        .queue_dir = (char *)dir,
        .max_samples_per_send = 100,
        .min_backoff_ns = 1 * MS,
        .max_backoff_ns = 20 * MS,
    };
    const char *why = NULL;
    struct am_rw *rw = am_rw_create(&cfg, NULL, 0, am_clock_system(), &why);
    assert_non_null(rw);
    return rw;
}

static void test_send_faults_deliver_each_batch_once_in_order(void **st)
{
    (void)st;
    static const struct rwr_step script[] = {
        {500, NULL, false}, {429, "Retry-After: 1\r\n", false},
        {200, NULL, false}, {400, NULL, false},
        {204, NULL, true}, /* then refuse connections until told */
    };
    struct rwr r;
    rwr_start(&r, script, 5);
    char dir[128];
    rwt_mkdtemp(dir, sizeof(dir), "rws");
    char pw[256];
    snprintf(pw, sizeof(pw), "%s-pw", dir);
    write_file(pw, "secret\n");
    struct am_header_kv hdrs[] = {
        {"X-Scope-OrgID", "team-a"}, {"content-type", "text/evil"}, {"User-Agent", "evil"}};
    struct am_rw *rw = make_rw(dir, r.port, hdrs, 3, pw, NULL);
    const struct am_rw_stats *s = am_rw_stats(rw);
    for (int i = 1; i <= 5; i++) {
        snapshot_seq(rw, i);
    }
    assert_int_equal(get(&s->queue_records), 5);
    am_rw_start(rw);
    WAIT_FOR(rwr_is_down(&r), 10);
    WAIT_FOR(get(&s->samples_retried) >= 4, 10); /* 500, 429, then refused twice */
    rwr_set_down(&r, false);
    WAIT_FOR(get(&s->samples_sent) == 4, 10);
    am_rw_shutdown(rw, am_clock_mono(am_clock_system()) + 1000 * MS);

    pthread_mutex_lock(&r.mu);
    assert_int_equal(r.n_arrivals, 4);
    static const double want[] = {1, 3, 4, 5};
    for (int i = 0; i < 4; i++) {
        assert_true(r.arrivals[i] == want[i]);
    }
    assert_true(r.req_time[2] - r.req_time[1] >= 0.95); /* Retry-After: 1 honoured */
    const char *h = r.first_headers;
    assert_non_null(strstr(h, "\r\nContent-Encoding: snappy\r\n"));
    assert_non_null(strstr(h, "\r\nContent-Type: application/x-protobuf\r\n"));
    assert_non_null(strstr(h, "\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n"));
    assert_non_null(strstr(h, "\r\nUser-Agent: agentmeter/" AM_VERSION "\r\n"));
    assert_non_null(strstr(h, "\r\nX-Scope-OrgID: team-a\r\n"));
    assert_non_null(strstr(h, "\r\nAuthorization: Basic dTpzZWNyZXQ=\r\n")); /* u:secret */
    assert_null(strstr(h, "evil"));
    pthread_mutex_unlock(&r.mu);

    assert_int_equal(get(&s->samples_dropped_status[0]), 1);
    assert_int_equal(get(&s->samples_failed), 1);
    assert_int_equal(get(&s->requests_status[5]), 1);
    assert_int_equal(get(&s->requests_status[4]), 2);
    assert_int_equal(get(&s->requests_status[2]), 4);
    assert_int_equal(get(&s->queue_records), 0);
    assert_true(get(&s->last_send_timestamp_s) > 1600000000);
    am_rw_destroy(rw);
    rwr_stop(&r);
    unlink(pw);
    rwt_rmdir(dir);
}

static void test_send_dead_endpoint_keeps_data_for_restart(void **st)
{
    (void)st;
    struct rwr r;
    rwr_start_down(&r); /* nothing listens until phase 2 */
    int port = r.port;
    char dir[128];
    rwt_mkdtemp(dir, sizeof(dir), "rws");
    struct am_rw *rw = make_rw(dir, port, NULL, 0, NULL, NULL);
    am_rw_start(rw);
    for (int i = 1; i <= 3; i++) {
        snapshot_seq(rw, i); /* never waits on the dead endpoint */
    }
    const struct am_rw_stats *s = am_rw_stats(rw);
    WAIT_FOR(get(&s->samples_retried) >= 2, 10);
    double t0 = rwr_now();
    am_rw_shutdown(rw, am_clock_mono(am_clock_system()) + 100 * MS);
    assert_true(rwr_now() - t0 < 1.0);
    assert_int_equal(get(&s->queue_records), 3);
    assert_int_equal(get(&s->samples_sent), 0);
    am_rw_destroy(rw);

    /* Phase 2: the receiver is back; a new client replays the queue. */
    char tok[256];
    snprintf(tok, sizeof(tok), "%s-tok", dir);
    write_file(tok, "tok-123\n");
    rwr_set_down(&r, false);
    rw = make_rw(dir, port, NULL, 0, NULL, tok);
    s = am_rw_stats(rw);
    assert_int_equal(get(&s->queue_records), 3);
    am_rw_start(rw);
    WAIT_FOR(get(&s->samples_sent) == 3, 10);
    am_rw_shutdown(rw, am_clock_mono(am_clock_system()) + 1000 * MS);
    pthread_mutex_lock(&r.mu);
    assert_int_equal(r.n_arrivals, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(r.arrivals[i] == i + 1);
    }
    assert_non_null(strstr(r.first_headers, "\r\nAuthorization: Bearer tok-123\r\n"));
    pthread_mutex_unlock(&r.mu);
    am_rw_destroy(rw);
    rwr_stop(&r);
    unlink(tok);
    rwt_rmdir(dir);
}

static void test_send_create_rejects_empty_url_and_busy_dir(void **st)
{
    (void)st;
    char dir[128];
    rwt_mkdtemp(dir, sizeof(dir), "rws");
    struct am_rw_opts cfg = {.url = "", .queue_dir = dir};
    const char *why = NULL;
    assert_null(am_rw_create(&cfg, NULL, 0, NULL, &why));
    assert_string_equal(why, "remote_write url is empty");
    cfg.url = "http://127.0.0.1:1/x";
    struct am_rw *a = am_rw_create(&cfg, NULL, 0, NULL, &why);
    assert_non_null(a);
    assert_null(am_rw_create(&cfg, NULL, 0, NULL, &why));
    assert_string_equal(why, "queue dir is in use by another queue");
    am_rw_destroy(a);
    am_rw_destroy(NULL);
    rwt_rmdir(dir);
}

int main(void)
{
    am_log_set_level(AM_LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_faults_deliver_each_batch_once_in_order),
        cmocka_unit_test(test_send_dead_endpoint_keeps_data_for_restart),
        cmocka_unit_test(test_send_create_rejects_empty_url_and_busy_dir),
    };
    return cmocka_run_group_tests_name("rw_send", tests, NULL, NULL);
}
