/*
 * test_otlp_json.c - am_otlp_json_decode_traces on tests/data/otlp/traces.json
 * (camelCase and snake_case keys, every AnyValue type, escapes and surrogate
 * pairs, ints as strings and numbers, enum names, nulls, unknown keys), every
 * rejection with its why, every prefix, an arena sweep, both depth caps, and
 * the exact JSON the response encoders produce.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/otlp.h"
#include "testsupport.h"

static struct am_arena *arena;

static int setup(void **st)
{
    (void)st;
    arena = am_arena_create(1u << 20);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    am_arena_destroy(arena);
    return 0;
}

static int decode_str(const char *text, struct am_trace_batch *b, const char **why)
{
    am_arena_reset(arena);
    *why = NULL;
    return am_otlp_json_decode_traces((const uint8_t *)text, strlen(text), arena, b, why);
}

static void assert_str(struct am_str s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static char *load_fixture(size_t *len)
{
    char *text = ts_read_file(AM_TEST_DATA_DIR "/otlp/traces.json", len);
    assert_non_null(text);
    return text;
}

static void check_first_span(const struct am_span *s)
{
    static const uint8_t tid[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                    0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
    assert_memory_equal(s->trace_id, tid, 16);
    assert_memory_equal(s->span_id, "\xee\xe1\x9b\x7e\xc3\xc1\xb1\x74", 8);
    assert_memory_equal(s->parent_span_id, "\xee\xe1\x9b\x7e\xc3\xc1\xb1\x73", 8);
    assert_true(s->has_parent);
    assert_str(s->name, "chat \"gpt-4o\" \xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(s->kind, 3);
    assert_true(s->start_ns == 1700000000123456789ull);
    assert_true(s->end_ns == 1700000001123456789ull);
    assert_int_equal(s->status_code, AM_STATUS_ERROR);
    assert_str(s->status_message, "boom");
    assert_str(s->scope_name, "scope-1");
    assert_str(s->resource->service_name, "svc-a");
    assert_int_equal(s->resource->attrs.count, 2);
    assert_int_equal(s->resource->attrs.items[1].val.type, AM_VAL_NONE);
    assert_int_equal(s->attrs.count, 8);
    const struct am_anyval *v = am_attrs_get(&s->attrs, AM_STR("s"));
    assert_int_equal(v->type, AM_VAL_STRING);
    assert_str(v->u.s, "hello");
    v = am_attrs_get(&s->attrs, AM_STR("i"));
    assert_int_equal(v->type, AM_VAL_INT);
    assert_true(v->u.i == -42);
    v = am_attrs_get(&s->attrs, AM_STR("i2"));
    assert_true(v->u.i == 9007199254740993ll);
    v = am_attrs_get(&s->attrs, AM_STR("d"));
    assert_int_equal(v->type, AM_VAL_DOUBLE);
    assert_true(v->u.d == 0.25);
    v = am_attrs_get(&s->attrs, AM_STR("b"));
    assert_int_equal(v->type, AM_VAL_BOOL);
    assert_true(v->u.b);
    v = am_attrs_get(&s->attrs, AM_STR("y"));
    assert_int_equal(v->type, AM_VAL_BYTES);
    assert_int_equal(v->u.s.len, 2);
    assert_memory_equal(v->u.s.ptr, "\x00\xff", 2);
    v = am_attrs_get(&s->attrs, AM_STR("a"));
    assert_int_equal(v->type, AM_VAL_ARRAY);
    assert_int_equal(v->u.arr.count, 2);
    assert_str(v->u.arr.items[0].u.s, "x");
    assert_int_equal(v->u.arr.items[1].type, AM_VAL_ARRAY);
    assert_true(v->u.arr.items[1].u.arr.items[0].u.i == 7);
    v = am_attrs_get(&s->attrs, AM_STR("m"));
    assert_int_equal(v->type, AM_VAL_KVLIST);
    assert_int_equal(v->u.kvlist.count, 1);
    assert_str(v->u.kvlist.items[0].key, "k");
    assert_str(v->u.kvlist.items[0].val.u.s, "v");
    assert_int_equal(s->event_count, 1);
    assert_true(s->events[0].time_ns == 1700000000500000000ull);
    assert_str(s->events[0].name, "gen_ai.choice");
    assert_str(s->events[0].attrs.items[0].key, "index");
}

static void test_decode_fixture_all_fields_exact(void **st)
{
    (void)st;
    size_t len;
    char *text = load_fixture(&len);
    struct am_trace_batch b;
    const char *why = NULL;
    am_arena_reset(arena);
    assert_int_equal(am_otlp_json_decode_traces((const uint8_t *)text, len, arena, &b, &why),
                     AM_OK);
    assert_int_equal(b.span_count, 3);
    assert_int_equal(b.resource_count, 2);
    check_first_span(&b.spans[0]);
    const struct am_span *s = &b.spans[1];
    assert_str(s->name, "tool");
    assert_int_equal(s->kind, 1);
    assert_false(s->has_parent);
    assert_true(s->start_ns == 5);
    assert_int_equal(s->status_code, AM_STATUS_OK);
    assert_str(s->scope_name, "scope-2");
    assert_ptr_equal(s->resource, b.spans[0].resource);
    s = &b.spans[2];
    assert_false(s->has_parent);
    assert_int_equal(s->resource->service_name.len, 0);
    assert_int_equal(s->scope_name.len, 0);
    /* unescaped strings are views into the body */
    assert_ptr_equal(b.spans[1].name.ptr, strstr(text, "tool\""));
    am_free(text);
}

static void test_decode_bad_input_rejected_with_why(void **st)
{
    (void)st;
#define SPAN(x) "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" x "]}]}]}"
#define IDS "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\""
    static const struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"", "json: expected an object"},
        {"[]", "json: expected an object"},
        {"{} x", "json: trailing data after the request object"},
        {"{\"a\":1,}", "json: expected a string"},
        {"{\"a\" 1}", "json: expected ':'"},
        {"{\"a\":01}", "json: expected ',' or '}'"},
        {"{\"a\":1.}", "json: invalid number"},
        {"{\"a\":-}", "json: invalid number"},
        {"{\"a\":tru}", "json: invalid literal"},
        {"{\"a\":\"x\ty\"}", "json: control character in string"},
        {"{\"a\":\"\\q\"}", "json: bad escape"},
        {"{\"a\":\"\\u12g4\"}", "json: bad \\u escape"},
        {"{\"a\":\"\\ud83d\"}", "json: high surrogate without low surrogate"},
        {"{\"a\":\"\\ude00\"}", "json: lone low surrogate"},
        {"{\"a\":\"abc", "json: unterminated string"},
        {"{\"a\":[1 2]}", "json: expected ',' or ']'"},
        {SPAN("{\"spanId\":\"eee19b7ec3c1b174\"}"),
         "span.traceId: want 32 hex digits, not all zero"},
        {SPAN("{\"traceId\":\"5b8e\",\"spanId\":\"eee19b7ec3c1b174\"}"),
         "span.traceId: want 32 hex digits"},
        {SPAN("{\"traceId\":\"5b8efff798038103d269b633813fc60g\"}"),
         "span.traceId: want 32 hex digits"},
        {SPAN("{\"traceId\":\"\",\"spanId\":\"eee19b7ec3c1b174\"}"),
         "span.traceId: want 32 hex digits, not all zero"},
        {SPAN("{\"traceId\":\"5b8efff798038103d269b633813fc60c\"}"),
         "span.spanId: want 16 hex digits, not all zero"},
        {SPAN("{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"00\"}"),
         "span.spanId: want 16 hex digits"},
        {SPAN("{" IDS ",\"parentSpanId\":\"abc\"}"),
         "span.parentSpanId: want 16 hex digits or \"\""},
        {SPAN("{" IDS ",\"startTimeUnixNano\":\"-1\"}"),
         "span.startTimeUnixNano: not a 64-bit unsigned integer"},
        {SPAN("{" IDS ",\"startTimeUnixNano\":1.5}"),
         "span.startTimeUnixNano: not a 64-bit unsigned integer"},
        {SPAN("{" IDS ",\"kind\":\"SPAN_KIND_BOGUS\"}"), "span.kind: not an integer"},
        {SPAN("{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":\"x\"}}]}"),
         "anyvalue.intValue: not a 64-bit integer"},
        {SPAN("{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{\"boolValue\":1}}]}"),
         "anyvalue.boolValue: want true or false"},
        {SPAN("{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"A\"}}]}"),
         "anyvalue.bytesValue: bad base64"},
        {SPAN("{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{\"doubleValue\":\"x\"}}]}"),
         "anyvalue.doubleValue: not a number"},
        {SPAN("{" IDS ",\"attributes\":{}}"), "json: expected an array"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_trace_batch b;
        const char *why;
        assert_int_equal(decode_str(cases[i].text, &b, &why), AM_EINVAL);
        if (why == NULL || strcmp(why, cases[i].why) != 0) {
            fprintf(stderr, "case %zu: %s\n", i, cases[i].text);
        }
        assert_non_null(why);
        assert_string_equal(why, cases[i].why);
    }
}

/* Span names of every length to 40 with one special byte at every position
 * (strings are scanned 8 bytes at a time until a quote, backslash or
 * control character): an escaped quote or backslash decodes in place, a
 * control character is rejected, UTF-8 passes through, a string cut short
 * is unterminated. */
static void test_decode_string_scan_every_position(void **st)
{
    (void)st;
    static const char head[] = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                               "\"traceId\":\"5b8efff798038103d269b633813fc60c\","
                               "\"spanId\":\"eee19b7ec3c1b174\",\"name\":\"";
    static const char tail[] = "\"}]}]}]}";
    static const char *const specials[] = {"\\\"", "\\\\", "\x01", "\x1f", "\xc3\xa9", "\x7f"};
    static const char *const decoded[] = {"\"", "\\", NULL, NULL, "\xc3\xa9", "\x7f"};
    char text[256], want[64];
    for (size_t len = 1; len <= 40; len++) {
        for (size_t k = 0; k < len; k++) {
            for (size_t c = 0; c < sizeof(specials) / sizeof(specials[0]); c++) {
                size_t n = 0, w = 0;
                memcpy(text, head, sizeof(head) - 1);
                n = sizeof(head) - 1;
                for (size_t i = 0; i < len; i++) {
                    const char *piece = i == k ? specials[c] : "a";
                    memcpy(text + n, piece, strlen(piece));
                    n += strlen(piece);
                    if (decoded[c] != NULL || i != k) {
                        const char *dp = i == k ? decoded[c] : "a";
                        memcpy(want + w, dp, strlen(dp));
                        w += strlen(dp);
                    }
                }
                want[w] = '\0';
                size_t body = n;
                memcpy(text + n, tail, sizeof(tail));
                struct am_trace_batch b;
                const char *why = NULL;
                int rc = decode_str(text, &b, &why);
                if (decoded[c] == NULL) {
                    assert_int_equal(rc, AM_EINVAL);
                    assert_string_equal(why, "json: control character in string");
                } else {
                    assert_int_equal(rc, AM_OK);
                    assert_int_equal(b.span_count, 1);
                    assert_str(b.spans[0].name, want);
                }
                text[body] = '\0'; /* the name never closed */
                assert_int_equal(decode_str(text, &b, &why), AM_EINVAL);
                assert_string_equal(why, decoded[c] == NULL ? "json: control character in string"
                                                            : "json: unterminated string");
            }
        }
    }
}

/* 64-bit times as strings and numbers around the 19-digit fast path of the
 * integer parser and the 2^64 limit. */
static void test_decode_times_u64_boundaries(void **st)
{
    (void)st;
    static const struct {
        const char *v;
        int rc;
        uint64_t want;
    } cases[] = {
        {"\"0\"", AM_OK, 0},
        {"7", AM_OK, 7},
        {"\"1700000000123456789\"", AM_OK, 1700000000123456789ull},
        {"9999999999999999999", AM_OK, 9999999999999999999ull},
        {"\"10000000000000000000\"", AM_OK, 10000000000000000000ull},
        {"\"18446744073709551615\"", AM_OK, UINT64_MAX},
        {"\"18446744073709551616\"", AM_EINVAL, 0},
        {"\"99999999999999999999\"", AM_EINVAL, 0},
        {"\"170000000012345678x\"", AM_EINVAL, 0},
        {"\"\"", AM_EINVAL, 0},
    };
    char text[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                 "\"traceId\":\"5b8efff798038103d269b633813fc60c\","
                 "\"spanId\":\"eee19b7ec3c1b174\",\"startTimeUnixNano\":%s}]}]}]}",
                 cases[i].v);
        struct am_trace_batch b;
        const char *why = NULL;
        int rc = decode_str(text, &b, &why);
        print_message("case %s\n", cases[i].v);
        assert_int_equal(rc, cases[i].rc);
        if (rc == AM_OK) {
            assert_true(b.spans[0].start_ns == cases[i].want);
        } else {
            assert_string_equal(why, "span.startTimeUnixNano: not a 64-bit unsigned integer");
        }
    }
}

static void test_decode_every_prefix_einval(void **st)
{
    (void)st;
    size_t len;
    char *text = load_fixture(&len);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ')) {
        len--;
    }
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = am_xmalloc(n ? n : 1);
        memcpy(copy, text, n);
        struct am_trace_batch b;
        const char *why = NULL;
        am_arena_reset(arena);
        assert_int_equal(am_otlp_json_decode_traces(copy, n, arena, &b, &why), AM_EINVAL);
        assert_non_null(why);
        am_free(copy);
    }
    am_free(text);
}

static void test_decode_arena_sweep_toobig_then_ok(void **st)
{
    (void)st;
    size_t len;
    char *text = load_fixture(&len);
    struct am_arena *a = am_arena_create(0);
    size_t budget = 0;
    for (;; budget += 16) {
        struct am_trace_batch b;
        const char *why = NULL;
        am_arena_reset(a);
        am_arena_set_budget(a, budget);
        int rc = am_otlp_json_decode_traces((const uint8_t *)text, len, a, &b, &why);
        if (rc == AM_OK) {
            assert_int_equal(b.span_count, 3);
            check_first_span(&b.spans[0]);
            break;
        }
        assert_int_equal(rc, AM_ETOOBIG);
        assert_string_equal(why, "arena: request budget exhausted");
        assert_true(budget < 65536);
    }
    assert_true(budget > 0);
    am_arena_destroy(a);
    am_free(text);
}

/* levels AnyValues deep, or an unknown key nested `levels` arrays deep. */
static char *nested(unsigned levels, bool any)
{
    struct am_buf b;
    am_buf_init(&b, 1u << 20);
    am_buf_append_str(&b, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[");
    am_buf_append_str(&b, "{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":");
    for (unsigned i = 1; i < levels; i++) {
        am_buf_append_str(&b, any ? "{\"arrayValue\":{\"values\":[" : "[");
    }
    am_buf_append_str(&b, any ? "{\"intValue\":1}" : "1");
    for (unsigned i = 1; i < levels; i++) {
        am_buf_append_str(&b, any ? "]}}" : "]");
    }
    am_buf_append_str(&b, "}]}]}]}]}");
    am_buf_append_byte(&b, '\0');
    return b.data;
}

static void test_decode_depth_caps_einval(void **st)
{
    (void)st;
    struct am_trace_batch b;
    const char *why;
    char *ok = nested(AM_OTLP_MAX_ANY_DEPTH, true);
    assert_int_equal(decode_str(ok, &b, &why), AM_OK);
    assert_int_equal(b.spans[0].attrs.items[0].val.type, AM_VAL_ARRAY);
    char *deep = nested(AM_OTLP_MAX_ANY_DEPTH + 1, true);
    assert_int_equal(decode_str(deep, &b, &why), AM_EINVAL);
    assert_string_equal(why, "anyvalue: nested deeper than AM_OTLP_MAX_ANY_DEPTH");
    am_free(ok);
    am_free(deep);
    struct am_buf t;
    am_buf_init(&t, 1u << 16);
    am_buf_append_str(&t, "{\"x\":");
    for (int i = 0; i < AM_OTLP_JSON_MAX_DEPTH; i++) {
        am_buf_append_byte(&t, '[');
    }
    am_buf_append_byte(&t, '\0');
    assert_int_equal(decode_str(t.data, &b, &why), AM_EINVAL);
    assert_string_equal(why, "json: nested deeper than AM_OTLP_JSON_MAX_DEPTH");
    am_buf_fini(&t);
}

static void test_encode_responses_exact(void **st)
{
    (void)st;
    static const struct {
        int64_t rejected;
        const char *msg;
        const char *want;
    } cases[] = {
        {0, NULL, "{}"},
        {3, NULL, "{\"partialSuccess\":{\"rejectedSpans\":\"3\"}}"},
        {3, "bad \"id\"\n\x01",
         "{\"partialSuccess\":{\"rejectedSpans\":\"3\","
         "\"errorMessage\":\"bad \\\"id\\\"\\n\\u0001\"}}"},
        {0, "hm\\", "{\"partialSuccess\":{\"errorMessage\":\"hm\\\\\"}}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_buf b;
        am_buf_init(&b, 1024);
        assert_int_equal(am_otlp_json_encode_trace_response(&b, cases[i].rejected, cases[i].msg),
                         AM_OK);
        assert_int_equal(b.len, strlen(cases[i].want));
        assert_memory_equal(b.data, cases[i].want, b.len);
        am_buf_fini(&b);
    }
    struct am_buf b;
    am_buf_init(&b, 1024);
    assert_int_equal(am_otlp_json_encode_status(&b, 3, "span.traceId: \"x\"\t"), AM_OK);
    static const char want[] = "{\"code\":3,\"message\":\"span.traceId: \\\"x\\\"\\t\"}";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    am_buf_fini(&b);
    am_buf_init(&b, 8);
    assert_int_equal(am_otlp_json_encode_status(&b, 3, "much too long"), AM_ETOOBIG);
    assert_int_equal(b.len, 0);
    am_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_fixture_all_fields_exact),
        cmocka_unit_test(test_decode_bad_input_rejected_with_why),
        cmocka_unit_test(test_decode_string_scan_every_position),
        cmocka_unit_test(test_decode_times_u64_boundaries),
        cmocka_unit_test(test_decode_every_prefix_einval),
        cmocka_unit_test(test_decode_arena_sweep_toobig_then_ok),
        cmocka_unit_test(test_decode_depth_caps_einval),
        cmocka_unit_test(test_encode_responses_exact),
    };
    return cmocka_run_group_tests_name("otlp_json", tests, setup, teardown);
}
