/*
 * test_derive.c - am_derive_span on classified hand-built spans: the exact
 * observation list (metric, kind, value, label values, exemplar) for agent,
 * inference and tool spans, cost rules, and semconv on/off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "am/derive.h"
#include "genai_span.h"

#define T0 UINT64_C(1700000000000000000)

struct want_obs {
    enum am_metric m;
    enum am_obs_kind k;
    double v;
    const char *l[AM_MAX_LABELS]; /* NULL = empty */
};

struct derive_case {
    const char *name;
    struct ts_attr attrs[16];
    const char *service; /* resource service.name; NULL = no resource */
    enum am_span_status status;
    uint64_t duration_ns;
    bool semconv;
    bool no_pricing;
    struct want_obs want[AM_DERIVE_MAX_OBS];
    size_t nwant;
};

#define INC AM_OBS_INC
#define OBS AM_OBS_OBSERVE

static struct am_pricing *test_pricing(void)
{
    struct am_pricing *p = am_pricing_create();
    struct am_price gpt4o = {
        .input = 2.5, .output = 10, .cached_input = 1.25, .has_cached_input = true};
    struct am_price mini = {.input = 0.15, .output = 0.6};
    am_pricing_set(p, AM_STR("gpt-4o"), &gpt4o);
    am_pricing_set(p, AM_STR("gpt-4o-mini"), &mini);
    am_pricing_freeze(p);
    return p;
}

static void check_label(struct am_str got, const char *want, size_t obs, size_t idx)
{
    const char *w = want ? want : "";
    if (got.len != strlen(w) || (got.len > 0 && memcmp(got.ptr, w, got.len) != 0)) {
        print_error("obs %zu label %zu: got \"%.*s\", want \"%s\"\n", obs, idx, (int)got.len,
                    got.ptr ? got.ptr : "", w);
        fail();
    }
}

static void check_obs(const struct am_obs *got, size_t n, const struct am_span *span,
                      const struct want_obs *want, size_t nwant)
{
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        print_message("  obs %zu: metric %d value %.17g\n", i, (int)got[i].metric, got[i].value);
        assert_int_equal(got[i].metric, want[i].m);
        assert_int_equal(got[i].kind, want[i].k);
        assert_true(got[i].value == want[i].v);
        for (size_t l = 0; l < AM_MAX_LABELS; l++) {
            check_label(got[i].labels[l], want[i].l[l], i, l);
        }
        assert_int_equal(got[i].has_exemplar, 1);
        assert_memory_equal(got[i].trace_id, span->trace_id, 16);
        assert_memory_equal(got[i].span_id, span->span_id, 8);
    }
}

static void run_case(const struct derive_case *c, const struct am_pricing *pricing)
{
    struct ts_span t;
    struct am_span_facts f;
    struct am_obs out[AM_DERIVE_MAX_OBS];
    struct am_derive_opts opts = {.pricing = c->no_pricing ? NULL : pricing,
                                  .semconv_metrics = c->semconv};

    print_message("case %s\n", c->name);
    ts_span_init(&t, c->service ? c->service : "");
    if (c->service == NULL) {
        t.span.resource = NULL;
    }
    ts_span_add_all(&t, c->attrs);
    t.span.status_code = c->status;
    t.span.start_ns = T0;
    t.span.end_ns = T0 + c->duration_ns;
    am_classify(&t.span, &f);
    size_t n = am_derive_span(&opts, &t.span, &f, out);
    check_obs(out, n, &t.span, c->want, c->nwant);
}

static void run_cases(const struct derive_case *cases, size_t count)
{
    struct am_pricing *p = test_pricing();
    for (size_t i = 0; i < count; i++) {
        run_case(&cases[i], p);
    }
    am_pricing_destroy(p);
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

static const struct derive_case agent_cases[] = {
    {"agent, 0.5 s exactly, usage not counted",
     {TS_S("gen_ai.operation.name", "invoke_agent"),
      TS_S("gen_ai.agent.name", "planner"),
      TS_I("gen_ai.usage.input_tokens", 100),
      TS_S("gen_ai.request.model", "gpt-4o"),
      {0}},
     "svc",
     AM_STATUS_UNSET,
     500000000,
     false,
     false,
     {{AM_M_AGENT_REQUESTS_TOTAL, INC, 1, {"planner", "success"}},
      {AM_M_AGENT_REQUEST_DURATION, OBS, 0.5, {"planner"}}},
     2},
    {"agent, timeout, service name",
     {TS_S("gen_ai.operation.name", "invoke_agent"), TS_S("error.type", "TimeoutError"), {0}},
     "checkout",
     AM_STATUS_ERROR,
     30000000000u,
     false,
     false,
     {{AM_M_AGENT_REQUESTS_TOTAL, INC, 1, {"checkout", "timeout"}},
      {AM_M_AGENT_REQUEST_DURATION, OBS, 30.0, {"checkout"}}},
     2},
    {"agent, error, no resource, semconv",
     {TS_S("gen_ai.operation.name", "invoke_agent"), {0}},
     NULL,
     AM_STATUS_ERROR,
     1,
     true,
     false,
     {{AM_M_AGENT_REQUESTS_TOTAL, INC, 1, {"unknown", "error"}},
      {AM_M_AGENT_REQUEST_DURATION, OBS, 1e-9, {"unknown"}},
      {AM_M_GENAI_OPERATION_DURATION, OBS, 1e-9, {"invoke_agent", NULL, NULL, NULL, "_OTHER"}}},
     3},
};

static void test_derive_agent_span_gives_request_metrics(void **state)
{
    RUN(agent_cases);
}

#define CHAT_ATTRS                                                                                 \
    TS_S("gen_ai.operation.name", "chat"), TS_S("gen_ai.provider.name", "openai"),                 \
        TS_S("gen_ai.request.model", "gpt-4o"),                                                    \
        TS_S("gen_ai.response.model", "gpt-4o-2024-08-06"), TS_S("gen_ai.agent.name", "planner"),  \
        TS_I("gen_ai.usage.input_tokens", 1000), TS_I("gen_ai.usage.output_tokens", 500),          \
        TS_I("gen_ai.usage.cache_read.input_tokens", 400),                                         \
        TS_I("gen_ai.usage.reasoning.output_tokens", 50)

#define RESP "gpt-4o-2024-08-06"
#define CHAT_OBS                                                                                   \
    {AM_M_MODEL_INFERENCE_CALLS_TOTAL, INC, 1, {"planner", RESP}},                                 \
        {AM_M_MODEL_INFERENCE_DURATION, OBS, 1.5, {"planner", RESP}},                              \
        {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"planner", RESP, "model", "success"}},             \
        {AM_M_AGENT_TOKEN_USAGE_TOTAL, INC, 1000, {"planner", RESP, "input"}},                     \
        {AM_M_AGENT_TOKEN_USAGE_TOTAL, INC, 500, {"planner", RESP, "output"}},                     \
        {AM_M_AGENT_TOKEN_USAGE_DETAIL_TOTAL, INC, 400, {"planner", RESP, "cache_read"}},          \
        {AM_M_AGENT_TOKEN_USAGE_DETAIL_TOTAL, INC, 50, {"planner", RESP, "reasoning"}},            \
    {                                                                                              \
        /* (600 x 2.5 + 400 x 1.25 + 500 x 10) / 1e6 */                                            \
        AM_M_AGENT_ESTIMATED_COST_TOTAL, INC, 0.007,                                               \
        {                                                                                          \
            "planner", RESP                                                                        \
        }                                                                                          \
    }

static const struct derive_case inference_cases[] = {
    {"chat, priced by dated prefix, semconv off",
     {CHAT_ATTRS, {0}},
     "svc",
     AM_STATUS_OK,
     1500000000,
     false,
     false,
     {CHAT_OBS},
     8},
    {"chat, semconv on",
     {CHAT_ATTRS, {0}},
     "svc",
     AM_STATUS_OK,
     1500000000,
     true,
     false,
     {CHAT_OBS,
      {AM_M_GENAI_OPERATION_DURATION, OBS, 1.5, {"chat", "openai", "gpt-4o", RESP, NULL}},
      {AM_M_GENAI_TOKEN_USAGE, OBS, 1000, {"chat", "openai", "gpt-4o", RESP, "input"}},
      {AM_M_GENAI_TOKEN_USAGE, OBS, 500, {"chat", "openai", "gpt-4o", RESP, "output"}}},
     11},
    {"unpriced model counts unpriced tokens",
     {TS_S("gen_ai.operation.name", "chat"),
      TS_S("gen_ai.request.model", "llama-3-70b"),
      TS_I("gen_ai.usage.input_tokens", 10),
      TS_I("gen_ai.usage.output_tokens", 5),
      TS_I("gen_ai.usage.cache_write.input_tokens", 3),
      {0}},
     "svc",
     AM_STATUS_UNSET,
     200000000,
     false,
     false,
     {{AM_M_MODEL_INFERENCE_CALLS_TOTAL, INC, 1, {"svc", "llama-3-70b"}},
      {AM_M_MODEL_INFERENCE_DURATION, OBS, 0.2, {"svc", "llama-3-70b"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"svc", "llama-3-70b", "model", "success"}},
      {AM_M_AGENT_TOKEN_USAGE_TOTAL, INC, 10, {"svc", "llama-3-70b", "input"}},
      {AM_M_AGENT_TOKEN_USAGE_TOTAL, INC, 5, {"svc", "llama-3-70b", "output"}},
      {AM_M_AGENT_TOKEN_USAGE_DETAIL_TOTAL, INC, 3, {"svc", "llama-3-70b", "cache_write"}},
      {AM_M_SELF_UNPRICED_TOKENS_TOTAL, INC, 15, {"llama-3-70b"}}},
     7},
    {"carried cost is taken at its word",
     {TS_S("openinference.span.kind", "LLM"),
      TS_S("llm.model_name", "llama-3-70b"),
      TS_I("llm.token_count.prompt", 10),
      TS_D("llm.cost.total", 0.25),
      {0}},
     "svc",
     AM_STATUS_UNSET,
     0,
     false,
     false,
     {{AM_M_MODEL_INFERENCE_CALLS_TOTAL, INC, 1, {"svc", "llama-3-70b"}},
      {AM_M_MODEL_INFERENCE_DURATION, OBS, 0, {"svc", "llama-3-70b"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"svc", "llama-3-70b", "model", "success"}},
      {AM_M_AGENT_TOKEN_USAGE_TOTAL, INC, 10, {"svc", "llama-3-70b", "input"}},
      {AM_M_AGENT_ESTIMATED_COST_TOTAL, INC, 0.25, {"svc", "llama-3-70b"}}},
     5},
    {"carried cost wins over the price table",
     {TS_S("gen_ai.operation.name", "chat"),
      TS_S("gen_ai.request.model", "gpt-4o"),
      TS_I("gen_ai.usage.input_tokens", 1000000),
      TS_S("gen_ai.usage.cost", "0.125"),
      {0}},
     "svc",
     AM_STATUS_UNSET,
     0,
     false,
     false,
     {{AM_M_MODEL_INFERENCE_CALLS_TOTAL, INC, 1, {"svc", "gpt-4o"}},
      {AM_M_MODEL_INFERENCE_DURATION, OBS, 0, {"svc", "gpt-4o"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"svc", "gpt-4o", "model", "success"}},
      {AM_M_AGENT_TOKEN_USAGE_TOTAL, INC, 1000000, {"svc", "gpt-4o", "input"}},
      {AM_M_AGENT_ESTIMATED_COST_TOTAL, INC, 0.125, {"svc", "gpt-4o"}}},
     5},
    {"priced model without tokens adds cost 0",
     {TS_S("gen_ai.operation.name", "chat"), TS_S("gen_ai.request.model", "gpt-4o-mini"), {0}},
     "svc",
     AM_STATUS_UNSET,
     0,
     false,
     false,
     {{AM_M_MODEL_INFERENCE_CALLS_TOTAL, INC, 1, {"svc", "gpt-4o-mini"}},
      {AM_M_MODEL_INFERENCE_DURATION, OBS, 0, {"svc", "gpt-4o-mini"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"svc", "gpt-4o-mini", "model", "success"}},
      {AM_M_AGENT_ESTIMATED_COST_TOTAL, INC, 0, {"svc", "gpt-4o-mini"}}},
     4},
    {"unpriced model without tokens adds nothing",
     {TS_S("gen_ai.operation.name", "embeddings"), {0}},
     "svc",
     AM_STATUS_UNSET,
     0,
     false,
     false,
     {{AM_M_MODEL_INFERENCE_CALLS_TOTAL, INC, 1, {"svc", "unknown"}},
      {AM_M_MODEL_INFERENCE_DURATION, OBS, 0, {"svc", "unknown"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"svc", "unknown", "model", "success"}}},
     3},
    {"unknown response model priced by request model",
     {TS_S("gen_ai.operation.name", "chat"),
      TS_S("gen_ai.request.model", "gpt-4o-mini"),
      TS_S("gen_ai.response.model", "my-deployment"),
      TS_I("gen_ai.usage.output_tokens", 1000000),
      {0}},
     "svc",
     AM_STATUS_UNSET,
     0,
     false,
     false,
     {{AM_M_MODEL_INFERENCE_CALLS_TOTAL, INC, 1, {"svc", "my-deployment"}},
      {AM_M_MODEL_INFERENCE_DURATION, OBS, 0, {"svc", "my-deployment"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"svc", "my-deployment", "model", "success"}},
      {AM_M_AGENT_TOKEN_USAGE_TOTAL, INC, 1000000, {"svc", "my-deployment", "output"}},
      {AM_M_AGENT_ESTIMATED_COST_TOTAL, INC, 0.6, {"svc", "my-deployment"}}},
     5},
    {"no price table: every model unpriced",
     {TS_S("gen_ai.operation.name", "chat"),
      TS_S("gen_ai.request.model", "gpt-4o"),
      TS_I("gen_ai.usage.output_tokens", 7),
      {0}},
     "svc",
     AM_STATUS_UNSET,
     0,
     false,
     true,
     {{AM_M_MODEL_INFERENCE_CALLS_TOTAL, INC, 1, {"svc", "gpt-4o"}},
      {AM_M_MODEL_INFERENCE_DURATION, OBS, 0, {"svc", "gpt-4o"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"svc", "gpt-4o", "model", "success"}},
      {AM_M_AGENT_TOKEN_USAGE_TOTAL, INC, 7, {"svc", "gpt-4o", "output"}},
      {AM_M_SELF_UNPRICED_TOKENS_TOTAL, INC, 7, {"gpt-4o"}}},
     5},
    {"semconv error_type from error.type",
     {TS_S("gen_ai.operation.name", "chat"),
      TS_S("gen_ai.system", "anthropic"),
      TS_S("gen_ai.request.model", "gpt-4o"),
      TS_S("error.type", "TimeoutError"),
      {0}},
     "svc",
     AM_STATUS_ERROR,
     2000000000,
     true,
     false,
     {{AM_M_MODEL_INFERENCE_CALLS_TOTAL, INC, 1, {"svc", "gpt-4o"}},
      {AM_M_MODEL_INFERENCE_DURATION, OBS, 2.0, {"svc", "gpt-4o"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"svc", "gpt-4o", "model", "timeout"}},
      {AM_M_AGENT_ESTIMATED_COST_TOTAL, INC, 0, {"svc", "gpt-4o"}},
      {AM_M_GENAI_OPERATION_DURATION,
       OBS,
       2.0,
       {"chat", "anthropic", "gpt-4o", NULL, "TimeoutError"}}},
     5},
};

static void test_derive_inference_span_gives_model_metrics(void **state)
{
    RUN(inference_cases);
}

static const struct derive_case tool_cases[] = {
    {"tool error without error.type, semconv",
     {TS_S("gen_ai.operation.name", "execute_tool"), TS_S("gen_ai.tool.name", "search"), {0}},
     "svc",
     AM_STATUS_ERROR,
     250000000,
     true,
     false,
     {{AM_M_AGENT_TOOL_CALLS_TOTAL, INC, 1, {"svc", "search", "error"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"svc", "search", "tool", "error"}},
      {AM_M_AGENT_TOOL_CALL_DURATION, OBS, 0.25, {"svc", "search"}},
      {AM_M_GENAI_OPERATION_DURATION, OBS, 0.25, {"execute_tool", NULL, NULL, NULL, "_OTHER"}}},
     4},
    {"tool without a name, own agent name",
     {TS_S("gen_ai.operation.name", "execute_tool"), TS_S("gen_ai.agent.name", "planner"), {0}},
     "svc",
     AM_STATUS_OK,
     50000000,
     false,
     false,
     {{AM_M_AGENT_TOOL_CALLS_TOTAL, INC, 1, {"planner", "unknown", "success"}},
      {AM_M_AGENT_GRAPH_CALLS_TOTAL, INC, 1, {"planner", "unknown", "tool", "success"}},
      {AM_M_AGENT_TOOL_CALL_DURATION, OBS, 0.05, {"planner", "unknown"}}},
     3},
};

static void test_derive_tool_span_gives_tool_metrics(void **state)
{
    RUN(tool_cases);
}

/* Wrapper, fetch_response and unclassified spans give nothing, usage or not. */
static const struct derive_case silent_cases[] = {
    {"vercel wrapper with usage",
     {TS_S("ai.operationId", "ai.generateText"),
      TS_S("ai.model.id", "gpt-4o"),
      TS_I("ai.usage.promptTokens", 100),
      {0}},
     "svc",
     AM_STATUS_UNSET,
     1000,
     true,
     false,
     {{0}},
     0},
    {"fetch_response with usage",
     {TS_S("gen_ai.operation.name", "fetch_response"), TS_I("gen_ai.usage.input_tokens", 100), {0}},
     "svc",
     AM_STATUS_UNSET,
     1000,
     true,
     false,
     {{0}},
     0},
    {"plain http span",
     {TS_S("http.request.method", "GET"), {0}},
     "svc",
     AM_STATUS_ERROR,
     1000,
     true,
     false,
     {{0}},
     0},
};

static void test_derive_other_spans_give_nothing(void **state)
{
    RUN(silent_cases);
}

static void test_derive_agent_name_falls_back(void **state)
{
    struct am_span_facts f;
    memset(&f, 0, sizeof(f));
    struct am_str s = am_derive_agent_name(&f);
    assert_true(am_str_eq(s, AM_STR("unknown")));
    f.service_name = AM_STR("svc");
    assert_true(am_str_eq(am_derive_agent_name(&f), AM_STR("svc")));
    f.agent_name = AM_STR("planner");
    assert_true(am_str_eq(am_derive_agent_name(&f), AM_STR("planner")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive_agent_span_gives_request_metrics),
        cmocka_unit_test(test_derive_inference_span_gives_model_metrics),
        cmocka_unit_test(test_derive_tool_span_gives_tool_metrics),
        cmocka_unit_test(test_derive_other_spans_give_nothing),
        cmocka_unit_test(test_derive_agent_name_falls_back),
    };
    return cmocka_run_group_tests_name("derive", tests, NULL, NULL);
}
