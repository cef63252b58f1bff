/*
 * rw_send.c - one remote_write endpoint: snapshots go through rw_enc into
 * the endpoint's rw_queue on the caller's thread; one sender thread per
 * endpoint drains the queue in order over a reused libcurl easy handle
 * (keep-alive). The remote response -> retry or drop mapping lives here
 * only (STYLE.md 5.6): 2xx done, 429/5xx/transport retried with jittered
 * exponential backoff or Retry-After, other statuses dropped and counted.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/log.h"
#include "am/rw.h"
#include "am/self.h"
#include "am/series.h"
#include "am/str.h"

#define RETRY_AFTER_CAP_NS (300ull * 1000000000ull)
#define IDLE_WAIT_NS (1000000000ull)
/* While a backlog drains, the cursor is persisted at least this often. */
#define COMMIT_EVERY_NS (1000000000ull)
#define MAX_BODY_BYTES ((size_t)512 << 20)
#define SECRET_MAX 4096

struct am_rw {
    struct am_rw_stats stats;
    struct am_rw_opts cfg; /* strings copied */
    char *queue_dir;
    const struct am_clock *clock;
    pthread_mutex_t snap_mu; /* one snapshot at a time through enc */
    struct am_rw_enc *enc;
    int snap_rc;
    struct am_rw_queue *q;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started;
    bool draining;
    bool kick;
    uint64_t deadline_ns;
    CURL *curl;
    struct am_buf body;
    char err[CURL_ERROR_SIZE];
    char resp[256];
    size_t resp_len;
    uint64_t backoff_ns;
    uint64_t rng;
};

/* The headers every request carries; the one list (config refuses them too). */
static const char *const reserved_headers[] = {
    "Content-Encoding",
    "Content-Type",
    "X-Prometheus-Remote-Write-Version",
    "User-Agent",
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? am_xstrdup(s) : NULL;
}

static void update_queue_stats(struct am_rw *rw)
{
    struct am_rw_queue_counts c;
    am_rw_queue_counts(rw->q, &c);
    atomic_store_explicit(&rw->stats.queue_records, c.records, memory_order_relaxed);
    atomic_store_explicit(&rw->stats.queue_bytes, c.bytes, memory_order_relaxed);
    atomic_store_explicit(&rw->stats.queue_corrupt_records, c.corrupt_records,
                          memory_order_relaxed);
    atomic_store_explicit(&rw->stats.samples_dropped_queue_full, c.dropped_samples,
                          memory_order_relaxed);
}

static void stat_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- configuration ---- */

/* ./data/wal/<host>_<port>-<hash of url and headers>: stable across
 * restarts, distinct for two tenants of one receiver. */
static char *default_queue_dir(const struct am_rw_opts *cfg)
{
    const char *u = cfg->url;
    const char *s = strstr(u, "://");
    s = s != NULL ? s + 3 : u;
    size_t n = strcspn(s, "/?#");
    uint64_t h = am_hash(u, strlen(u));
    for (size_t i = 0; i < cfg->header_count; i++) {
        const struct am_header_kv *kv = &cfg->headers[i];
        h = am_hash_seed(kv->name, strlen(kv->name), h);
        h = am_hash_seed(kv->value, strlen(kv->value), h);
    }
    char host[128];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof(host) - 1; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-';
        host[k++] = ok ? c : '_';
    }
    host[k] = '\0';
    char buf[256];
    snprintf(buf, sizeof(buf), "./data/wal/%s-%08" PRIx32, k ? host : "endpoint", (uint32_t)h);
    return am_xstrdup(buf);
}

static void copy_config(struct am_rw *rw, const struct am_rw_opts *in)
{
    struct am_rw_opts *c = &rw->cfg;
    *c = *in;
    c->url = am_xstrdup(in->url);
    c->headers = am_xcalloc(in->header_count ? in->header_count : 1, sizeof(*c->headers));
    for (size_t i = 0; i < in->header_count; i++) {
        c->headers[i].name = am_xstrdup(in->headers[i].name);
        c->headers[i].value = am_xstrdup(in->headers[i].value);
    }
    c->basic_auth_username = dup_or_null(in->basic_auth_username);
    c->basic_auth_password_file = dup_or_null(in->basic_auth_password_file);
    c->bearer_token_file = dup_or_null(in->bearer_token_file);
    c->tls.ca_file = dup_or_null(in->tls.ca_file);
    c->tls.cert_file = dup_or_null(in->tls.cert_file);
    c->tls.key_file = dup_or_null(in->tls.key_file);
    c->queue_dir = NULL;
    rw->queue_dir = in->queue_dir != NULL ? am_xstrdup(in->queue_dir) : default_queue_dir(in);
    if (c->max_backoff_ns < c->min_backoff_ns) {
        c->max_backoff_ns = c->min_backoff_ns;
    }
}

static void free_config(struct am_rw_opts *c)
{
    for (size_t i = 0; i < c->header_count; i++) {
        am_free(c->headers[i].name);
        am_free(c->headers[i].value);
    }
    am_free(c->headers);
    am_free(c->url);
    am_free(c->basic_auth_username);
    am_free(c->basic_auth_password_file);
    am_free(c->bearer_token_file);
    am_free(c->tls.ca_file);
    am_free(c->tls.cert_file);
    am_free(c->tls.key_file);
}

/* A secret file's contents without the trailing newline. Re-read for every
 * request so rotated credentials are picked up. */
static int read_secret(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        AM_LOG_RL(AM_LOG_LEVEL_ERROR, "remote_write", "open %s: %s", path, strerror(errno));
        return AM_EIO;
    }
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        n--;
    }
    out[n] = '\0';
    return AM_OK;
}

bool am_rw_header_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(reserved_headers) / sizeof(reserved_headers[0]); i++) {
        if (strcasecmp(name, reserved_headers[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool header_ok(const struct am_header_kv *kv)
{
    return kv->name[0] != '\0' && strpbrk(kv->name, ":\r\n ") == NULL &&
           strpbrk(kv->value, "\r\n") == NULL && !am_rw_header_reserved(kv->name);
}

/* ---- one request ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct am_rw *rw = ud;
    size_t len = size * n;
    size_t room = sizeof(rw->resp) - 1 - rw->resp_len;
    size_t k = len < room ? len : room;
    memcpy(rw->resp + rw->resp_len, p, k);
    rw->resp_len += k;
    rw->resp[rw->resp_len] = '\0';
    return len;
}

static bool stopping(struct am_rw *rw)
{
    pthread_mutex_lock(&rw->mu);
    bool s = rw->draining && am_clock_mono(rw->clock) >= rw->deadline_ns;
    pthread_mutex_unlock(&rw->mu);
    return s;
}

/* Aborts a transfer once the shutdown deadline has passed. */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return stopping(ud) ? 1 : 0;
}

static struct curl_slist *build_headers(struct am_rw *rw)
{
    struct curl_slist *h = NULL;
    char line[SECRET_MAX + 64];
    for (size_t i = 0; i < rw->cfg.header_count; i++) {
        const struct am_header_kv *kv = &rw->cfg.headers[i];
        if (header_ok(kv)) {
            snprintf(line, sizeof(line), "%s: %s", kv->name, kv->value);
            h = curl_slist_append(h, line);
        }
    }
    h = curl_slist_append(h, "Content-Encoding: snappy");
    h = curl_slist_append(h, "Content-Type: application/x-protobuf");
    h = curl_slist_append(h, "X-Prometheus-Remote-Write-Version: 0.1.0");
    h = curl_slist_append(h, "User-Agent: agentmeter/" AM_VERSION);
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    char tok[SECRET_MAX];
    if (rw->cfg.bearer_token_file != NULL &&
        read_secret(rw->cfg.bearer_token_file, tok, sizeof(tok)) == AM_OK) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", tok);
        h = curl_slist_append(h, line);
    }
    return h;
}

static void setup_curl(struct am_rw *rw)
{
    CURL *c = rw->curl;
    curl_easy_setopt(c, CURLOPT_URL, rw->cfg.url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, rw->err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, rw);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, rw);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rw->cfg.tls.ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, rw->cfg.tls.ca_file);
    }
    if (rw->cfg.tls.cert_file != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, rw->cfg.tls.cert_file);
    }
    if (rw->cfg.tls.key_file != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLKEY, rw->cfg.tls.key_file);
    }
    long verify = rw->cfg.tls.insecure_skip_verify ? 0L : 1L;
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if (rw->cfg.basic_auth_username != NULL && rw->cfg.bearer_token_file == NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, rw->cfg.basic_auth_username);
    }
}

static uint64_t request_timeout_ms(struct am_rw *rw)
{
    uint64_t t = rw->cfg.timeout_ns ? rw->cfg.timeout_ns : 30000000000ull;
    pthread_mutex_lock(&rw->mu);
    if (rw->draining) {
        uint64_t now = am_clock_mono(rw->clock);
        uint64_t left = rw->deadline_ns > now ? rw->deadline_ns - now : 1000000;
        t = left < t ? left : t;
    }
    pthread_mutex_unlock(&rw->mu);
    return t / 1000000 ? t / 1000000 : 1;
}

/* POST the body. Returns the HTTP status, or 0 on a transport error;
 * *retry_after_s gets Retry-After (seconds or HTTP date) or 0. */
static long post(struct am_rw *rw, uint64_t *retry_after_s)
{
    char pw[SECRET_MAX];
    *retry_after_s = 0;
    rw->resp_len = 0;
    rw->resp[0] = '\0';
    rw->err[0] = '\0';
    if (rw->cfg.basic_auth_username != NULL && rw->cfg.bearer_token_file == NULL) {
        if (rw->cfg.basic_auth_password_file == NULL) {
            pw[0] = '\0';
        } else if (read_secret(rw->cfg.basic_auth_password_file, pw, sizeof(pw)) != AM_OK) {
            return 0;
        }
        curl_easy_setopt(rw->curl, CURLOPT_PASSWORD, pw);
    }
    struct curl_slist *h = build_headers(rw);
    curl_easy_setopt(rw->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(rw->curl, CURLOPT_POSTFIELDS, rw->body.data);
    curl_easy_setopt(rw->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rw->body.len);
    curl_easy_setopt(rw->curl, CURLOPT_TIMEOUT_MS, (long)request_timeout_ms(rw));
    CURLcode rc = curl_easy_perform(rw->curl);
    long status = 0;
    if (rc == CURLE_OK) {
        curl_off_t ra = 0;
        curl_easy_getinfo(rw->curl, CURLINFO_RESPONSE_CODE, &status);
        if (curl_easy_getinfo(rw->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0) {
            *retry_after_s = (uint64_t)ra;
        }
    } else {
        AM_LOG_RL(AM_LOG_LEVEL_WARN, "remote_write", "url=%s error=\"%s\"", rw->cfg.url,
                  rw->err[0] ? rw->err : curl_easy_strerror(rc));
    }
    curl_easy_setopt(rw->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    explicit_bzero(pw, sizeof(pw));
    return status;
}

/* ---- sender thread ---- */

static uint64_t next_rand(struct am_rw *rw)
{
    rw->rng ^= rw->rng << 13;
    rw->rng ^= rw->rng >> 7;
    rw->rng ^= rw->rng << 17;
    return rw->rng;
}

/* Exponential backoff with jitter in [d/2, d], d doubling from min_backoff
 * up to max_backoff; a Retry-After wins (capped at 5 minutes). */
static uint64_t backoff(struct am_rw *rw, uint64_t retry_after_s)
{
    uint64_t lo = rw->cfg.min_backoff_ns ? rw->cfg.min_backoff_ns : 30000000ull;
    uint64_t hi = rw->cfg.max_backoff_ns > lo ? rw->cfg.max_backoff_ns : lo;
    rw->backoff_ns = rw->backoff_ns ? rw->backoff_ns * 2 : lo;
    rw->backoff_ns = rw->backoff_ns > hi ? hi : rw->backoff_ns;
    uint64_t half = rw->backoff_ns / 2;
    uint64_t d = half + next_rand(rw) % (half + 1);
    d = d < lo ? lo : d;
    if (retry_after_s > 0) {
        d = retry_after_s > RETRY_AFTER_CAP_NS / 1000000000ull ? RETRY_AFTER_CAP_NS
                                                               : retry_after_s * 1000000000ull;
    }
    return d;
}

static uint64_t real_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wait up to ns, never past a shutdown deadline; new data ends the wait
 * only when data_wakes (idle), never a backoff. Called with rw->mu held. */
static void wait_locked(struct am_rw *rw, uint64_t ns, bool data_wakes)
{
    uint64_t until = real_mono_ns() + ns;
    for (;;) {
        uint64_t now = real_mono_ns();
        uint64_t end = until;
        if (rw->draining) {
            uint64_t mono = am_clock_mono(rw->clock);
            uint64_t left = rw->deadline_ns > mono ? rw->deadline_ns - mono : 0;
            end = now + left < end ? now + left : end;
        }
        if (data_wakes && rw->kick) {
            rw->kick = false;
            return;
        }
        if (now >= end) {
            return;
        }
        struct timespec ts = {.tv_sec = (time_t)(end / 1000000000ull),
                              .tv_nsec = (long)(end % 1000000000ull)};
        pthread_cond_timedwait(&rw->cv, &rw->mu, &ts);
    }
}

static void sleep_for(struct am_rw *rw, uint64_t ns)
{
    pthread_mutex_lock(&rw->mu);
    wait_locked(rw, ns, false);
    pthread_mutex_unlock(&rw->mu);
}

/* One response, mapped to done / retry / drop. */
static void handle_status(struct am_rw *rw, long status, uint32_t samples, uint64_t retry_after)
{
    int cls = status >= 100 && status < 600 ? (int)(status / 100) : 0;
    stat_add(&rw->stats.requests_status[cls], 1);
    if (cls == 2) {
        am_rw_queue_ack(rw->q);
        stat_add(&rw->stats.samples_sent, samples);
        atomic_store_explicit(&rw->stats.last_send_timestamp_s,
                              am_clock_wall(rw->clock) / 1000000000ull, memory_order_relaxed);
        rw->backoff_ns = 0;
        return;
    }
    if (cls == 0 || cls == 5 || status == 429) {
        stat_add(&rw->stats.samples_retried, samples);
        if (cls != 0) {
            AM_LOG_RL(AM_LOG_LEVEL_WARN, "remote_write", "url=%s status=%ld retrying body=\"%s\"",
                      rw->cfg.url, status, rw->resp);
        }
        sleep_for(rw, backoff(rw, retry_after));
        return;
    }
    AM_LOG_RL(AM_LOG_LEVEL_ERROR, "remote_write",
              "url=%s status=%ld dropped samples=%" PRIu32 " body=\"%s\"", rw->cfg.url, status,
              samples, rw->resp);
    stat_add(&rw->stats.samples_failed, samples);
    if (cls == 4) {
        stat_add(&rw->stats.samples_dropped_status[status - 400], samples);
    }
    am_rw_queue_ack(rw->q);
    rw->backoff_ns = 0;
}

/* Acks are batched: one cursor write when the queue runs dry (the end of a
 * sent batch) and one a second while a backlog drains. */
static void commit(struct am_rw *rw, uint64_t *last_ns)
{
    am_rw_queue_commit(rw->q);
    *last_ns = am_clock_mono(rw->clock);
}

static void *sender_main(void *arg)
{
    struct am_rw *rw = arg;
    uint64_t committed_ns = am_clock_mono(rw->clock);
    while (!stopping(rw)) {
        uint32_t samples = 0;
        if (am_clock_mono(rw->clock) - committed_ns >= COMMIT_EVERY_NS) {
            commit(rw, &committed_ns);
        }
        int rc = am_rw_queue_peek(rw->q, &rw->body, &samples);
        update_queue_stats(rw);
        if (rc == AM_EAGAIN) {
            commit(rw, &committed_ns);
            pthread_mutex_lock(&rw->mu);
            bool done = rw->draining;
            if (!done) {
                wait_locked(rw, IDLE_WAIT_NS, true);
            }
            pthread_mutex_unlock(&rw->mu);
            if (done) {
                break;
            }
            continue;
        }
        if (rc != AM_OK) {
            sleep_for(rw, backoff(rw, 0));
            continue;
        }
        uint64_t retry_after = 0;
        long status = post(rw, &retry_after);
        if (status == 0 && stopping(rw)) {
            break; /* aborted by the deadline: the record stays queued */
        }
        handle_status(rw, status, samples, retry_after);
        update_queue_stats(rw);
    }
    am_rw_queue_commit(rw->q);
    return NULL;
}

/* ---- lifecycle ---- */

struct am_rw *am_rw_create(const struct am_rw_opts *cfg, const struct am_header_kv *external_labels,
                           size_t n_external, const struct am_clock *clock, const char **why)
{
    if (cfg->url == NULL || cfg->url[0] == '\0') {
        *why = "remote_write url is empty";
        return NULL;
    }
    pthread_once(&curl_once, curl_init_once);
    struct am_rw *rw = am_xcalloc(1, sizeof(*rw));
    copy_config(rw, cfg);
    rw->stats.url = rw->cfg.url;
    rw->clock = clock != NULL ? clock : am_clock_system();
    struct am_rw_queue_opts qo = {.dir = rw->queue_dir, .max_bytes = cfg->queue_max_bytes};
    if (am_rw_queue_open(&qo, &rw->q, why) != AM_OK) {
        AM_LOG_ERROR("remote_write", "url=%s queue=%s: %s", rw->cfg.url, rw->queue_dir, *why);
        free_config(&rw->cfg);
        am_free(rw->queue_dir);
        am_free(rw);
        return NULL;
    }
    rw->enc = am_rw_enc_create(external_labels, n_external, cfg->max_samples_per_send);
    pthread_mutex_init(&rw->snap_mu, NULL);
    pthread_mutex_init(&rw->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rw->cv, &ca);
    pthread_condattr_destroy(&ca);
    am_buf_init(&rw->body, MAX_BODY_BYTES);
    rw->rng = am_clock_wall(rw->clock) ^ (uint64_t)(uintptr_t)rw ^ 0x9e3779b97f4a7c15ull;
    rw->curl = curl_easy_init();
    AM_ASSERT(rw->curl != NULL);
    setup_curl(rw);
    update_queue_stats(rw);
    AM_LOG_INFO("remote_write", "url=%s queue=%s records=%" PRIu64, rw->cfg.url, rw->queue_dir,
                (uint64_t)atomic_load(&rw->stats.queue_records));
    return rw;
}

static int append_batch(void *ud, const void *data, size_t len, uint32_t samples)
{
    struct am_rw *rw = ud;
    int rc = am_rw_queue_append(rw->q, data, len, samples);
    return rc == AM_ETOOBIG ? AM_OK : rc; /* counted as queue_full by the queue */
}

struct snap_ctx {
    struct am_rw *rw;
    int rc;
};

static void visit_one(void *ud, const struct am_series_view *v)
{
    struct snap_ctx *c = ud;
    if (c->rc == AM_OK) {
        c->rc = am_rw_enc_add_view(c->rw->enc, v);
    }
}

static int snapshot_end(struct am_rw *rw, int rc)
{
    if (rc == AM_OK) {
        rc = am_rw_enc_finish(rw->enc);
    }
    int s = am_rw_queue_sync(rw->q);
    rc = rc != AM_OK ? rc : s;
    pthread_mutex_unlock(&rw->snap_mu);
    update_queue_stats(rw);
    pthread_mutex_lock(&rw->mu);
    rw->kick = true;
    pthread_cond_broadcast(&rw->cv);
    pthread_mutex_unlock(&rw->mu);
    if (rc != AM_OK) {
        AM_LOG_RL(AM_LOG_LEVEL_ERROR, "remote_write", "url=%s snapshot not queued: %s", rw->cfg.url,
                  am_strerror(rc));
    }
    return rc;
}

int am_rw_snapshot_visit(struct am_rw *rw, am_rw_visit_fn visit, void *src)
{
    pthread_mutex_lock(&rw->snap_mu);
    am_rw_enc_begin(rw->enc, (int64_t)(am_clock_wall(rw->clock) / 1000000ull), append_batch, rw);
    struct snap_ctx c = {rw, AM_OK};
    visit(src, visit_one, &c);
    return snapshot_end(rw, c.rc);
}

int am_rw_stale(struct am_rw *rw, const struct am_series_view *views, size_t n)
{
    pthread_mutex_lock(&rw->snap_mu);
    am_rw_enc_begin(rw->enc, (int64_t)(am_clock_wall(rw->clock) / 1000000ull), append_batch, rw);
    int rc = AM_OK;
    for (size_t i = 0; i < n && rc == AM_OK; i++) {
        rc = am_rw_enc_stale(rw->enc, &views[i]);
    }
    return snapshot_end(rw, rc);
}

void am_rw_start(struct am_rw *rw)
{
    pthread_mutex_lock(&rw->mu);
    bool go = !rw->started && !rw->draining;
    rw->started = rw->started || go;
    pthread_mutex_unlock(&rw->mu);
    if (go && pthread_create(&rw->thread, NULL, sender_main, rw) != 0) {
        AM_LOG_ERROR("remote_write", "url=%s: cannot start the sender thread", rw->cfg.url);
        pthread_mutex_lock(&rw->mu);
        rw->started = false;
        pthread_mutex_unlock(&rw->mu);
    }
}

void am_rw_shutdown(struct am_rw *rw, uint64_t deadline_ns)
{
    pthread_mutex_lock(&rw->mu);
    bool join = rw->started;
    if (!rw->draining || deadline_ns < rw->deadline_ns) {
        rw->deadline_ns = deadline_ns;
    }
    rw->draining = true;
    rw->started = false;
    pthread_cond_broadcast(&rw->cv);
    pthread_mutex_unlock(&rw->mu);
    if (join) {
        pthread_join(rw->thread, NULL);
    }
    update_queue_stats(rw);
}

void am_rw_destroy(struct am_rw *rw)
{
    if (rw == NULL) {
        return;
    }
    am_rw_shutdown(rw, am_clock_mono(rw->clock));
    curl_easy_cleanup(rw->curl);
    am_rw_queue_close(rw->q);
    am_rw_enc_destroy(rw->enc);
    am_buf_fini(&rw->body);
    pthread_cond_destroy(&rw->cv);
    pthread_mutex_destroy(&rw->mu);
    pthread_mutex_destroy(&rw->snap_mu);
    free_config(&rw->cfg);
    am_free(rw->queue_dir);
    am_free(rw);
}

const struct am_rw_stats *am_rw_stats(const struct am_rw *rw)
{
    return &rw->stats;
}

/* am_rw_snapshot over the series store (am_rw_snapshot_visit over any source). */
static void visit_store(void *src, am_series_visit_cb cb, void *ud)
{
    am_series_visit(src, cb, ud);
}

int am_rw_snapshot(struct am_rw *rw, struct am_series_store *store)
{
    return am_rw_snapshot_visit(rw, visit_store, store);
}

/* ---- self-metrics ---- */

void am_rw_collect(void *ud, struct am_self_out *out)
{
    static const char *const classes[6] = {"error", "1xx", "2xx", "3xx", "4xx", "5xx"};
    const struct am_rw_stats *st = am_rw_stats(ud);
    struct am_str url = am_str_from(st->url);
    char reason[16];
    am_self_set(out, AM_M_SELF_RW_SAMPLES_SENT_TOTAL, (double)atomic_load(&st->samples_sent), url,
                AM_STR_NULL);
    am_self_set(out, AM_M_SELF_RW_SAMPLES_FAILED_TOTAL, (double)atomic_load(&st->samples_failed),
                url, AM_STR_NULL);
    am_self_set(out, AM_M_SELF_RW_SAMPLES_RETRIED_TOTAL, (double)atomic_load(&st->samples_retried),
                url, AM_STR_NULL);
    am_self_set(out, AM_M_SELF_RW_SAMPLES_DROPPED_TOTAL,
                (double)atomic_load(&st->samples_dropped_queue_full), url, AM_STR("queue_full"));
    for (int i = 0; i < 100; i++) {
        uint64_t n = atomic_load(&st->samples_dropped_status[i]);
        if (n > 0) {
            int len = snprintf(reason, sizeof(reason), "http_%d", 400 + i);
            am_self_set(out, AM_M_SELF_RW_SAMPLES_DROPPED_TOTAL, (double)n, url,
                        (struct am_str){reason, (size_t)len}); /* copied */
        }
    }
    for (int i = 0; i < 6; i++) {
        uint64_t n = atomic_load(&st->requests_status[i]);
        if (n > 0) {
            am_self_set(out, AM_M_SELF_RW_REQUESTS_TOTAL, (double)n, url, am_str_from(classes[i]));
        }
    }
    am_self_set(out, AM_M_SELF_RW_QUEUE_LENGTH, (double)atomic_load(&st->queue_records), url,
                AM_STR_NULL);
    am_self_set(out, AM_M_SELF_RW_QUEUE_BYTES, (double)atomic_load(&st->queue_bytes), url,
                AM_STR_NULL);
    am_self_set(out, AM_M_SELF_RW_QUEUE_CORRUPT_TOTAL,
                (double)atomic_load(&st->queue_corrupt_records), url, AM_STR_NULL);
    am_self_set(out, AM_M_SELF_RW_LAST_SEND_TIMESTAMP,
                (double)atomic_load(&st->last_send_timestamp_s), url, AM_STR_NULL);
}
