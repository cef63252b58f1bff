/*
 * test_otlp_logs.c - ExportLogsServiceRequest decoding (protobuf and
 * OTLP/JSON) and the ExportLogsServiceResponse encoders: exact field values,
 * event_name vs the `event.name` fallback, id rules, rejections with their
 * why, every prefix, arena budget sweeps (SPEC.md 3 Quality, STYLE.md 5.9).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "am/err.h"
#include "am/otlp.h"
#include "otlp_pbw.h"

static const uint8_t TID[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static const uint8_t SID[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};

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

static void assert_str(struct am_str s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

/* Record 1: every field, event_name set (and an event.name attribute that
 * must lose). */
static void rec_full(struct pbw *r)
{
    pbw_fixed64(r, 1, 1700000000123456789ull);
    pbw_uint(r, 2, 9);
    pbw_str(r, 3, "INFO");
    struct pbw body = {0};
    pbw_str(&body, 1, "scored");
    pbw_msg(r, 5, &body);
    pbw_free(&body);
    pbw_kv_str(r, 6, "gen_ai.evaluation.name", "Relevance");
    pbw_kv_double(r, 6, "gen_ai.evaluation.score.value", 0.75);
    pbw_kv_str(r, 6, "event.name", "ignored.because.field.wins");
    pbw_uint(r, 7, 2);
    pbw_tag(r, 8, 5);
    pbw_raw(r, "\x01\x00\x00\x00", 4);
    pbw_bytes(r, 9, TID, 16);
    pbw_bytes(r, 10, SID, 8);
    pbw_fixed64(r, 11, 1700000000999999999ull);
    pbw_str(r, 12, "gen_ai.evaluation.result");
    pbw_uint(r, 99, 7); /* unknown field: skipped */
}

/* Record 2: no ids, no event_name field: falls back to the attribute. */
static void rec_fallback(struct pbw *r)
{
    pbw_kv_str(r, 6, "event.name", "gen_ai.evaluation.result");
    pbw_kv_int(r, 6, "n", -3);
    pbw_bytes(r, 9, "", 0);
    pbw_bytes(r, 10, "", 0);
}

static struct pbw wrap(struct pbw *recs, size_t n, const char *service)
{
    struct pbw w = {0}, rl = {0}, res = {0}, sl = {0}, scope = {0};
    pbw_kv_str(&res, 1, "service.name", service);
    pbw_msg(&rl, 1, &res);
    pbw_str(&scope, 1, "evals");
    pbw_msg(&sl, 1, &scope);
    for (size_t i = 0; i < n; i++) {
        pbw_msg(&sl, 2, &recs[i]);
    }
    pbw_str(&sl, 3, "https://schema");
    pbw_msg(&rl, 2, &sl);
    pbw_msg(&w, 1, &rl);
    pbw_free(&res);
    pbw_free(&sl);
    pbw_free(&scope);
    pbw_free(&rl);
    return w;
}

static struct pbw fixture(void)
{
    struct pbw recs[2] = {{0}, {0}};
    rec_full(&recs[0]);
    rec_fallback(&recs[1]);
    struct pbw w = wrap(recs, 2, "agent-svc");
    /* a second ResourceLogs with one record, no service.name */
    struct pbw r3 = {0}, rl = {0}, sl = {0};
    pbw_uint(&r3, 2, 17);
    pbw_msg(&sl, 2, &r3);
    pbw_msg(&rl, 2, &sl);
    pbw_msg(&w, 1, &rl);
    pbw_free(&r3);
    pbw_free(&rl);
    pbw_free(&sl);
    pbw_free(&recs[0]);
    pbw_free(&recs[1]);
    return w;
}

static void check_fixture(const struct am_log_batch *b)
{
    static const uint8_t zero[16];
    assert_int_equal(b->record_count, 3);
    assert_int_equal(b->resource_count, 2);
    const struct am_log_record *r = &b->records[0];
    assert_true(r->time_ns == 1700000000123456789ull);
    assert_true(r->observed_time_ns == 1700000000999999999ull);
    assert_int_equal(r->severity_number, 9);
    assert_str(r->event_name, "gen_ai.evaluation.result");
    assert_int_equal(r->attrs.count, 3);
    assert_str(r->attrs.items[0].key, "gen_ai.evaluation.name");
    assert_int_equal(r->attrs.items[0].val.type, AM_VAL_STRING);
    assert_str(r->attrs.items[0].val.u.s, "Relevance");
    assert_int_equal(r->attrs.items[1].val.type, AM_VAL_DOUBLE);
    assert_true(r->attrs.items[1].val.u.d == 0.75);
    assert_true(r->has_trace);
    assert_true(r->has_span);
    assert_memory_equal(r->trace_id, TID, 16);
    assert_memory_equal(r->span_id, SID, 8);
    assert_non_null(r->resource);
    assert_str(r->resource->service_name, "agent-svc");

    r = &b->records[1];
    assert_true(r->time_ns == 0 && r->observed_time_ns == 0);
    assert_int_equal(r->severity_number, 0);
    assert_str(r->event_name, "gen_ai.evaluation.result"); /* from the attribute */
    assert_int_equal(r->attrs.count, 2);
    assert_int_equal(r->attrs.items[1].val.type, AM_VAL_INT);
    assert_true(r->attrs.items[1].val.u.i == -3);
    assert_false(r->has_trace);
    assert_false(r->has_span);
    assert_memory_equal(r->trace_id, zero, 16);
    assert_memory_equal(r->span_id, zero, 8);
    assert_ptr_equal(r->resource, b->records[0].resource);

    r = &b->records[2];
    assert_int_equal(r->severity_number, 17);
    assert_int_equal(r->event_name.len, 0);
    assert_int_equal(r->attrs.count, 0);
    assert_false(r->has_trace);
    assert_non_null(r->resource);
    assert_ptr_not_equal(r->resource, b->records[0].resource);
    assert_int_equal(r->resource->service_name.len, 0);
}

static void test_pb_fixture_all_fields_exact(void **st)
{
    (void)st;
    struct pbw w = fixture();
    struct am_log_batch b;
    const char *why = NULL;
    am_arena_reset(arena);
    assert_int_equal(am_otlp_pb_decode_logs(w.d, w.len, arena, &b, &why), AM_OK);
    check_fixture(&b);
    /* zero-copy: strings point into the body */
    const char *p = b.records[0].event_name.ptr;
    assert_true((const uint8_t *)p >= w.d && (const uint8_t *)p < w.d + w.len);
    pbw_free(&w);
}

static void test_pb_empty_body_no_records(void **st)
{
    (void)st;
    struct am_log_batch b;
    const char *why = NULL;
    am_arena_reset(arena);
    assert_int_equal(am_otlp_pb_decode_logs(NULL, 0, arena, &b, &why), AM_OK);
    assert_int_equal(b.record_count, 0);
    assert_int_equal(b.resource_count, 0);
    assert_null(b.records);
}

enum bad { BAD_TID, BAD_SID, BAD_TIME_WT, BAD_SEV_WT, BAD_ATTR_WT, BAD_EVENT_WT, BAD_ZERO_TAG };

static struct pbw bad_record(enum bad which)
{
    struct pbw r = {0};
    switch (which) {
    case BAD_TID:
        pbw_bytes(&r, 9, TID, 15);
        break;
    case BAD_SID:
        pbw_bytes(&r, 10, TID, 16);
        break;
    case BAD_TIME_WT:
        pbw_uint(&r, 1, 5);
        break;
    case BAD_SEV_WT:
        pbw_str(&r, 2, "x");
        break;
    case BAD_ATTR_WT:
        pbw_uint(&r, 6, 1);
        break;
    case BAD_EVENT_WT:
        pbw_uint(&r, 12, 1);
        break;
    case BAD_ZERO_TAG:
        pbw_raw(&r, "\x00\x01", 2);
        break;
    }
    struct pbw w = wrap(&r, 1, "s");
    pbw_free(&r);
    return w;
}

static void test_pb_bad_records_rejected_with_why(void **st)
{
    (void)st;
    static const struct {
        enum bad which;
        const char *why;
    } cases[] = {
        {BAD_TID, "log_record.trace_id: want 0 or 16 bytes"},
        {BAD_SID, "log_record.span_id: want 0 or 8 bytes"},
        {BAD_TIME_WT, "log_record.time_unix_nano: wrong wire type"},
        {BAD_SEV_WT, "log_record.severity_number: wrong wire type"},
        {BAD_ATTR_WT, "log_record.attributes: wrong wire type"},
        {BAD_EVENT_WT, "log_record.event_name: wrong wire type"},
        {BAD_ZERO_TAG, "wire: bad field number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pbw w = bad_record(cases[i].which);
        struct am_log_batch b;
        const char *why = NULL;
        am_arena_reset(arena);
        assert_int_equal(am_otlp_pb_decode_logs(w.d, w.len, arena, &b, &why), AM_EINVAL);
        assert_string_equal(why, cases[i].why);
        pbw_free(&w);
    }
    /* outer layers: a varint where ResourceLogs / ScopeLogs / LogRecord belong */
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } outer[] = {
        {"\x08\x01", 2, "request.resource_logs: wrong wire type"},
        {"\x0a\x02\x10\x01", 4, "resource_logs.scope_logs: wrong wire type"},
        {"\x0a\x04\x12\x02\x10\x01", 6, "scope_logs.log_records: wrong wire type"},
    };
    for (size_t i = 0; i < sizeof(outer) / sizeof(outer[0]); i++) {
        struct am_log_batch b;
        const char *why = NULL;
        am_arena_reset(arena);
        assert_int_equal(
            am_otlp_pb_decode_logs((const uint8_t *)outer[i].bytes, outer[i].len, arena, &b, &why),
            AM_EINVAL);
        assert_string_equal(why, outer[i].why);
    }
}

static void test_pb_every_prefix_einval(void **st)
{
    (void)st;
    struct pbw recs[2] = {{0}, {0}};
    rec_full(&recs[0]);
    rec_fallback(&recs[1]);
    struct pbw w = wrap(recs, 2, "agent-svc"); /* one ResourceLogs: every cut is inside it */
    for (size_t len = 1; len < w.len; len++) {
        uint8_t *copy = am_xmalloc(len);
        memcpy(copy, w.d, len);
        struct am_log_batch b;
        const char *why = NULL;
        am_arena_reset(arena);
        assert_int_equal(am_otlp_pb_decode_logs(copy, len, arena, &b, &why), AM_EINVAL);
        assert_non_null(why);
        am_free(copy);
    }
    pbw_free(&recs[0]);
    pbw_free(&recs[1]);
    pbw_free(&w);
}

typedef int (*decode_fn)(const uint8_t *, size_t, struct am_arena *, struct am_log_batch *,
                         const char **);

/* Budgets 0, 16, ... fail with AM_ETOOBIG until one succeeds; every larger
 * budget succeeds with the same result. */
static void sweep(decode_fn fn, const uint8_t *body, size_t len)
{
    struct am_arena *a = am_arena_create(0);
    size_t budget = 0;
    for (;; budget += 16) {
        struct am_log_batch b;
        const char *why = NULL;
        am_arena_reset(a);
        am_arena_set_budget(a, budget);
        int rc = fn(body, len, a, &b, &why);
        if (rc == AM_OK) {
            check_fixture(&b);
            break;
        }
        assert_int_equal(rc, AM_ETOOBIG);
        assert_string_equal(why, "arena: request budget exhausted");
        assert_true(budget < 65536);
    }
    assert_true(budget > 0);
    for (size_t more = budget; more < budget + 256; more += 16) {
        struct am_log_batch b;
        const char *why = NULL;
        am_arena_reset(a);
        am_arena_set_budget(a, more);
        assert_int_equal(fn(body, len, a, &b, &why), AM_OK);
        check_fixture(&b);
    }
    am_arena_destroy(a);
}

static void test_pb_arena_sweep_toobig_then_ok(void **st)
{
    (void)st;
    struct pbw w = fixture();
    sweep(am_otlp_pb_decode_logs, w.d, w.len);
    pbw_free(&w);
}

/* The same three records as fixture(), in OTLP/JSON: hex ids, int64 as
 * strings and numbers, an enum by name, snake_case keys, a body value, a
 * null member. */
static const char JSON_FIXTURE[] =
    "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
    "\"value\":{\"stringValue\":\"agent-svc\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"evals\"},"
    "\"logRecords\":[{\"timeUnixNano\":\"1700000000123456789\","
    "\"observedTimeUnixNano\":\"1700000000999999999\",\"severityNumber\":\"SEVERITY_NUMBER_INFO\","
    "\"severityText\":\"INFO\",\"body\":{\"stringValue\":\"scored\"},\"attributes\":["
    "{\"key\":\"gen_ai.evaluation.name\",\"value\":{\"stringValue\":\"Relevance\"}},"
    "{\"key\":\"gen_ai.evaluation.score.value\",\"value\":{\"doubleValue\":0.75}},"
    "{\"key\":\"event.name\",\"value\":{\"stringValue\":\"ignored\"}}],"
    "\"droppedAttributesCount\":2,\"flags\":1,"
    "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
    "\"eventName\":\"gen_ai.evaluation.result\"},"
    "{\"attributes\":[{\"key\":\"event.name\",\"value\":{\"stringValue\":"
    "\"gen_ai.evaluation.result\"}},{\"key\":\"n\",\"value\":{\"intValue\":\"-3\"}}],"
    "\"trace_id\":\"\",\"span_id\":\"\",\"event_name\":null}]}]},"
    "{\"scope_logs\":[{\"log_records\":[{\"severity_number\":17,\"time_unix_nano\":0}]}]}]}";

static void test_json_fixture_all_fields_exact(void **st)
{
    (void)st;
    struct am_log_batch b;
    const char *why = NULL;
    am_arena_reset(arena);
    assert_int_equal(am_otlp_json_decode_logs((const uint8_t *)JSON_FIXTURE,
                                              sizeof(JSON_FIXTURE) - 1, arena, &b, &why),
                     AM_OK);
    check_fixture(&b);
}

static void test_json_bad_records_rejected_with_why(void **st)
{
    (void)st;
    static const struct {
        const char *rec;
        const char *why;
    } cases[] = {
        {"{\"traceId\":\"5b8e\"}", "log_record.traceId: want 32 hex digits or \"\""},
        {"{\"traceId\":\"zz8efff798038103d269b633813fc60c\"}",
         "log_record.traceId: want 32 hex digits or \"\""},
        {"{\"spanId\":\"eee19b7ec3c1b1\"}", "log_record.spanId: want 16 hex digits or \"\""},
        {"{\"timeUnixNano\":\"-1\"}", "log_record.timeUnixNano: not a 64-bit unsigned integer"},
        {"{\"observedTimeUnixNano\":1.5}",
         "log_record.observedTimeUnixNano: not a 64-bit unsigned integer"},
        {"{\"severityNumber\":\"LOUD\"}", "log_record.severityNumber: not an integer"},
        {"{\"eventName\":5}", "json: expected a string"},
        {"{\"body\":{\"intValue\":\"x\"}}", "anyvalue.intValue: not a 64-bit integer"},
        {"{\"attributes\":{}}", "json: expected an array"},
        {"{\"a\":1,}", "json: expected a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512];
        int n =
            snprintf(body, sizeof(body),
                     "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[%s]}]}]}", cases[i].rec);
        struct am_log_batch b;
        const char *why = NULL;
        am_arena_reset(arena);
        assert_int_equal(
            am_otlp_json_decode_logs((const uint8_t *)body, (size_t)n, arena, &b, &why), AM_EINVAL);
        assert_string_equal(why, cases[i].why);
    }
}

static void test_json_every_prefix_einval(void **st)
{
    (void)st;
    size_t n = sizeof(JSON_FIXTURE) - 1;
    for (size_t len = 0; len < n; len++) {
        char *copy = am_xmalloc(len + 1);
        memcpy(copy, JSON_FIXTURE, len);
        struct am_log_batch b;
        const char *why = NULL;
        am_arena_reset(arena);
        assert_int_equal(am_otlp_json_decode_logs((const uint8_t *)copy, len, arena, &b, &why),
                         AM_EINVAL);
        assert_non_null(why);
        am_free(copy);
    }
}

static void test_json_arena_sweep_toobig_then_ok(void **st)
{
    (void)st;
    sweep(am_otlp_json_decode_logs, (const uint8_t *)JSON_FIXTURE, sizeof(JSON_FIXTURE) - 1);
}

static void test_encode_logs_responses_exact(void **st)
{
    (void)st;
    static const struct {
        int64_t rejected;
        const char *msg;
        const char *pb;
        size_t pb_len;
        const char *json;
    } cases[] = {
        {0, NULL, "", 0, "{}"},
        {3, NULL, "\x0a\x02\x08\x03", 4, "{\"partialSuccess\":{\"rejectedLogRecords\":\"3\"}}"},
        {2, "bad",
         "\x0a\x07\x08\x02\x12\x03"
         "bad",
         9, "{\"partialSuccess\":{\"rejectedLogRecords\":\"2\",\"errorMessage\":\"bad\"}}"},
        {0, "q\"", "\x0a\x04\x12\x02q\"", 6, "{\"partialSuccess\":{\"errorMessage\":\"q\\\"\"}}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_buf b;
        am_buf_init(&b, 1024);
        assert_int_equal(am_otlp_pb_encode_logs_response(&b, cases[i].rejected, cases[i].msg),
                         AM_OK);
        assert_int_equal(b.len, cases[i].pb_len);
        if (b.len > 0) {
            assert_memory_equal(b.data, cases[i].pb, b.len);
        }
        b.len = 0;
        assert_int_equal(am_otlp_json_encode_logs_response(&b, cases[i].rejected, cases[i].msg),
                         AM_OK);
        assert_int_equal(b.len, strlen(cases[i].json));
        assert_memory_equal(b.data, cases[i].json, b.len);
        am_buf_fini(&b);
    }
    struct am_buf b;
    am_buf_init(&b, 4);
    assert_int_equal(am_otlp_json_encode_logs_response(&b, 1, "too long for the cap"), AM_ETOOBIG);
    assert_int_equal(b.len, 0);
    am_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pb_fixture_all_fields_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pb_empty_body_no_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pb_bad_records_rejected_with_why, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pb_every_prefix_einval, setup, teardown),
        cmocka_unit_test(test_pb_arena_sweep_toobig_then_ok),
        cmocka_unit_test_setup_teardown(test_json_fixture_all_fields_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_bad_records_rejected_with_why, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_every_prefix_einval, setup, teardown),
        cmocka_unit_test(test_json_arena_sweep_toobig_then_ok),
        cmocka_unit_test(test_encode_logs_responses_exact),
    };
    return cmocka_run_group_tests_name("otlp_logs", tests, NULL, NULL);
}
