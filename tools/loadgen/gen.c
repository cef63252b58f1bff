/*
 * gen.c - the trace model behind agentmeter-loadgen (see gen.h). Four
 * agents with their own models, tools, quality and escalation habits; a
 * trace is planned first (steps with durations) and then encoded, so the
 * root span's end is known before it is written.
 */
#include "gen.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_STEPS 128
#define MS 1000000ull

enum { OP_CHAT, OP_TOOL };
enum { ST_OK, ST_ERROR, ST_TIMEOUT };

struct profile {
    const char *name;
    const char *provider;
    const char *model[2];
    unsigned second_model_pct; /* routing: share of traces on model[1] */
    const char *tools[4];
    unsigned tool_count;
    double quality;
    unsigned escalate_pct; /* of finished conversations */
    unsigned max_turns;
    unsigned weight;
};

static const struct profile profiles[LG_GEN_AGENTS] = {
    {"support-bot",
     "openai",
     {"gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06"},
     20,
     {"search_kb", "fetch_order", "create_ticket", "check_refund_status"},
     4,
     0.88,
     20,
     6,
     40},
    {"research-agent",
     "anthropic",
     {"claude-sonnet-4-20250514", "claude-3-5-haiku-20241022"},
     30,
     {"web_search", "fetch_url", "summarize_doc"},
     3,
     0.80,
     2,
     4,
     20},
    {"billing-assistant",
     "gcp.gemini",
     {"gemini-2.0-flash", "gemini-2.5-pro"},
     15,
     {"get_invoice", "refund_payment", "run_sql"},
     3,
     0.90,
     10,
     5,
     25},
    {"code-reviewer",
     "openai",
     {"o3-mini", "qwen2.5-coder-32b-instruct"}, /* self-hosted, unpriced */
     40,
     {"read_file", "run_tests", "post_comment"},
     3,
     0.78,
     1,
     3,
     15},
};

struct step {
    int op;
    int status;
    uint64_t dur_ns;
    const char *tool;
    int64_t in_tok;
    int64_t out_tok;
    int64_t cache_read;
    int64_t reasoning;
};

struct plan {
    const struct profile *pf;
    struct lg_conv *conv;
    int model;
    bool injected;
    bool escalate;
    int status;
    struct step steps[MAX_STEPS];
    unsigned count;
    uint64_t total_ns;
};

static uint64_t rnd(struct lg_gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

static unsigned below(struct lg_gen *g, unsigned n)
{
    return (unsigned)(rnd(g) % n);
}

static double unit(struct lg_gen *g)
{
    return (double)(rnd(g) >> 11) / 9007199254740992.0;
}

void lg_gen_init(struct lg_gen *g, uint64_t seed, double inject_ratio, const char *service)
{
    *g = (struct lg_gen){.rng = seed | 1, .inject_ratio = inject_ratio, .service = service};
    for (int i = 0; i < 8; i++) {
        rnd(g);
    }
}

static const struct profile *pick_agent(struct lg_gen *g, unsigned *index)
{
    unsigned r = below(g, 100);
    for (unsigned i = 0; i < LG_GEN_AGENTS; i++) {
        if (r < profiles[i].weight) {
            *index = i;
            return &profiles[i];
        }
        r -= profiles[i].weight;
    }
    *index = 0;
    return &profiles[0];
}

/* Pick a conversation slot; a finished one starts a new conversation. */
static struct lg_conv *pick_conv(struct lg_gen *g, unsigned agent, const struct profile *pf)
{
    struct lg_conv *c = &g->conv[agent][below(g, LG_GEN_SLOTS)];
    if (c->turns_left == 0) {
        c->id = rnd(g);
        c->turns_left = 1 + below(g, pf->max_turns);
        c->turn = 0;
    }
    c->turns_left--;
    c->turn++;
    return c;
}

static void add_step(struct plan *p, const struct step *s)
{
    if (p->count < MAX_STEPS) {
        p->steps[p->count++] = *s;
        p->total_ns += s->dur_ns + 15 * MS; /* orchestration gap */
    }
}

static void plan_chat(struct lg_gen *g, struct plan *p, unsigned round)
{
    bool small = p->model == 0 && p->pf->second_model_pct < 50;
    struct step s = {.op = OP_CHAT};
    uint64_t base = small ? 300 : 800;
    s.dur_ns = (base + below(g, small ? 1200 : 3200)) * MS;
    s.in_tok = 600 + 400 * (int64_t)p->conv->turn + 300 * (int64_t)round + below(g, 1500);
    s.out_tok = 40 + below(g, 500);
    if (p->conv->turn > 1) {
        s.cache_read = s.in_tok * below(g, 60) / 100;
    }
    if (strncmp(p->pf->model[p->model], "o3", 2) == 0) {
        s.reasoning = below(g, (unsigned)s.out_tok);
    }
    if (p->injected) {
        s.in_tok += 30000 + below(g, 60000);
    }
    add_step(p, &s);
}

static void plan_tool(struct lg_gen *g, struct plan *p, const char *tool)
{
    struct step s = {.op = OP_TOOL, .tool = tool};
    s.dur_ns = (20 + below(g, 600)) * MS;
    if (below(g, 10) == 0) {
        s.dur_ns += below(g, 2500) * MS;
    }
    unsigned r = below(g, 100);
    if (r < 4) {
        s.status = ST_ERROR;
    } else if (r < 6) {
        s.status = ST_TIMEOUT;
        s.dur_ns = 5000 * MS + below(g, 200) * MS;
    }
    add_step(p, &s);
}

static void plan_status(struct lg_gen *g, struct plan *p)
{
    p->status = ST_OK;
    for (unsigned i = 0; i < p->count; i++) {
        if (p->steps[i].status == ST_TIMEOUT && below(g, 2) == 0) {
            p->status = ST_TIMEOUT;
            return;
        }
    }
    if (below(g, 100) < 2) {
        p->status = ST_ERROR;
    }
}

static void plan_trace(struct lg_gen *g, struct plan *p)
{
    unsigned agent;
    memset(p, 0, sizeof(*p));
    p->pf = pick_agent(g, &agent);
    p->conv = pick_conv(g, agent, p->pf);
    p->model = below(g, 100) < p->pf->second_model_pct ? 1 : 0;
    p->injected = unit(g) < g->inject_ratio;
    p->escalate = p->conv->turns_left == 0 && below(g, 100) < p->pf->escalate_pct;
    unsigned rounds = p->injected ? 30 + below(g, 15) : below(g, 4);
    for (unsigned r = 0; r < rounds; r++) {
        plan_chat(g, p, r);
        unsigned tools = 1 + (below(g, 4) == 0);
        for (unsigned t = 0; t < tools; t++) {
            const char *tool = p->pf->tools[below(g, p->pf->tool_count)];
            plan_tool(g, p, p->injected && below(g, 2) == 0 ? "exec_shell" : tool);
        }
    }
    if (p->escalate) {
        struct step s = {.op = OP_TOOL, .tool = "escalate_to_human", .dur_ns = 40 * MS};
        add_step(p, &s);
    }
    plan_chat(g, p, rounds);
    plan_status(g, p);
    p->total_ns += 30 * MS;
}

/* ---- encoding: trace.proto Span{trace_id=1, span_id=2, parent_span_id=4,
 * name=5, kind=6, start_time_unix_nano=7, end_time_unix_nano=8,
 * attributes=9, events=11, status=15{message=2, code=3}} ---- */

struct ids {
    uint8_t trace[16];
    uint8_t root[8];
};

static void rand_id(struct lg_gen *g, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(rnd(g) >> 32);
    }
}

static void span_open(struct lg_gen *g, struct lg_pbw *w, const struct ids *ids, bool root,
                      const char *name, int kind)
{
    uint8_t sid[8];
    lg_pbw_begin(w, 2);
    lg_pbw_bytes(w, 1, ids->trace, 16);
    if (root) {
        lg_pbw_bytes(w, 2, ids->root, 8);
    } else {
        rand_id(g, sid, sizeof(sid));
        lg_pbw_bytes(w, 2, sid, 8);
        lg_pbw_bytes(w, 4, ids->root, 8);
    }
    lg_pbw_string(w, 5, name);
    lg_pbw_varint(w, 6, (uint64_t)kind);
    g->spans++;
}

static void span_times(struct lg_pbw *w, uint64_t start_ns, uint64_t end_ns)
{
    lg_pbw_fixed64(w, 7, start_ns);
    lg_pbw_fixed64(w, 8, end_ns);
}

/* Status and error.type attribute; closes the span. */
static void span_close(struct lg_pbw *w, int status, const char *error_type)
{
    if (status != ST_OK) {
        lg_pbw_attr_str(w, 9, "error.type", status == ST_TIMEOUT ? "TimeoutError" : error_type);
    }
    lg_pbw_begin(w, 15);
    if (status != ST_OK) {
        lg_pbw_string(w, 2, status == ST_TIMEOUT ? "timed out" : "failed");
    }
    lg_pbw_varint(w, 3, status == ST_OK ? 1 : 2); /* STATUS_CODE_OK / ERROR */
    lg_pbw_end(w);
    lg_pbw_end(w);
}

static void put_chat(struct lg_gen *g, struct lg_pbw *w, const struct ids *ids,
                     const struct plan *p, const struct step *s, uint64_t at, bool last)
{
    const char *model = p->pf->model[p->model];
    char name[96];
    snprintf(name, sizeof(name), "chat %s", model);
    span_open(g, w, ids, false, name, 3);
    span_times(w, at, at + s->dur_ns);
    lg_pbw_attr_str(w, 9, "gen_ai.operation.name", "chat");
    lg_pbw_attr_str(w, 9, "gen_ai.provider.name", p->pf->provider);
    lg_pbw_attr_str(w, 9, "gen_ai.agent.name", p->pf->name);
    lg_pbw_attr_str(w, 9, "gen_ai.request.model", model);
    lg_pbw_attr_str(w, 9, "gen_ai.response.model", model);
    lg_pbw_attr_str(w, 9, "gen_ai.response.finish_reasons", last ? "stop" : "tool_calls");
    lg_pbw_attr_int(w, 9, "gen_ai.usage.input_tokens", s->in_tok);
    lg_pbw_attr_int(w, 9, "gen_ai.usage.output_tokens", s->out_tok + s->reasoning);
    if (s->cache_read > 0) {
        lg_pbw_attr_int(w, 9, "gen_ai.usage.cache_read.input_tokens", s->cache_read);
    }
    if (s->reasoning > 0) {
        lg_pbw_attr_int(w, 9, "gen_ai.usage.reasoning.output_tokens", s->reasoning);
    }
    /* streamed: the first chunk comes after a fifth of the call */
    lg_pbw_attr_double(w, 9, "gen_ai.response.time_to_first_chunk", (double)(s->dur_ns / 5) / 1e9);
    span_close(w, ST_OK, NULL);
}

/* A hand-off: the support bot calls the billing assistant as a sub-agent
 * (an invoke_agent span under its own), an edge of the agent graph. */
static void put_subagent(struct lg_gen *g, struct lg_pbw *w, const struct ids *ids, uint64_t at,
                         uint64_t dur_ns)
{
    span_open(g, w, ids, false, "invoke_agent billing-assistant", 1);
    span_times(w, at, at + dur_ns);
    lg_pbw_attr_str(w, 9, "gen_ai.operation.name", "invoke_agent");
    lg_pbw_attr_str(w, 9, "gen_ai.agent.name", "billing-assistant");
    span_close(w, ST_OK, NULL);
}

static void put_tool(struct lg_gen *g, struct lg_pbw *w, const struct ids *ids,
                     const struct plan *p, const struct step *s, uint64_t at)
{
    char name[96];
    snprintf(name, sizeof(name), "execute_tool %s", s->tool);
    span_open(g, w, ids, false, name, 1);
    span_times(w, at, at + s->dur_ns);
    lg_pbw_attr_str(w, 9, "gen_ai.operation.name", "execute_tool");
    lg_pbw_attr_str(w, 9, "gen_ai.agent.name", p->pf->name);
    lg_pbw_attr_str(w, 9, "gen_ai.tool.name", s->tool);
    lg_pbw_attr_str(w, 9, "gen_ai.tool.type", "function");
    span_close(w, s->status, "ToolExecutionError");
}

/* Event{time_unix_nano=1, name=2, attributes=3}: one evaluation result. */
static void put_eval(struct lg_gen *g, struct lg_pbw *w, const struct plan *p, const char *metric,
                     uint64_t at)
{
    double score = p->pf->quality + (unit(g) - 0.5) * 0.3 - (p->injected ? 0.45 : 0.0);
    score = score < 0 ? 0 : (score > 1 ? 1 : score);
    score = (double)(int)(score * 1000 + 0.5) / 1000;
    lg_pbw_begin(w, 11);
    lg_pbw_fixed64(w, 1, at);
    lg_pbw_string(w, 2, "gen_ai.evaluation.result");
    lg_pbw_attr_str(w, 3, "gen_ai.evaluation.name", metric);
    lg_pbw_attr_double(w, 3, "gen_ai.evaluation.score.value", score);
    lg_pbw_attr_str(w, 3, "gen_ai.evaluation.score.label", score >= 0.7 ? "pass" : "fail");
    lg_pbw_end(w);
}

static void put_root(struct lg_gen *g, struct lg_pbw *w, const struct ids *ids,
                     const struct plan *p, uint64_t start, uint64_t end)
{
    char name[96];
    char conv[40];
    snprintf(name, sizeof(name), "invoke_agent %s", p->pf->name);
    snprintf(conv, sizeof(conv), "conv_%016llx", (unsigned long long)p->conv->id);
    span_open(g, w, ids, true, name, 1);
    span_times(w, start, end);
    lg_pbw_attr_str(w, 9, "gen_ai.operation.name", "invoke_agent");
    lg_pbw_attr_str(w, 9, "gen_ai.agent.name", p->pf->name);
    lg_pbw_attr_str(w, 9, "gen_ai.provider.name", p->pf->provider);
    lg_pbw_attr_str(w, 9, "gen_ai.conversation.id", conv);
    lg_pbw_attr_str(w, 9, "gen_ai.request.model", p->pf->model[p->model]);
    if (p->injected || below(g, 100) < 40) {
        put_eval(g, w, p, "groundedness", end);
        put_eval(g, w, p, "relevance", end);
        if (below(g, 3) == 0) {
            put_eval(g, w, p, "safety", end);
        }
    }
    span_close(w, p->status, "APIError");
}

static void put_trace(struct lg_gen *g, struct lg_pbw *w, uint64_t now_ns)
{
    struct plan p;
    struct ids ids;
    plan_trace(g, &p);
    rand_id(g, ids.trace, sizeof(ids.trace));
    rand_id(g, ids.root, sizeof(ids.root));
    uint64_t start = now_ns - p.total_ns;
    put_root(g, w, &ids, &p, start, now_ns);
    uint64_t at = start + 10 * MS;
    for (unsigned i = 0; i < p.count; i++) {
        const struct step *s = &p.steps[i];
        if (s->op == OP_CHAT) {
            put_chat(g, w, &ids, &p, s, at, i + 1 == p.count);
        } else {
            put_tool(g, w, &ids, &p, s, at);
        }
        at += s->dur_ns + 15 * MS;
    }
    if (p.pf == &profiles[0] && below(g, 5) == 0) {
        put_subagent(g, w, &ids, start + 10 * MS, p.total_ns / 2);
    }
    g->traces++;
    g->injected += p.injected;
}

/* ExportTraceServiceRequest{resource_spans=1{resource=1{attributes=1},
 * scope_spans=2{scope=1{name=1, version=2}, spans=2}}} */
void lg_gen_request(struct lg_gen *g, struct lg_pbw *w, unsigned traces, uint64_t now_unix_ns)
{
    lg_pbw_reset(w);
    lg_pbw_begin(w, 1);
    lg_pbw_begin(w, 1);
    lg_pbw_attr_str(w, 1, "service.name", g->service);
    lg_pbw_attr_str(w, 1, "service.version", "1.4.2");
    lg_pbw_attr_str(w, 1, "deployment.environment.name", "demo");
    lg_pbw_attr_str(w, 1, "telemetry.sdk.name", "agentmeter-loadgen");
    lg_pbw_attr_str(w, 1, "telemetry.sdk.language", "cpp");
    lg_pbw_end(w);
    lg_pbw_begin(w, 2);
    lg_pbw_begin(w, 1);
    lg_pbw_string(w, 1, "agentmeter-loadgen");
    lg_pbw_string(w, 2, AM_VERSION);
    lg_pbw_end(w);
    for (unsigned i = 0; i < traces; i++) {
        put_trace(g, w, now_unix_ns);
    }
    lg_pbw_end(w);
    lg_pbw_end(w);
}
