/*
 * test_rw_receivers.c - remote_write end to end against real receivers:
 * Prometheus (--web.enable-remote-write-receiver) and VictoriaMetrics
 * (/api/v1/write). Each is started on a free loopback port, sent one
 * snapshot through the full queue + sender, and queried over its HTTP API
 * for the exact values. Skipped only when the binary is absent. The
 * teardown kills and reaps every process a test started, even on failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "am/clock.h"
#include "am/err.h"
#include "am/log.h"
#include "am/rw.h"
#include "rw_recv.h"
#include "rw_tmpdir.h"

#define MS 1000000ull

struct fx {
    char dir[128];
    pid_t pid;
    int port;
    uint64_t wall_ns; /* the snapshot's timestamp, whole seconds */
};

static uint64_t fixed_wall(void *ud)
{
    return *(const uint64_t *)ud;
}

static uint64_t real_mono(void *ud)
{
    (void)ud;
    return am_clock_mono(am_clock_system());
}

static int find_bin(const char *name, char *out, size_t n)
{
    const char *p = getenv("PATH");
    p = p != NULL ? p : "/usr/bin:/bin";
    for (;;) {
        size_t len = strcspn(p, ":");
        snprintf(out, n, "%.*s/%s", (int)len, p, name);
        if (len > 0 && access(out, X_OK) == 0) {
            return 1;
        }
        if (p[len] == '\0') {
            return 0;
        }
        p += len + 1;
    }
}

static int free_port(void)
{
    int fd = rwr_listen(0);
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

static void spawn(struct fx *f, char *const argv[])
{
    char log[256];
    snprintf(log, sizeof(log), "%s/receiver.log", f->dir);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(f->dir) != 0) {
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
}

static size_t to_buf(char *p, size_t size, size_t n, void *ud)
{
    am_buf_append(ud, p, size * n);
    return size * n;
}

/* GET url; returns the status (0 on transport error), body in out. */
static long http_get(const char *url, struct am_buf *out)
{
    am_buf_reset(out);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    am_buf_append_byte(out, '\0');
    out->len--;
    return status;
}

static void wait_ready(struct fx *f, const char *path)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    struct am_buf b;
    am_buf_init(&b, 1 << 20);
    double until = rwr_now() + 60;
    long st = 0;
    while (st != 200 && rwr_now() < until && waitpid(f->pid, NULL, WNOHANG) == 0) {
        st = http_get(url, &b);
        if (st != 200) {
            poll(NULL, 0, 50);
        }
    }
    am_buf_fini(&b);
    assert_int_equal(st, 200);
}

static int setup(void **st)
{
    struct fx *f = am_xcalloc(1, sizeof(*f));
    rwt_mkdtemp(f->dir, sizeof(f->dir), "rwe2e");
    f->pid = -1;
    f->port = free_port();
    f->wall_ns = (uint64_t)time(NULL) * 1000000000ull;
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        double until = rwr_now() + 10;
        while (waitpid(f->pid, NULL, WNOHANG) == 0) {
            if (rwr_now() > until) {
                kill(f->pid, SIGKILL);
                waitpid(f->pid, NULL, 0);
                break;
            }
            poll(NULL, 0, 20);
        }
    }
    rwt_rmdir(f->dir);
    am_free(f);
    return 0;
}

static const char *const lv_req[] = {"e2e", "ok"};
static const char *const lv_hist[] = {"e2e"};
static const double bounds[] = {0.5, 1, 2};
static const uint64_t counts[] = {1, 0, 2, 3};

static void visit(void *src, am_series_visit_cb cb, void *ud)
{
    (void)src;
    const struct am_series_view v[] = {
        {.metric = AM_M_AGENT_REQUESTS_TOTAL, .label_values = lv_req, .value = 42},
        {.metric = AM_M_AGENT_REQUEST_DURATION,
         .label_values = lv_hist,
         .count = 6,
         .sum = 7.75,
         .bucket_counts = counts,
         .bounds = bounds,
         .bound_count = 3},
    };
    for (size_t i = 0; i < 2; i++) {
        cb(ud, &v[i]);
    }
}

/* Queue + send one snapshot (7 samples) and wait for the 2xx. */
static void push(struct fx *f)
{
    char url[128];
    char qdir[192];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/write", f->port);
    snprintf(qdir, sizeof(qdir), "%s/queue", f->dir);
    struct am_rw_opts cfg = {
        .url = url,
        .timeout_ns = 5000 * MS,
        .queue_dir = qdir,
        .min_backoff_ns = 10 * MS,
        .max_backoff_ns = 200 * MS,
    };
    struct am_header_kv ext[] = {{"cluster", "ci"}};
    struct am_clock clock = {.mono_ns = real_mono, .wall_ns = fixed_wall, .ud = &f->wall_ns};
    const char *why = NULL;
    struct am_rw *rw = am_rw_create(&cfg, ext, 1, &clock, &why);
    assert_non_null(rw);
    assert_int_equal(am_rw_snapshot_visit(rw, visit, NULL), AM_OK);
    am_rw_start(rw);
    const struct am_rw_stats *s = am_rw_stats(rw);
    double until = rwr_now() + 30;
    while (atomic_load(&s->samples_sent) < 7 && atomic_load(&s->samples_failed) == 0 &&
           rwr_now() < until) {
        poll(NULL, 0, 10);
    }
    assert_int_equal(atomic_load(&s->samples_sent), 7);
    am_rw_destroy(rw);
}

/* Poll url until its body contains every needle (or 30 s pass). */
static void expect_body(const char *url, const char *const *needles, size_t n)
{
    struct am_buf b;
    am_buf_init(&b, 1 << 20);
    double until = rwr_now() + 30;
    size_t ok = 0;
    while (ok < n && rwr_now() < until) {
        http_get(url, &b);
        for (ok = 0; ok < n && b.len > 0 && strstr(b.data, needles[ok]) != NULL; ok++) {
        }
        if (ok < n) {
            poll(NULL, 0, 100);
        }
    }
    if (ok < n) {
        print_error("missing %s in %s\n", needles[ok], b.len ? b.data : "(nothing)");
    }
    am_buf_fini(&b);
    assert_int_equal(ok, n);
}

static void prom_query(struct fx *f, const char *q, const char *want)
{
    CURL *c = curl_easy_init();
    char *esc = curl_easy_escape(c, q, 0);
    char url[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/query?query=%s&time=%llu", f->port, esc,
             (unsigned long long)(f->wall_ns / 1000000000ull));
    curl_free(esc);
    curl_easy_cleanup(c);
    char val[128];
    snprintf(val, sizeof(val), ",\"%s\"]", want);
    const char *needles[] = {"\"status\":\"success\"", val};
    expect_body(url, needles, 2);
}

/* VictoriaMetrics' raw export of one series: exact value and timestamp. */
static void vm_export(struct fx *f, const char *selector, const char *want)
{
    CURL *c = curl_easy_init();
    char *esc = curl_easy_escape(c, selector, 0);
    char url[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/export?match[]=%s", f->port, esc);
    curl_free(esc);
    curl_easy_cleanup(c);
    char val[128];
    snprintf(val, sizeof(val), "\"values\":[%s],\"timestamps\":[%llu]}", want,
             (unsigned long long)(f->wall_ns / 1000000ull));
    const char *needles[] = {val};
    expect_body(url, needles, 1);
}

static void test_receivers_prometheus_stores_exact_values(void **st)
{
    struct fx *f = *st;
    char bin[512];
    if (!find_bin("prometheus", bin, sizeof(bin))) {
        skip();
    }
    char cfgp[256];
    snprintf(cfgp, sizeof(cfgp), "%s/empty.yml", f->dir);
    FILE *cf = fopen(cfgp, "w");
    fclose(cf);
    char listen[64];
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", f->port);
    char *const argv[] = {bin,
                          "--web.enable-remote-write-receiver",
                          "--storage.tsdb.path=tsdb",
                          listen,
                          "--config.file=empty.yml",
                          NULL};
    spawn(f, argv);
    wait_ready(f, "/-/ready");
    push(f);
    prom_query(f, "agent_requests_total{agent_name=\"e2e\",status=\"ok\",cluster=\"ci\"}", "42");
    prom_query(f, "agent_request_duration_seconds_bucket{le=\"0.5\",cluster=\"ci\"}", "1");
    prom_query(f, "agent_request_duration_seconds_bucket{le=\"1\"}", "1");
    prom_query(f, "agent_request_duration_seconds_bucket{le=\"2\"}", "3");
    prom_query(f, "agent_request_duration_seconds_bucket{le=\"+Inf\"}", "6");
    prom_query(f, "agent_request_duration_seconds_sum{agent_name=\"e2e\"}", "7.75");
    prom_query(f, "agent_request_duration_seconds_count{agent_name=\"e2e\"}", "6");
}

static void test_receivers_victoriametrics_stores_exact_values(void **st)
{
    struct fx *f = *st;
    char bin[512];
    if (!find_bin("victoria-metrics", bin, sizeof(bin))) {
        skip();
    }
    char listen[64];
    snprintf(listen, sizeof(listen), "-httpListenAddr=127.0.0.1:%d", f->port);
    char *const argv[] = {bin, listen, "-storageDataPath=vmdata", NULL};
    spawn(f, argv);
    wait_ready(f, "/health");
    push(f);
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/internal/force_flush", f->port);
    struct am_buf b;
    am_buf_init(&b, 1 << 20);
    http_get(url, &b);
    am_buf_fini(&b);
    vm_export(f, "agent_requests_total{agent_name=\"e2e\",status=\"ok\",cluster=\"ci\"}", "42");
    vm_export(f, "agent_request_duration_seconds_bucket{le=\"0.5\",cluster=\"ci\"}", "1");
    vm_export(f, "agent_request_duration_seconds_bucket{le=\"1\"}", "1");
    vm_export(f, "agent_request_duration_seconds_bucket{le=\"2\"}", "3");
    vm_export(f, "agent_request_duration_seconds_bucket{le=\"+Inf\"}", "6");
    vm_export(f, "agent_request_duration_seconds_sum{agent_name=\"e2e\"}", "7.75");
    vm_export(f, "agent_request_duration_seconds_count{agent_name=\"e2e\"}", "6");
}

int main(void)
{
    am_log_set_level(AM_LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_receivers_prometheus_stores_exact_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_receivers_victoriametrics_stores_exact_values, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("rw_receivers", tests, NULL, NULL);
}
