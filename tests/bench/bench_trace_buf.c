/*
 * bench_trace_buf.c - in-process trace assembly benchmark: N batches of 512
 * GenAI spans shaped like am_bench_client's (64 traces of invoke_agent +
 * chat + execute_tool, own gen_ai.agent.name, conversation on the root) go
 * through classify + am_trace_buf_add (mode "assembly") or classify +
 * am_derive_span (mode "derive"), with a sink that applies to a series
 * store, as the daemon does, or ("batch") through am_trace_buf_add_batch
 * once per batch as the daemon's ingest does now (complete traces finished
 * at once). Deterministic: run it under callgrind for
 * instructions per span. Usage: bench_trace_buf [assembly|batch|derive] [batches]
 * [max_pending_spans]   (defaults: assembly 400 65536)
 *
 * Mode "bigtrace" [spans] [max_pending_spans] compares the cost per span of
 * one trace of `spans` spans (default 30,000) arriving children first (an
 * invoke_agent root, 100 intermediate spans, chats under them; requests of
 * 512) with that of as many unrelated one-span traces, and counts how many
 * chats of the big trace were attributed to its agent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "am/alloc.h"
#include "am/classify.h"
#include "am/clock.h"
#include "am/conv.h"
#include "am/derive.h"
#include "am/quality.h"
#include "am/series.h"
#include "am/trace_buf.h"
#include "genai_span.h"

#define SPANS 512
#define TRACE_LEN 8

static const char *const agents[] = {"support-bot", "research-agent", "billing-assistant",
                                     "code-reviewer"};
static const char *const models[] = {"gpt-4o-2024-08-06", "claude-sonnet-4-20250514",
                                     "gemini-2.0-flash", "gpt-4o-mini-2024-07-18"};
static const char *const providers[] = {"openai", "anthropic", "gcp.gemini", "openai"};
static const char *const tools[] = {"search_kb", "fetch_order", "get_weather",
                                    "run_sql",   "send_email",  "create_ticket"};

struct bspan {
    struct ts_span ts;
    char conv[48];
    char rid[48];
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

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

static void attrs_of(struct bspan *b, unsigned t, unsigned i)
{
    struct ts_span *s = &b->ts;
    if (i == 0) {
        snprintf(b->conv, sizeof(b->conv), "conv_%08x%08x", t, 0u);
        struct ts_attr a[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                              TS_S("gen_ai.agent.name", agents[t % 4]),
                              TS_S("gen_ai.agent.id", "asst_5j66UpCpwteGg4YSxUnt7lPY"),
                              TS_S("gen_ai.provider.name", providers[t % 4]),
                              TS_S("gen_ai.conversation.id", b->conv),
                              TS_S("gen_ai.request.model", models[t % 4]),
                              TS_S("server.address", "agents.internal"),
                              TS_I("server.port", 443),
                              {NULL, 0, NULL, 0, 0}};
        ts_span_add_all(s, a);
    } else if (i % 2 == 1) {
        snprintf(b->rid, sizeof(b->rid), "chatcmpl-%08x%04x", t, i);
        struct ts_attr a[] = {TS_S("gen_ai.operation.name", "chat"),
                              TS_S("gen_ai.provider.name", providers[t % 4]),
                              TS_S("gen_ai.agent.name", agents[t % 4]),
                              TS_S("gen_ai.request.model", models[t % 4]),
                              TS_S("gen_ai.response.model", models[t % 4]),
                              TS_S("gen_ai.response.id", b->rid),
                              TS_D("gen_ai.request.temperature", 0.2),
                              TS_I("gen_ai.request.max_tokens", 1024),
                              TS_I("gen_ai.usage.input_tokens", 800 + (int64_t)(rng() % 2000)),
                              TS_I("gen_ai.usage.output_tokens", 50 + (int64_t)(rng() % 400)),
                              TS_I("gen_ai.usage.cache_read.input_tokens", (int64_t)(rng() % 512)),
                              TS_S("server.address", "api.openai.com"),
                              {NULL, 0, NULL, 0, 0}};
        ts_span_add_all(s, a);
        s->span.status_code = AM_STATUS_OK;
    } else {
        bool failed = (t * 8 + i) % 10 == 4;
        struct ts_attr a[] = {TS_S("gen_ai.operation.name", "execute_tool"),
                              TS_S("gen_ai.agent.name", agents[t % 4]),
                              TS_S("gen_ai.tool.name", tools[(t + i) % 6]),
                              TS_S("gen_ai.tool.type", "function"),
                              TS_S("gen_ai.provider.name", providers[t % 4]),
                              TS_S("code.function.name", "tools.dispatch"),
                              {NULL, 0, NULL, 0, 0}};
        ts_span_add_all(s, a);
        if (failed) {
            struct ts_attr e = TS_S("error.type", "TimeoutError");
            ts_span_add(s, &e);
        }
        s->span.status_code = failed ? AM_STATUS_ERROR : AM_STATUS_OK;
    }
}

static void build(struct bspan *b)
{
    uint64_t now = 1700000000000000000ull;
    for (unsigned n = 0; n < SPANS; n++) {
        unsigned t = n / TRACE_LEN;
        unsigned i = n % TRACE_LEN;
        struct am_span *sp = &b[n].ts.span;
        ts_span_init(&b[n].ts, "agent-gateway");
        attrs_of(&b[n], t, i);
        if (i == 0) {
            rand_bytes(sp->trace_id, 16);
            rand_bytes(sp->span_id, 8);
            sp->start_ns = now + t * 1000000ull;
            sp->end_ns = sp->start_ns + 2500000000ull;
            sp->kind = 1;
            continue;
        }
        const struct am_span *root = &b[n - i].ts.span;
        memcpy(sp->trace_id, root->trace_id, 16);
        rand_bytes(sp->span_id, 8);
        memcpy(sp->parent_span_id, root->span_id, 8);
        sp->has_parent = true;
        sp->start_ns = root->start_ns + i * 300000000ull;
        sp->end_ns = sp->start_ns + 250000000ull;
        sp->kind = i % 2 == 1 ? 3 : 1;
    }
}

/* XOR a per-batch salt into every id (links survive), as the client does. */
static void resalt(struct bspan *b, uint64_t salt)
{
    for (unsigned n = 0; n < SPANS; n++) {
        struct am_span *sp = &b[n].ts.span;
        for (int j = 0; j < 8; j++) {
            uint8_t x = (uint8_t)(salt >> (8 * j));
            sp->trace_id[j] ^= x;
            sp->span_id[j] ^= x;
            sp->parent_span_id[j] ^= sp->has_parent ? x : 0;
        }
    }
}

struct ctx {
    struct am_series_store *series;
    unsigned long calls;
    uint64_t wall_ns; /* read once per batch, as the daemon does per request */
};

static void sink_apply(void *ud, const struct am_obs *obs, size_t n)
{
    struct ctx *c = ud;
    c->calls++;
    am_series_apply_at(c->series, 0, obs, n, c->wall_ns);
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- bigtrace: one large trace children first vs unrelated spans -------- */

struct count_ctx {
    struct ctx c;
    unsigned long planner_calls; /* inference calls labelled agent_name=planner */
};

static void sink_count(void *ud, const struct am_obs *obs, size_t n)
{
    struct count_ctx *cc = ud;
    for (size_t i = 0; i < n; i++) {
        if (obs[i].metric == AM_M_MODEL_INFERENCE_CALLS_TOTAL &&
            am_str_eq(obs[i].labels[0], AM_STR("planner"))) {
            cc->planner_calls += (unsigned long)obs[i].value;
        }
    }
    sink_apply(&cc->c, obs, n);
}

#define INTERMEDIATES 100

/* Span k of the big trace in arrival order: chats, then intermediates, then the root. */
static void big_span(struct ts_span *t, unsigned k, unsigned n, bool unrelated)
{
    static const struct ts_attr chat[] = {TS_S("gen_ai.operation.name", "chat"),
                                          TS_S("gen_ai.request.model", "gpt-4o"),
                                          TS_I("gen_ai.usage.input_tokens", 100),
                                          TS_I("gen_ai.usage.output_tokens", 10),
                                          {NULL, 0, NULL, 0, 0}};
    static const struct ts_attr own[] = {
        TS_S("gen_ai.operation.name", "chat"),  TS_S("gen_ai.agent.name", "planner"),
        TS_S("gen_ai.request.model", "gpt-4o"), TS_I("gen_ai.usage.input_tokens", 100),
        TS_I("gen_ai.usage.output_tokens", 10), {NULL, 0, NULL, 0, 0}};
    static const struct ts_attr http[] = {TS_S("http.request.method", "GET"),
                                          {NULL, 0, NULL, 0, 0}};
    static const struct ts_attr root[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                                          TS_S("gen_ai.agent.name", "planner"),
                                          {NULL, 0, NULL, 0, 0}};
    unsigned chats = n - INTERMEDIATES - 1;
    uint64_t sid = 1000 + k, parent;
    ts_span_init(t, "bench-svc");
    memset(t->span.trace_id, 0, 16);
    t->span.trace_id[0] = 0xb1;
    if (unrelated) {
        memcpy(t->span.trace_id + 4, &k, sizeof(k));
        ts_span_add_all(t, own);
    } else if (k < chats) {
        parent = 1000 + chats + k % INTERMEDIATES;
        memcpy(t->span.parent_span_id, &parent, 8);
        t->span.has_parent = true;
        ts_span_add_all(t, chat);
    } else if (k < n - 1) {
        parent = 1000 + n - 1;
        memcpy(t->span.parent_span_id, &parent, 8);
        t->span.has_parent = true;
        ts_span_add_all(t, http);
    } else {
        ts_span_add_all(t, root);
    }
    memcpy(t->span.span_id, &sid, 8);
    t->span.start_ns = 1700000000000000000ull;
    t->span.end_ns = t->span.start_ns + 1000000ull;
}

/* CPU ns per span for one shape; *planner gets the chats attributed to planner. */
static double shape_run(unsigned n, size_t max_pending, bool unrelated, unsigned long *planner)
{
    struct am_series_opts so = {.shards = 1};
    struct count_ctx cc = {{am_series_create(&so), 0, 0}, 0};
    struct am_obs_sink sink = {sink_count, &cc};
    struct am_trace_buf_opts to = {
        .shards = 64, .trace_wait_ns = 10ull * 1000000000ull, .max_pending_spans = max_pending};
    struct am_trace_buf *tb = am_trace_buf_create(&to);
    struct am_derive_opts d = {.pricing = NULL, .semconv_metrics = false};
    struct ts_span *spans = am_xcalloc(n, sizeof(*spans));
    struct am_span_facts f;
    uint64_t now = 1000000000ull;
    for (unsigned k = 0; k < n; k++) {
        big_span(&spans[k], k, n, unrelated);
    }
    double t0 = cpu_s();
    for (unsigned k = 0; k < n; k += SPANS) {
        cc.c.wall_ns = am_clock_wall(am_clock_system());
        for (unsigned j = k; j < n && j < k + SPANS; j++) {
            am_classify(&spans[j].span, &f);
            am_trace_buf_add(tb, &d, &spans[j].span, &f, now, &sink);
        }
        now += 2000000ull;
    }
    now += 11ull * 1000000000ull;
    am_trace_buf_tick(tb, &d, now, &sink); /* finish: per-interaction sums */
    double t1 = cpu_s();
    *planner = cc.planner_calls;
    am_trace_buf_destroy(tb);
    am_series_destroy(cc.c.series);
    am_free(spans);
    return (t1 - t0) * 1e9 / n;
}

static int bigtrace(int argc, char **argv)
{
    unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 30000;
    size_t max_pending = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 1000000;
    unsigned long big_planner = 0, unrel_planner = 0;
    if (n < INTERMEDIATES + 2) {
        return 2;
    }
    double unrel = shape_run(n, max_pending, true, &unrel_planner);
    double big = shape_run(n, max_pending, false, &big_planner);
    printf("{\"mode\": \"bigtrace\", \"spans\": %u, \"max_pending_spans\": %zu, "
           "\"unrelated_ns_per_span\": %.1f, \"bigtrace_ns_per_span\": %.1f, \"ratio\": %.2f, "
           "\"chats\": %u, \"chats_attributed\": %lu}\n",
           n, max_pending, unrel, big, big / unrel, n - INTERMEDIATES - 1, big_planner);
    return big_planner == n - INTERMEDIATES - 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "bigtrace") == 0) {
        return bigtrace(argc, argv);
    }
    bool assembly = argc < 2 || strcmp(argv[1], "derive") != 0;
    bool batched = argc > 1 && strcmp(argv[1], "batch") == 0;
    const struct am_span *ptrs[SPANS];
    unsigned batches = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 400;
    size_t max_pending = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 65536;
    struct bspan *b = am_xcalloc(SPANS, sizeof(*b));
    struct am_series_opts so = {.shards = 1};
    struct ctx c = {am_series_create(&so), 0, 0};
    struct am_obs_sink sink = {sink_apply, &c};
    struct am_conv_opts co = {.shards = 64, .idle_timeout_ns = 1800ull * 1000000000ull};
    struct am_conv *conv = am_conv_create(&co);
    struct am_quality *q = am_quality_create(3600ull * 1000000000ull);
    struct am_trace_buf_opts to = {.shards = 64,
                                   .trace_wait_ns = 10ull * 1000000000ull,
                                   .max_pending_spans = max_pending,
                                   .conv = conv,
                                   .quality = q};
    struct am_trace_buf *tb = am_trace_buf_create(&to);
    struct am_derive_opts d = {.pricing = NULL, .semconv_metrics = false};
    struct am_obs out[AM_DERIVE_MAX_OBS];
    uint64_t now = 1000000000ull;
    build(b);
    double t0 = cpu_s();
    for (unsigned k = 0; k < batches; k++) {
        resalt(b, rng());
        c.wall_ns = am_clock_wall(am_clock_system());
        for (unsigned n = 0; batched && n < SPANS; n++) {
            ptrs[n] = &b[n].ts.span;
        }
        if (batched) { /* the daemon's path: one request, classified inside */
            am_trace_buf_add_batch(tb, &d, ptrs, SPANS, NULL, NULL, now, &sink);
        }
        for (unsigned n = 0; !batched && n < SPANS; n++) {
            struct am_span_facts f;
            am_classify(&b[n].ts.span, &f);
            if (assembly) {
                am_trace_buf_add(tb, &d, &b[n].ts.span, &f, now, &sink);
            } else {
                size_t m = am_derive_span(&d, &b[n].ts.span, &f, out);
                sink.fn(sink.ud, out, m);
            }
        }
        now += 2000000ull; /* ~250k spans/s of arrival time */
        if (k % 500 == 499) {
            am_trace_buf_tick(tb, &d, now, &sink);
        }
    }
    double t1 = cpu_s();
    struct am_trace_buf_stats st;
    am_trace_buf_stats(tb, &st);
    double spans = (double)batches * SPANS;
    printf("{\"mode\": \"%s\", \"spans\": %.0f, \"ns_per_span\": %.1f, \"sink_calls_per_span\": "
           "%.2f, \"pending_spans\": %zu, \"tombstone_spans\": %zu, \"pending_bytes\": %zu, "
           "\"bytes_per_pending_span\": %.1f}\n",
           batched    ? "batch"
           : assembly ? "assembly"
                      : "derive",
           spans, (t1 - t0) * 1e9 / spans, (double)c.calls / spans, st.spans, st.tombstone_spans,
           st.bytes, st.spans ? (double)st.bytes / (double)st.spans : 0.0);
    am_trace_buf_flush(tb, &d, now, &sink);
    am_trace_buf_destroy(tb);
    am_quality_destroy(q);
    am_conv_destroy(conv);
    am_series_destroy(c.series);
    am_free(b);
    return 0;
}
