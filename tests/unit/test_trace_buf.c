/*
 * test_trace_buf.c - trace assembly with an injected clock: spans arriving
 * in any order and in separate calls, ancestors through intermediate spans,
 * fallback after trace_wait, eviction at the cap, per-request sums of
 * nested agents, the aggregate usage rule, fetch_response, conversations
 * and escalation through the trace, evaluations, reconfiguration, memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "am/clock.h"
#include "am/signals.h"
#include "am/trace_buf.h"
#include "genai_rec.h"
#include "genai_span.h"

#define S(x) (UINT64_C(x) * 1000000000u)
#define WAIT S(10)

struct fx {
    struct am_clock_manual clk;
    struct am_pricing *pricing;
    struct am_derive_opts dopts;
    struct am_conv *conv;
    struct am_quality *quality;
    struct am_trace_buf *tb;
    struct am_obs_sink sink;
    struct rec rec;
};

static const struct am_str esc_tools[] = {AM_STR("escalate_to_human"), AM_STR("handoff_to_human")};

static struct am_trace_buf_opts tb_opts(struct fx *f, uint64_t wait, size_t max)
{
    struct am_trace_buf_opts o = {.shards = 4,
                                  .trace_wait_ns = wait,
                                  .max_pending_spans = max,
                                  .escalation_attribute = AM_STR("agent.escalated"),
                                  .escalation_tools = esc_tools,
                                  .escalation_tool_count = 2,
                                  .conv = f->conv,
                                  .quality = f->quality};
    return o;
}

static int setup_with(void **st, unsigned shards, size_t max)
{
    struct fx *f = test_calloc(1, sizeof(*f));
    struct am_price m1 = {.input = 2, .output = 4};
    am_clock_manual_init(&f->clk, S(1000), 0);
    f->pricing = am_pricing_create();
    am_pricing_set(f->pricing, AM_STR("m1"), &m1);
    am_pricing_freeze(f->pricing);
    f->dopts = (struct am_derive_opts){.pricing = f->pricing, .semconv_metrics = false};
    struct am_conv_opts co = {1, S(1800), 0};
    f->conv = am_conv_create(&co);
    f->quality = am_quality_create(S(3600));
    struct am_trace_buf_opts o = tb_opts(f, WAIT, max);
    o.shards = shards;
    f->tb = am_trace_buf_create(&o);
    f->sink = (struct am_obs_sink){rec_sink_fn, &f->rec};
    *st = f;
    return 0;
}

static int setup(void **st)
{
    return setup_with(st, 4, 0);
}

static int setup_cap3(void **st)
{
    return setup_with(st, 1, 3);
}

static int setup_cap1000(void **st)
{
    return setup_with(st, 1, 1000);
}

static int teardown(void **st)
{
    struct fx *f = *st;
    am_trace_buf_destroy(f->tb);
    am_conv_destroy(f->conv);
    am_quality_destroy(f->quality);
    am_pricing_destroy(f->pricing);
    test_free(f);
    return 0;
}

static uint64_t now(struct fx *f)
{
    return am_clock_mono(&f->clk.clock);
}

/* Dimensions of test_trace_buf_agent_dimensions_propagate (dim_count 0
 * elsewhere). */
static const struct am_str dim_attrs[] = {AM_STR("tenant.id"), AM_STR("region")};
static const struct am_str dim_defaults[] = {AM_STR("none"), AM_STR("nowhere")};

/* Add span `id` (parent 0 = root) of trace `trace` with attributes. */
static void add(struct fx *f, uint8_t trace, uint8_t id, uint8_t parent, const struct ts_attr *a)
{
    struct ts_span t;
    struct am_span_facts facts;
    ts_span_init(&t, "svc");
    memset(t.span.trace_id, 0, 16);
    t.span.trace_id[0] = trace;
    memset(t.span.span_id, 0, 8);
    t.span.span_id[0] = id;
    if (parent != 0) {
        t.span.parent_span_id[0] = parent;
        t.span.has_parent = true;
    }
    t.span.start_ns = S(1);
    t.span.end_ns = S(2);
    ts_span_add_all(&t, a);
    am_classify(&t.span, &facts);
    am_signals_dimensions(&t.span, dim_attrs, f->dopts.dim_count, &facts);
    am_trace_buf_add(f->tb, &f->dopts, &t.span, &facts, now(f), &f->sink);
}

static void tick(struct fx *f)
{
    am_trace_buf_tick(f->tb, &f->dopts, now(f), &f->sink);
}

static size_t waiting(struct fx *f)
{
    struct am_trace_buf_stats st;
    am_trace_buf_stats(f->tb, &st);
    return st.waiting;
}

#define AGENT(name)                                                                                \
    {                                                                                              \
        TS_S("gen_ai.operation.name", "invoke_agent"), TS_S("gen_ai.agent.name", name),            \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }
static const struct ts_attr chat_m1[] = {TS_S("gen_ai.operation.name", "chat"),
                                         TS_S("gen_ai.request.model", "m1"),
                                         TS_I("gen_ai.usage.input_tokens", 500000),
                                         TS_I("gen_ai.usage.output_tokens", 250000),
                                         {0}};
static const struct ts_attr chat_nousage[] = {
    TS_S("gen_ai.operation.name", "chat"), TS_S("gen_ai.request.model", "m1"), {0}};
static const struct ts_attr tool_search[] = {
    TS_S("gen_ai.operation.name", "execute_tool"), TS_S("gen_ai.tool.name", "search"), {0}};
static const struct ts_attr other[] = {TS_S("http.method", "GET"), {0}};
static const struct ts_attr planner[] = AGENT("planner");
static const struct ts_attr researcher[] = AGENT("researcher");

/* Children first, each in its own call; the agent is three levels up. */
static void test_trace_buf_children_first_through_intermediates_attributed(void **st)
{
    struct fx *f = *st;
    add(f, 1, 5, 4, chat_m1); /* 5 -> 4 -> 3 -> 2 -> 1 (agent) */
    add(f, 1, 4, 3, other);
    assert_int_equal(waiting(f), 1);
    assert_int_equal(rec_count(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, NULL, NULL, NULL), 0);
    am_clock_manual_advance(&f->clk, S(3));
    add(f, 1, 3, 2, other);
    add(f, 1, 2, 1, other);
    assert_int_equal(waiting(f), 1);
    add(f, 1, 1, 0, planner);
    assert_int_equal(waiting(f), 0);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "planner", "m1", NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_TOKEN_USAGE_TOTAL, "planner", "m1", "input") == 500000);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_ESTIMATED_COST_TOTAL, "planner", "m1", NULL) == 2.0);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUESTS_TOTAL, "planner", "success", NULL) == 1);
    /* a span whose agent is known now is derived at once */
    add(f, 1, 6, 2, tool_search);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_TOOL_CALLS_TOTAL, "planner", "search", "success") == 1);
    /* per-request sums wait for trace_wait of quiet */
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, NULL, NULL, NULL), 0);
    am_clock_manual_advance(&f->clk, WAIT - 1);
    tick(f);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, NULL, NULL, NULL), 0);
    am_clock_manual_advance(&f->clk, 1);
    tick(f);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL) == 750000);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_COST, "planner", NULL, NULL) == 2.0);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_INFERENCE_CALLS, "planner", NULL, NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOOL_CALLS, "planner", NULL, NULL) == 1);
    assert_int_equal(rec_count(&f->rec, AM_M_SELF_AGENT_FALLBACK_TOTAL, NULL, NULL, NULL), 0);
    assert_true(rec_last(&f->rec, AM_M_SELF_TRACES_PENDING, "", "") == 0);
}

/* Agent-level dimensions: a span without the value takes its agent's (at
 * once, or when the agent arrives after it), its own value wins, and a
 * span with no agent takes the default. Labels follow the built-ins. */
static void test_trace_buf_agent_dimensions_propagate(void **st)
{
    struct fx *f = *st;
    const char *labels[] = {"tenant", "region"};
    const uint64_t masks[] = {~UINT64_C(0), UINT64_C(1) << AM_M_AGENT_TOOL_CALLS_TOTAL};
    static const struct ts_attr agent_t[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                                             TS_S("gen_ai.agent.name", "planner"),
                                             TS_S("tenant.id", "acme"),
                                             TS_S("region", "eu"),
                                             {0}};
    static const struct ts_attr tool_own[] = {TS_S("gen_ai.operation.name", "execute_tool"),
                                              TS_S("gen_ai.tool.name", "search"),
                                              TS_I("tenant.id", 42),
                                              {0}};
    am_family_set_dimensions(labels, masks, 2);
    f->dopts.dim_defaults = dim_defaults;
    f->dopts.dim_count = 2;
    add(f, 1, 3, 1, chat_m1); /* waits for its agent */
    add(f, 1, 1, 0, agent_t);
    add(f, 1, 2, 1, tool_search);
    add(f, 1, 4, 1, tool_own);
    add(f, 2, 1, 0, tool_search); /* no agent: defaults */
    am_clock_manual_advance(&f->clk, WAIT);
    tick(f);
    const struct am_family *fam = am_family_get(AM_M_MODEL_INFERENCE_CALLS_TOTAL);
    assert_int_equal(fam->label_count, 3);
    assert_string_equal(fam->labels[2], "tenant");
    size_t found = 0;
    for (size_t i = 0; i < f->rec.n; i++) {
        const struct rec_obs *o = &f->rec.o[i];
        if (o->m == AM_M_MODEL_INFERENCE_CALLS_TOTAL) {
            assert_string_equal(o->l[2], "acme");
            assert_string_equal(o->l[3], "");
            found++;
        } else if (o->m == AM_M_AGENT_REQUESTS_TOTAL || o->m == AM_M_AGENT_REQUEST_TOKENS) {
            assert_string_equal(o->l[o->m == AM_M_AGENT_REQUESTS_TOTAL ? 2 : 1], "acme");
            found++;
        } else if (o->m == AM_M_AGENT_TOOL_CALLS_TOTAL) {
            bool agentless = strcmp(o->l[0], "svc") == 0;
            bool own = o->span_id[0] == 4;
            assert_string_equal(o->l[3], agentless ? "none" : own ? "42" : "acme");
            assert_string_equal(o->l[4], agentless ? "nowhere" : "eu");
            found++;
        }
    }
    assert_int_equal(found, 6);
    am_family_set_dimensions(NULL, NULL, 0);
    assert_int_equal(am_family_get(AM_M_MODEL_INFERENCE_CALLS_TOTAL)->label_count, 2);
}

/* The root never arrives: the span is labelled with service.name after
 * trace_wait of quiet, and the fallback is counted. */
static void test_trace_buf_root_never_arrives_falls_back_after_wait(void **st)
{
    struct fx *f = *st;
    add(f, 2, 7, 9, chat_m1);
    am_clock_manual_advance(&f->clk, S(4));
    add(f, 2, 8, 9, tool_search); /* the trace is active again: the wait restarts */
    am_clock_manual_advance(&f->clk, S(9));
    tick(f);
    assert_int_equal(waiting(f), 2);
    assert_int_equal(rec_count(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, NULL, NULL, NULL), 0);
    am_clock_manual_advance(&f->clk, S(1));
    tick(f);
    assert_int_equal(waiting(f), 0);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "svc", "m1", NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_TOOL_CALLS_TOTAL, "svc", "search", NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_SELF_AGENT_FALLBACK_TOTAL, "trace_wait", NULL, NULL) == 2);
    assert_true(rec_last(&f->rec, AM_M_SELF_SPANS_PENDING, "", "") == 0);
}

/* A chain that reaches a root with no invoke_agent is decided at once. */
static void test_trace_buf_agentless_root_resolves_at_once(void **st)
{
    struct fx *f = *st;
    add(f, 3, 2, 1, chat_m1);
    assert_int_equal(waiting(f), 1);
    add(f, 3, 1, 0, other);
    assert_int_equal(waiting(f), 0);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "svc", "m1", NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_SELF_AGENT_FALLBACK_TOTAL, "no_agent_ancestor", NULL, NULL) ==
                1);
    /* own gen_ai.agent.name needs no ancestor */
    static const struct ts_attr own[] = {TS_S("gen_ai.operation.name", "chat"),
                                         TS_S("gen_ai.agent.name", "solo"),
                                         TS_S("gen_ai.request.model", "m1"),
                                         {0}};
    add(f, 3, 9, 8, own);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "solo", "m1", NULL) == 1);
    /* a retried span is not counted twice */
    add(f, 3, 9, 8, own);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "solo", "m1", NULL) == 1);
}

/* max_pending_spans 3 (one shard): the fourth trace evicts the oldest. */
static void test_trace_buf_cap_resolves_oldest_first(void **st)
{
    struct fx *f = *st;
    static const struct ts_attr chat_a[] = {
        TS_S("gen_ai.operation.name", "chat"), TS_S("gen_ai.request.model", "a"), {0}};
    static const struct ts_attr chat_b[] = {
        TS_S("gen_ai.operation.name", "chat"), TS_S("gen_ai.request.model", "b"), {0}};
    add(f, 10, 1, 50, chat_a);
    am_clock_manual_advance(&f->clk, S(1));
    add(f, 11, 1, 50, chat_b);
    am_clock_manual_advance(&f->clk, S(1));
    add(f, 12, 1, 50, chat_b);
    assert_int_equal(waiting(f), 3);
    am_clock_manual_advance(&f->clk, S(1));
    add(f, 13, 1, 50, chat_b);
    assert_int_equal(waiting(f), 3);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "svc", "a", NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "svc", "b", NULL) == 0);
    assert_true(rec_sum(&f->rec, AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, "max_pending_spans", NULL,
                        NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_SELF_AGENT_FALLBACK_TOTAL, "max_pending_spans", NULL, NULL) ==
                1);
    /* touching trace 11 makes 12 the oldest */
    add(f, 11, 2, 50, other);
    assert_true(rec_sum(&f->rec, AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, "max_pending_spans", NULL,
                        NULL) == 2);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "svc", "b", NULL) == 1);
    assert_int_equal(waiting(f), 2);
}

/* Outer agent 1: inference 2, tool 3, inner agent 4. Inner: inference 5,
 * inference 6 under intermediate 7, tool 8. Arrival is leaves first. */
static void test_trace_buf_nested_agents_sum_own_subtree(void **st)
{
    struct fx *f = *st;
    add(f, 20, 6, 7, chat_m1);
    add(f, 20, 5, 4, chat_nousage);
    add(f, 20, 8, 4, tool_search);
    add(f, 20, 7, 4, other);
    add(f, 20, 4, 1, researcher);
    add(f, 20, 2, 1, chat_m1);
    add(f, 20, 3, 1, tool_search);
    add(f, 20, 1, 0, planner);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "researcher", "m1", NULL) == 2);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "planner", "m1", NULL) == 1);
    am_clock_manual_advance(&f->clk, WAIT);
    tick(f);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, NULL, NULL, NULL), 2);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL) == 750000);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_COST, "planner", NULL, NULL) == 2.0);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_INFERENCE_CALLS, "planner", NULL, NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOOL_CALLS, "planner", NULL, NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "researcher", NULL, NULL) == 750000);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_INFERENCE_CALLS, "researcher", NULL, NULL) ==
                2);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOOL_CALLS, "researcher", NULL, NULL) == 1);
}

/* A trace larger than the linear-scan and stack-scratch sizes: 60 chats
 * under an intermediate under the agent, children first; one retried. */
static void test_trace_buf_large_trace_indexed_attributed_once(void **st)
{
    struct fx *f = *st;
    for (uint8_t id = 10; id < 70; id++) {
        add(f, 30, id, 2, chat_m1);
    }
    assert_int_equal(waiting(f), 60);
    add(f, 30, 2, 1, other);
    add(f, 30, 1, 0, planner);
    add(f, 30, 40, 2, chat_m1); /* retried: counted once */
    assert_int_equal(waiting(f), 0);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "planner", "m1", NULL) == 60);
    am_clock_manual_advance(&f->clk, WAIT);
    tick(f);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_INFERENCE_CALLS, "planner", NULL, NULL) == 60);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL) ==
                60.0 * 750000);
}

/* Add span `id` of trace (hi, lo): two bytes of trace id, for many traces. */
static void add2(struct fx *f, uint8_t hi, uint8_t lo, uint8_t id, uint8_t parent,
                 const struct ts_attr *a)
{
    struct ts_span t;
    struct am_span_facts facts;
    ts_span_init(&t, "svc");
    memset(t.span.trace_id, 0, 16);
    t.span.trace_id[0] = lo;
    t.span.trace_id[1] = hi;
    memset(t.span.span_id, 0, 8);
    t.span.span_id[0] = id;
    if (parent != 0) {
        t.span.parent_span_id[0] = parent;
        t.span.has_parent = true;
    }
    ts_span_add_all(&t, a);
    am_classify(&t.span, &facts);
    am_trace_buf_add(f->tb, &f->dopts, &t.span, &facts, now(f), &f->sink);
}

/* 3,000 traces in one shard, the oldest evicted past the cap of 1,000
 * spans (table deletions among live entries): each live trace is still
 * found, so a child arriving later is attributed to its root at once. */
static void test_trace_buf_many_traces_found_after_evictions(void **st)
{
    struct fx *f = *st;
    for (unsigned k = 0; k < 3000; k++) {
        add2(f, (uint8_t)(k >> 8), (uint8_t)k, 1, 0, planner);
    }
    for (unsigned k = 2600; k < 3000; k += 2) { /* each evicts one of 2000.. */
        add2(f, (uint8_t)(k >> 8), (uint8_t)k, 2, 1, chat_nousage);
    }
    assert_int_equal(waiting(f), 0);
    /* (rec holds too few observations here to sum them: a child whose root
     * was lost would have created a trace of its own and be waiting) */
}

static const struct ts_attr planner_usage[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                                               TS_S("gen_ai.agent.name", "planner"),
                                               TS_S("gen_ai.request.model", "m1"),
                                               TS_I("gen_ai.usage.input_tokens", 1000000),
                                               TS_I("gen_ai.usage.output_tokens", 500000),
                                               {0}};

/* Usage on an invoke_agent span counts only when no inference below carried
 * usage; a Vercel wrapper likewise; fetch_response never counts. */
static void test_trace_buf_aggregate_usage_only_without_child_usage(void **st)
{
    struct fx *f = *st;
    /* trace 30: child with usage -> the agent's totals are not counted */
    add(f, 30, 2, 1, chat_m1);
    add(f, 30, 1, 0, planner_usage);
    /* trace 31: child without usage -> the agent's totals count */
    add(f, 31, 2, 1, chat_nousage);
    add(f, 31, 1, 0, planner_usage);
    am_clock_manual_advance(&f->clk, WAIT);
    tick(f);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_TOKEN_USAGE_TOTAL, "planner", "m1", "input") ==
                500000 + 1000000);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_TOKEN_USAGE_TOTAL, "planner", "m1", "output") ==
                250000 + 500000);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_ESTIMATED_COST_TOTAL, "planner", "m1", NULL) == 6.0);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL), 2);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL) ==
                750000 + 1500000);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_COST, "planner", NULL, NULL) == 6.0);

    f->rec.n = 0;
    static const struct ts_attr wrapper[] = {TS_S("ai.operationId", "ai.generateText"),
                                             TS_S("ai.telemetry.functionId", "vercel"),
                                             TS_S("ai.model.id", "m1"),
                                             TS_I("ai.usage.promptTokens", 500000),
                                             TS_I("ai.usage.completionTokens", 250000),
                                             {0}};
    static const struct ts_attr do_gen[] = {TS_S("ai.operationId", "ai.generateText.doGenerate"),
                                            TS_S("ai.telemetry.functionId", "vercel"),
                                            TS_S("ai.model.id", "m1"),
                                            TS_I("ai.usage.promptTokens", 500000),
                                            TS_I("ai.usage.completionTokens", 250000),
                                            {0}};
    static const struct ts_attr fetch[] = {TS_S("gen_ai.operation.name", "fetch_response"),
                                           TS_S("gen_ai.request.model", "m1"),
                                           TS_I("gen_ai.usage.input_tokens", 7),
                                           TS_I("gen_ai.usage.output_tokens", 7),
                                           {0}};
    /* trace 32: wrapper over doGenerate: counted once (the child) */
    add(f, 32, 2, 1, do_gen);
    add(f, 32, 1, 0, wrapper);
    /* trace 33: wrapper alone: its own totals count */
    add(f, 33, 1, 0, wrapper);
    /* trace 34: agent over fetch_response: fetch never counts nor hides */
    add(f, 34, 2, 1, fetch);
    add(f, 34, 1, 0, planner_usage);
    am_clock_manual_advance(&f->clk, WAIT);
    tick(f);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_TOKEN_USAGE_TOTAL, "vercel", "m1", "input") == 1000000);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_TOKEN_USAGE_TOTAL, "planner", "m1", "input") ==
                1000000);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_TOKEN_USAGE_TOTAL, NULL, NULL, NULL) ==
                1000000 + 500000 + 1500000);
}

static const struct ts_attr turn_c1[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                                         TS_S("gen_ai.agent.name", "support"),
                                         TS_S("gen_ai.conversation.id", "c1"),
                                         {0}};

static void conv_tick(struct fx *f)
{
    am_conv_tick(f->conv, now(f), &f->sink);
}

/* Three turns (one nested agent is not a turn); idle 30 min after the last
 * arrival the conversation finishes once. */
static void test_trace_buf_conversation_idle_finishes_once(void **st)
{
    struct fx *f = *st;
    for (uint8_t k = 0; k < 3; k++) {
        add(f, (uint8_t)(40 + k), 1, 0, turn_c1);
        add(f, (uint8_t)(40 + k), 2, 1, researcher); /* nested: not a turn */
        am_clock_manual_advance(&f->clk, S(300));
        tick(f);
    }
    /* last turn arrived at 600 s after start; now is 900 s */
    am_clock_manual_advance(&f->clk, S(1800) - S(300) - 1);
    conv_tick(f);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, NULL, NULL, NULL), 0);
    assert_true(rec_last(&f->rec, AM_M_SELF_CONVERSATIONS_OPEN, "", "") == 1);
    am_clock_manual_advance(&f->clk, 1);
    conv_tick(f);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, "support", NULL, NULL), 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, "support", NULL, NULL) == 3);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATIONS_TOTAL, "support", "resolved", NULL) == 1);
    assert_true(rec_last(&f->rec, AM_M_AGENT_ESCALATION_RATE, "support", NULL) == 0);
    am_clock_manual_advance(&f->clk, S(1800));
    conv_tick(f);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, NULL, NULL, NULL), 1);
}

/* Escalation by tool (conversation inherited from the ancestor), by bool
 * attribute and by string attribute. */
static void test_trace_buf_escalation_by_tool_and_attribute(void **st)
{
    struct fx *f = *st;
    static const struct ts_attr esc_tool[] = {TS_S("gen_ai.operation.name", "execute_tool"),
                                              TS_S("gen_ai.tool.name", "handoff_to_human"),
                                              {0}};
    static const struct ts_attr esc_bool[] = {
        TS_S("gen_ai.conversation.id", "c3"), TS_B("agent.escalated", 1), {0}};
    static const struct ts_attr esc_false[] = {TS_B("agent.escalated", 0), {0}};
    static const struct ts_attr esc_str[] = {TS_S("agent.escalated", "true"), {0}};
    static const struct ts_attr turn_c2[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                                             TS_S("gen_ai.agent.name", "support"),
                                             TS_S("gen_ai.conversation.id", "c2"),
                                             {0}};
    static const struct ts_attr turn_c3[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                                             TS_S("gen_ai.agent.name", "support"),
                                             TS_S("gen_ai.conversation.id", "c3"),
                                             {0}};
    static const struct ts_attr turn_c4[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                                             TS_S("gen_ai.agent.name", "support"),
                                             TS_S("gen_ai.conversation.id", "c4"),
                                             {0}};
    add(f, 50, 3, 2, esc_tool);
    add(f, 50, 2, 1, other);
    add(f, 50, 1, 0, turn_c2);
    add(f, 51, 2, 1, esc_bool);
    add(f, 51, 1, 0, turn_c3);
    add(f, 52, 2, 1, esc_str);
    add(f, 52, 1, 0, turn_c1);
    add(f, 53, 2, 1, esc_false);
    add(f, 53, 1, 0, turn_c4);
    am_clock_manual_advance(&f->clk, WAIT);
    tick(f);
    am_clock_manual_advance(&f->clk, S(1800));
    conv_tick(f);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATIONS_TOTAL, "support", "escalated", NULL) ==
                3);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATIONS_TOTAL, "support", "resolved", NULL) == 1);
    assert_true(rec_last(&f->rec, AM_M_AGENT_ESCALATION_RATE, "support", NULL) == 75);
}

/* A span event evaluation waits with its span; a log-record evaluation
 * waits for the span it names. */
static void test_trace_buf_evaluations_find_their_agent(void **st)
{
    struct fx *f = *st;
    struct ts_span t;
    struct am_span_facts facts;
    struct am_kv ev_kv[3];
    struct am_span_event ev = {0, AM_STR(AM_EVAL_EVENT_NAME), {ev_kv, 3}};
    ev_kv[0] = (struct am_kv){AM_STR("gen_ai.evaluation.name"), {.type = AM_VAL_STRING}};
    ev_kv[0].val.u.s = AM_STR("Relevance");
    ev_kv[1] = (struct am_kv){AM_STR("gen_ai.evaluation.score.value"), {.type = AM_VAL_DOUBLE}};
    ev_kv[1].val.u.d = 0.75;
    ev_kv[2] = (struct am_kv){AM_STR("gen_ai.evaluation.score.label"), {.type = AM_VAL_STRING}};
    ev_kv[2].val.u.s = AM_STR("relevant");

    ts_span_init(&t, "svc");
    memset(t.span.trace_id, 0, 16);
    t.span.trace_id[0] = 60;
    memset(t.span.span_id, 0, 8);
    t.span.span_id[0] = 2;
    t.span.parent_span_id[0] = 1;
    t.span.has_parent = true;
    t.span.events = &ev;
    t.span.event_count = 1;
    ts_span_add_all(&t, chat_nousage);
    am_classify(&t.span, &facts);
    am_trace_buf_add(f->tb, &f->dopts, &t.span, &facts, now(f), &f->sink);

    /* a log record naming span 3 (not here yet), child of agent 1 */
    uint8_t tid[16] = {60}, sid3[8] = {3};
    struct am_eval le = {AM_STR("relevance"), AM_STR_NULL, 0.25, true};
    am_trace_buf_add_eval(f->tb, tid, sid3, AM_STR("svc"), &le, now(f), &f->sink);
    assert_int_equal(waiting(f), 2);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_EVALUATION_SCORE, NULL, NULL, NULL), 0);

    add(f, 60, 1, 0, planner);
    assert_int_equal(waiting(f), 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_EVALUATION_SCORE, "planner", "relevance", NULL) ==
                0.75);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_EVALUATION_LABELS_TOTAL, "planner", "relevance",
                        "relevant") == 1);
    add(f, 60, 3, 1, tool_search);
    assert_int_equal(waiting(f), 0);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_EVALUATION_SCORE, "planner", "relevance", NULL),
                     2);
    assert_true(rec_last(&f->rec, AM_M_AGENT_QUALITY_SCORE, "planner", "relevance") == 0.5);
    /* no trace context: service.name at once */
    am_trace_buf_add_eval(f->tb, NULL, NULL, AM_STR("svc"), &le, now(f), &f->sink);
    assert_true(rec_last(&f->rec, AM_M_AGENT_QUALITY_SCORE, "svc", "relevance") == 0.25);
}

/* trace_wait grows from 10 s to 20 s while a span waits: it keeps waiting. */
static void test_trace_buf_reconfigure_keeps_pending(void **st)
{
    struct fx *f = *st;
    add(f, 70, 2, 1, chat_m1);
    struct am_trace_buf_opts o = tb_opts(f, S(20), 0);
    am_trace_buf_configure(f->tb, &o);
    am_clock_manual_advance(&f->clk, S(10));
    tick(f);
    assert_int_equal(waiting(f), 1);
    add(f, 70, 1, 0, planner);
    assert_int_equal(waiting(f), 0);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "planner", "m1", NULL) == 1);
    am_clock_manual_advance(&f->clk, S(20));
    tick(f);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL) == 750000);
}

/* Shutdown flush resolves waiting spans (counted) and emits the sums. */
static void test_trace_buf_flush_resolves_everything(void **st)
{
    struct fx *f = *st;
    add(f, 80, 3, 2, chat_m1);
    add(f, 81, 1, 0, planner);
    am_trace_buf_flush(f->tb, &f->dopts, now(f), &f->sink);
    assert_true(rec_sum(&f->rec, AM_M_SELF_AGENT_FALLBACK_TOTAL, "shutdown", NULL, NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "svc", "m1", NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL) == 0);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL), 1);
    struct am_trace_buf_stats stats;
    am_trace_buf_stats(f->tb, &stats);
    assert_int_equal(stats.traces, 0);
    assert_int_equal(stats.spans, 0);
}

static void null_sink(void *ud, const struct am_obs *obs, size_t n)
{
    (void)ud;
    (void)obs;
    (void)n;
}

/* Bytes per waiting span by the module's own accounting, for traces of 10
 * waiting inference spans (typical) and of one span (worst case). The
 * budget is 1,000,000 waiting spans in 256 MiB: 268 bytes each. */
static double bytes_per_waiting(uint32_t traces, uint32_t per_trace)
{
    struct am_trace_buf_opts o = {.shards = 16, .trace_wait_ns = WAIT};
    struct am_trace_buf *tb = am_trace_buf_create(&o);
    struct am_derive_opts d = {.pricing = NULL, .semconv_metrics = true};
    struct am_obs_sink sink = {null_sink, NULL};
    struct am_trace_buf_stats st0, st;
    static const struct ts_attr a[] = {TS_S("gen_ai.operation.name", "chat"),
                                       TS_S("gen_ai.provider.name", "openai"),
                                       TS_S("gen_ai.request.model", "gpt-4o"),
                                       TS_S("gen_ai.response.model", "gpt-4o-2024-08-06"),
                                       TS_I("gen_ai.usage.input_tokens", 1234),
                                       TS_I("gen_ai.usage.output_tokens", 321),
                                       {0}};
    struct ts_span t;
    struct am_span_facts facts;
    am_trace_buf_stats(tb, &st0);
    ts_span_init(&t, "checkout-service");
    ts_span_add_all(&t, a);
    t.span.has_parent = true;
    am_classify(&t.span, &facts);
    for (uint32_t k = 0; k < traces; k++) {
        memcpy(t.span.trace_id, &k, sizeof(k));
        for (uint32_t j = 0; j < per_trace; j++) {
            uint32_t sid = j + 1, parent = per_trace + 1;
            memcpy(t.span.span_id, &sid, sizeof(sid));
            memcpy(t.span.parent_span_id, &parent, sizeof(parent));
            am_trace_buf_add(tb, &d, &t.span, &facts, S(1), &sink);
        }
    }
    am_trace_buf_stats(tb, &st);
    assert_int_equal(st.waiting, (size_t)traces * per_trace);
    double per = (double)(st.bytes - st0.bytes) / (double)st.waiting;
    am_trace_buf_destroy(tb);
    return per;
}

static void test_trace_buf_memory_per_waiting_span_within_budget(void **st)
{
    (void)st;
    double typical = bytes_per_waiting(10000, 10);
    double single = bytes_per_waiting(50000, 1);
    print_message("bytes per waiting span: %.1f (10-span traces), %.1f (1-span traces)\n", typical,
                  single);
    assert_true(typical <= 268.0);
    assert_true(single <= 512.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_trace_buf_children_first_through_intermediates_attributed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_agent_dimensions_propagate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_root_never_arrives_falls_back_after_wait,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_agentless_root_resolves_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_cap_resolves_oldest_first, setup_cap3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_nested_agents_sum_own_subtree, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_large_trace_indexed_attributed_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_many_traces_found_after_evictions,
                                        setup_cap1000, teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_aggregate_usage_only_without_child_usage,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_conversation_idle_finishes_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_escalation_by_tool_and_attribute, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_evaluations_find_their_agent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_reconfigure_keeps_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_buf_flush_resolves_everything, setup, teardown),
        cmocka_unit_test(test_trace_buf_memory_per_waiting_span_within_budget),
    };
    return cmocka_run_group_tests_name("trace_buf", tests, NULL, NULL);
}
