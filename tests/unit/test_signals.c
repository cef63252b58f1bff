/*
 * test_signals.c - what am_signals_* read from a span: time to first chunk
 * from each instrumentation family's attribute or first chunk event, and
 * the sampling-adjusted count from W3C tracestate (the worked examples of
 * the OpenTelemetry tracestate probability-sampling spec) or a multiplier
 * attribute; then the scaled and streaming observations derive makes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "am/derive.h"
#include "am/signals.h"
#include "genai_span.h"

#define T0 UINT64_C(1700000000000000000)
#define MS UINT64_C(1000000)

struct ttft_case {
    const char *name;
    struct ts_attr attrs[4];
    const char *event; /* a span event at T0 + event_ms, NULL = none */
    uint64_t event_ms;
    struct ts_attr event_attr; /* key NULL = none */
    bool want;
    uint64_t want_ns;
};

static const struct ttft_case ttft_cases[] = {
    {"semconv seconds",
     {TS_D("gen_ai.response.time_to_first_chunk", 0.25), {0}},
     NULL,
     0,
     {0},
     true,
     250 * MS},
    {"openlit seconds",
     {TS_D("gen_ai.server.time_to_first_token", 1.5), {0}},
     NULL,
     0,
     {0},
     true,
     1500 * MS},
    {"vercel ms (int)",
     {TS_I("ai.response.msToFirstChunk", 320), {0}},
     NULL,
     0,
     {0},
     true,
     320 * MS},
    {"vercel older ms (double)",
     {TS_D("ai.stream.msToFirstChunk", 12.5), {0}},
     NULL,
     0,
     {0},
     true,
     12500000},
    {"semconv wins over vercel",
     {TS_I("ai.response.msToFirstChunk", 999),
      TS_D("gen_ai.response.time_to_first_chunk", 0.5),
      {0}},
     NULL,
     0,
     {0},
     true,
     500 * MS},
    {"numeric string",
     {TS_S("gen_ai.response.time_to_first_chunk", "0.125"), {0}},
     NULL,
     0,
     {0},
     true,
     125 * MS},
    {"negative ignored, event used",
     {TS_D("gen_ai.response.time_to_first_chunk", -1), {0}},
     "First Token Stream Event",
     40,
     {0},
     true,
     40 * MS},
    {"openinference event time", {{0}}, "First Token Stream Event", 75, {0}, true, 75 * MS},
    {"openllmetry chunk event", {{0}}, "llm.content.completion.chunk", 9, {0}, true, 9 * MS},
    {"vercel event attribute wins over its time",
     {{0}},
     "ai.stream.firstChunk",
     300,
     TS_I("ai.response.msToFirstChunk", 210),
     true,
     210 * MS},
    {"other event ignored", {{0}}, "gen_ai.choice", 10, {0}, false, 0},
    {"nothing", {{0}}, NULL, 0, {0}, false, 0},
};

static void test_signals_stream_reads_each_source(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ttft_cases) / sizeof(ttft_cases[0]); i++) {
        const struct ttft_case *c = &ttft_cases[i];
        struct ts_span t;
        struct am_span_event ev;
        struct am_kv ekv;
        struct am_span_facts f;
        print_message("case %s\n", c->name);
        ts_span_init(&t, "svc");
        ts_span_add(&t, &(struct ts_attr)TS_S("gen_ai.operation.name", "chat"));
        ts_span_add_all(&t, c->attrs);
        t.span.start_ns = T0;
        t.span.end_ns = T0 + 2000 * MS;
        if (c->event != NULL) {
            memset(&ev, 0, sizeof(ev));
            ev.name = am_str_from(c->event);
            ev.time_ns = T0 + c->event_ms * MS;
            if (c->event_attr.key != NULL) {
                ekv.key = am_str_from(c->event_attr.key);
                ekv.val.type = AM_VAL_INT;
                ekv.val.u.i = c->event_attr.i;
                ev.attrs = (struct am_attrs){&ekv, 1};
            }
            t.span.events = &ev;
            t.span.event_count = 1;
        }
        am_classify(&t.span, &f);
        am_signals_stream(&t.span, &f);
        assert_int_equal(f.has_ttft, c->want);
        assert_int_equal(f.ttft_ns, c->want_ns);
    }
}

static void test_signals_stream_only_on_inference(void **state)
{
    (void)state;
    struct ts_span t;
    struct am_span_facts f;
    ts_span_init(&t, "svc");
    ts_span_add(&t, &(struct ts_attr)TS_S("gen_ai.operation.name", "execute_tool"));
    ts_span_add(&t, &(struct ts_attr)TS_D("gen_ai.response.time_to_first_chunk", 0.25));
    am_classify(&t.span, &f);
    am_signals_stream(&t.span, &f);
    assert_false(f.has_ttft);
}

struct ts_case {
    const char *tracestate;
    enum am_adjust_source src;
    double adjusted;
};

/* The adjusted counts of the spec's table (OpenTelemetry tracestate
 * probability sampling, "Converting threshold to an adjusted count"). */
static const struct ts_case ts_cases[] = {
    {"ot=th:0", AM_ADJ_THRESHOLD, 1},
    {"ot=th:8", AM_ADJ_THRESHOLD, 2},
    {"ot=th:c", AM_ADJ_THRESHOLD, 4},
    {"ot=th:e", AM_ADJ_THRESHOLD, 8},
    {"ot=th:f", AM_ADJ_THRESHOLD, 16},
    {"ot=th:aaab", AM_ADJ_THRESHOLD, 3.00004577706569},
    {"ot=th:e666", AM_ADJ_THRESHOLD, 9.99938968568813},
    {"ot=th:e6666", AM_ADJ_THRESHOLD, 9.999961853172863},
    {"ot=th:fd70a4", AM_ADJ_THRESHOLD, 100.00009536752259},
    {"ot=th:ffbe77", AM_ADJ_THRESHOLD, 1000.012874769029},
    {"vendor=x,ot=rv:0123456789abcd;th:c , other=1", AM_ADJ_THRESHOLD, 4},
    {"ot=p:3", AM_ADJ_PVALUE, 8},
    {"ot=p:0;r:5", AM_ADJ_PVALUE, 1},
    {"ot=p:2;th:8", AM_ADJ_THRESHOLD, 2},
    {"ot=p:63", AM_ADJ_NONE, 1},
    {"ot=th:", AM_ADJ_NONE, 1},
    {"ot=th:123456789abcdef", AM_ADJ_NONE, 1},
    {"ot=th:C", AM_ADJ_NONE, 1},
    {"ot=th:8g", AM_ADJ_NONE, 1},
    {"xot=th:8", AM_ADJ_NONE, 1},
    {"", AM_ADJ_NONE, 1},
};

static void test_signals_tracestate_spec_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ts_cases) / sizeof(ts_cases[0]); i++) {
        double adj = -1;
        print_message("tracestate \"%s\"\n", ts_cases[i].tracestate);
        enum am_adjust_source src =
            am_signals_tracestate(am_str_from(ts_cases[i].tracestate), &adj);
        assert_int_equal(src, ts_cases[i].src);
        /* the spec's figures are printed to 15-17 digits */
        assert_true(fabs(adj - ts_cases[i].adjusted) <= 1e-14 * ts_cases[i].adjusted);
    }
}

static void test_signals_sampling_attribute_wins(void **state)
{
    (void)state;
    struct ts_span t;
    struct am_span_facts f;
    ts_span_init(&t, "svc");
    t.span.trace_state = AM_STR("ot=th:c");
    ts_span_add(&t, &(struct ts_attr)TS_I("sampling.rate", 10));
    memset(&f, 0, sizeof(f));
    assert_int_equal(am_signals_sampling(&t.span, AM_STR("sampling.rate"), &f), AM_ADJ_ATTRIBUTE);
    assert_true(f.adjusted_count == 10);
    /* not configured: the tracestate */
    assert_int_equal(am_signals_sampling(&t.span, AM_STR_NULL, &f), AM_ADJ_THRESHOLD);
    assert_true(f.adjusted_count == 4);
    /* a multiplier below 1 is not one: the tracestate again */
    t.kv[0].val.u.i = 0;
    assert_int_equal(am_signals_sampling(&t.span, AM_STR("sampling.rate"), &f), AM_ADJ_THRESHOLD);
    t.span.trace_state = AM_STR_NULL;
    assert_int_equal(am_signals_sampling(&t.span, AM_STR("sampling.rate"), &f), AM_ADJ_NONE);
    assert_true(f.adjusted_count == 0);
    assert_true(am_str_eq(am_signals_source_name(AM_ADJ_PVALUE), AM_STR("p_value")));
}

/* ---- what derive makes of them ------------------------------------------- */

static const struct am_obs *find(const struct am_obs *o, size_t n, enum am_metric m, size_t nth)
{
    for (size_t i = 0; i < n; i++) {
        if (o[i].metric == m && nth-- == 0) {
            return &o[i];
        }
    }
    return NULL;
}

static void test_signals_dimensions_span_then_resource(void **state)
{
    (void)state;
    struct ts_span t;
    struct am_span_facts f;
    struct am_kv rkv[2];
    const struct am_str attrs[] = {AM_STR("deployment.environment"), AM_STR("tenant.id"),
                                   AM_STR("flag"), AM_STR("missing")};
    ts_span_init(&t, "svc");
    rkv[0].key = AM_STR("deployment.environment");
    rkv[0].val = (struct am_anyval){.type = AM_VAL_STRING, .u.s = AM_STR("prod")};
    rkv[1].key = AM_STR("tenant.id");
    rkv[1].val = (struct am_anyval){.type = AM_VAL_STRING, .u.s = AM_STR("from-resource")};
    t.res.attrs = (struct am_attrs){rkv, 2};
    ts_span_add(&t, &(struct ts_attr)TS_I("tenant.id", -7));
    ts_span_add(&t, &(struct ts_attr)TS_B("flag", 1));
    memset(&f, 0, sizeof(f));
    am_signals_dimensions(&t.span, attrs, 4, &f);
    assert_int_equal(f.dims_set, 0x7);
    assert_true(am_str_eq(f.dims[0], AM_STR("prod")));
    assert_true(am_str_eq(f.dims[1], AM_STR("-7"))); /* the span wins over its resource */
    assert_true(am_str_eq(f.dims[2], AM_STR("true")));
    /* an empty string is absent */
    t.kv[0].val = (struct am_anyval){.type = AM_VAL_STRING, .u.s = AM_STR("")};
    am_signals_dimensions(&t.span, attrs, 2, &f);
    assert_int_equal(f.dims_set, 0x1);
}

static void test_derive_dimensions_follow_builtin_labels(void **state)
{
    (void)state;
    struct ts_span t;
    struct am_span_facts f;
    struct am_obs out[AM_DERIVE_MAX_OBS];
    const char *labels[] = {"environment", "tenant"};
    const uint64_t masks[] = {~UINT64_C(0), UINT64_C(1) << AM_M_AGENT_ESTIMATED_COST_TOTAL};
    const struct am_str attrs[] = {AM_STR("env"), AM_STR("tenant.id")};
    const struct am_str defs[] = {AM_STR("unset"), AM_STR("none")};
    struct am_derive_opts opts = {.dim_defaults = defs, .dim_count = 2};
    am_family_set_dimensions(labels, masks, 2);
    ts_span_init(&t, "svc");
    ts_span_add(&t, &(struct ts_attr)TS_S("gen_ai.operation.name", "chat"));
    ts_span_add(&t, &(struct ts_attr)TS_S("gen_ai.request.model", "m"));
    ts_span_add(&t, &(struct ts_attr)TS_D("llm.cost.total", 0.5));
    ts_span_add(&t, &(struct ts_attr)TS_S("env", "staging"));
    am_classify(&t.span, &f);
    am_signals_dimensions(&t.span, attrs, 2, &f);
    size_t n = am_derive_span(&opts, &t.span, &f, out);
    const struct am_obs *o = find(out, n, AM_M_MODEL_INFERENCE_CALLS_TOTAL, 0);
    assert_true(am_str_eq(o->labels[1], AM_STR("m")));
    assert_true(am_str_eq(o->labels[2], AM_STR("staging")));
    assert_int_equal(o->labels[3].len, 0);
    o = find(out, n, AM_M_AGENT_ESTIMATED_COST_TOTAL, 0);
    assert_true(am_str_eq(o->labels[2], AM_STR("staging")));
    assert_true(am_str_eq(o->labels[3], AM_STR("none")));
    o = find(out, n, AM_M_AGENT_GRAPH_CALLS_TOTAL, 0);
    assert_true(am_str_eq(o->labels[3], AM_STR("success")));
    assert_true(am_str_eq(o->labels[4], AM_STR("staging")));
    am_family_set_dimensions(NULL, NULL, 0);
}

static size_t derive_chat(struct ts_span *t, uint64_t dur_ns, const char *tracestate,
                          struct am_obs *out)
{
    struct am_span_facts f;
    struct am_derive_opts opts = {0};
    t->span.start_ns = T0;
    t->span.end_ns = T0 + dur_ns;
    t->span.trace_state = am_str_from(tracestate);
    am_classify(&t->span, &f);
    am_signals_stream(&t->span, &f);
    am_signals_sampling(&t->span, AM_STR_NULL, &f);
    return am_derive_span(&opts, &t->span, &f, out);
}

static void test_derive_stream_ttft_and_per_token(void **state)
{
    (void)state;
    struct ts_span t;
    struct am_obs out[AM_DERIVE_MAX_OBS];
    ts_span_init(&t, "svc");
    ts_span_add(&t, &(struct ts_attr)TS_S("gen_ai.operation.name", "chat"));
    ts_span_add(&t, &(struct ts_attr)TS_S("gen_ai.request.model", "gpt-4o"));
    ts_span_add(&t, &(struct ts_attr)TS_S("gen_ai.agent.name", "writer"));
    ts_span_add(&t, &(struct ts_attr)TS_I("gen_ai.usage.output_tokens", 5));
    ts_span_add(&t, &(struct ts_attr)TS_D("gen_ai.response.time_to_first_chunk", 0.5));
    size_t n = derive_chat(&t, 2500 * MS, NULL, out);
    const struct am_obs *o = find(out, n, AM_M_GENAI_TIME_TO_FIRST_TOKEN, 0);
    assert_non_null(o);
    assert_true(o->value == 0.5);
    assert_true(am_str_eq(o->labels[0], AM_STR("writer")));
    assert_true(am_str_eq(o->labels[1], AM_STR("gpt-4o")));
    /* (2.5 s - 0.5 s) / (5 - 1) */
    o = find(out, n, AM_M_GENAI_TIME_PER_OUTPUT_TOKEN, 0);
    assert_non_null(o);
    assert_true(o->value == 0.5);
    assert_true(am_str_eq(o->labels[1], AM_STR("gpt-4o")));
    /* one output token: no per-token time */
    t.kv[3].val.u.i = 1;
    n = derive_chat(&t, 2500 * MS, NULL, out);
    assert_non_null(find(out, n, AM_M_GENAI_TIME_TO_FIRST_TOKEN, 0));
    assert_null(find(out, n, AM_M_GENAI_TIME_PER_OUTPUT_TOKEN, 0));
    /* ended before its first chunk (clock skew): TTFT kept, no per-token time */
    t.kv[3].val.u.i = 5;
    n = derive_chat(&t, 400 * MS, NULL, out);
    assert_null(find(out, n, AM_M_GENAI_TIME_PER_OUTPUT_TOKEN, 0));
    /* failed call: no per-token time */
    t.span.status_code = AM_STATUS_ERROR;
    n = derive_chat(&t, 2500 * MS, NULL, out);
    assert_non_null(find(out, n, AM_M_GENAI_TIME_TO_FIRST_TOKEN, 0));
    assert_null(find(out, n, AM_M_GENAI_TIME_PER_OUTPUT_TOKEN, 0));
}

static void test_derive_sampled_span_scales_counts(void **state)
{
    (void)state;
    struct ts_span t;
    struct am_obs out[AM_DERIVE_MAX_OBS];
    ts_span_init(&t, "svc");
    ts_span_add(&t, &(struct ts_attr)TS_S("gen_ai.operation.name", "chat"));
    ts_span_add(&t, &(struct ts_attr)TS_S("gen_ai.request.model", "gpt-4o"));
    ts_span_add(&t, &(struct ts_attr)TS_I("gen_ai.usage.input_tokens", 100));
    ts_span_add(&t, &(struct ts_attr)TS_D("llm.cost.total", 0.25));
    /* 1-in-10 at precision 4: adjusted count 9.99938968568813 */
    size_t n = derive_chat(&t, 1000 * MS, "ot=th:e666", out);
    double adj = 72057594037927936.0 / (72057594037927936.0 - (double)UINT64_C(0xe6660000000000));
    const struct am_obs *o = find(out, n, AM_M_MODEL_INFERENCE_CALLS_TOTAL, 0);
    assert_true(o->value == adj);
    o = find(out, n, AM_M_AGENT_TOKEN_USAGE_TOTAL, 0);
    assert_true(o->value == 100 * adj);
    o = find(out, n, AM_M_AGENT_ESTIMATED_COST_TOTAL, 0);
    assert_true(o->value == 0.25 * adj);
    o = find(out, n, AM_M_AGENT_GRAPH_CALLS_TOTAL, 0);
    assert_true(o->value == adj);
    /* histograms: the value as observed, counted as 10 observations */
    o = find(out, n, AM_M_MODEL_INFERENCE_DURATION, 0);
    assert_true(o->value == 1.0);
    assert_int_equal(o->weight, 10);
    /* 1-in-4 exactly */
    n = derive_chat(&t, 1000 * MS, "ot=th:c", out);
    assert_true(find(out, n, AM_M_AGENT_TOKEN_USAGE_TOTAL, 0)->value == 400);
    assert_int_equal(find(out, n, AM_M_MODEL_INFERENCE_DURATION, 0)->weight, 4);
    /* not sampled: as before */
    n = derive_chat(&t, 1000 * MS, NULL, out);
    assert_true(find(out, n, AM_M_AGENT_TOKEN_USAGE_TOTAL, 0)->value == 100);
    assert_int_equal(find(out, n, AM_M_MODEL_INFERENCE_DURATION, 0)->weight, 1);
}

static void test_derive_agent_edge(void **state)
{
    (void)state;
    struct am_span_facts f;
    struct am_obs out[2];
    const uint8_t tid[16] = {1};
    const uint8_t sid[8] = {2};
    memset(&f, 0, sizeof(f));
    f.outcome = AM_OUTCOME_ERROR;
    f.duration_ns = 1500 * MS;
    f.adjusted_count = 2;
    size_t n = am_derive_agent_edge(NULL, AM_STR("triage"), AM_STR("billing"), &f, tid, sid, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].metric, AM_M_AGENT_GRAPH_CALLS_TOTAL);
    assert_true(out[0].value == 2);
    assert_true(am_str_eq(out[0].labels[0], AM_STR("triage")));
    assert_true(am_str_eq(out[0].labels[1], AM_STR("billing")));
    assert_true(am_str_eq(out[0].labels[2], AM_STR("agent")));
    assert_true(am_str_eq(out[0].labels[3], AM_STR("error")));
    assert_int_equal(out[1].metric, AM_M_AGENT_GRAPH_CALL_DURATION);
    assert_true(out[1].value == 1.5);
    assert_int_equal(out[1].weight, 2);
    assert_true(am_str_eq(out[1].labels[1], AM_STR("billing")));
    assert_memory_equal(out[1].span_id, sid, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signals_stream_reads_each_source),
        cmocka_unit_test(test_signals_stream_only_on_inference),
        cmocka_unit_test(test_signals_tracestate_spec_examples),
        cmocka_unit_test(test_signals_sampling_attribute_wins),
        cmocka_unit_test(test_derive_stream_ttft_and_per_token),
        cmocka_unit_test(test_derive_sampled_span_scales_counts),
        cmocka_unit_test(test_derive_agent_edge),
        cmocka_unit_test(test_signals_dimensions_span_then_resource),
        cmocka_unit_test(test_derive_dimensions_follow_builtin_labels),
    };
    return cmocka_run_group_tests_name("signals", tests, NULL, NULL);
}
