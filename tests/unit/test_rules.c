/*
 * test_rules.c - processors.genai.rules: config errors with their exact
 * file:line:col (inline and in rule files), and what a rule makes of a span
 * after the built-in table (operation, names, model, tokens from literals,
 * the span name with a regex capture, attributes; ignore; evaluation; first
 * match wins).
 */
#define _DEFAULT_SOURCE 1 /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "am/config.h"
#include "am/daemon.h"
#include "am/err.h"
#include "am/rules.h"
#include "am/arena.h"
#include "am/otlp.h"
#include "testsupport.h"
#include "genai_span.h"

static void assert_str(struct am_str got, const char *want)
{
    char buf[256];
    size_t n = got.len < sizeof(buf) - 1 ? got.len : sizeof(buf) - 1;
    if (n > 0) {
        memcpy(buf, got.ptr, n);
    }
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

/* Config as the daemon reads it: load, then compile the rules. */
static int load(const char *yaml, struct am_config *cfg, struct am_rules **rules,
                struct am_diag *diag)
{
    am_config_defaults(cfg);
    *rules = NULL;
    int rc = am_config_load_string(yaml, strlen(yaml), "/etc/am/c.yaml", cfg, diag);
    return rc == AM_OK ? am_daemon_build_rules(cfg, rules, diag) : rc;
}

static int load_file(const char *path, struct am_config *cfg, struct am_rules **rules,
                     struct am_diag *diag)
{
    am_config_defaults(cfg);
    *rules = NULL;
    int rc = am_config_load(path, cfg, diag);
    return rc == AM_OK ? am_daemon_build_rules(cfg, rules, diag) : rc;
}

static void test_config_errors_have_positions(void **st)
{
    (void)st;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"processors:\n  genai:\n    rules: {a: b}\n",
         "/etc/am/c.yaml:3:12: processors.genai.rules: expected a list of rules"},
        {"processors:\n  genai:\n    rules:\n      - match: {root: true}\n        set: "
         "{operation: agent}\n",
         "/etc/am/c.yaml:4:9: processors.genai.rules[0]: missing name"},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        set: {operation: agent}\n",
         "/etc/am/c.yaml:4:9: processors.genai.rules[0]: missing match"},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        match: {root: true}\n",
         "/etc/am/c.yaml:4:9: processors.genai.rules[0]: missing set"},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        match: {root: true}\n"
         "        set: {operation: agnet}\n",
         "/etc/am/c.yaml:6:26: processors.genai.rules[0].set.operation: expected agent, "
         "inference, tool, evaluation or ignore"},
        {"processors:\n  genai:\n    rules:\n      - {name: a, match: {root: true}, set: "
         "{operation: agent}}\n      - {name: a, match: {root: true}, set: {operation: tool}}\n",
         "/etc/am/c.yaml:5:16: processors.genai.rules[1].name: duplicate rule name \"a\""},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        match: {kind: sever}\n"
         "        set: {operation: agent}\n",
         "/etc/am/c.yaml:5:23: processors.genai.rules[0].match.kind: unknown span kind \"sever\" "
         "(unspecified, internal, server, client, producer or consumer)"},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        match: {root: true}\n"
         "        set:\n          agent_name: {span_name: true, regex: '(a'}\n",
         "/etc/am/c.yaml:7:48: processors.genai.rules[0].set.agent_name.regex: bad regular "
         "expression: Unmatched ( or \\("},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        match: {root: true}\n"
         "        set: {input_tokens: many}\n",
         "/etc/am/c.yaml:6:29: processors.genai.rules[0].set.input_tokens: expected a "
         "non-negative integer"},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        match: {root: true}\n"
         "        set: {agent_name: {attribute: x, span_name: true}}\n",
         "/etc/am/c.yaml:6:42: processors.genai.rules[0].set.agent_name.span_name: a value has "
         "one source"},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        match: {root: true}\n"
         "        set: {operation: ignore, agent_name: x}\n",
         "/etc/am/c.yaml:6:14: processors.genai.rules[0].set: operation: ignore takes no other "
         "facts"},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        match: {root: true}\n"
         "        set: {operation: evaluation, evaluation_name: x}\n",
         "/etc/am/c.yaml:6:14: processors.genai.rules[0].set: operation: evaluation needs "
         "evaluation_name and evaluation_score or evaluation_label"},
        {"processors:\n  genai:\n    rules:\n      - name: a\n        match: {root: true}\n"
         "        set: {agent: x}\n",
         "/etc/am/c.yaml:6:15: processors.genai.rules[0].set.agent: unknown fact (operation, "
         "agent_name, tool_name, model, provider, conversation_id, *_tokens, cost, "
         "evaluation_*)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_config cfg;
        struct am_rules *rules = NULL;
        struct am_diag diag = {{0}};
        print_message("case %zu\n", i);
        assert_int_equal(load(cases[i].yaml, &cfg, &rules, &diag), AM_ECONFIG);
        assert_null(rules);
        assert_string_equal(diag.msg, cases[i].want);
        am_config_free(&cfg);
    }
}

/* Rule files: read relative to the config file, errors point into them. */
static void test_rule_files_load_and_report(void **st)
{
    (void)st;
    char dir[] = "/tmp/am_rules_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char good[256], bad[256], conf[256];
    snprintf(good, sizeof(good), "%s/good.yaml", dir);
    snprintf(bad, sizeof(bad), "%s/bad.yaml", dir);
    snprintf(conf, sizeof(conf), "%s/c.yaml", dir);
    FILE *f = fopen(good, "w");
    fputs("rules:\n  - name: from-file\n    match: {span_name: x}\n    set: {operation: tool}\n",
          f);
    fclose(f);
    f = fopen(bad, "w");
    fputs("rules:\n  - name: b\n    match: {span_name: x}\n    set: {tool_name: {attr: y}}\n", f);
    fclose(f);

    struct am_config cfg;
    struct am_rules *rules = NULL;
    struct am_diag diag = {{0}};
    f = fopen(conf, "w");
    fprintf(f,
            "processors:\n  genai:\n    rules:\n      - {name: inline, match: {root: true}, set: "
            "{operation: agent}}\n    rule_files: [%s]\n",
            good);
    fclose(f);
    assert_int_equal(load_file(conf, &cfg, &rules, &diag), AM_OK);
    assert_int_equal(am_rules_count(rules), 2);
    assert_string_equal(am_rules_name(rules, 0), "inline");
    assert_string_equal(am_rules_name(rules, 1), "from-file");
    am_rules_destroy(rules);
    am_config_free(&cfg);

    f = fopen(conf, "w");
    fprintf(f, "processors:\n  genai:\n    rule_files: [%s, %s]\n", good, bad);
    fclose(f);
    assert_int_equal(load_file(conf, &cfg, &rules, &diag), AM_ECONFIG);
    assert_null(rules);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:4:23: rules[0].set.tool_name.attr: unknown key (span_name, attribute, "
             "resource_attribute or regex)",
             bad);
    assert_string_equal(diag.msg, want);
    am_config_free(&cfg);

    f = fopen(conf, "w");
    fprintf(f, "processors:\n  genai:\n    rule_files: [%s/missing.yaml]\n", dir);
    fclose(f);
    assert_int_equal(load_file(conf, &cfg, &rules, &diag), AM_ECONFIG);
    snprintf(want, sizeof(want), "%s/missing.yaml: cannot read: No such file or directory", dir);
    assert_string_equal(diag.msg, want);
    am_config_free(&cfg);
    unlink(good);
    unlink(bad);
    unlink(conf);
    rmdir(dir);
}

static struct am_rules *rules_of(const char *yaml, struct am_config *cfg)
{
    struct am_diag diag = {{0}};
    struct am_rules *rules = NULL;
    int rc = load(yaml, cfg, &rules, &diag);
    if (rc != AM_OK) {
        print_error("%s\n", diag.msg);
    }
    assert_int_equal(rc, AM_OK);
    return rules;
}

static void apply(const struct am_rules *r, struct ts_span *t, struct am_span_facts *f,
                  struct am_rule_hit *hit)
{
    struct am_match_view v = {.span = &t->span};
    am_classify(&t->span, f);
    am_rules_apply(r, &v, f, hit);
}

static const char *const RULES =
    "processors:\n  genai:\n    rules:\n"
    "      - name: langgraph-root\n"
    "        match: {root: true, attributes: {openinference.span.kind: CHAIN}}\n"
    "        set:\n"
    "          operation: agent\n"
    "          agent_name: {span_name: true}\n"
    "          conversation_id: {attribute: session.id}\n"
    "      - name: crew-task\n"
    "        match: {span_name: 'Task *', scope: crewai*}\n"
    "        set:\n"
    "          operation: inference\n"
    "          agent_name: {span_name: true, regex: '^Task ([a-z]+)-'}\n"
    "          model: {resource_attribute: model.default}\n"
    "          provider: acme\n"
    "          input_tokens: {attribute: usage.in}\n"
    "          output_tokens: 7\n"
    "          cost: {attribute: usage.cost}\n"
    "      - name: healthcheck\n"
    "        match: {span_name: 'GET /health*'}\n"
    "        set: {operation: ignore}\n"
    "      - name: judge\n"
    "        match: {span_name: judge}\n"
    "        set:\n"
    "          operation: evaluation\n"
    "          evaluation_name: {attribute: eval.name}\n"
    "          evaluation_score: {attribute: eval.score}\n"
    "      - name: shadowed\n"
    "        match: {root: true}\n"
    "        set: {operation: tool, tool_name: never}\n";

static void test_apply_sets_facts_from_each_source(void **st)
{
    (void)st;
    struct am_config cfg;
    struct am_rules *r = rules_of(RULES, &cfg);
    struct ts_span t;
    struct am_span_facts f;
    struct am_rule_hit hit;

    /* The LangGraph root CHAIN span: agent from its name, session.id. */
    ts_span_init(&t, "svc");
    t.span.name = AM_STR("support-agent");
    static const struct ts_attr lg[] = {TS_S("openinference.span.kind", "CHAIN"),
                                        TS_S("session.id", "thread-9"),
                                        {NULL, 0, NULL, 0, 0}};
    ts_span_add_all(&t, lg);
    apply(r, &t, &f, &hit);
    assert_int_equal(hit.rule, 0);
    assert_string_equal(hit.name, "langgraph-root");
    assert_int_equal(f.op, AM_OP_AGENT);
    assert_str(f.operation, "invoke_agent");
    assert_str(f.agent_name, "support-agent");
    assert_str(f.conversation_id, "thread-9");

    /* The same span with a parent: first rule fails, shadowed is not root. */
    t.span.has_parent = true;
    apply(r, &t, &f, &hit);
    assert_int_equal(hit.rule, -1);
    assert_int_equal(f.op, AM_OP_OTHER);
    assert_str(f.agent_name, "");

    /* A capture group, a resource attribute, literals and attributes. */
    ts_span_init(&t, "svc");
    t.span.has_parent = true;
    t.span.name = AM_STR("Task triage-17");
    t.span.scope_name = AM_STR("crewai.telemetry");
    static const struct ts_attr ct[] = {TS_S("usage.in", "1200"),
                                        TS_D("usage.cost", 0.25),
                                        TS_I("gen_ai.usage.output_tokens", 99),
                                        {NULL, 0, NULL, 0, 0}};
    ts_span_add_all(&t, ct);
    struct am_kv rkv = {AM_STR("model.default"), {.type = AM_VAL_STRING}};
    rkv.val.u.s = AM_STR("gpt-4o-mini");
    t.res.attrs.items = &rkv;
    t.res.attrs.count = 1;
    apply(r, &t, &f, &hit);
    assert_int_equal(hit.rule, 1);
    assert_int_equal(f.op, AM_OP_INFERENCE);
    assert_str(f.operation, "chat");
    assert_str(f.agent_name, "triage");
    assert_str(f.response_model, "gpt-4o-mini");
    assert_str(f.request_model, "gpt-4o-mini");
    assert_str(f.provider, "acme");
    assert_int_equal(f.tokens_present, (1u << AM_TOK_INPUT) | (1u << AM_TOK_OUTPUT));
    assert_int_equal(f.tokens[AM_TOK_INPUT], 1200);
    assert_int_equal(f.tokens[AM_TOK_OUTPUT], 7); /* the rule wins over the built-in 99 */
    assert_true(f.has_cost);
    assert_true(f.cost == 0.25);

    /* The regex does not match: agent_name stays what the table found. */
    t.span.name = AM_STR("Task TRIAGE");
    apply(r, &t, &f, &hit);
    assert_int_equal(hit.rule, 1);
    assert_str(f.agent_name, "");

    /* ignore: built-in facts cleared, duration kept. */
    ts_span_init(&t, "svc");
    t.span.has_parent = true;
    t.span.name = AM_STR("GET /healthz");
    t.span.start_ns = 10;
    t.span.end_ns = 25;
    static const struct ts_attr ig[] = {TS_S("gen_ai.operation.name", "chat"),
                                        TS_I("gen_ai.usage.input_tokens", 5),
                                        TS_S("gen_ai.agent.name", "x"),
                                        {NULL, 0, NULL, 0, 0}};
    ts_span_add_all(&t, ig);
    apply(r, &t, &f, &hit);
    assert_true(hit.ignore);
    assert_int_equal(f.op, AM_OP_OTHER);
    assert_int_equal(f.tokens_present, 0);
    assert_str(f.agent_name, "");
    assert_str(f.service_name, "svc");
    assert_int_equal(f.duration_ns, 15);

    /* evaluation */
    ts_span_init(&t, "svc");
    t.span.has_parent = true;
    t.span.name = AM_STR("judge");
    static const struct ts_attr ev[] = {
        TS_S("eval.name", "Relevance"), TS_S("eval.score", "0.75"), {NULL, 0, NULL, 0, 0}};
    ts_span_add_all(&t, ev);
    apply(r, &t, &f, &hit);
    assert_true(hit.evaluation);
    assert_str(hit.eval.name, "Relevance");
    assert_true(hit.eval.has_score);
    assert_true(hit.eval.score == 0.75);
    assert_int_equal(f.op, AM_OP_OTHER);
    /* without a score it is not an evaluation */
    t.span.attrs.count = 1;
    apply(r, &t, &f, &hit);
    assert_int_equal(hit.rule, 3);
    assert_false(hit.evaluation);

    am_rules_destroy(r);
    am_config_free(&cfg);
}

static void test_apply_without_rules_keeps_builtin(void **st)
{
    (void)st;
    struct ts_span t;
    struct am_span_facts f;
    struct am_rule_hit hit;
    ts_span_init(&t, "svc");
    static const struct ts_attr a[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                                       TS_S("gen_ai.agent.name", "bot"),
                                       {NULL, 0, NULL, 0, 0}};
    ts_span_add_all(&t, a);
    apply(NULL, &t, &f, &hit);
    assert_int_equal(hit.rule, -1);
    assert_null(hit.name);
    assert_int_equal(f.op, AM_OP_AGENT);
    assert_str(f.agent_name, "bot");
    assert_int_equal(am_rules_count(NULL), 0);
    assert_false(am_rules_uses_ancestry(NULL));
}

/*
 * Presets in deploy/rules/ against spans: each preset file is loaded as a
 * rule file, the fixture decoded with the real OTLP/JSON decoder, and every
 * span classified by the built-in table and then the preset.
 */
struct preset_want {
    const char *name;
    enum am_op op;
    const char *agent, *model, *provider, *tool, *conversation;
    uint64_t in, out;
};

static void check_preset(const char *preset, const char *fixture, const struct preset_want *want,
                         size_t nwant, size_t others_want)
{
    char path[512], conf[600];
    snprintf(path, sizeof(path), "%s/deploy/rules/%s", AM_SOURCE_DIR, preset);
    snprintf(conf, sizeof(conf), "processors:\n  genai:\n    rule_files: ['%s']\n", path);
    struct am_config cfg;
    struct am_rules *rules = NULL;
    struct am_diag diag = {{0}};
    int rc = load(conf, &cfg, &rules, &diag);
    if (rc != AM_OK) {
        print_error("%s\n", diag.msg);
    }
    assert_int_equal(rc, AM_OK);

    size_t len = 0;
    snprintf(path, sizeof(path), "%s/%s", AM_TEST_DATA_DIR, fixture);
    char *body = ts_read_file(path, &len);
    struct am_arena *arena = am_arena_create(16u << 20);
    struct am_trace_batch batch;
    const char *why = NULL;
    assert_int_equal(am_otlp_json_decode_traces((const uint8_t *)body, len, arena, &batch, &why),
                     AM_OK);
    size_t matched = 0, others = 0;
    for (size_t i = 0; i < batch.span_count; i++) {
        const struct am_span *sp = &batch.spans[i];
        struct am_span_facts f;
        struct am_rule_hit hit;
        struct am_match_view v = {.span = sp};
        am_classify(sp, &f);
        am_rules_apply(rules, &v, &f, &hit);
        const struct preset_want *w = NULL;
        for (size_t k = 0; k < nwant; k++) {
            if (am_str_eq(sp->name, am_str_from(want[k].name))) {
                w = &want[k];
            }
        }
        if (w == NULL) {
            assert_int_equal(f.op, AM_OP_OTHER);
            others++;
            continue;
        }
        print_message("%s: %s\n", preset, w->name);
        matched++;
        assert_int_equal(f.op, w->op);
        assert_str(f.agent_name, w->agent);
        assert_str(am_facts_model_id(&f), w->model);
        assert_str(f.provider, w->provider);
        assert_str(f.tool_name, w->tool);
        assert_str(f.conversation_id, w->conversation);
        assert_int_equal(f.tokens[AM_TOK_INPUT], w->in);
        assert_int_equal(f.tokens[AM_TOK_OUTPUT], w->out);
    }
    assert_int_equal(matched, nwant);
    assert_int_equal(others, others_want);
    am_arena_destroy(arena);
    free(body);
    am_rules_destroy(rules);
    am_config_free(&cfg);
}

/* Captured from the real OpenInference LangChain instrumentation. */
static void test_preset_openinference_langchain_root_chain(void **st)
{
    (void)st;
    static const struct preset_want want[] = {
        {"support-chain", AM_OP_AGENT, "support-chain", "unknown", "", "", "thread-42", 0, 0},
        {"ChatOpenAI", AM_OP_INFERENCE, "", "gpt-4o-mini", "", "", "thread-42", 100, 20},
    };
    check_preset("openinference-langchain.yaml", "classify/langchain_chain_openinference.json",
                 want, 2, 1);
}

/* Written from Genkit's published attributes, not captured. */
static void test_preset_genkit_from_docs(void **st)
{
    (void)st;
    static const struct preset_want want[] = {
        {"weatherFlow", AM_OP_AGENT, "weatherFlow", "unknown", "", "", "", 0, 0},
        {"openai/gpt-4o-mini", AM_OP_INFERENCE, "", "gpt-4o-mini", "openai", "", "", 100, 20},
        {"getWeather", AM_OP_TOOL, "", "unknown", "", "getWeather", "", 0, 0},
    };
    check_preset("genkit.yaml", "rules/genkit_docs.json", want, 3, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors_have_positions),
        cmocka_unit_test(test_rule_files_load_and_report),
        cmocka_unit_test(test_apply_sets_facts_from_each_source),
        cmocka_unit_test(test_apply_without_rules_keeps_builtin),
        cmocka_unit_test(test_preset_openinference_langchain_root_chain),
        cmocka_unit_test(test_preset_genkit_from_docs),
    };
    return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
