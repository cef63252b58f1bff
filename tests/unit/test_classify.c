/*
 * test_classify.c - am_classify over hand-built spans: every dialect of
 * SPEC.md 3.1 gives the same facts, current names win over older ones,
 * token values in any numeric form, outcome/timeout and duration rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "am/arena.h"
#include "am/classify.h"
#include "am/err.h"
#include "am/otlp.h"
#include "genai_span.h"
#include "testsupport.h"

#define IN (1u << AM_TOK_INPUT)
#define OUT (1u << AM_TOK_OUTPUT)
#define CR (1u << AM_TOK_CACHE_READ)
#define CW (1u << AM_TOK_CACHE_WRITE)
#define RS (1u << AM_TOK_REASONING)

static void assert_str(struct am_str got, const char *want, const char *what)
{
    char buf[256];
    size_t n = got.len < sizeof(buf) - 1 ? got.len : sizeof(buf) - 1;
    if (n > 0) {
        memcpy(buf, got.ptr, n);
    }
    buf[n] = '\0';
    if (strcmp(buf, want) != 0) {
        print_error("%s: got \"%s\", want \"%s\"\n", what, buf, want);
        fail();
    }
}

static void classify_list(const struct ts_attr *attrs, struct ts_span *t, struct am_span_facts *f)
{
    ts_span_init(t, "svc");
    ts_span_add_all(t, attrs);
    am_classify(&t->span, f);
}

/* What a case expects; strings compare exactly ("" = absent). */
struct want {
    enum am_op op;
    const char *operation;
    const char *provider;
    const char *request_model;
    const char *response_model;
    const char *agent;
    const char *tool;
    const char *conversation;
    uint32_t present;
    uint64_t tok[AM_TOK_COUNT];
};

static void check(const char *name, const struct am_span_facts *f, const struct want *w)
{
    print_message("case %s\n", name);
    assert_int_equal(f->op, w->op);
    assert_str(f->operation, w->operation, "operation");
    assert_str(f->provider, w->provider, "provider");
    assert_str(f->request_model, w->request_model, "request_model");
    assert_str(f->response_model, w->response_model, "response_model");
    assert_str(f->agent_name, w->agent, "agent_name");
    assert_str(f->tool_name, w->tool, "tool_name");
    assert_str(f->conversation_id, w->conversation, "conversation_id");
    assert_int_equal(f->tokens_present, w->present);
    for (int t = 0; t < AM_TOK_COUNT; t++) {
        assert_int_equal(f->tokens[t], w->tok[t]);
    }
}

struct dialect_case {
    const char *name;
    struct ts_attr attrs[16];
    uint32_t present; /* the token subsets this dialect can express */
};

/* Inference spans: the same call described in each dialect. */
static const struct dialect_case inference_cases[] = {
    {"otel current",
     {TS_S("gen_ai.operation.name", "chat"),
      TS_S("gen_ai.provider.name", "openai"),
      TS_S("gen_ai.request.model", "gpt-4o"),
      TS_S("gen_ai.response.model", "gpt-4o-2024-08-06"),
      TS_I("gen_ai.usage.input_tokens", 100),
      TS_I("gen_ai.usage.output_tokens", 40),
      TS_I("gen_ai.usage.cache_read.input_tokens", 30),
      TS_I("gen_ai.usage.cache_write.input_tokens", 10),
      TS_I("gen_ai.usage.reasoning.output_tokens", 5),
      TS_S("gen_ai.agent.name", "planner"),
      TS_S("gen_ai.conversation.id", "c-1"),
      {0}},
     IN | OUT | CR | CW | RS},
    {"older semconv",
     {TS_S("gen_ai.operation.name", "chat"),
      TS_S("gen_ai.system", "openai"),
      TS_S("gen_ai.request.model", "gpt-4o"),
      TS_S("gen_ai.response.model", "gpt-4o-2024-08-06"),
      TS_I("gen_ai.usage.prompt_tokens", 100),
      TS_I("gen_ai.usage.completion_tokens", 40),
      TS_I("gen_ai.usage.cache_read.input_tokens", 30),
      TS_I("gen_ai.usage.cache_creation.input_tokens", 10),
      TS_S("gen_ai.agent.name", "planner"),
      TS_S("gen_ai.conversation.id", "c-1"),
      {0}},
     IN | OUT | CR | CW},
    {"openllmetry",
     {TS_S("llm.request.type", "chat"),
      TS_S("gen_ai.system", "openai"),
      TS_S("gen_ai.request.model", "gpt-4o"),
      TS_S("gen_ai.response.model", "gpt-4o-2024-08-06"),
      TS_I("gen_ai.usage.prompt_tokens", 100),
      TS_I("gen_ai.usage.completion_tokens", 40),
      TS_I("gen_ai.usage.cache_read_input_tokens", 30),
      TS_I("gen_ai.usage.cache_creation_input_tokens", 10),
      TS_S("gen_ai.agent.name", "planner"),
      TS_S("traceloop.association.properties.session_id", "c-1"),
      {0}},
     IN | OUT | CR | CW},
    {"openinference",
     {TS_S("openinference.span.kind", "LLM"),
      TS_S("llm.provider", "openai"),
      TS_S("llm.model_name", "gpt-4o"),
      TS_S("llm.response.model_name", "gpt-4o-2024-08-06"),
      TS_I("llm.token_count.prompt", 100),
      TS_I("llm.token_count.completion", 40),
      TS_I("llm.token_count.prompt_details.cache_read", 30),
      TS_I("llm.token_count.prompt_details.cache_write", 10),
      TS_I("llm.token_count.completion_details.reasoning", 5),
      TS_S("agent.name", "planner"),
      TS_S("session.id", "c-1"),
      {0}},
     IN | OUT | CR | CW | RS},
    {"vercel ai sdk v5",
     {TS_S("ai.operationId", "ai.generateText.doGenerate"),
      TS_S("ai.model.provider", "openai.chat"),
      TS_S("ai.model.id", "gpt-4o"),
      TS_S("gen_ai.response.model", "gpt-4o-2024-08-06"),
      TS_I("ai.usage.inputTokens", 100),
      TS_I("ai.usage.outputTokens", 40),
      TS_I("ai.usage.cachedInputTokens", 30),
      TS_I("ai.usage.reasoningTokens", 5),
      TS_S("ai.telemetry.functionId", "planner"),
      {0}},
     IN | OUT | CR | RS},
    {"vercel ai sdk v4",
     {TS_S("ai.operationId", "ai.streamText.doStream"),
      TS_S("gen_ai.system", "openai"),
      TS_S("ai.model.id", "gpt-4o"),
      TS_S("ai.response.model", "gpt-4o-2024-08-06"),
      TS_I("ai.usage.promptTokens", 100),
      TS_I("ai.usage.completionTokens", 40),
      TS_S("ai.telemetry.functionId", "planner"),
      {0}},
     IN | OUT},
};

static void test_classify_inference_dialects_give_same_facts(void **state)
{
    for (size_t i = 0; i < sizeof(inference_cases) / sizeof(inference_cases[0]); i++) {
        const struct dialect_case *c = &inference_cases[i];
        struct ts_span t;
        struct am_span_facts f;
        classify_list(c->attrs, &t, &f);
        bool has_conv = strncmp(c->name, "vercel", 6) != 0;
        struct want w = {AM_OP_INFERENCE,     "chat",    "openai", "gpt-4o",
                         "gpt-4o-2024-08-06", "planner", "",       has_conv ? "c-1" : "",
                         c->present,          {0}};
        uint64_t all[AM_TOK_COUNT] = {100, 40, 30, 10, 5};
        for (int k = 0; k < AM_TOK_COUNT; k++) {
            w.tok[k] = (c->present & (1u << k)) ? all[k] : 0;
        }
        check(c->name, &f, &w);
        assert_int_equal(f.outcome, AM_OUTCOME_SUCCESS);
        assert_false(f.has_cost);
    }
}

/* Agent spans, and the conversation id, in each dialect that has them. */
static const struct dialect_case agent_cases[] = {
    {"otel",
     {TS_S("gen_ai.operation.name", "invoke_agent"),
      TS_S("gen_ai.agent.name", "planner"),
      TS_S("gen_ai.conversation.id", "c-1"),
      {0}},
     0},
    {"openllmetry",
     {TS_S("traceloop.span.kind", "agent"),
      TS_S("traceloop.entity.name", "planner"),
      TS_S("traceloop.association.properties.session_id", "c-1"),
      {0}},
     0},
    {"openinference",
     {TS_S("openinference.span.kind", "AGENT"),
      TS_S("agent.name", "planner"),
      TS_S("session.id", "c-1"),
      {0}},
     0},
};

static void test_classify_agent_dialects_give_same_facts(void **state)
{
    static const struct want w = {AM_OP_AGENT, "invoke_agent", "", "", "", "planner",
                                  "",          "c-1",          0,  {0}};
    for (size_t i = 0; i < sizeof(agent_cases) / sizeof(agent_cases[0]); i++) {
        struct ts_span t;
        struct am_span_facts f;
        classify_list(agent_cases[i].attrs, &t, &f);
        check(agent_cases[i].name, &f, &w);
    }
}

static const struct dialect_case tool_cases[] = {
    {"otel",
     {TS_S("gen_ai.operation.name", "execute_tool"), TS_S("gen_ai.tool.name", "search"), {0}},
     0},
    {"openllmetry",
     {TS_S("traceloop.span.kind", "tool"), TS_S("traceloop.entity.name", "search"), {0}},
     0},
    {"openinference",
     {TS_S("openinference.span.kind", "TOOL"), TS_S("tool.name", "search"), {0}},
     0},
    {"vercel", {TS_S("ai.operationId", "ai.toolCall"), TS_S("ai.toolCall.name", "search"), {0}}, 0},
};

static void test_classify_tool_dialects_give_same_facts(void **state)
{
    /* traceloop.entity.name names the tool here, never the agent */
    static const struct want w = {AM_OP_TOOL, "execute_tool", "", "", "", "", "search", "", 0, {0}};
    for (size_t i = 0; i < sizeof(tool_cases) / sizeof(tool_cases[0]); i++) {
        struct ts_span t;
        struct am_span_facts f;
        classify_list(tool_cases[i].attrs, &t, &f);
        check(tool_cases[i].name, &f, &w);
    }
}

/* Operation values of every dialect. */
static void test_classify_operation_values_map_to_op(void **state)
{
    static const struct {
        const char *key;
        const char *value;
        enum am_op op;
        const char *operation;
    } cases[] = {
        {"gen_ai.operation.name", "text_completion", AM_OP_INFERENCE, "text_completion"},
        {"gen_ai.operation.name", "generate_content", AM_OP_INFERENCE, "generate_content"},
        {"gen_ai.operation.name", "embeddings", AM_OP_INFERENCE, "embeddings"},
        {"gen_ai.operation.name", "fetch_response", AM_OP_FETCH, "fetch_response"},
        {"gen_ai.operation.name", "create_agent", AM_OP_OTHER, "create_agent"},
        {"llm.request.type", "completion", AM_OP_INFERENCE, "text_completion"},
        {"llm.request.type", "embedding", AM_OP_INFERENCE, "embeddings"},
        {"traceloop.span.kind", "workflow", AM_OP_OTHER, ""},
        {"traceloop.span.kind", "task", AM_OP_OTHER, ""},
        {"openinference.span.kind", "EMBEDDING", AM_OP_INFERENCE, "embeddings"},
        {"openinference.span.kind", "CHAIN", AM_OP_OTHER, ""},
        {"openinference.span.kind", "llm", AM_OP_INFERENCE, "chat"},
        {"ai.operationId", "ai.generateText", AM_OP_WRAPPER, "ai.generateText"},
        {"ai.operationId", "ai.streamText", AM_OP_WRAPPER, "ai.streamText"},
        {"ai.operationId", "ai.embed.doEmbed", AM_OP_INFERENCE, "embeddings"},
        {"ai.operationId", "ai.somethingNew", AM_OP_OTHER, ""},
        {"http.method", "GET", AM_OP_OTHER, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ts_attr a[] = {TS_S(cases[i].key, cases[i].value), {0}};
        struct ts_span t;
        struct am_span_facts f;
        print_message("case %s=%s\n", cases[i].key, cases[i].value);
        classify_list(a, &t, &f);
        assert_int_equal(f.op, cases[i].op);
        assert_str(f.operation, cases[i].operation, "operation");
    }
}

/* traceloop.entity.name on a workflow span is neither agent nor tool. */
static void test_classify_entity_name_on_workflow_is_ignored(void **state)
{
    struct ts_attr a[] = {
        TS_S("traceloop.span.kind", "workflow"), TS_S("traceloop.entity.name", "pipeline"), {0}};
    struct ts_span t;
    struct am_span_facts f;
    classify_list(a, &t, &f);
    assert_int_equal(f.agent_name.len, 0);
    assert_int_equal(f.tool_name.len, 0);
}

/* Current names win whatever the attribute order; so does the semconv op. */
static void test_classify_current_name_wins_over_older(void **state)
{
    static const struct ts_attr lists[][8] = {
        {TS_I("gen_ai.usage.prompt_tokens", 99), TS_I("gen_ai.usage.input_tokens", 10),
         TS_S("gen_ai.system", "old"), TS_S("gen_ai.provider.name", "new"),
         TS_S("llm.request.type", "embedding"), TS_S("gen_ai.operation.name", "chat"),
         TS_I("gen_ai.usage.cache_creation.input_tokens", 77),
         TS_I("gen_ai.usage.cache_write.input_tokens", 7)},
        {TS_I("gen_ai.usage.cache_write.input_tokens", 7), TS_S("gen_ai.operation.name", "chat"),
         TS_S("llm.request.type", "embedding"), TS_S("gen_ai.provider.name", "new"),
         TS_S("gen_ai.system", "old"), TS_I("gen_ai.usage.input_tokens", 10),
         TS_I("gen_ai.usage.prompt_tokens", 99),
         TS_I("gen_ai.usage.cache_creation.input_tokens", 77)},
    };
    for (size_t i = 0; i < 2; i++) {
        struct ts_span t;
        struct am_span_facts f;
        ts_span_init(&t, "svc");
        for (size_t k = 0; k < 8; k++) {
            ts_span_add(&t, &lists[i][k]);
        }
        am_classify(&t.span, &f);
        assert_int_equal(f.tokens[AM_TOK_INPUT], 10);
        assert_int_equal(f.tokens[AM_TOK_CACHE_WRITE], 7);
        assert_str(f.provider, "new", "provider");
        assert_str(f.operation, "chat", "operation");
    }
}

/* An unrecognized dialect value falls through to the next operation key;
 * an unusable token value falls through to the next token key. */
static void test_classify_unusable_value_falls_through(void **state)
{
    struct ts_attr a[] = {TS_S("openinference.span.kind", "SOMETHING"),
                          TS_S("llm.request.type", "chat"),
                          TS_S("gen_ai.usage.input_tokens", "n/a"),
                          TS_I("gen_ai.usage.prompt_tokens", 12),
                          TS_S("gen_ai.request.model", ""),
                          TS_S("llm.model_name", "m"),
                          {0}};
    struct ts_span t;
    struct am_span_facts f;
    classify_list(a, &t, &f);
    assert_int_equal(f.op, AM_OP_INFERENCE);
    assert_int_equal(f.tokens[AM_TOK_INPUT], 12);
    assert_str(f.request_model, "m", "request_model");
}

static void test_classify_token_value_forms_are_accepted(void **state)
{
    static const struct {
        struct ts_attr a;
        bool present;
        uint64_t want;
    } cases[] = {
        {TS_I("gen_ai.usage.input_tokens", 1234), true, 1234},
        {TS_D("gen_ai.usage.input_tokens", 1234.0), true, 1234},
        {TS_S("gen_ai.usage.input_tokens", "1234"), true, 1234},
        {TS_S("gen_ai.usage.input_tokens", "1234.0"), true, 1234},
        {TS_I("gen_ai.usage.input_tokens", 0), true, 0},
        {TS_I("gen_ai.usage.input_tokens", 9007199254740993), true, 9007199254740993u},
        {TS_S("gen_ai.usage.input_tokens", "18446744073709551615"), true, UINT64_MAX},
        {TS_I("gen_ai.usage.input_tokens", -5), false, 0},
        {TS_D("gen_ai.usage.input_tokens", -1.0), false, 0},
        {TS_S("gen_ai.usage.input_tokens", "12abc"), false, 0},
        {TS_S("gen_ai.usage.input_tokens", ""), false, 0},
        {TS_B("gen_ai.usage.input_tokens", 1), false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ts_attr a[] = {cases[i].a, {0}};
        struct ts_span t;
        struct am_span_facts f;
        print_message("case %zu\n", i);
        classify_list(a, &t, &f);
        assert_int_equal((f.tokens_present & IN) != 0, cases[i].present);
        assert_true(f.tokens[AM_TOK_INPUT] == cases[i].want);
    }
}

static void test_classify_carried_cost_is_read(void **state)
{
    static const struct {
        struct ts_attr a;
        bool has;
        double want;
    } cases[] = {
        {TS_D("llm.cost.total", 0.0123), true, 0.0123},
        {TS_S("gen_ai.usage.cost", "0.5"), true, 0.5},
        {TS_I("operation.cost", 2), true, 2.0},
        {TS_D("llm.cost.total", -1.0), false, 0},
        {TS_S("gen_ai.usage.cost", "free"), false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ts_attr a[] = {cases[i].a, {0}};
        struct ts_span t;
        struct am_span_facts f;
        classify_list(a, &t, &f);
        assert_int_equal(f.has_cost, cases[i].has);
        assert_true(f.cost == cases[i].want);
    }
}

static void test_classify_error_type_sets_outcome(void **state)
{
    static const struct {
        enum am_span_status status;
        const char *error_type; /* NULL: attribute absent */
        enum am_outcome want;
    } cases[] = {
        {AM_STATUS_ERROR, "TimeoutError", AM_OUTCOME_TIMEOUT},
        {AM_STATUS_ERROR, "upstream_timeout", AM_OUTCOME_TIMEOUT},
        {AM_STATUS_ERROR, "Timeout", AM_OUTCOME_TIMEOUT},
        {AM_STATUS_ERROR, "TIMEOUT", AM_OUTCOME_TIMEOUT},
        {AM_STATUS_ERROR, "error", AM_OUTCOME_ERROR},
        {AM_STATUS_ERROR, "timeou", AM_OUTCOME_ERROR},
        {AM_STATUS_ERROR, NULL, AM_OUTCOME_ERROR},
        {AM_STATUS_UNSET, "TimeoutError", AM_OUTCOME_SUCCESS},
        {AM_STATUS_OK, "error", AM_OUTCOME_SUCCESS},
        {AM_STATUS_UNSET, NULL, AM_OUTCOME_SUCCESS},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ts_span t;
        struct am_span_facts f;
        ts_span_init(&t, "svc");
        if (cases[i].error_type) {
            struct ts_attr a = TS_S("error.type", cases[i].error_type);
            ts_span_add(&t, &a);
        }
        t.span.status_code = cases[i].status;
        am_classify(&t.span, &f);
        print_message("case %zu\n", i);
        assert_int_equal(f.outcome, cases[i].want);
        assert_str(f.error_type, cases[i].error_type ? cases[i].error_type : "", "error_type");
    }
}

static void test_classify_duration_is_integer_difference(void **state)
{
    static const struct {
        uint64_t start, end, want;
    } cases[] = {
        {1700000000123456789u, 1700000000623456789u, 500000000u},
        {1700000000123456789u, 1700000000123456790u, 1u},
        {5, 5, 0},
        {10, 5, 0},
        {0, UINT64_MAX, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ts_span t;
        struct am_span_facts f;
        ts_span_init(&t, "svc");
        t.span.start_ns = cases[i].start;
        t.span.end_ns = cases[i].end;
        am_classify(&t.span, &f);
        assert_true(f.duration_ns == cases[i].want);
    }
}

static void test_classify_service_name_comes_from_resource(void **state)
{
    struct ts_span t;
    struct am_span_facts f;
    ts_span_init(&t, "checkout");
    am_classify(&t.span, &f);
    assert_str(f.service_name, "checkout", "service_name");
    assert_int_equal(f.op, AM_OP_OTHER);
    assert_int_equal(f.tokens_present, 0);

    t.span.resource = NULL;
    am_classify(&t.span, &f);
    assert_int_equal(f.service_name.len, 0);
}

/* Keys of the right length but not in the table, and short keys, are
 * skipped; a repeated key keeps its first value. */
static void test_classify_unknown_and_repeated_keys(void **state)
{
    struct ts_attr a[] = {TS_S("gen_ai.request.temperature", "0.2"),
                          TS_S("gen_ai.prompt.0.content", "hello"),
                          TS_S("a", "b"),
                          TS_S("", "empty key"),
                          TS_S("gen_ai.tool.name", "first"),
                          TS_S("gen_ai.tool.name", "second"),
                          {0}};
    struct ts_span t;
    struct am_span_facts f;
    classify_list(a, &t, &f);
    assert_str(f.tool_name, "first", "tool_name");
    assert_int_equal(f.op, AM_OP_OTHER);
}

static void test_facts_model_id_prefers_response(void **state)
{
    struct am_span_facts f;
    memset(&f, 0, sizeof(f));
    assert_str(am_facts_model_id(&f), "unknown", "none");
    f.request_model = AM_STR("gpt-4o");
    assert_str(am_facts_model_id(&f), "gpt-4o", "request");
    f.response_model = AM_STR("gpt-4o-2024-08-06");
    assert_str(am_facts_model_id(&f), "gpt-4o-2024-08-06", "response");
}

/*
 * Fixtures captured from the real libraries (tests/e2e/capture_fixtures.mjs:
 * each library drove the fake OpenAI server, whose answers fix the token
 * counts) as OTLP/JSON, decoded with the real decoder.
 */
struct fx_want {
    const char *name; /* span name; the first span so named not yet checked */
    enum am_op op;
    const char *operation;
    const char *agent;
    const char *model; /* am_facts_model_id */
    const char *tool;
    const char *conversation;
    uint32_t present;
    uint64_t in, out;
};

static void check_fixture(const char *file, const struct fx_want *want, size_t nwant,
                          size_t other_count)
{
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/classify/%s", AM_TEST_DATA_DIR, file);
    char *body = ts_read_file(path, &len);
    struct am_arena *arena = am_arena_create(16u << 20);
    struct am_trace_batch batch;
    const char *why = NULL;
    assert_int_equal(am_otlp_json_decode_traces((const uint8_t *)body, len, arena, &batch, &why),
                     AM_OK);
    bool used[64] = {false};
    size_t others = 0;
    assert_true(batch.span_count <= 64);
    for (size_t w = 0; w < nwant; w++) {
        size_t i = 0;
        while (i < batch.span_count &&
               (used[i] || !am_str_eq(batch.spans[i].name, am_str_from(want[w].name)))) {
            i++;
        }
        print_message("%s: %s\n", file, want[w].name);
        assert_true(i < batch.span_count);
        used[i] = true;
        struct am_span_facts f;
        am_classify(&batch.spans[i], &f);
        assert_int_equal(f.op, want[w].op);
        assert_str(f.operation, want[w].operation, "operation");
        assert_str(f.agent_name, want[w].agent, "agent_name");
        assert_str(am_facts_model_id(&f), want[w].model, "model_id");
        assert_str(f.tool_name, want[w].tool, "tool_name");
        assert_str(f.conversation_id, want[w].conversation, "conversation_id");
        assert_int_equal(f.tokens_present, want[w].present);
        assert_int_equal(f.tokens[AM_TOK_INPUT], want[w].in);
        assert_int_equal(f.tokens[AM_TOK_OUTPUT], want[w].out);
    }
    for (size_t i = 0; i < batch.span_count; i++) {
        struct am_span_facts f;
        am_classify(&batch.spans[i], &f);
        if (!used[i]) {
            assert_int_equal(f.op, AM_OP_OTHER); /* every span not listed counts nothing */
            others++;
        }
    }
    assert_int_equal(others, other_count);
    am_arena_destroy(arena);
    free(body);
}

#define FX_TOK (IN | OUT | CR | RS)

static void test_classify_fixture_openinference_embedding_model(void **st)
{
    (void)st;
    static const struct fx_want want[] = {
        {"OpenAI Embeddings", AM_OP_INFERENCE, "embeddings", "", "text-embedding-3-small", "", "",
         0, 0, 0},
        {"OpenAI Chat Completions", AM_OP_INFERENCE, "chat", "", "gpt-4o-mini", "", "", IN | OUT,
         100, 20},
    };
    check_fixture("openinference_openai.json", want, 2, 0);
}

static void test_classify_fixture_vercel_ai6_function_is_agent(void **st)
{
    (void)st;
    static const struct fx_want want[] = {
        {"ai.generateText", AM_OP_AGENT, "invoke_agent", "weather-agent", "gpt-4o-mini", "", "",
         FX_TOK, 250, 50},
        {"ai.generateText.doGenerate", AM_OP_INFERENCE, "chat", "weather-agent", "gpt-4o-mini", "",
         "", FX_TOK, 100, 20},
        {"ai.generateText.doGenerate", AM_OP_INFERENCE, "chat", "weather-agent", "gpt-4o-mini", "",
         "", FX_TOK, 150, 30},
        {"ai.toolCall", AM_OP_TOOL, "execute_tool", "weather-agent", "unknown", "get_weather", "",
         0, 0, 0},
    };
    check_fixture("vercel_ai6.json", want, 4, 0);
}

static void test_classify_fixture_langgraph_root_chain_is_agent(void **st)
{
    (void)st;
    static const struct fx_want want[] = {
        {"weather-agent", AM_OP_AGENT, "invoke_agent", "weather-agent", "unknown", "", "thread-42",
         0, 0, 0},
        {"ChatOpenAI", AM_OP_INFERENCE, "chat", "", "gpt-4o-mini", "", "thread-42", IN | OUT, 100,
         20},
        {"ChatOpenAI", AM_OP_INFERENCE, "chat", "", "gpt-4o-mini", "", "thread-42", IN | OUT, 150,
         30},
        {"get_weather", AM_OP_TOOL, "execute_tool", "", "unknown", "get_weather", "thread-42", 0, 0,
         0},
    };
    check_fixture("langgraph_openinference.json", want, 4, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_inference_dialects_give_same_facts),
        cmocka_unit_test(test_classify_agent_dialects_give_same_facts),
        cmocka_unit_test(test_classify_tool_dialects_give_same_facts),
        cmocka_unit_test(test_classify_operation_values_map_to_op),
        cmocka_unit_test(test_classify_entity_name_on_workflow_is_ignored),
        cmocka_unit_test(test_classify_current_name_wins_over_older),
        cmocka_unit_test(test_classify_unusable_value_falls_through),
        cmocka_unit_test(test_classify_token_value_forms_are_accepted),
        cmocka_unit_test(test_classify_carried_cost_is_read),
        cmocka_unit_test(test_classify_error_type_sets_outcome),
        cmocka_unit_test(test_classify_duration_is_integer_difference),
        cmocka_unit_test(test_classify_service_name_comes_from_resource),
        cmocka_unit_test(test_classify_unknown_and_repeated_keys),
        cmocka_unit_test(test_facts_model_id_prefers_response),
        cmocka_unit_test(test_classify_fixture_openinference_embedding_model),
        cmocka_unit_test(test_classify_fixture_vercel_ai6_function_is_agent),
        cmocka_unit_test(test_classify_fixture_langgraph_root_chain_is_agent),
    };
    return cmocka_run_group_tests_name("classify", tests, NULL, NULL);
}
