/*
 * test_match.c - am_match: globs, every condition of match.h on hand-built
 * spans, the ancestry callback's laziness, and compile errors reported with
 * their exact file:line:col.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/err.h"
#include "am/match.h"
#include "am/yaml.h"
#include "genai_span.h"

static void test_glob_cases_match_exactly(void **st)
{
    (void)st;
    static const struct {
        const char *pat, *s;
        bool want;
    } cases[] = {
        {"ai.generateText", "ai.generateText", true},
        {"ai.generateText", "ai.generateTex", false},
        {"ai.*", "ai.streamText", true},
        {"ai.*", "ai.", true},
        {"ai.*", "ai", false},
        {"*Text", "ai.streamText", true},
        {"*Text", "ai.streamText.doStream", false},
        {"a*b*c", "aXXbYYc", true},
        {"a*b*c", "aXXbYY", false},
        {"a*b*c", "abcbc", true},
        {"?gent", "agent", true},
        {"?gent", "gent", false},
        {"*", "", true},
        {"", "", true},
        {"", "x", false},
        {"\\*", "*", true},
        {"\\*", "x", false},
        {"a\\?", "a?", true},
        {"a\\?", "ab", false},
        {"**a", "bba", true},
        {"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("glob %s ~ %s\n", cases[i].pat, cases[i].s);
        assert_int_equal(am_match_glob(am_str_from(cases[i].pat), am_str_from(cases[i].s)),
                         cases[i].want);
    }
}

/* Compile the value of key `m` of a one-document YAML text. */
static int compile(const char *yaml, struct am_match **m, struct am_diag *diag)
{
    struct am_ydoc *doc = NULL;
    int rc = am_yaml_parse(yaml, strlen(yaml), "t.yaml", &doc, diag);
    assert_int_equal(rc, AM_OK);
    rc = am_match_compile(am_ynode_get(doc->root, "m"), "m", m, diag);
    am_yaml_destroy(doc);
    return rc;
}

static struct am_match *must(const char *yaml)
{
    struct am_match *m = NULL;
    struct am_diag diag = {{0}};
    int rc = compile(yaml, &m, &diag);
    if (rc != AM_OK) {
        print_error("%s\n", diag.msg);
    }
    assert_int_equal(rc, AM_OK);
    return m;
}

static bool eval(const struct am_match *m, const struct ts_span *t)
{
    struct am_match_view v = {.span = &t->span};
    return am_match_eval(m, &v);
}

static void span_named(struct ts_span *t, const char *name, const char *scope, int kind,
                       bool has_parent)
{
    ts_span_init(t, "svc");
    t->span.name = am_str_from(name);
    t->span.scope_name = am_str_from(scope);
    t->span.kind = kind;
    t->span.has_parent = has_parent;
}

static void test_eval_name_scope_kind_root(void **st)
{
    (void)st;
    struct ts_span t;
    struct am_match *m = must("m:\n"
                              "  span_name: [ai.generateText, 'ai.stream*']\n"
                              "  scope: '@arizeai/*'\n"
                              "  kind: [internal, client]\n"
                              "  root: true\n");
    span_named(&t, "ai.streamText", "@arizeai/openinference-instrumentation-openai", 1, false);
    assert_true(eval(m, &t));
    span_named(&t, "ai.generateText", "@arizeai/x", 3, false);
    assert_true(eval(m, &t));
    span_named(&t, "ai.generateText.doGenerate", "@arizeai/x", 1, false);
    assert_false(eval(m, &t)); /* name */
    span_named(&t, "ai.generateText", "ai", 1, false);
    assert_false(eval(m, &t)); /* scope */
    span_named(&t, "ai.generateText", "@arizeai/x", 2, false);
    assert_false(eval(m, &t)); /* kind server */
    span_named(&t, "ai.generateText", "@arizeai/x", 9, false);
    assert_false(eval(m, &t)); /* kind out of range */
    span_named(&t, "ai.generateText", "@arizeai/x", 1, true);
    assert_false(eval(m, &t)); /* not a root */
    am_match_destroy(m);

    m = must("m: {root: false}\n");
    span_named(&t, "x", "", 0, true);
    assert_true(eval(m, &t));
    span_named(&t, "x", "", 0, false);
    assert_false(eval(m, &t));
    am_match_destroy(m);
}

static void test_eval_attributes_typed_values(void **st)
{
    (void)st;
    struct ts_span t;
    struct am_match *m = must("m:\n"
                              "  attributes:\n"
                              "    openinference.span.kind: CHAIN\n"
                              "    llm.provider: [openai, 'azure*']\n"
                              "    session.id: {present: true}\n"
                              "    agent.name: {present: false}\n"
                              "    n: 3\n"
                              "    flag: true\n"
                              "    ratio: 0.5\n"
                              "  resource_attributes:\n"
                              "    deployment.environment: prod\n");
    static const struct ts_attr base[] = {
        TS_S("openinference.span.kind", "CHAIN"),
        TS_S("llm.provider", "azure-openai"),
        TS_S("session.id", "th-1"),
        TS_I("n", 3),
        TS_B("flag", 1),
        TS_D("ratio", 0.5),
        {NULL, 0, NULL, 0, 0},
    };
    struct am_kv rkv = {AM_STR("deployment.environment"), {.type = AM_VAL_STRING}};
    rkv.val.u.s = AM_STR("prod");

    span_named(&t, "graph", "", 1, false);
    ts_span_add_all(&t, base);
    t.res.attrs.items = &rkv;
    t.res.attrs.count = 1;
    assert_true(eval(m, &t));

    /* Each condition failing alone. */
    for (size_t drop = 0; drop < 6; drop++) {
        span_named(&t, "graph", "", 1, false);
        for (size_t i = 0; base[i].key != NULL; i++) {
            if (i != drop) {
                ts_span_add(&t, &base[i]);
            }
        }
        t.res.attrs.items = &rkv;
        t.res.attrs.count = 1;
        print_message("without %s\n", base[drop].key);
        assert_false(eval(m, &t));
    }
    static const struct ts_attr wrong[] = {
        TS_S("openinference.span.kind", "LLM"),
        TS_S("llm.provider", "anthropic"),
        TS_I("n", 4),
        TS_B("flag", 0),
        TS_D("ratio", 0.25),
        TS_S("n", "three"),
    };
    for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++) {
        span_named(&t, "graph", "", 1, false);
        ts_span_add(&t, &wrong[w]); /* first of a repeated key wins in am_attrs_get */
        ts_span_add_all(&t, base);
        t.res.attrs.items = &rkv;
        t.res.attrs.count = 1;
        print_message("wrong %s\n", wrong[w].key);
        assert_false(eval(m, &t));
    }
    /* agent.name present fails; resource attribute missing fails. */
    span_named(&t, "graph", "", 1, false);
    ts_span_add_all(&t, base);
    struct ts_attr an = TS_S("agent.name", "a");
    ts_span_add(&t, &an);
    t.res.attrs.items = &rkv;
    t.res.attrs.count = 1;
    assert_false(eval(m, &t));
    span_named(&t, "graph", "", 1, false);
    ts_span_add_all(&t, base);
    assert_false(eval(m, &t));
    am_match_destroy(m);
}

struct anc {
    int calls;
    bool answer;
};

static bool anc_cb(void *ud, const struct am_span *span)
{
    (void)span;
    struct anc *a = ud;
    a->calls++;
    return a->answer;
}

static void test_eval_ancestry_lazy_and_last(void **st)
{
    (void)st;
    struct ts_span t;
    struct anc a = {0, false};
    struct am_match *m = must("m: {span_name: 'agent*', genai_ancestor: false}\n");
    assert_true(am_match_uses_ancestry(m));
    struct am_match_view v = {.span = &t.span, .has_genai_ancestor = anc_cb, .ud = &a};

    span_named(&t, "other", "", 1, true);
    assert_false(am_match_eval(m, &v));
    assert_int_equal(a.calls, 0); /* name failed first */
    span_named(&t, "agent x", "", 1, true);
    assert_true(am_match_eval(m, &v));
    assert_int_equal(a.calls, 1);
    a.answer = true;
    assert_false(am_match_eval(m, &v));
    assert_int_equal(a.calls, 2);
    span_named(&t, "agent x", "", 1, false); /* a root has no ancestor: no call */
    assert_true(am_match_eval(m, &v));
    assert_int_equal(a.calls, 2);
    v.has_genai_ancestor = NULL; /* unknown: none */
    span_named(&t, "agent x", "", 1, true);
    assert_true(am_match_eval(m, &v));
    am_match_destroy(m);

    m = must("m: {genai_ancestor: true}\n");
    assert_false(am_match_eval(m, &v));
    v.has_genai_ancestor = anc_cb;
    assert_true(am_match_eval(m, &v));
    am_match_destroy(m);
    m = must("m: {span_name: x}\n");
    assert_false(am_match_uses_ancestry(m));
    am_match_destroy(m);
}

static void test_compile_errors_have_positions(void **st)
{
    (void)st;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"m: {}\n", "t.yaml:1:4: m: expected a non-empty mapping of conditions"},
        {"m: x\n", "t.yaml:1:4: m: expected a non-empty mapping of conditions"},
        {"m:\n  span_nme: x\n",
         "t.yaml:2:3: m.span_nme: unknown key (span_name, scope, kind, root, genai_ancestor, "
         "attributes or resource_attributes)"},
        {"m:\n  kind: [client, sever]\n",
         "t.yaml:2:18: m.kind: unknown span kind \"sever\" (unspecified, internal, server, "
         "client, producer or consumer)"},
        {"m:\n  root: yes\n", "t.yaml:2:9: m.root: expected true or false"},
        {"m:\n  span_name: []\n",
         "t.yaml:2:14: m.span_name: expected a string or a non-empty list of strings"},
        {"m:\n  span_name: [a, {b: c}]\n", "t.yaml:2:18: m.span_name: expected a string, got a "
                                           "mapping"},
        {"m:\n  attributes:\n    a: {present: maybe}\n",
         "t.yaml:3:18: m.attributes.a.present: expected true or false"},
        {"m:\n  attributes:\n    a: {equals: 1}\n",
         "t.yaml:3:8: m.attributes.a: expected a value, a list of values, or {present: "
         "true|false}"},
        {"m:\n  resource_attributes: []\n",
         "t.yaml:2:24: m.resource_attributes: expected a non-empty mapping of attribute "
         "conditions"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_match *m = (struct am_match *)1;
        struct am_diag diag = {{0}};
        print_message("case %zu\n", i);
        assert_int_equal(compile(cases[i].yaml, &m, &diag), AM_ECONFIG);
        assert_null(m);
        assert_string_equal(diag.msg, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob_cases_match_exactly),
        cmocka_unit_test(test_eval_name_scope_kind_root),
        cmocka_unit_test(test_eval_attributes_typed_values),
        cmocka_unit_test(test_eval_ancestry_lazy_and_last),
        cmocka_unit_test(test_compile_errors_have_positions),
    };
    return cmocka_run_group_tests_name("match", tests, NULL, NULL);
}
