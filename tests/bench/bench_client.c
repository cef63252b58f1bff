/*
 * bench_client.c - OTLP load generator for scripts/bench.sh (usage()).
 * Sends batches of realistic GenAI agent traces (bench_gen.c) over -c
 * keep-alive connections for -d seconds, at most -r requests/s in total
 * (0 = as fast as the collector answers), as OTLP/HTTP protobuf, protobuf +
 * gzip, JSON, or OTLP/gRPC (h2c). Every request carries new trace and span
 * ids (a fresh salt XORed into the template's ids). Shape "whole" sends whole
 * traces; shape "split" sends every trace's children first (without
 * gen_ai.agent.name) and its invoke_agent root in a later request, about
 * -l seconds later, as batching SDKs do with long agent turns; at the end
 * the roots still owed are sent. Shape "repeat" sends the same ids on every
 * request (what the old benchmark measured: deduplication), for the
 * caller's check to fail on. Prints one JSON object with the spans sent
 * and answered 200/OK per operation, so that the caller can check them
 * against what the collector derived. Hold mode (-H) opens N connections,
 * sends one request on each, keeps them open -w seconds, then closes them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "am/alloc.h"
#include "bench_gen.h"
#include "bench_h2.h"

enum mode {
    M_PB,
    M_GZIP,
    M_JSON,
    M_GRPC,
};

struct opts {
    unsigned conns;
    double seconds;
    int port;
    double rate; /* requests/s over all connections; 0 = max */
    unsigned traces;
    enum mode mode;
    bool split;
    bool repeat; /* the same ids on every request: the checker's self-test */
    double lag_s; /* split: roots follow their children by this much */
    size_t pad_bytes;
    unsigned hold; /* hold mode: connections */
    double hold_s;
    const char *dump;
};

struct fifo_ent {
    uint64_t salt;
    uint64_t t_ns;
};

#define FIFO_CAP 65536u

struct worker {
    pthread_t tid;
    const struct opts *o;
    struct bench_body main;  /* whole traces, or children + roots (split) */
    struct bench_body roots; /* split: roots only, to pay what is owed */
    uint64_t seed;
    int fd;
    struct bench_h2 *h2;
    struct {
        uint8_t *p;
        size_t cap;
    } out; /* gzip output or gRPC frame */
    z_stream z;
    uint64_t requests;
    uint64_t errors;
    uint64_t spans;
    uint64_t agents, chats, tools;
    uint64_t main_spans; /* before the final roots */
    uint64_t wire_bytes;
    double *lat_ms;
    size_t lat_count;
    size_t lat_cap;
    struct fifo_ent *fifo;
    size_t fifo_head;
    size_t fifo_len;
    double lag_sum_s, lag_min_s, lag_max_s;
    uint64_t lag_n;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64 over a counter: distinct workers (distinct odd bases) and
 * distinct requests never share a salt in practice, unlike xorshift streams
 * seeded from one another (worker i+1 would replay worker i shifted by one). */
static uint64_t next_salt(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- transport ---- */

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n, int flags)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | flags);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Parse an unsigned decimal without atoi (checksrc bans it). */
static size_t parse_len(const char *p)
{
    size_t v = 0;
    while (*p == ' ') {
        p++;
    }
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (size_t)(*p - '0');
        p++;
    }
    return v;
}

/* Read one response with Content-Length; returns the status or -1. */
static int read_response(int fd)
{
    char buf[8192];
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        if (have + 1 >= sizeof(buf)) {
            return -1;
        }
        ssize_t r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (strncmp(buf, "HTTP/1.1 ", 9) != 0) {
        return -1;
    }
    int status = (int)parse_len(buf + 9);
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl == NULL || cl > end) {
        return -1;
    }
    size_t want = parse_len(cl + 17);
    size_t got = have - (size_t)(end + 4 - buf);
    while (got < want) {
        ssize_t r = recv(fd, buf, sizeof(buf) - 1, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        got += (size_t)r;
    }
    return got == want ? status : -1;
}

static void out_reserve(struct worker *w, size_t n)
{
    if (w->out.cap < n) {
        w->out.p = am_xrealloc(w->out.p, n);
        w->out.cap = n;
    }
}

/* The payload of b in w's mode: gzip compresses it, gRPC frames it. */
static int payload(struct worker *w, const struct bench_body *b, const uint8_t **p, size_t *n)
{
    if (w->o->mode == M_GZIP) {
        out_reserve(w, deflateBound(&w->z, b->len) + 64);
        deflateReset(&w->z);
        w->z.next_in = b->p;
        w->z.avail_in = (uInt)b->len;
        w->z.next_out = w->out.p;
        w->z.avail_out = (uInt)w->out.cap;
        if (deflate(&w->z, Z_FINISH) != Z_STREAM_END) {
            return -1;
        }
        *p = w->out.p;
        *n = w->z.total_out;
        return 0;
    }
    if (w->o->mode == M_GRPC) {
        out_reserve(w, b->len + 5);
        uint8_t *q = w->out.p;
        q[0] = 0;
        q[1] = (uint8_t)(b->len >> 24);
        q[2] = (uint8_t)(b->len >> 16);
        q[3] = (uint8_t)(b->len >> 8);
        q[4] = (uint8_t)b->len;
        memcpy(q + 5, b->p, b->len);
        *p = q;
        *n = b->len + 5;
        return 0;
    }
    *p = b->p;
    *n = b->len;
    return 0;
}

/* One export; true when the collector answered 200 / grpc-status 0. */
static bool export(struct worker *w, const struct bench_body *b)
{
    const uint8_t *p;
    size_t n;
    if (w->fd < 0) {
        w->fd = dial(w->o->port);
        if (w->fd < 0) {
            return false;
        }
        if (w->o->mode == M_GRPC) {
            w->h2 = bench_h2_open(w->fd, w->o->port);
        }
    }
    if (payload(w, b, &p, &n) != 0) {
        return false;
    }
    w->wire_bytes += n;
    bool ok;
    if (w->o->mode == M_GRPC) {
        ok = bench_h2_export(w->h2, p, n) == 0;
    } else {
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                          "Content-Type: %s\r\n%sContent-Length: %zu\r\n\r\n",
                          w->o->port,
                          w->o->mode == M_JSON ? "application/json" : "application/x-protobuf",
                          w->o->mode == M_GZIP ? "Content-Encoding: gzip\r\n" : "", n);
        ok = send_all(w->fd, (const uint8_t *)head, (size_t)hl, MSG_MORE) == 0 &&
             send_all(w->fd, p, n, 0) == 0 && read_response(w->fd) == 200;
    }
    if (!ok) {
        bench_h2_close(w->h2);
        w->h2 = NULL;
        close(w->fd);
        w->fd = -1;
    }
    return ok;
}

/* ---- load ---- */

static void lat_push(struct worker *w, double ms)
{
    if (w->lat_count == w->lat_cap) {
        w->lat_cap = w->lat_cap ? w->lat_cap * 2 : 4096;
        w->lat_ms = am_xrealloc(w->lat_ms, w->lat_cap * sizeof(double));
    }
    w->lat_ms[w->lat_count++] = ms;
}

static void tally(struct worker *w, const struct bench_body *b)
{
    w->agents += b->agents;
    w->chats += b->chats;
    w->tools += b->tools;
    w->spans += b->agents + b->chats + b->tools;
}

static void lag_note(struct worker *w, uint64_t sent_ns, uint64_t t)
{
    double lag = (double)(t - sent_ns) / 1e9;
    w->lag_sum_s += lag;
    w->lag_min_s = w->lag_n == 0 || lag < w->lag_min_s ? lag : w->lag_min_s;
    w->lag_max_s = lag > w->lag_max_s ? lag : w->lag_max_s;
    w->lag_n++;
}

/* Salts for the next request: new children, and the roots of children sent
 * lag seconds ago (or, until there are any, roots of new traces). */
static void salt_next(struct worker *w, uint64_t t)
{
    bench_salt(&w->main, BENCH_GROUP_CHILD, w->o->repeat ? 0 : next_salt(&w->seed));
    if (!w->o->split) {
        return;
    }
    uint64_t lag_ns = (uint64_t)(w->o->lag_s * 1e9);
    struct fifo_ent *e = &w->fifo[w->fifo_head];
    if (w->fifo_len > 0 && t - e->t_ns >= lag_ns) {
        lag_note(w, e->t_ns, t);
        bench_salt(&w->main, BENCH_GROUP_ROOT, e->salt);
        w->fifo_head = (w->fifo_head + 1) % FIFO_CAP;
        w->fifo_len--;
    } else {
        bench_salt(&w->main, BENCH_GROUP_ROOT, next_salt(&w->seed));
    }
}

static void fifo_push(struct worker *w, uint64_t salt, uint64_t t)
{
    if (w->fifo_len == FIFO_CAP) {
        return; /* cannot happen at the rates of this machine */
    }
    w->fifo[(w->fifo_head + w->fifo_len) % FIFO_CAP] = (struct fifo_ent){salt, t};
    w->fifo_len++;
}

/* Split shape: the roots still owed, each no earlier than lag after its
 * children. */
static void pay_roots(struct worker *w)
{
    uint64_t lag_ns = (uint64_t)(w->o->lag_s * 1e9);
    while (w->fifo_len > 0) {
        struct fifo_ent e = w->fifo[w->fifo_head];
        uint64_t t = now_ns();
        if (t - e.t_ns < lag_ns) {
            uint64_t d = lag_ns - (t - e.t_ns);
            struct timespec ts = {(time_t)(d / 1000000000ull), (long)(d % 1000000000ull)};
            nanosleep(&ts, NULL);
            continue;
        }
        lag_note(w, e.t_ns, t);
        w->fifo_head = (w->fifo_head + 1) % FIFO_CAP;
        w->fifo_len--;
        bench_salt(&w->roots, BENCH_GROUP_ROOT, e.salt);
        w->requests++;
        if (export(w, &w->roots)) {
            tally(w, &w->roots);
        } else {
            w->errors++;
        }
    }
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    double interval_ns = o->rate > 0 ? 1e9 * o->conns / o->rate : 0;
    uint64_t start = now_ns();
    uint64_t stop = start + (uint64_t)(o->seconds * 1e9);
    for (uint64_t n = 0;; n++) {
        uint64_t due = start + (uint64_t)(interval_ns * (double)n);
        uint64_t t = now_ns();
        if (t >= stop || due >= stop) {
            break;
        }
        if (due > t) {
            struct timespec ts = {(time_t)((due - t) / 1000000000ull),
                                  (long)((due - t) % 1000000000ull)};
            nanosleep(&ts, NULL);
        }
        salt_next(w, now_ns());
        uint64_t t0 = now_ns();
        bool ok = export(w, &w->main);
        uint64_t t1 = now_ns();
        w->requests++;
        if (!ok) {
            w->errors++;
            continue;
        }
        tally(w, &w->main);
        lat_push(w, (double)(t1 - t0) / 1e6);
        if (o->split) {
            fifo_push(w, w->main.applied[BENCH_GROUP_CHILD], t0);
        }
    }
    w->main_spans = w->spans;
    pay_roots(w);
    if (w->fd >= 0) {
        bench_h2_close(w->h2);
        close(w->fd);
    }
    return NULL;
}

/* ---- options and report ---- */

static void usage(void)
{
    fputs("usage: am_bench_client [-c connections] [-d seconds] [-p port] [-r req/s (0=max)]\n"
          "         [-t traces per request (8 spans each)] [-e pb|gzip|json|grpc]\n"
          "         [-S whole|split|repeat] [-l root lag seconds] [-a chat prompt bytes]\n"
          "         [-H connections -w hold seconds] [-D FILE (write the protobuf batch)]\n",
          stderr);
}

static int parse_word(int ch, const char *arg, struct opts *o)
{
    static const char *const modes[] = {"pb", "gzip", "json", "grpc"};
    if (ch == 'D') {
        o->dump = arg;
        return 0;
    }
    if (ch == 'S') {
        o->split = strcmp(arg, "split") == 0;
        o->repeat = strcmp(arg, "repeat") == 0;
        return o->split || o->repeat || strcmp(arg, "whole") == 0 ? 0 : -1;
    }
    for (int i = 0; i < 4; i++) {
        if (strcmp(arg, modes[i]) == 0) {
            o->mode = (enum mode)i;
            return 0;
        }
    }
    return -1;
}

static int parse_num(int ch, double v, struct opts *o)
{
    switch (ch) {
    case 'c':
        o->conns = (unsigned)v;
        break;
    case 'd':
        o->seconds = v;
        break;
    case 'p':
        o->port = (int)v;
        break;
    case 'r':
        o->rate = v;
        break;
    case 't':
        o->traces = (unsigned)v;
        break;
    case 'l':
        o->lag_s = v;
        break;
    case 'a':
        o->pad_bytes = (size_t)v;
        break;
    case 'H':
        o->hold = (unsigned)v;
        break;
    case 'w':
        o->hold_s = v;
        break;
    default:
        return -1;
    }
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.conns = 2, .seconds = 5, .port = 4318, .traces = 64, .lag_s = 2};
    int ch;
    while ((ch = getopt(argc, argv, "c:d:p:r:t:e:S:l:a:H:w:D:h")) != -1) {
        if (ch == 'e' || ch == 'S' || ch == 'D') {
            if (parse_word(ch, optarg, o) != 0) {
                usage();
                return -1;
            }
            continue;
        }
        char *end = NULL;
        double v = strtod(optarg ? optarg : "", &end);
        if (ch == 'h' || ch == '?' || end == optarg || *end != '\0' || v < 0 ||
            parse_num(ch, v, o) != 0) {
            usage();
            return -1;
        }
    }
    if (o->conns == 0 || o->conns > 1024 || o->traces == 0 || o->port <= 0 || o->port > 65535) {
        usage();
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static void report(const struct opts *o, struct worker *ws, double elapsed)
{
    struct worker t = {0};
    for (unsigned i = 0; i < o->conns; i++) {
        t.requests += ws[i].requests;
        t.errors += ws[i].errors;
        t.spans += ws[i].spans;
        t.main_spans += ws[i].main_spans;
        t.agents += ws[i].agents;
        t.chats += ws[i].chats;
        t.tools += ws[i].tools;
        t.wire_bytes += ws[i].wire_bytes;
        t.lat_count += ws[i].lat_count;
        t.lag_n += ws[i].lag_n;
        t.lag_sum_s += ws[i].lag_sum_s;
        t.lag_max_s = ws[i].lag_max_s > t.lag_max_s ? ws[i].lag_max_s : t.lag_max_s;
        if (ws[i].lag_n > 0 && (t.lag_min_s == 0 || ws[i].lag_min_s < t.lag_min_s)) {
            t.lag_min_s = ws[i].lag_min_s;
        }
    }
    double *all = am_xmalloc((t.lat_count ? t.lat_count : 1) * sizeof(double));
    size_t k = 0;
    for (unsigned i = 0; i < o->conns; i++) {
        memcpy(all + k, ws[i].lat_ms, ws[i].lat_count * sizeof(double));
        k += ws[i].lat_count;
    }
    qsort(all, t.lat_count, sizeof(double), cmp_double);
    printf("{\"requests\": %llu, \"errors\": %llu, \"spans\": %llu, \"agent_spans\": %llu, "
           "\"chat_spans\": %llu, \"tool_spans\": %llu, \"seconds\": %.3f, "
           "\"requests_per_second\": %.1f, \"spans_per_second\": %.0f, \"p50_ms\": %.3f, "
           "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"wire_bytes_per_request\": %.0f, "
           "\"root_lag_s\": [%.2f, %.2f, %.2f], \"connections\": %u, \"target_rate\": %.1f}\n",
           (unsigned long long)t.requests, (unsigned long long)t.errors,
           (unsigned long long)t.spans, (unsigned long long)t.agents, (unsigned long long)t.chats,
           (unsigned long long)t.tools, elapsed, (double)t.lat_count / elapsed,
           (double)t.main_spans / elapsed, pct(all, t.lat_count, 0.50), pct(all, t.lat_count, 0.99),
           t.lat_count ? all[t.lat_count - 1] : 0.0,
           t.requests ? (double)t.wire_bytes / (double)t.requests : 0.0, t.lag_min_s,
           t.lag_n ? t.lag_sum_s / (double)t.lag_n : 0.0, t.lag_max_s, o->conns, o->rate);
    am_free(all);
}

static void body_dup(struct bench_body *dst, const struct bench_body *src)
{
    *dst = *src;
    dst->p = am_xmalloc(src->len ? src->len : 1);
    memcpy(dst->p, src->p, src->len);
    dst->off = am_xmalloc((src->nids ? src->nids : 1) * sizeof(*src->off));
    memcpy(dst->off, src->off, src->nids * sizeof(*src->off));
    dst->group = am_xmalloc(src->nids ? src->nids : 1);
    memcpy(dst->group, src->group, src->nids);
    dst->cap = src->len;
    dst->idcap = src->nids;
}

static int dump_batch(const struct bench_body *b, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b->p, 1, b->len, f) != b->len || fclose(f) != 0) {
        fprintf(stderr, "am_bench_client: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static void worker_init(struct worker *w, const struct opts *o, const struct bench_body *main,
                        const struct bench_body *roots, uint64_t seed)
{
    memset(w, 0, sizeof(*w));
    w->o = o;
    w->fd = -1;
    w->seed = seed | 1;
    body_dup(&w->main, main);
    body_dup(&w->roots, roots);
    w->fifo = am_xcalloc(FIFO_CAP, sizeof(*w->fifo));
    if (o->mode == M_GZIP) {
        deflateInit2(&w->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    }
}

static void worker_fini(struct worker *w)
{
    if (w->o->mode == M_GZIP) {
        deflateEnd(&w->z);
    }
    bench_body_free(&w->main);
    bench_body_free(&w->roots);
    am_free(w->fifo);
    am_free(w->lat_ms);
    am_free(w->out.p);
}

static int bench_hold(const struct opts *o, struct worker *ws);

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        return 2;
    }
    enum bench_enc enc = o.mode == M_JSON ? BENCH_JSON : BENCH_PB;
    struct bench_body main_b, roots_b;
    uint64_t seed = (uint64_t)time(NULL) * 0x2545f4914f6cdd1dull ^ (uint64_t)getpid();
    bench_body_build(&main_b, enc, o.split ? BENCH_CHILDREN : BENCH_WHOLE, o.traces, o.pad_bytes,
                     seed);
    bench_body_build(&roots_b, enc, BENCH_ROOTS, o.traces, o.pad_bytes, seed);
    if (o.dump != NULL) {
        return dump_batch(&main_b, o.dump);
    }
    unsigned nw = o.conns;
    struct worker *ws = am_xcalloc(nw, sizeof(*ws));
    for (unsigned i = 0; i < nw; i++) {
        worker_init(&ws[i], &o, &main_b, &roots_b, next_salt(&seed));
    }
    int rc = 0;
    if (o.hold > 0) {
        rc = bench_hold(&o, ws);
    } else {
        uint64_t t0 = now_ns();
        for (unsigned i = 0; i < o.conns; i++) {
            if (pthread_create(&ws[i].tid, NULL, worker_run, &ws[i]) != 0) {
                fprintf(stderr, "am_bench_client: pthread_create failed\n");
                return 1;
            }
        }
        for (unsigned i = 0; i < o.conns; i++) {
            pthread_join(ws[i].tid, NULL);
        }
        double elapsed = o.seconds > 0 ? o.seconds : (double)(now_ns() - t0) / 1e9;
        fprintf(stderr, "am_bench_client: batch %zu bytes, %u+%u+%u spans, %zu ids salted\n",
                main_b.len, main_b.agents, main_b.chats, main_b.tools, main_b.nids);
        report(&o, ws, elapsed);
    }
    for (unsigned i = 0; i < nw; i++) {
        worker_fini(&ws[i]);
    }
    am_free(ws);
    bench_body_free(&main_b);
    bench_body_free(&roots_b);
    return rc;
}

/* ---- hold mode: many connections, one request each, kept open ---- */

struct hold_ctx {
    struct worker *w;
    int *fds;
    unsigned from, to;
    uint64_t ok, failed;
};

static void *hold_run(void *arg)
{
    struct hold_ctx *h = arg;
    for (unsigned i = h->from; i < h->to; i++) {
        h->w->fd = h->fds[i];
        if (h->w->o->mode == M_GRPC && h->fds[i] >= 0) {
            h->w->h2 = bench_h2_open(h->fds[i], h->w->o->port);
        }
        salt_next(h->w, now_ns());
        bool ok = h->fds[i] >= 0 && export(h->w, &h->w->main);
        if (ok) {
            tally(h->w, &h->w->main);
            h->ok++;
        } else {
            h->failed++;
        }
        h->fds[i] = h->w->fd; /* -1 once failed */
        bench_h2_close(h->w->h2);
        h->w->h2 = NULL;
    }
    h->w->fd = -1;
    return NULL;
}

static int bench_hold(const struct opts *o, struct worker *ws)
{
    int *fds = am_xcalloc(o->hold, sizeof(int));
    unsigned dialed = 0;
    for (unsigned i = 0; i < o->hold; i++) {
        fds[i] = dial(o->port);
        dialed += fds[i] >= 0;
    }
    struct hold_ctx *hc = am_xcalloc(o->conns, sizeof(*hc));
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < o->conns; i++) {
        hc[i] = (struct hold_ctx){.w = &ws[i],
                                  .fds = fds,
                                  .from = o->hold * i / o->conns,
                                  .to = o->hold * (i + 1) / o->conns};
        pthread_create(&ws[i].tid, NULL, hold_run, &hc[i]);
    }
    uint64_t ok = 0, failed = 0, spans = 0;
    for (unsigned i = 0; i < o->conns; i++) {
        pthread_join(ws[i].tid, NULL);
        ok += hc[i].ok;
        failed += hc[i].failed;
        spans += ws[i].spans;
    }
    printf("{\"connections\": %u, \"dialed\": %u, \"ok\": %llu, \"failed\": %llu, "
           "\"spans\": %llu, \"agent_spans\": %llu, \"body_bytes\": %zu, \"seconds\": %.3f}\n",
           o->hold, dialed, (unsigned long long)ok, (unsigned long long)failed,
           (unsigned long long)spans, (unsigned long long)(ok * ws[0].main.agents), ws[0].main.len,
           (double)(now_ns() - t0) / 1e9);
    fflush(stdout);
    uint64_t hold_ns = (uint64_t)(o->hold_s * 1e9);
    struct timespec ts = {(time_t)(hold_ns / 1000000000ull), (long)(hold_ns % 1000000000ull)};
    nanosleep(&ts, NULL);
    for (unsigned i = 0; i < o->hold; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    printf("{\"closed\": %u}\n", o->hold);
    am_free(fds);
    am_free(hc);
    return failed == 0 && dialed == o->hold ? 0 : 1;
}
