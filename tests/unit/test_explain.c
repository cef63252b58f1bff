/*
 * test_explain.c - the /debug/spans ring: exact JSON of a record (escaping,
 * ids, tokens, where the agent came from), newest last, overwrite counting,
 * and strings cut to their field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/buf.h"
#include "am/explain.h"
#include "genai_span.h"

static char *json_of(struct am_explain *e, struct am_buf *b)
{
    am_buf_init(b, 1u << 20);
    assert_int_equal(am_explain_json(e, b), 0);
    assert_int_equal(am_buf_append_byte(b, '\0'), 0);
    return b->data;
}

static void test_explain_one_record_exact_json(void **st)
{
    (void)st;
    struct am_explain *e = am_explain_create(4);
    struct ts_span t;
    ts_span_init(&t, "svc\"1");
    t.span.name = AM_STR("chat \"x\"\n");
    t.span.scope_name = AM_STR("s");
    t.span.kind = 3;
    t.span.start_ns = 100;
    t.span.end_ns = 350;
    static const struct ts_attr a[] = {TS_S("gen_ai.operation.name", "chat"),
                                       TS_S("gen_ai.request.model", "gpt-4o"),
                                       TS_I("gen_ai.usage.input_tokens", 12),
                                       TS_I("gen_ai.usage.output_tokens", 3),
                                       {NULL, 0, NULL, 0, 0}};
    ts_span_add_all(&t, a);
    struct am_span_facts f;
    am_classify(&t.span, &f);
    struct am_rule_hit hit = {.rule = -1};
    am_explain_add(e, &t.span, &f, &hit, false);

    struct am_buf b;
    const char *got = json_of(e, &b);
    assert_string_equal(
        got, "{\"capacity\":4,\"recorded\":1,\"overwritten\":0,\"spans\":[{\"trace_id\":"
             "\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\",\"span_id\":\"b0b1b2b3b4b5b6b7\","
             "\"parent_span_id\":null,\"kind\":3,\"service\":\"svc\\\"1\",\"scope\":\"s\","
             "\"name\":\"chat \\\"x\\\"\\u000a\",\"classified_by\":\"builtin\",\"operation\":"
             "\"inference\",\"operation_name\":\"chat\",\"agent_name\":\"\",\"agent_from\":"
             "\"ancestor_or_service\",\"model_id\":\"gpt-4o\",\"provider\":\"\",\"tool_name\":"
             "\"\",\"conversation_id\":\"\",\"tokens\":{\"input\":12,\"output\":3},"
             "\"duration_ns\":250}]}\n");
    am_buf_fini(&b);
    am_explain_destroy(e);
}

static void test_explain_ring_overwrites_oldest_and_counts(void **st)
{
    (void)st;
    struct am_explain *e = am_explain_create(2);
    static const char *const names[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        struct ts_span t;
        ts_span_init(&t, "svc");
        t.span.name = am_str_from(names[i]);
        static const struct ts_attr a[] = {TS_S("gen_ai.operation.name", "invoke_agent"),
                                           TS_S("gen_ai.agent.name", "bot"),
                                           {NULL, 0, NULL, 0, 0}};
        ts_span_add_all(&t, a);
        struct am_span_facts f;
        am_classify(&t.span, &f);
        struct am_rule_hit hit = {.rule = i == 2 ? 0 : -1, .name = i == 2 ? "r1" : NULL};
        am_explain_add(e, &t.span, &f, &hit, i == 2);
    }
    struct am_buf b;
    const char *got = json_of(e, &b);
    assert_non_null(strstr(got, "\"capacity\":2,\"recorded\":3,\"overwritten\":1,"));
    assert_null(strstr(got, "\"name\":\"one\""));
    const char *two = strstr(got, "\"name\":\"two\"");
    const char *three = strstr(got, "\"name\":\"three\"");
    assert_non_null(two);
    assert_non_null(three);
    assert_true(two < three); /* newest last */
    assert_non_null(strstr(two, "\"agent_name\":\"bot\",\"agent_from\":\"attribute\""));
    assert_non_null(strstr(three, "\"classified_by\":\"rule:r1\",\"operation\":\"agent\""));
    assert_non_null(strstr(three, "\"agent_from\":\"rule:r1\""));
    am_buf_fini(&b);
    am_explain_destroy(e);
}

static void test_explain_long_strings_are_cut(void **st)
{
    (void)st;
    struct am_explain *e = am_explain_create(1);
    char longname[400];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    struct ts_span t;
    ts_span_init(&t, "svc");
    t.span.name = am_str_from(longname);
    struct am_span_facts f;
    am_classify(&t.span, &f);
    struct am_rule_hit hit = {.rule = -1};
    am_explain_add(e, &t.span, &f, &hit, false);
    struct am_buf b;
    const char *got = json_of(e, &b);
    const char *n = strstr(got, "\"name\":\"");
    assert_non_null(n);
    n += 8;
    size_t len = strcspn(n, "\"");
    assert_int_equal(len, 159); /* the field: 156 bytes and "..." */
    assert_memory_equal(n + 156, "...", 3);
    am_buf_fini(&b);
    am_explain_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explain_one_record_exact_json),
        cmocka_unit_test(test_explain_ring_overwrites_oldest_and_counts),
        cmocka_unit_test(test_explain_long_strings_are_cut),
    };
    return cmocka_run_group_tests_name("explain", tests, NULL, NULL);
}
