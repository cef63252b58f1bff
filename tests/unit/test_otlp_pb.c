/*
 * test_otlp_pb.c - am_otlp_pb_decode_traces on fixtures built with the
 * otlp_pbw.h writer (exact field values), every rejection with its why,
 * every prefix of a valid request, an arena budget sweep, the AnyValue
 * depth cap, byte-exact response encodings and the wire walk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/err.h"
#include "am/otlp.h"
#include "otlp_pbw.h"

static const uint8_t TID[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static const uint8_t SID[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
static const uint8_t PID[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73};

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

/* A span with ids, name, kind, times, every AnyValue type, one event, status. */
static void rich_span(struct pbw *out)
{
    struct pbw sp = {0}, any = {0}, arr = {0}, inner = {0}, kv = {0}, lst = {0}, ev = {0}, st = {0};
    pbw_bytes(&sp, 1, TID, 16);
    pbw_bytes(&sp, 2, SID, 8);
    pbw_bytes(&sp, 4, PID, 8);
    pbw_str(&sp, 5, "chat gpt-4o");
    pbw_uint(&sp, 6, 3);
    pbw_fixed64(&sp, 7, 1700000000123456789ull);
    pbw_fixed64(&sp, 8, 1700000001123456789ull);
    pbw_kv_str(&sp, 9, "s", "hello");
    pbw_kv_int(&sp, 9, "i", -42);
    pbw_kv_double(&sp, 9, "d", 0.25);
    pbw_uint(&any, 2, 1);
    pbw_str(&kv, 1, "b");
    pbw_msg(&kv, 2, &any);
    pbw_msg(&sp, 9, &kv);
    pbw_bytes(&any, 7, "\x00\xff", 2);
    pbw_str(&kv, 1, "y");
    pbw_msg(&kv, 2, &any);
    pbw_msg(&sp, 9, &kv);
    /* a: ["x", [7]] */
    pbw_str(&any, 1, "x");
    pbw_msg(&arr, 1, &any);
    pbw_uint(&any, 3, 7);
    pbw_msg(&inner, 1, &any);
    pbw_msg(&any, 5, &inner);
    pbw_msg(&arr, 1, &any);
    pbw_msg(&any, 5, &arr);
    pbw_str(&kv, 1, "a");
    pbw_msg(&kv, 2, &any);
    pbw_msg(&sp, 9, &kv);
    /* m: {k: "v"} */
    pbw_kv_str(&lst, 1, "k", "v");
    pbw_msg(&any, 6, &lst);
    pbw_str(&kv, 1, "m");
    pbw_msg(&kv, 2, &any);
    pbw_msg(&sp, 9, &kv);
    pbw_fixed64(&ev, 1, 1700000000500000000ull);
    pbw_str(&ev, 2, "gen_ai.choice");
    pbw_kv_int(&ev, 3, "index", 0);
    pbw_msg(&sp, 11, &ev);
    pbw_str(&st, 2, "boom");
    pbw_uint(&st, 3, 2);
    pbw_msg(&sp, 15, &st);
    pbw_uint(&sp, 99, 5); /* unknown field: skipped */
    pbw_msg(out, 2, &sp);
    struct pbw *all[] = {&sp, &any, &arr, &inner, &kv, &lst, &ev, &st};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        pbw_free(all[i]);
    }
}

static void plain_span(struct pbw *out, uint8_t last)
{
    struct pbw sp = {0};
    uint8_t sid[8];
    memcpy(sid, SID, 8);
    sid[7] = last;
    pbw_bytes(&sp, 1, TID, 16);
    pbw_bytes(&sp, 2, sid, 8);
    pbw_str(&sp, 5, "tool");
    pbw_msg(out, 2, &sp);
    pbw_free(&sp);
}

/* Two resources; the first has two scopes (rich span; plain span), the
 * second one scope with one plain span and no service.name. */
static struct pbw fixture(void)
{
    struct pbw req = {0}, rs = {0}, res = {0}, ss = {0}, sc = {0};
    pbw_kv_str(&res, 1, "service.name", "svc-a");
    pbw_msg(&rs, 1, &res);
    pbw_str(&sc, 1, "scope-1");
    pbw_msg(&ss, 1, &sc);
    rich_span(&ss);
    pbw_msg(&rs, 2, &ss);
    plain_span(&ss, 1);
    pbw_str(&sc, 1, "scope-2");
    pbw_msg(&ss, 1, &sc); /* scope after its spans: still applies */
    pbw_msg(&rs, 2, &ss);
    pbw_msg(&req, 1, &rs);
    pbw_kv_int(&res, 1, "service.name", 3); /* not a string: no service name */
    pbw_msg(&rs, 1, &res);
    plain_span(&ss, 2);
    pbw_msg(&rs, 2, &ss);
    pbw_msg(&req, 1, &rs);
    struct pbw *all[] = {&rs, &res, &ss, &sc};
    for (size_t i = 0; i < 4; i++) {
        pbw_free(all[i]);
    }
    return req;
}

static int decode(const struct pbw *w, struct am_trace_batch *b, const char **why)
{
    am_arena_reset(arena);
    *why = NULL;
    return am_otlp_pb_decode_traces(w->d, w->len, arena, b, why);
}

static void assert_str(struct am_str s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static void test_decode_fixture_all_fields_exact(void **st)
{
    (void)st;
    struct pbw w = fixture();
    struct am_trace_batch b;
    const char *why;
    assert_int_equal(decode(&w, &b, &why), AM_OK);
    assert_int_equal(b.span_count, 3);
    assert_int_equal(b.resource_count, 2);
    const struct am_span *s = &b.spans[0];
    assert_memory_equal(s->trace_id, TID, 16);
    assert_memory_equal(s->span_id, SID, 8);
    assert_memory_equal(s->parent_span_id, PID, 8);
    assert_true(s->has_parent);
    assert_str(s->name, "chat gpt-4o");
    assert_int_equal(s->kind, 3);
    assert_true(s->start_ns == 1700000000123456789ull);
    assert_true(s->end_ns == 1700000001123456789ull);
    assert_int_equal(s->status_code, AM_STATUS_ERROR);
    assert_str(s->status_message, "boom");
    assert_str(s->scope_name, "scope-1");
    assert_str(s->resource->service_name, "svc-a");
    assert_int_equal(s->attrs.count, 7);
    const struct am_anyval *v = am_attrs_get(&s->attrs, AM_STR("s"));
    assert_int_equal(v->type, AM_VAL_STRING);
    assert_str(v->u.s, "hello");
    v = am_attrs_get(&s->attrs, AM_STR("i"));
    assert_int_equal(v->type, AM_VAL_INT);
    assert_true(v->u.i == -42);
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
    assert_int_equal(v->u.arr.items[1].u.arr.count, 1);
    assert_true(v->u.arr.items[1].u.arr.items[0].u.i == 7);
    v = am_attrs_get(&s->attrs, AM_STR("m"));
    assert_int_equal(v->type, AM_VAL_KVLIST);
    assert_int_equal(v->u.kvlist.count, 1);
    assert_str(v->u.kvlist.items[0].key, "k");
    assert_str(v->u.kvlist.items[0].val.u.s, "v");
    assert_int_equal(s->event_count, 1);
    assert_true(s->events[0].time_ns == 1700000000500000000ull);
    assert_str(s->events[0].name, "gen_ai.choice");
    assert_int_equal(s->events[0].attrs.count, 1);
    assert_str(s->events[0].attrs.items[0].key, "index");

    assert_false(b.spans[1].has_parent);
    assert_int_equal(b.spans[1].span_id[7], 1);
    assert_str(b.spans[1].scope_name, "scope-2");
    assert_ptr_equal(b.spans[1].resource, s->resource);
    assert_int_equal(b.spans[1].status_code, AM_STATUS_UNSET);
    assert_int_equal(b.spans[2].span_id[7], 2);
    assert_ptr_not_equal(b.spans[2].resource, s->resource);
    assert_int_equal(b.spans[2].resource->service_name.len, 0);
    assert_int_equal(b.spans[2].scope_name.len, 0);
    /* zero copy: strings point into the body */
    assert_true((const uint8_t *)s->name.ptr > w.d && (const uint8_t *)s->name.ptr < w.d + w.len);
    pbw_free(&w);
}

static void test_decode_empty_body_no_spans(void **st)
{
    (void)st;
    struct am_trace_batch b;
    const char *why = NULL;
    assert_int_equal(am_otlp_pb_decode_traces(NULL, 0, arena, &b, &why), AM_OK);
    assert_int_equal(b.span_count, 0);
    assert_int_equal(b.resource_count, 0);
}

/* Wrap one Span body into request{resource_spans{scope_spans{spans}}}. */
static struct pbw wrap_span(struct pbw *sp)
{
    struct pbw req = {0}, rs = {0}, ss = {0};
    pbw_msg(&ss, 2, sp);
    pbw_msg(&rs, 2, &ss);
    pbw_msg(&req, 1, &rs);
    pbw_free(&ss);
    pbw_free(&rs);
    return req;
}

enum bad {
    BAD_NO_TRACE_ID,
    BAD_SHORT_TRACE_ID,
    BAD_EMPTY_TRACE_ID,
    BAD_ZERO_TRACE_ID,
    BAD_LONG_SPAN_ID,
    BAD_NO_SPAN_ID,
    BAD_PARENT_4,
    BAD_NAME_VARINT,
    BAD_START_VARINT,
    BAD_ATTR_VARINT,
    BAD_TRUNC_VARINT,
    BAD_LONG_VARINT,
    BAD_GROUP,
    BAD_FIELD_ZERO,
    BAD_ANY_STRING_VARINT,
    BAD_STATUS_CODE_LEN,
};

static struct pbw bad_span(enum bad which)
{
    struct pbw sp = {0}, kv = {0};
    uint8_t zero[16] = {0};
    if (which == BAD_SHORT_TRACE_ID) {
        pbw_bytes(&sp, 1, TID, 15);
    } else if (which == BAD_EMPTY_TRACE_ID) {
        pbw_bytes(&sp, 1, TID, 0);
    } else if (which == BAD_ZERO_TRACE_ID) {
        pbw_bytes(&sp, 1, zero, 16);
    } else if (which != BAD_NO_TRACE_ID) {
        pbw_bytes(&sp, 1, TID, 16);
    }
    if (which == BAD_LONG_SPAN_ID) {
        pbw_bytes(&sp, 2, TID, 9);
    } else if (which != BAD_NO_SPAN_ID) {
        pbw_bytes(&sp, 2, SID, 8);
    }
    switch (which) {
    case BAD_PARENT_4:
        pbw_bytes(&sp, 4, SID, 4);
        break;
    case BAD_NAME_VARINT:
        pbw_uint(&sp, 5, 1);
        break;
    case BAD_START_VARINT:
        pbw_uint(&sp, 7, 1);
        break;
    case BAD_ATTR_VARINT:
        pbw_uint(&sp, 9, 1);
        break;
    case BAD_TRUNC_VARINT:
        pbw_tag(&sp, 6, 0);
        pbw_raw(&sp, "\x80\x80", 2);
        break;
    case BAD_LONG_VARINT:
        pbw_tag(&sp, 6, 0);
        pbw_raw(&sp, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
        break;
    case BAD_GROUP:
        pbw_tag(&sp, 20, 3);
        break;
    case BAD_FIELD_ZERO:
        pbw_raw(&sp, "\x00\x00", 2);
        break;
    case BAD_ANY_STRING_VARINT:
        pbw_str(&kv, 1, "k");
        pbw_raw(&kv, "\x12\x02\x08\x01", 4); /* value{string_value as varint} */
        pbw_msg(&sp, 9, &kv);
        break;
    case BAD_STATUS_CODE_LEN:
        pbw_raw(&kv, "\x1a\x00", 2); /* status.code as LEN */
        pbw_msg(&sp, 15, &kv);
        break;
    default:
        break;
    }
    struct pbw req = wrap_span(&sp);
    pbw_free(&sp);
    pbw_free(&kv);
    return req;
}

static void test_decode_bad_spans_rejected_with_why(void **st)
{
    (void)st;
    static const struct {
        enum bad which;
        const char *why;
    } cases[] = {
        {BAD_NO_TRACE_ID, "span.trace_id: want 16 bytes, not all zero"},
        {BAD_SHORT_TRACE_ID, "span.trace_id: want 16 bytes"},
        {BAD_EMPTY_TRACE_ID, "span.trace_id: want 16 bytes"},
        {BAD_ZERO_TRACE_ID, "span.trace_id: want 16 bytes, not all zero"},
        {BAD_LONG_SPAN_ID, "span.span_id: want 8 bytes"},
        {BAD_NO_SPAN_ID, "span.span_id: want 8 bytes, not all zero"},
        {BAD_PARENT_4, "span.parent_span_id: want 0 or 8 bytes"},
        {BAD_NAME_VARINT, "span.name: wrong wire type"},
        {BAD_START_VARINT, "span.start_time_unix_nano: wrong wire type"},
        {BAD_ATTR_VARINT, "span.attributes: wrong wire type"},
        {BAD_TRUNC_VARINT, "wire: truncated varint"},
        {BAD_LONG_VARINT, "wire: varint longer than 10 bytes"},
        {BAD_GROUP, "wire: group or invalid wire type"},
        {BAD_FIELD_ZERO, "wire: bad field number"},
        {BAD_ANY_STRING_VARINT, "anyvalue: wrong wire type for string/bytes"},
        {BAD_STATUS_CODE_LEN, "status.code: wrong wire type"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pbw w = bad_span(cases[i].which);
        struct am_trace_batch b;
        const char *why;
        assert_int_equal(decode(&w, &b, &why), AM_EINVAL);
        assert_non_null(why);
        assert_string_equal(why, cases[i].why);
        pbw_free(&w);
    }
}

static void test_decode_outer_wrong_wire_type_rejected(void **st)
{
    (void)st;
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } cases[] = {
        {"\x08\x01", 2, "request.resource_spans: wrong wire type"},
        {"\x0a\x02\x10\x01", 4, "resource_spans.scope_spans: wrong wire type"},
        {"\x0a\x02\x08\x01", 4, "request: wrong wire type for a known field"},
        {"\x0a\x04\x12\x02\x10\x05", 6, "scope_spans.spans: wrong wire type"},
        {"\x0a\x05", 2, "wire: length past end of message"},
        {"\x0b", 1, "wire: group or invalid wire type"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_trace_batch b;
        const char *why = NULL;
        am_arena_reset(arena);
        int rc = am_otlp_pb_decode_traces((const uint8_t *)cases[i].bytes, cases[i].len, arena, &b,
                                          &why);
        assert_int_equal(rc, AM_EINVAL);
        assert_string_equal(why, cases[i].why);
    }
}

static void test_decode_every_prefix_einval(void **st)
{
    (void)st;
    struct pbw w = fixture();
    /* a request with one ResourceSpans: every proper non-empty prefix cuts it */
    struct pbw one = {0};
    size_t first_len = 0;
    const uint8_t *p = w.d + 1;
    uint64_t n = 0;
    for (unsigned shift = 0; *p & 0x80; shift += 7) {
        n |= (uint64_t)(*p++ & 0x7f) << shift;
    }
    n |= (uint64_t)(*p & 0x7f) << (7 * (size_t)(p - (w.d + 1)));
    first_len = (size_t)(p + 1 - w.d) + (size_t)n;
    pbw_raw(&one, w.d, first_len);
    for (size_t len = 1; len < one.len; len++) {
        uint8_t *copy = am_xmalloc(len);
        memcpy(copy, one.d, len);
        struct am_trace_batch b;
        const char *why = NULL;
        am_arena_reset(arena);
        assert_int_equal(am_otlp_pb_decode_traces(copy, len, arena, &b, &why), AM_EINVAL);
        assert_non_null(why);
        am_free(copy);
    }
    struct am_trace_batch b;
    const char *why;
    assert_int_equal(decode(&one, &b, &why), AM_OK);
    assert_int_equal(b.span_count, 2);
    pbw_free(&one);
    pbw_free(&w);
}

static void test_decode_arena_sweep_toobig_then_ok(void **st)
{
    (void)st;
    struct pbw w = fixture();
    struct am_arena *a = am_arena_create(0);
    size_t budget = 0;
    for (;; budget += 16) {
        struct am_trace_batch b;
        const char *why = NULL;
        am_arena_reset(a);
        am_arena_set_budget(a, budget);
        int rc = am_otlp_pb_decode_traces(w.d, w.len, a, &b, &why);
        if (rc == AM_OK) {
            assert_int_equal(b.span_count, 3);
            break;
        }
        assert_int_equal(rc, AM_ETOOBIG);
        assert_string_equal(why, "arena: request budget exhausted");
        assert_true(budget < 65536);
    }
    assert_true(budget > 0);
    for (size_t more = budget; more < budget + 256; more += 16) {
        struct am_trace_batch b;
        const char *why = NULL;
        am_arena_reset(a);
        am_arena_set_budget(a, more);
        assert_int_equal(am_otlp_pb_decode_traces(w.d, w.len, a, &b, &why), AM_OK);
    }
    am_arena_destroy(a);
    pbw_free(&w);
}

/* An attribute whose value is `levels` AnyValues deep (arrays of arrays). */
static struct pbw nested(unsigned levels)
{
    struct pbw any = {0}, arr = {0}, kv = {0}, sp = {0};
    pbw_uint(&any, 3, 1);
    for (unsigned i = 1; i < levels; i++) {
        pbw_msg(&arr, 1, &any);
        pbw_msg(&any, 5, &arr);
    }
    pbw_bytes(&sp, 1, TID, 16);
    pbw_bytes(&sp, 2, SID, 8);
    pbw_str(&kv, 1, "deep");
    pbw_msg(&kv, 2, &any);
    pbw_msg(&sp, 9, &kv);
    struct pbw req = wrap_span(&sp);
    pbw_free(&any);
    pbw_free(&arr);
    pbw_free(&kv);
    pbw_free(&sp);
    return req;
}

static void test_decode_depth_cap_einval(void **st)
{
    (void)st;
    struct am_trace_batch b;
    const char *why;
    struct pbw ok = nested(AM_OTLP_MAX_ANY_DEPTH);
    assert_int_equal(decode(&ok, &b, &why), AM_OK);
    const struct am_anyval *v = &b.spans[0].attrs.items[0].val;
    for (unsigned i = 1; i < AM_OTLP_MAX_ANY_DEPTH; i++) {
        assert_int_equal(v->type, AM_VAL_ARRAY);
        v = &v->u.arr.items[0];
    }
    assert_int_equal(v->type, AM_VAL_INT);
    struct pbw deep = nested(AM_OTLP_MAX_ANY_DEPTH + 1);
    assert_int_equal(decode(&deep, &b, &why), AM_EINVAL);
    assert_string_equal(why, "anyvalue: nested deeper than AM_OTLP_MAX_ANY_DEPTH");
    pbw_free(&ok);
    pbw_free(&deep);
}

static void test_encode_responses_byte_exact(void **st)
{
    (void)st;
    static const struct {
        int64_t rejected;
        const char *msg;
        const char *want;
        size_t want_len;
    } cases[] = {
        {0, NULL, "", 0},
        {3, NULL, "\x0a\x02\x08\x03", 4},
        {3, "bad",
         "\x0a\x07\x08\x03\x12\x03"
         "bad",
         9},
        {0, "hm", "\x0a\x04\x12\x02hm", 6},
        {300, NULL, "\x0a\x03\x08\xac\x02", 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_buf b;
        am_buf_init(&b, 1024);
        assert_int_equal(am_otlp_pb_encode_trace_response(&b, cases[i].rejected, cases[i].msg),
                         AM_OK);
        assert_int_equal(b.len, cases[i].want_len);
        if (b.len > 0) {
            assert_memory_equal(b.data, cases[i].want, b.len);
        }
        am_buf_fini(&b);
    }
    struct am_buf b;
    am_buf_init(&b, 1024);
    assert_int_equal(am_otlp_pb_encode_status(&b, 3, "span.trace_id: want 16 bytes"), AM_OK);
    static const char want[] = "\x08\x03\x12\x1cspan.trace_id: want 16 bytes";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.data, want, b.len);
    am_buf_fini(&b);
    am_buf_init(&b, 4);
    assert_int_equal(am_otlp_pb_encode_status(&b, 3, "too long for the cap"), AM_ETOOBIG);
    assert_int_equal(b.len, 0);
    am_buf_fini(&b);
}

static void test_wire_walk_counts_fields(void **st)
{
    (void)st;
    struct pbw sp = {0};
    pbw_bytes(&sp, 1, TID, 16);
    pbw_bytes(&sp, 2, SID, 8);
    pbw_kv_str(&sp, 9, "k", "v"); /* kv(1) + key(1) + value(1) + string(1) */
    struct pbw w = wrap_span(&sp);
    /* resource_spans + scope_spans + spans + trace_id + span_id + 4 */
    assert_int_equal(am_otlp_pb_wire_walk(w.d, w.len), 9);
    assert_int_equal(am_otlp_pb_wire_walk(w.d, w.len - 1), AM_EINVAL);
    assert_int_equal(am_otlp_pb_wire_walk(NULL, 0), 0);
    pbw_free(&sp);
    pbw_free(&w);
}

/* One KeyValue body both as a span attribute (where common shapes take a
 * fast path) and as a resource attribute (always the general decoder):
 * the same outcome and the same decoded value, for the shapes the fast
 * path takes and for near misses it must hand to the general decoder. */
struct kv_out {
    struct am_kv kv;
    char key[16];
    char s[16]; /* string and bytes values, copied before the body is freed */
};

static int decode_kv_as(const char *kv, size_t n, bool on_span, struct kv_out *out)
{
    struct pbw req = {0}, rs = {0}, res = {0}, ss = {0}, sp = {0};
    pbw_bytes(&sp, 1, TID, 16);
    pbw_bytes(&sp, 2, SID, 8);
    pbw_bytes(on_span ? &sp : &res, on_span ? 9 : 1, kv, n);
    pbw_msg(&rs, 1, &res);
    pbw_msg(&ss, 2, &sp);
    pbw_msg(&rs, 2, &ss);
    pbw_msg(&req, 1, &rs);
    struct am_trace_batch b;
    const char *why = NULL;
    memset(out, 0, sizeof(*out));
    int rc = decode(&req, &b, &why);
    if (rc == AM_OK) {
        const struct am_attrs *a = on_span ? &b.spans[0].attrs : &b.spans[0].resource->attrs;
        assert_int_equal(a->count, 1);
        out->kv = a->items[0];
        assert_true(out->kv.key.len <= sizeof(out->key));
        memcpy(out->key, out->kv.key.ptr, out->kv.key.len);
        out->kv.key.ptr = out->key;
        if (out->kv.val.type == AM_VAL_STRING || out->kv.val.type == AM_VAL_BYTES) {
            assert_true(out->kv.val.u.s.len <= sizeof(out->s));
            memcpy(out->s, out->kv.val.u.s.ptr, out->kv.val.u.s.len);
            out->kv.val.u.s.ptr = out->s;
        }
    }
    struct pbw *all[] = {&req, &rs, &res, &ss, &sp};
    for (size_t i = 0; i < 5; i++) {
        pbw_free(all[i]);
    }
    return rc;
}

static void assert_kv_equal(const struct am_kv *x, const struct am_kv *y)
{
    assert_int_equal(x->key.len, y->key.len);
    assert_memory_equal(x->key.ptr, y->key.ptr, x->key.len);
    assert_int_equal(x->val.type, y->val.type);
    switch (x->val.type) {
    case AM_VAL_STRING:
    case AM_VAL_BYTES:
        assert_int_equal(x->val.u.s.len, y->val.u.s.len);
        assert_memory_equal(x->val.u.s.ptr, y->val.u.s.ptr, x->val.u.s.len);
        break;
    case AM_VAL_INT:
        assert_int_equal(x->val.u.i, y->val.u.i);
        break;
    case AM_VAL_BOOL:
        assert_int_equal(x->val.u.b, y->val.u.b);
        break;
    case AM_VAL_DOUBLE:
        assert_memory_equal(&x->val.u.d, &y->val.u.d, sizeof(double));
        break;
    default:
        break;
    }
}

#define KV(s)                                                                                      \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
static const struct {
    const char *b;
    size_t n;
} kv_cases[] = {
    KV("\x0a\x01k\x12\x03\x0a\x01v"),                                    /* string */
    KV("\x0a\x01k\x12\x02\x0a\x00"),                                     /* empty string */
    KV("\x0a\x00\x12\x03\x0a\x01v"),                                     /* empty key */
    KV("\x0a\x01k\x12\x02\x18\x05"),                                     /* int */
    KV("\x0a\x01k\x12\x0b\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), /* int -1 */
    KV("\x0a\x01k\x12\x02\x10\x02"),                                     /* bool 2: true */
    KV("\x0a\x01k\x12\x09\x21\x00\x00\x00\x00\x00\x00\xd0\x3f"),         /* double 0.25 */
    KV("\x0a\x01k\x12\x03\x3a\x01\xff"),                                 /* bytes: general */
    KV("\x0a\x01k\x12\x00"),                                             /* empty AnyValue */
    KV("\x0a\x01k"),                                                     /* no value */
    KV("\x12\x03\x0a\x01v\x0a\x01k"),                                    /* value first */
    KV("\x0a\x01k\x12\x03\x0a\x01v\x0a\x01j"),                           /* key repeated */
    KV("\x0a\x01k\x12\x06\x0a\x01v\x0a\x01w"),                           /* string repeated */
    KV("\x0a\x01k\x12\x04\x18\x05\x18\x06"),                             /* int repeated */
    KV("\x0a\x01k\x12\x04\x0a\x01v\x18\x05"),                            /* string, int */
    KV("\x0a\x01k\x12\x03\x0a\x01v\x20\x01"),                            /* unknown after */
    KV("\x0a\x01k\x12\x02\x0a\x01"),                                     /* string too long */
    KV("\x0a\x01k\x12\x02\x18\x80"),                                     /* truncated int */
    KV("\x0a\x01k\x12\x08\x21\x00\x00\x00\x00\x00\x00\xd0"),             /* short double */
    KV("\x0a\x01k\x12\x02\x0a\x05"),                                     /* past end */
    KV("\x0a\x05k\x12\x03\x0a"),                                         /* key past end */
    KV("\x0a\x01k\x12\x02\x08\x01"),                                     /* string as varint */
    KV("\x0a\x81\x00\x12\x03\x0a\x01v"),                                 /* 2-byte key len */
};
#undef KV

static void test_decode_kv_fast_path_same_as_general(void **st)
{
    (void)st;
    struct kv_out fast, slow;
    for (size_t i = 0; i < sizeof(kv_cases) / sizeof(kv_cases[0]); i++) {
        int rf = decode_kv_as(kv_cases[i].b, kv_cases[i].n, true, &fast);
        int rs = decode_kv_as(kv_cases[i].b, kv_cases[i].n, false, &slow);
        print_message("case %zu\n", i);
        assert_int_equal(rf, rs);
        if (rf == AM_OK) {
            assert_kv_equal(&fast.kv, &slow.kv);
        }
    }
    /* and the values themselves, for the fast shapes */
    assert_int_equal(decode_kv_as(kv_cases[0].b, kv_cases[0].n, true, &fast), AM_OK);
    assert_int_equal(fast.kv.val.type, AM_VAL_STRING);
    assert_str(fast.kv.key, "k");
    assert_str(fast.kv.val.u.s, "v");
    assert_int_equal(decode_kv_as(kv_cases[3].b, kv_cases[3].n, true, &fast), AM_OK);
    assert_int_equal(fast.kv.val.type, AM_VAL_INT);
    assert_int_equal(fast.kv.val.u.i, 5);
    assert_int_equal(decode_kv_as(kv_cases[4].b, kv_cases[4].n, true, &fast), AM_OK);
    assert_int_equal(fast.kv.val.u.i, -1);
    assert_int_equal(decode_kv_as(kv_cases[5].b, kv_cases[5].n, true, &fast), AM_OK);
    assert_int_equal(fast.kv.val.type, AM_VAL_BOOL);
    assert_true(fast.kv.val.u.b);
    assert_int_equal(decode_kv_as(kv_cases[6].b, kv_cases[6].n, true, &fast), AM_OK);
    assert_int_equal(fast.kv.val.type, AM_VAL_DOUBLE);
    assert_true(fast.kv.val.u.d == 0.25);
    assert_int_equal(decode_kv_as(kv_cases[21].b, kv_cases[21].n, true, &fast), AM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_fixture_all_fields_exact),
        cmocka_unit_test(test_decode_empty_body_no_spans),
        cmocka_unit_test(test_decode_bad_spans_rejected_with_why),
        cmocka_unit_test(test_decode_outer_wrong_wire_type_rejected),
        cmocka_unit_test(test_decode_every_prefix_einval),
        cmocka_unit_test(test_decode_arena_sweep_toobig_then_ok),
        cmocka_unit_test(test_decode_depth_cap_einval),
        cmocka_unit_test(test_encode_responses_byte_exact),
        cmocka_unit_test(test_wire_walk_counts_fields),
        cmocka_unit_test(test_decode_kv_fast_path_same_as_general),
    };
    return cmocka_run_group_tests_name("otlp_pb", tests, setup, teardown);
}
