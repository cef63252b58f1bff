/*
 * test_filter.c - processors.genai.filters: include / exclude lists of span
 * matchers compiled from YAML; exclude wins, an empty include lets every
 * span in, and malformed filters are diagnosed at file:line:col.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/err.h"
#include "am/filter.h"
#include "genai_span.h"

static struct am_filter *compile(const char *yaml, struct am_diag *diag, int *rc)
{
    struct am_ydoc *doc = NULL;
    struct am_filter *f = NULL;
    *rc = am_yaml_parse(yaml, strlen(yaml), "f.yaml", &doc, diag);
    if (*rc == AM_OK) {
        *rc = am_filter_compile(doc->root, "processors.genai.filters", &f, diag);
    }
    am_yaml_destroy(doc); /* the filter keeps its own copies */
    return f;
}

static const char *eval(const struct am_filter *f, const char *name, const char *env)
{
    struct ts_span t;
    ts_span_init(&t, "svc");
    t.span.name = am_str_from(name);
    ts_span_add(&t, &(struct ts_attr)TS_S("env", env));
    struct am_match_view v = {.span = &t.span};
    return am_filter_eval(f, &v);
}

static void test_filter_exclude_wins_over_include(void **st)
{
    (void)st;
    struct am_diag diag = {{0}};
    int rc;
    struct am_filter *f = compile("include:\n  - {attributes: {env: [prod, staging]}}\n"
                                  "exclude:\n  - {span_name: \"GET /health*\"}\n",
                                  &diag, &rc);
    assert_int_equal(rc, AM_OK);
    assert_null(eval(f, "chat", "prod"));
    assert_string_equal(eval(f, "chat", "dev"), "include");
    assert_string_equal(eval(f, "GET /healthz", "prod"), "exclude");
    am_filter_destroy(f);
    f = compile("exclude:\n  - {span_name: \"GET /health*\"}\n", &diag, &rc);
    assert_null(eval(f, "chat", "dev")); /* no include list: everything in */
    am_filter_destroy(f);
    assert_null(am_filter_eval(NULL, NULL));
}

static void test_filter_bad_config_diagnosed(void **st)
{
    (void)st;
    static const struct {
        const char *yaml;
        const char *msg;
    } bad[] = {
        {"includes: []\n", "f.yaml:1:1: processors.genai.filters.includes: unknown key (want "
                           "include, exclude)"},
        {"exclude: {span_name: x}\n",
         "f.yaml:1:10: processors.genai.filters.exclude: expected a sequence of matchers, got "
         "a mapping"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct am_diag diag = {{0}};
        int rc;
        struct am_filter *f = compile(bad[i].yaml, &diag, &rc);
        assert_int_equal(rc, AM_ECONFIG);
        assert_null(f);
        assert_string_equal(diag.msg, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_exclude_wins_over_include),
        cmocka_unit_test(test_filter_bad_config_diagnosed),
    };
    return cmocka_run_group_tests_name("filter", tests, NULL, NULL);
}
