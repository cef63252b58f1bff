/*
 * bench_gen.c - GenAI agent trace batches for am_bench_client (bench_gen.h).
 * Each span is first described as a struct spec (ids, name, kind, times,
 * attributes, status), then written in protobuf (field numbers from
 * opentelemetry-proto trace.proto, common.proto, resource.proto) or in
 * OTLP/JSON (hex ids, int64 as strings), recording where every id sits.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "am/alloc.h"
#include "bench_gen.h"

/* ---- output buffer with id bookkeeping ---- */

static void put(struct bench_body *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) {
            cap *= 2;
        }
        b->p = am_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void puts_(struct bench_body *b, const char *s)
{
    put(b, s, strlen(s));
}

static void mark_id(struct bench_body *b, size_t off, unsigned group)
{
    if (b->nids == b->idcap) {
        b->idcap = b->idcap ? b->idcap * 2 : 1024;
        b->off = am_xrealloc(b->off, b->idcap * sizeof(*b->off));
        b->group = am_xrealloc(b->group, b->idcap);
    }
    b->off[b->nids] = off;
    b->group[b->nids] = (uint8_t)group;
    b->nids++;
}

/* ---- span descriptions ---- */

enum atype {
    A_STR,
    A_INT,
    A_DBL,
};

struct attr {
    const char *key;
    enum atype type;
    const char *s;
    int64_t i;
    double d;
};

#define MAX_ATTRS 16

struct spec {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    bool has_parent;
    unsigned group;
    char name[96];
    int kind;
    uint64_t start_ns;
    uint64_t end_ns;
    struct attr a[MAX_ATTRS];
    unsigned na;
    char pool[512];
    size_t pool_len;
    int status_code;
    const char *status_msg;
};

static uint64_t rng_state;
static const char *pad; /* gen_ai.input.messages of chat spans, or NULL */

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

__attribute__((format(printf, 2, 3))) static const char *fmt(struct spec *s, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *at = s->pool + s->pool_len;
    int n = vsnprintf(at, sizeof(s->pool) - s->pool_len, f, ap);
    va_end(ap);
    s->pool_len += (size_t)n + 1;
    return at;
}

static void a_str(struct spec *s, const char *k, const char *v)
{
    s->a[s->na++] = (struct attr){.key = k, .type = A_STR, .s = v};
}

static void a_int(struct spec *s, const char *k, int64_t v)
{
    s->a[s->na++] = (struct attr){.key = k, .type = A_INT, .i = v};
}

static void a_dbl(struct spec *s, const char *k, double v)
{
    s->a[s->na++] = (struct attr){.key = k, .type = A_DBL, .d = v};
}

static const char *const agents[] = {"support-bot", "research-agent", "billing-assistant",
                                     "code-reviewer"};
static const char *const models[] = {"gpt-4o-2024-08-06", "claude-sonnet-4-20250514",
                                     "gemini-2.0-flash", "gpt-4o-mini-2024-07-18"};
static const char *const providers[] = {"openai", "anthropic", "gcp.gemini", "openai"};
static const char *const tools[] = {"search_kb", "fetch_order", "get_weather",
                                    "run_sql",   "send_email",  "create_ticket"};

static void spec_agent(struct spec *s, unsigned t)
{
    snprintf(s->name, sizeof(s->name), "invoke_agent %s", agents[t % 4]);
    s->kind = 1;
    a_str(s, "gen_ai.operation.name", "invoke_agent");
    a_str(s, "gen_ai.agent.name", agents[t % 4]);
    a_str(s, "gen_ai.agent.id", "asst_5j66UpCpwteGg4YSxUnt7lPY");
    a_str(s, "gen_ai.agent.description", "Answers customer questions from the KB");
    a_str(s, "gen_ai.provider.name", providers[t % 4]);
    a_str(s, "gen_ai.conversation.id", fmt(s, "conv_%08x", t));
    a_str(s, "gen_ai.request.model", models[t % 4]);
    a_str(s, "server.address", "agents.internal");
    a_int(s, "server.port", 443);
    a_str(s, "user.id", "u-20931");
}

static void spec_chat(struct spec *s, unsigned t, unsigned i, bool with_agent)
{
    snprintf(s->name, sizeof(s->name), "chat %s", models[t % 4]);
    s->kind = 3;
    s->status_code = 1;
    a_str(s, "gen_ai.operation.name", "chat");
    a_str(s, "gen_ai.provider.name", providers[t % 4]);
    if (with_agent) {
        a_str(s, "gen_ai.agent.name", agents[t % 4]);
    }
    a_str(s, "gen_ai.request.model", models[t % 4]);
    a_str(s, "gen_ai.response.model", models[t % 4]);
    a_str(s, "gen_ai.response.id", fmt(s, "chatcmpl-%08x%04x", t, i));
    a_dbl(s, "gen_ai.request.temperature", 0.2);
    a_int(s, "gen_ai.request.max_tokens", 1024);
    a_str(s, "gen_ai.response.finish_reasons", i == 7 ? "stop" : "tool_calls");
    a_int(s, "gen_ai.usage.input_tokens", 800 + (int64_t)(rng() % 2000));
    a_int(s, "gen_ai.usage.output_tokens", 50 + (int64_t)(rng() % 400));
    a_int(s, "gen_ai.usage.cache_read.input_tokens", (int64_t)(rng() % 512));
    a_str(s, "server.address", "api.openai.com");
    a_int(s, "server.port", 443);
    if (pad != NULL) {
        a_str(s, "gen_ai.input.messages", pad);
    }
}

static void spec_tool(struct spec *s, unsigned t, unsigned i, bool with_agent)
{
    bool failed = (t * 8 + i) % 10 == 4;
    snprintf(s->name, sizeof(s->name), "execute_tool %s", tools[(t + i) % 6]);
    s->kind = 1;
    s->status_code = failed ? 2 : 1;
    s->status_msg = failed ? "tool timed out" : NULL;
    a_str(s, "gen_ai.operation.name", "execute_tool");
    if (with_agent) {
        a_str(s, "gen_ai.agent.name", agents[t % 4]);
    }
    a_str(s, "gen_ai.tool.name", tools[(t + i) % 6]);
    a_str(s, "gen_ai.tool.type", "function");
    a_str(s, "gen_ai.tool.call.id", fmt(s, "call_%08x%04x", t, i));
    a_str(s, "gen_ai.tool.description", "Looks things up for the agent");
    a_str(s, "gen_ai.provider.name", providers[t % 4]);
    a_str(s, "code.function.name", "tools.dispatch");
    a_int(s, "tool.attempt", 1);
    a_str(s, "deployment.environment.name", "production");
    if (failed) {
        a_str(s, "error.type", "TimeoutError");
    }
}

/* ---- protobuf ---- */

static void pb_varint(struct bench_body *b, uint64_t v)
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
    put(b, tmp, n);
}

static void pb_tag(struct bench_body *b, unsigned field, unsigned wire)
{
    pb_varint(b, ((uint64_t)field << 3) | wire);
}

/* Length-delimited field; returns the offset of its payload. */
static size_t pb_bytes(struct bench_body *b, unsigned field, const void *data, size_t n)
{
    pb_tag(b, field, 2);
    pb_varint(b, n);
    size_t at = b->len;
    put(b, data, n);
    return at;
}

static void pb_str(struct bench_body *b, unsigned field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

static void pb_fixed64(struct bench_body *b, unsigned field, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++) {
        le[i] = (uint8_t)(v >> (8 * i));
    }
    pb_tag(b, field, 1);
    put(b, le, sizeof(le));
}

/* Wrap tmp (with its ids) as field `field` of out. */
static void pb_wrap(struct bench_body *out, unsigned field, struct bench_body *tmp)
{
    size_t at = pb_bytes(out, field, tmp->p, tmp->len);
    for (size_t k = 0; k < tmp->nids; k++) {
        mark_id(out, at + tmp->off[k], tmp->group[k]);
    }
    tmp->len = 0;
    tmp->nids = 0;
}

/* common.proto KeyValue{key=1, value=2 AnyValue{string=1, int=3, double=4}} */
static void pb_kv(struct bench_body *b, unsigned field, const struct attr *a)
{
    struct bench_body kv = {0};
    struct bench_body any = {0};
    if (a->type == A_STR) {
        pb_str(&any, 1, a->s);
    } else if (a->type == A_INT) {
        pb_tag(&any, 3, 0);
        pb_varint(&any, (uint64_t)a->i);
    } else {
        uint64_t bits;
        memcpy(&bits, &a->d, sizeof(bits));
        pb_fixed64(&any, 4, bits);
    }
    pb_str(&kv, 1, a->key);
    pb_wrap(&kv, 2, &any);
    pb_wrap(b, field, &kv);
    bench_body_free(&any);
    bench_body_free(&kv);
}

/* Span{trace_id=1, span_id=2, parent_span_id=4, name=5, kind=6, start=7,
 * end=8, attributes=9, status=15{message=2, code=3}} */
static void pb_span(struct bench_body *b, const struct spec *s)
{
    mark_id(b, pb_bytes(b, 1, s->trace_id, 16), s->group);
    mark_id(b, pb_bytes(b, 2, s->span_id, 8), s->group);
    if (s->has_parent) {
        mark_id(b, pb_bytes(b, 4, s->parent_id, 8), s->group);
    }
    pb_str(b, 5, s->name);
    pb_tag(b, 6, 0);
    pb_varint(b, (uint64_t)s->kind);
    pb_fixed64(b, 7, s->start_ns);
    pb_fixed64(b, 8, s->end_ns);
    for (unsigned k = 0; k < s->na; k++) {
        pb_kv(b, 9, &s->a[k]);
    }
    struct bench_body st = {0};
    if (s->status_msg != NULL) {
        pb_str(&st, 2, s->status_msg);
    }
    pb_tag(&st, 3, 0);
    pb_varint(&st, (uint64_t)s->status_code);
    pb_wrap(b, 15, &st);
    bench_body_free(&st);
}

/* ---- OTLP/JSON ---- */

static void js_hex(struct bench_body *b, const char *key, const uint8_t *id, size_t n,
                   unsigned group)
{
    static const char digits[] = "0123456789abcdef";
    char hex[33];
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[id[i] >> 4];
        hex[2 * i + 1] = digits[id[i] & 15];
    }
    puts_(b, "\"");
    puts_(b, key);
    puts_(b, "\":\"");
    mark_id(b, b->len, group);
    put(b, hex, 2 * n);
    puts_(b, "\",");
}

static void js_kv(struct bench_body *b, const struct attr *a, bool comma)
{
    char v[64];
    puts_(b, comma ? ",{\"key\":\"" : "{\"key\":\"");
    puts_(b, a->key);
    puts_(b, "\",\"value\":{");
    if (a->type == A_STR) {
        puts_(b, "\"stringValue\":\"");
        puts_(b, a->s); /* the generator's strings need no escaping */
        puts_(b, "\"}}");
        return;
    }
    if (a->type == A_INT) {
        snprintf(v, sizeof(v), "\"intValue\":\"%lld\"}}", (long long)a->i);
    } else {
        snprintf(v, sizeof(v), "\"doubleValue\":%.17g}}", a->d);
    }
    puts_(b, v);
}

static void js_span(struct bench_body *b, const struct spec *s, bool comma)
{
    char v[320];
    puts_(b, comma ? ",{" : "{");
    js_hex(b, "traceId", s->trace_id, 16, s->group);
    js_hex(b, "spanId", s->span_id, 8, s->group);
    if (s->has_parent) {
        js_hex(b, "parentSpanId", s->parent_id, 8, s->group);
    }
    snprintf(v, sizeof(v),
             "\"name\":\"%s\",\"kind\":%d,\"startTimeUnixNano\":\"%llu\","
             "\"endTimeUnixNano\":\"%llu\",\"attributes\":[",
             s->name, s->kind, (unsigned long long)s->start_ns, (unsigned long long)s->end_ns);
    puts_(b, v);
    for (unsigned k = 0; k < s->na; k++) {
        js_kv(b, &s->a[k], k > 0);
    }
    if (s->status_msg != NULL) {
        snprintf(v, sizeof(v), "],\"status\":{\"code\":%d,\"message\":\"%s\"}}", s->status_code,
                 s->status_msg);
    } else {
        snprintf(v, sizeof(v), "],\"status\":{\"code\":%d}}", s->status_code);
    }
    puts_(b, v);
}

/* ---- batches ---- */

static const struct attr resource[] = {
    {"service.name", A_STR, "agent-gateway", 0, 0},
    {"service.version", A_STR, "2.14.1", 0, 0},
    {"service.instance.id", A_STR, "agent-gateway-7d9f8b6c5-x2kqp", 0, 0},
    {"deployment.environment.name", A_STR, "production", 0, 0},
    {"telemetry.sdk.name", A_STR, "opentelemetry", 0, 0},
    {"telemetry.sdk.language", A_STR, "python", 0, 0},
    {"telemetry.sdk.version", A_STR, "1.38.0", 0, 0},
    {"host.name", A_STR, "ip-10-0-3-17", 0, 0},
};
#define NRES (sizeof(resource) / sizeof(resource[0]))

struct trace_ids {
    uint8_t trace_id[16];
    uint8_t root_id[8];
    uint8_t child_id[8][8];
    uint64_t start_ns;
};

/* Span i (0 root, odd chat, even tool) of trace t. */
static void describe(struct spec *s, const struct trace_ids *ti, unsigned t, unsigned i,
                     enum bench_part part)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->trace_id, ti->trace_id, 16);
    s->group = part == BENCH_WHOLE || i != 0 ? BENCH_GROUP_CHILD : BENCH_GROUP_ROOT;
    if (i == 0) {
        memcpy(s->span_id, ti->root_id, 8);
        s->start_ns = ti->start_ns;
        s->end_ns = ti->start_ns + 2500000000ull;
        spec_agent(s, t);
        return;
    }
    memcpy(s->span_id, ti->child_id[i], 8);
    memcpy(s->parent_id, ti->root_id, 8);
    s->has_parent = true;
    s->start_ns = ti->start_ns + i * 300000000ull;
    s->end_ns = s->start_ns + 250000000ull + (rng() % 50) * 1000000ull;
    if (i % 2 == 1) {
        spec_chat(s, t, i, part == BENCH_WHOLE);
    } else {
        spec_tool(s, t, i, part == BENCH_WHOLE);
    }
}

/* The spans of the body in order: (trace, position) pairs. */
static size_t span_order(enum bench_part part, unsigned traces, unsigned *t_of, unsigned *i_of)
{
    size_t n = 0;
    for (unsigned t = 0; t < traces; t++) {
        for (unsigned i = 0; i < 8; i++) {
            if (part == BENCH_WHOLE || (part == BENCH_CHILDREN && i != 0)) {
                t_of[n] = t;
                i_of[n++] = i;
            }
        }
    }
    for (unsigned t = 0; part != BENCH_WHOLE && t < traces; t++) {
        t_of[n] = t;
        i_of[n++] = 0;
    }
    return n;
}

static void count_span(struct bench_body *b, unsigned i)
{
    if (i == 0) {
        b->agents++;
    } else if (i % 2 == 1) {
        b->chats++;
    } else {
        b->tools++;
    }
}

static void build_pb(struct bench_body *out, const struct trace_ids *ids, const unsigned *t_of,
                     const unsigned *i_of, size_t n, enum bench_part part)
{
    struct bench_body ss = {0}, tmp = {0}, rs = {0};
    pb_str(&tmp, 1, "openai-agents");
    pb_str(&tmp, 2, "0.3.2");
    pb_wrap(&ss, 1, &tmp);
    struct spec s;
    for (size_t k = 0; k < n; k++) {
        describe(&s, &ids[t_of[k]], t_of[k], i_of[k], part);
        pb_span(&tmp, &s);
        pb_wrap(&ss, 2, &tmp);
        count_span(out, i_of[k]);
    }
    for (size_t k = 0; k < NRES; k++) {
        pb_kv(&tmp, 1, &resource[k]);
    }
    pb_wrap(&rs, 1, &tmp);
    pb_wrap(&rs, 2, &ss);
    pb_wrap(out, 1, &rs);
    bench_body_free(&ss);
    bench_body_free(&tmp);
    bench_body_free(&rs);
}

static void build_json(struct bench_body *out, const struct trace_ids *ids, const unsigned *t_of,
                       const unsigned *i_of, size_t n, enum bench_part part)
{
    puts_(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    for (size_t k = 0; k < NRES; k++) {
        js_kv(out, &resource[k], k > 0);
    }
    puts_(out, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"openai-agents\",\"version\":\"0.3.2\"},"
               "\"spans\":[");
    struct spec s;
    for (size_t k = 0; k < n; k++) {
        describe(&s, &ids[t_of[k]], t_of[k], i_of[k], part);
        js_span(out, &s, k > 0);
        count_span(out, i_of[k]);
    }
    puts_(out, "]}]}]}");
}

void bench_body_build(struct bench_body *b, enum bench_enc enc, enum bench_part part,
                      unsigned traces, size_t pad_bytes, uint64_t seed)
{
    char *padbuf = NULL;
    memset(b, 0, sizeof(*b));
    if (pad_bytes > 0) {
        padbuf = am_xmalloc(pad_bytes + 1);
        memset(padbuf, 'x', pad_bytes);
        padbuf[pad_bytes] = '\0';
    }
    pad = padbuf;
    b->hex = enc == BENCH_JSON;
    rng_state = seed | 1;
    struct trace_ids *ids = am_xcalloc(traces, sizeof(*ids));
    uint64_t now = (uint64_t)time(NULL) * 1000000000ull;
    for (unsigned t = 0; t < traces; t++) {
        rand_bytes(ids[t].trace_id, 16);
        rand_bytes(ids[t].root_id, 8);
        for (unsigned i = 1; i < 8; i++) {
            rand_bytes(ids[t].child_id[i], 8);
        }
        ids[t].start_ns = now - 60000000000ull + t * 1000000ull;
    }
    unsigned *t_of = am_xcalloc((size_t)traces * 8, sizeof(unsigned));
    unsigned *i_of = am_xcalloc((size_t)traces * 8, sizeof(unsigned));
    size_t n = span_order(part, traces, t_of, i_of);
    if (enc == BENCH_JSON) {
        build_json(b, ids, t_of, i_of, n, part);
    } else {
        build_pb(b, ids, t_of, i_of, n, part);
    }
    am_free(ids);
    am_free(t_of);
    am_free(i_of);
    am_free(padbuf);
    pad = NULL;
}

void bench_body_free(struct bench_body *b)
{
    am_free(b->p);
    am_free(b->off);
    am_free(b->group);
    memset(b, 0, sizeof(*b));
}

static unsigned unhex(uint8_t c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

void bench_salt(struct bench_body *b, unsigned g, uint64_t salt)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t delta = b->applied[g] ^ salt;
    uint8_t x[8];
    memcpy(x, &delta, sizeof(x));
    b->applied[g] = salt;
    for (size_t k = 0; k < b->nids; k++) {
        if (b->group[k] != g) {
            continue;
        }
        uint8_t *p = b->p + b->off[k];
        for (int j = 0; j < 8; j++) {
            if (b->hex) {
                unsigned v = ((unhex(p[2 * j]) << 4) | unhex(p[2 * j + 1])) ^ x[j];
                p[2 * j] = (uint8_t)digits[v >> 4];
                p[2 * j + 1] = (uint8_t)digits[v & 15];
            } else {
                p[j] ^= x[j];
            }
        }
    }
}
