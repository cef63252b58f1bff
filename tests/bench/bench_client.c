/*
 * bench_client.c - OTLP/HTTP protobuf load generator for scripts/bench.sh.
 * Builds one ExportTraceServiceRequest of realistic GenAI agent spans with a
 * hand-written protobuf writer (field numbers from opentelemetry-proto
 * trace.proto, common.proto, resource.proto), then POSTs it over -c HTTP/1.1
 * keep-alive connections for -d seconds, at most -r requests/s in total
 * (0 = as fast as the collector answers), and prints one JSON object.
 * Ids are re-salted per request (XOR, so parent links survive).
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

#include "am/alloc.h"

/* ---- protobuf wire writer ---- */

struct wbuf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

static void wb_reserve(struct wbuf *b, size_t n)
{
    if (b->len + n <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) {
        cap *= 2;
    }
    b->p = am_xrealloc(b->p, cap);
    b->cap = cap;
}

static void wb_put(struct wbuf *b, const void *data, size_t n)
{
    wb_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void wb_varint(struct wbuf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0) {
            tmp[n] |= 0x80;
        }
        n++;
    } while (v != 0);
    wb_put(b, tmp, n);
}

static void wb_tag(struct wbuf *b, unsigned field, unsigned wire)
{
    wb_varint(b, ((uint64_t)field << 3) | wire);
}

/* Length-delimited field; returns the offset of its first payload byte. */
static size_t wb_bytes(struct wbuf *b, unsigned field, const void *data, size_t n)
{
    wb_tag(b, field, 2);
    wb_varint(b, n);
    size_t at = b->len;
    wb_put(b, data, n);
    return at;
}

static void wb_str(struct wbuf *b, unsigned field, const char *s)
{
    wb_bytes(b, field, s, strlen(s));
}

static void wb_fixed64(struct wbuf *b, unsigned field, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++) {
        le[i] = (uint8_t)(v >> (8 * i));
    }
    wb_tag(b, field, 1);
    wb_put(b, le, sizeof(le));
}

/* common.proto KeyValue{key=1, value=2 AnyValue{string=1, int=3, double=4}} */
static void kv_str(struct wbuf *b, unsigned field, const char *key, const char *val)
{
    struct wbuf kv = {0};
    struct wbuf any = {0};
    wb_str(&any, 1, val);
    wb_str(&kv, 1, key);
    wb_bytes(&kv, 2, any.p, any.len);
    wb_bytes(b, field, kv.p, kv.len);
    am_free(any.p);
    am_free(kv.p);
}

static void kv_int(struct wbuf *b, unsigned field, const char *key, int64_t val)
{
    struct wbuf kv = {0};
    struct wbuf any = {0};
    wb_tag(&any, 3, 0);
    wb_varint(&any, (uint64_t)val);
    wb_str(&kv, 1, key);
    wb_bytes(&kv, 2, any.p, any.len);
    wb_bytes(b, field, kv.p, kv.len);
    am_free(any.p);
    am_free(kv.p);
}

static void kv_double(struct wbuf *b, unsigned field, const char *key, double val)
{
    struct wbuf kv = {0};
    struct wbuf any = {0};
    uint64_t bits;
    memcpy(&bits, &val, sizeof(bits));
    wb_fixed64(&any, 4, bits);
    wb_str(&kv, 1, key);
    wb_bytes(&kv, 2, any.p, any.len);
    wb_bytes(b, field, kv.p, kv.len);
    am_free(any.p);
    am_free(kv.p);
}

/* ---- the batch ---- */

/* Offsets of id bytes in the final body, to re-salt per request. */
struct idpos {
    size_t *off;
    size_t count;
    size_t cap;
};

static void idpos_add(struct idpos *ip, size_t off)
{
    if (ip->count == ip->cap) {
        ip->cap = ip->cap ? ip->cap * 2 : 1024;
        ip->off = am_xrealloc(ip->off, ip->cap * sizeof(*ip->off));
    }
    ip->off[ip->count++] = off;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void rand_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(rng() >> 24);
    }
}

static const char *const agents[] = {"support-bot", "research-agent", "billing-assistant",
                                     "code-reviewer"};
static const char *const models[] = {"gpt-4o-2024-08-06", "claude-sonnet-4-20250514",
                                     "gemini-2.0-flash", "gpt-4o-mini-2024-07-18"};
static const char *const providers[] = {"openai", "anthropic", "gcp.gemini", "openai"};
static const char *const tools[] = {"search_kb", "fetch_order", "get_weather",
                                    "run_sql",   "send_email",  "create_ticket"};

struct span_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    bool has_parent;
    uint64_t start_ns;
    uint64_t end_ns;
};

/* Span{trace_id=1, span_id=2, parent_span_id=4, name=5, kind=6, start=7,
 * end=8, attributes=9, status=15{message=2, code=3}}; the id offsets are
 * recorded relative to the span's own buffer. */
static void span_head(struct wbuf *s, const struct span_ctx *c, const char *name, int kind,
                      size_t rel[3], size_t *nrel)
{
    *nrel = 0;
    rel[(*nrel)++] = wb_bytes(s, 1, c->trace_id, 16);
    rel[(*nrel)++] = wb_bytes(s, 2, c->span_id, 8);
    if (c->has_parent) {
        rel[(*nrel)++] = wb_bytes(s, 4, c->parent_id, 8);
    }
    wb_str(s, 5, name);
    wb_tag(s, 6, 0);
    wb_varint(s, (uint64_t)kind);
    wb_fixed64(s, 7, c->start_ns);
    wb_fixed64(s, 8, c->end_ns);
}

static void span_status(struct wbuf *s, int code, const char *msg)
{
    struct wbuf st = {0};
    if (msg != NULL) {
        wb_str(&st, 2, msg);
    }
    wb_tag(&st, 3, 0);
    wb_varint(&st, (uint64_t)code);
    wb_bytes(s, 15, st.p, st.len);
    am_free(st.p);
}

static void attrs_agent(struct wbuf *s, unsigned t, unsigned seq)
{
    char id[48];
    snprintf(id, sizeof(id), "conv_%08x%08x", t, seq);
    kv_str(s, 9, "gen_ai.operation.name", "invoke_agent");
    kv_str(s, 9, "gen_ai.agent.name", agents[t % 4]);
    kv_str(s, 9, "gen_ai.agent.id", "asst_5j66UpCpwteGg4YSxUnt7lPY");
    kv_str(s, 9, "gen_ai.agent.description", "Answers customer questions from the KB");
    kv_str(s, 9, "gen_ai.provider.name", providers[t % 4]);
    kv_str(s, 9, "gen_ai.conversation.id", id);
    kv_str(s, 9, "gen_ai.request.model", models[t % 4]);
    kv_str(s, 9, "server.address", "agents.internal");
    kv_int(s, 9, "server.port", 443);
    kv_str(s, 9, "user.id", "u-20931");
}

static void attrs_chat(struct wbuf *s, unsigned t, unsigned i)
{
    char rid[48];
    snprintf(rid, sizeof(rid), "chatcmpl-%08x%04x", t, i);
    kv_str(s, 9, "gen_ai.operation.name", "chat");
    kv_str(s, 9, "gen_ai.provider.name", providers[t % 4]);
    kv_str(s, 9, "gen_ai.agent.name", agents[t % 4]);
    kv_str(s, 9, "gen_ai.request.model", models[t % 4]);
    kv_str(s, 9, "gen_ai.response.model", models[t % 4]);
    kv_str(s, 9, "gen_ai.response.id", rid);
    kv_double(s, 9, "gen_ai.request.temperature", 0.2);
    kv_int(s, 9, "gen_ai.request.max_tokens", 1024);
    kv_str(s, 9, "gen_ai.response.finish_reasons", i == 7 ? "stop" : "tool_calls");
    kv_int(s, 9, "gen_ai.usage.input_tokens", 800 + (int64_t)(rng() % 2000));
    kv_int(s, 9, "gen_ai.usage.output_tokens", 50 + (int64_t)(rng() % 400));
    kv_int(s, 9, "gen_ai.usage.cache_read.input_tokens", (int64_t)(rng() % 512));
    kv_str(s, 9, "server.address", "api.openai.com");
    kv_int(s, 9, "server.port", 443);
}

static void attrs_tool(struct wbuf *s, unsigned t, unsigned i, bool failed)
{
    char cid[48];
    snprintf(cid, sizeof(cid), "call_%08x%04x", t, i);
    kv_str(s, 9, "gen_ai.operation.name", "execute_tool");
    kv_str(s, 9, "gen_ai.agent.name", agents[t % 4]);
    kv_str(s, 9, "gen_ai.tool.name", tools[(t + i) % 6]);
    kv_str(s, 9, "gen_ai.tool.type", "function");
    kv_str(s, 9, "gen_ai.tool.call.id", cid);
    kv_str(s, 9, "gen_ai.tool.description", "Looks things up for the agent");
    kv_str(s, 9, "gen_ai.provider.name", providers[t % 4]);
    kv_str(s, 9, "code.function.name", "tools.dispatch");
    kv_int(s, 9, "tool.attempt", 1);
    kv_str(s, 9, "deployment.environment.name", "production");
    if (failed) {
        kv_str(s, 9, "error.type", "TimeoutError");
    }
}

/* One span of trace t (position i of 8: 0 invoke_agent, odd chat, even
 * execute_tool) appended to scope buffer ss; id offsets relative to ss. */
static void add_span(struct wbuf *ss, struct idpos *ip, struct span_ctx *c, unsigned t, unsigned i)
{
    struct wbuf s = {0};
    size_t rel[3];
    size_t nrel;
    char name[96];
    if (i == 0) {
        snprintf(name, sizeof(name), "invoke_agent %s", agents[t % 4]);
        span_head(&s, c, name, 1, rel, &nrel);
        attrs_agent(&s, t, i);
        span_status(&s, 0, NULL);
    } else if (i % 2 == 1) {
        snprintf(name, sizeof(name), "chat %s", models[t % 4]);
        span_head(&s, c, name, 3, rel, &nrel);
        attrs_chat(&s, t, i);
        span_status(&s, 1, NULL);
    } else {
        bool failed = (t * 8 + i) % 10 == 4;
        snprintf(name, sizeof(name), "execute_tool %s", tools[(t + i) % 6]);
        span_head(&s, c, name, 1, rel, &nrel);
        attrs_tool(&s, t, i, failed);
        span_status(&s, failed ? 2 : 1, failed ? "tool timed out" : NULL);
    }
    size_t base = wb_bytes(ss, 2, s.p, s.len);
    for (size_t k = 0; k < nrel; k++) {
        idpos_add(ip, base + rel[k]);
    }
    am_free(s.p);
}

/* Shift every recorded offset after `src` was wrapped into a field whose
 * payload starts at `at` in its new buffer. */
static void idpos_shift(struct idpos *ip, size_t at)
{
    for (size_t k = 0; k < ip->count; k++) {
        ip->off[k] += at;
    }
}

static void resource_attrs(struct wbuf *r)
{
    kv_str(r, 1, "service.name", "agent-gateway");
    kv_str(r, 1, "service.version", "2.14.1");
    kv_str(r, 1, "service.instance.id", "agent-gateway-7d9f8b6c5-x2kqp");
    kv_str(r, 1, "deployment.environment.name", "production");
    kv_str(r, 1, "telemetry.sdk.name", "opentelemetry");
    kv_str(r, 1, "telemetry.sdk.language", "python");
    kv_str(r, 1, "telemetry.sdk.version", "1.38.0");
    kv_str(r, 1, "host.name", "ip-10-0-3-17");
}

/* ExportTraceServiceRequest{resource_spans=1 ResourceSpans{resource=1
 * Resource{attributes=1}, scope_spans=2 ScopeSpans{scope=1{name=1,
 * version=2}, spans=2}}}. */
static void build_batch(unsigned nspans, struct wbuf *out, struct idpos *ip)
{
    struct wbuf ss = {0};
    struct wbuf scope = {0};
    wb_str(&scope, 1, "openai-agents");
    wb_str(&scope, 2, "0.3.2");
    wb_bytes(&ss, 1, scope.p, scope.len);
    uint64_t now = (uint64_t)time(NULL) * 1000000000ull;
    struct span_ctx root = {0};
    for (unsigned n = 0; n < nspans; n++) {
        unsigned t = n / 8;
        unsigned i = n % 8;
        struct span_ctx c = {0};
        if (i == 0) {
            rand_bytes(root.trace_id, 16);
            rand_bytes(root.span_id, 8);
            root.start_ns = now - 60000000000ull + t * 1000000ull;
            root.end_ns = root.start_ns + 2500000000ull;
            c = root;
        } else {
            memcpy(c.trace_id, root.trace_id, 16);
            rand_bytes(c.span_id, 8);
            memcpy(c.parent_id, root.span_id, 8);
            c.has_parent = true;
            c.start_ns = root.start_ns + i * 300000000ull;
            c.end_ns = c.start_ns + 250000000ull + (rng() % 50) * 1000000ull;
        }
        add_span(&ss, ip, &c, t, i);
    }
    struct wbuf res = {0};
    struct wbuf rs = {0};
    resource_attrs(&res);
    wb_bytes(&rs, 1, res.p, res.len);
    idpos_shift(ip, wb_bytes(&rs, 2, ss.p, ss.len));
    idpos_shift(ip, wb_bytes(out, 1, rs.p, rs.len));
    am_free(scope.p);
    am_free(ss.p);
    am_free(res.p);
    am_free(rs.p);
}

/* ---- load ---- */

struct opts {
    unsigned conns;
    double seconds;
    int port;
    double rate; /* requests/s over all connections; 0 = max */
    unsigned spans;
};

struct worker {
    pthread_t tid;
    const struct opts *o;
    const struct wbuf *req; /* head + body */
    size_t body_at;
    const struct idpos *ip;
    uint64_t seed;
    uint64_t requests;
    uint64_t errors;
    double *lat_ms;
    size_t lat_count;
    size_t lat_cap;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
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
static int read_response(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        if (have + 1 >= cap) {
            return -1;
        }
        ssize_t r = recv(fd, buf + have, cap - 1 - have, 0);
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
        ssize_t r = recv(fd, buf, cap - 1, 0);
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

static void lat_push(struct worker *w, double ms)
{
    if (w->lat_count == w->lat_cap) {
        w->lat_cap = w->lat_cap ? w->lat_cap * 2 : 4096;
        w->lat_ms = am_xrealloc(w->lat_ms, w->lat_cap * sizeof(double));
    }
    w->lat_ms[w->lat_count++] = ms;
}

/* XOR a fresh per-request salt into every id: equal ids stay equal, so
 * parent links within the batch survive. */
static void resalt(uint8_t *req, size_t body_at, const struct idpos *ip, uint64_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    uint8_t salt[8];
    memcpy(salt, seed, sizeof(salt));
    for (size_t k = 0; k < ip->count; k++) {
        uint8_t *p = req + body_at + ip->off[k];
        for (int j = 0; j < 8; j++) {
            p[j] ^= salt[j];
        }
    }
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    uint8_t *req = am_xmalloc(w->req->len);
    memcpy(req, w->req->p, w->req->len);
    char *rbuf = am_xmalloc(65536);
    double interval_ns = o->rate > 0 ? 1e9 * o->conns / o->rate : 0;
    uint64_t start = now_ns();
    uint64_t stop = start + (uint64_t)(o->seconds * 1e9);
    int fd = dial(o->port);
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
        if (fd < 0) {
            fd = dial(o->port);
            if (fd < 0) {
                w->errors++;
                continue;
            }
        }
        resalt(req, w->body_at, w->ip, &w->seed);
        uint64_t t0 = now_ns();
        int status = -1;
        if (send_all(fd, req, w->req->len) == 0) {
            status = read_response(fd, rbuf, 65536);
        }
        uint64_t t1 = now_ns();
        w->requests++;
        if (status != 200) {
            w->errors++;
            close(fd);
            fd = -1;
            continue;
        }
        lat_push(w, (double)(t1 - t0) / 1e6);
    }
    if (fd >= 0) {
        close(fd);
    }
    am_free(req);
    am_free(rbuf);
    return NULL;
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

static void usage(void)
{
    fputs("usage: am_bench_client [-c connections] [-d seconds] [-p port] [-r req/s (0=max)]"
          " [-s spans per request]\n",
          stderr);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.conns = 2, .seconds = 5, .port = 4318, .rate = 0, .spans = 512};
    int ch;
    while ((ch = getopt(argc, argv, "c:d:p:r:s:h")) != -1) {
        char *end = NULL;
        double v = strtod(optarg ? optarg : "", &end);
        if (ch == 'h' || ch == '?' || end == optarg || *end != '\0' || v < 0) {
            usage();
            return -1;
        }
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
        default:
            o->spans = (unsigned)v;
            break;
        }
    }
    if (o->conns == 0 || o->conns > 256 || o->spans == 0 || o->port <= 0 || o->port > 65535) {
        usage();
        return -1;
    }
    return 0;
}

static void report(const struct opts *o, struct worker *ws, double elapsed)
{
    uint64_t requests = 0;
    uint64_t errors = 0;
    size_t nlat = 0;
    for (unsigned i = 0; i < o->conns; i++) {
        requests += ws[i].requests;
        errors += ws[i].errors;
        nlat += ws[i].lat_count;
    }
    double *all = am_xmalloc((nlat ? nlat : 1) * sizeof(double));
    size_t k = 0;
    for (unsigned i = 0; i < o->conns; i++) {
        memcpy(all + k, ws[i].lat_ms, ws[i].lat_count * sizeof(double));
        k += ws[i].lat_count;
    }
    qsort(all, nlat, sizeof(double), cmp_double);
    uint64_t ok = requests - errors;
    printf("{\"requests\": %llu, \"spans\": %llu, \"errors\": %llu, \"seconds\": %.3f, "
           "\"requests_per_second\": %.1f, \"spans_per_second\": %.0f, \"p50_ms\": %.3f, "
           "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"connections\": %u, \"spans_per_request\": %u, "
           "\"target_rate\": %.1f}\n",
           (unsigned long long)requests, (unsigned long long)(ok * o->spans),
           (unsigned long long)errors, elapsed, (double)ok / elapsed,
           (double)(ok * o->spans) / elapsed, pct(all, nlat, 0.50), pct(all, nlat, 0.99),
           nlat ? all[nlat - 1] : 0.0, o->conns, o->spans, o->rate);
    am_free(all);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        return 2;
    }
    struct wbuf body = {0};
    struct idpos ip = {0};
    rng_state ^= (uint64_t)time(NULL) * 0x2545f4914f6cdd1dull;
    build_batch(o.spans, &body, &ip);
    /* AM_BENCH_DUMP_GRPC=FILE: write the batch as one gRPC message (5-byte
     * prefix + protobuf) for h2load, and stop. */
    const char *dump = getenv("AM_BENCH_DUMP_GRPC");
    if (dump != NULL) {
        uint8_t prefix[5] = {0, (uint8_t)(body.len >> 24), (uint8_t)(body.len >> 16),
                             (uint8_t)(body.len >> 8), (uint8_t)body.len};
        FILE *f = fopen(dump, "wb");
        if (f == NULL || fwrite(prefix, 1, 5, f) != 5 || fwrite(body.p, 1, body.len, f) != body.len) {
            fprintf(stderr, "am_bench_client: cannot write %s\n", dump);
            return 1;
        }
        fclose(f);
        return 0;
    }

    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Content-Type: application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
                      o.port, body.len);
    struct wbuf req = {0};
    wb_put(&req, head, (size_t)hl);
    wb_put(&req, body.p, body.len);

    struct worker *ws = am_xcalloc(o.conns, sizeof(*ws));
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < o.conns; i++) {
        ws[i] = (struct worker){.o = &o, .req = &req, .body_at = (size_t)hl, .ip = &ip};
        ws[i].seed = rng() | 1;
        if (pthread_create(&ws[i].tid, NULL, worker_run, &ws[i]) != 0) {
            fprintf(stderr, "am_bench_client: pthread_create failed\n");
            return 1;
        }
    }
    for (unsigned i = 0; i < o.conns; i++) {
        pthread_join(ws[i].tid, NULL);
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    fprintf(stderr, "am_bench_client: batch %zu bytes, %u spans, %zu ids salted per request\n",
            body.len, o.spans, ip.count);
    report(&o, ws, elapsed);
    for (unsigned i = 0; i < o.conns; i++) {
        am_free(ws[i].lat_ms);
    }
    am_free(ws);
    am_free(req.p);
    am_free(body.p);
    am_free(ip.off);
    return 0;
}
