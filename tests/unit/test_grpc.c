/*
 * test_grpc.c - gRPC framing (lying and truncated prefixes, compressed flag
 * without grpc-encoding, gzip), grpc-timeout parsing, grpc-message escaping,
 * google.rpc.Status message extraction and the status mapping (SPEC.md 1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/grpc.h"
#include "am/inflate.h"

static void test_unframe_table_codes_exact(void **st)
{
    (void)st;
    static const struct {
        const char *data;
        size_t len;
        const char *enc;
        int rc;
        size_t msg_len;
    } cases[] = {
        {"\0\0\0\0\3abc", 8, "", AM_OK, 3},
        {"\0\0\0\0\0", 5, "identity", AM_OK, 0},
        {"", 0, "", AM_EINVAL, 0},              /* empty body */
        {"\0\0\0", 3, "", AM_EINVAL, 0},        /* truncated prefix */
        {"\0\0\0\0\5abc", 8, "", AM_EINVAL, 0}, /* prefix longer than the body */
        {"\0\0\0\0\2abc", 8, "", AM_EINVAL, 0}, /* data after the message */
        {"\2\0\0\0\3abc", 8, "", AM_EINVAL, 0}, /* bad flag */
        {"\1\0\0\0\3abc", 8, "", AM_EINVAL, 0}, /* compressed, no encoding */
        {"\1\0\0\0\3abc", 8, "identity", AM_EINVAL, 0},
        {"\1\0\0\0\3abc", 8, "gzip", AM_EINVAL, 0}, /* not gzip */
        {"\0\0\0\0\3abc", 8, "br", AM_EUNSUPPORTED, 0},
        {"\0\0\0\1\0abc", 8, "", AM_ETOOBIG, 0}, /* 256 > max 100 */
        {"\0\xff\xff\xff\xff", 5, "", AM_ETOOBIG, 0},
        {"\0\0\0\0\3abc", 8, "gzip", AM_OK, 3}, /* uncompressed under gzip */
    };
    struct am_arena *a = am_arena_create(1 << 16);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const uint8_t *msg = NULL;
        size_t len = 99;
        const char *why = NULL;
        int rc = am_grpc_unframe((const uint8_t *)cases[i].data, cases[i].len,
                                 am_str_from(cases[i].enc), 100, a, &msg, &len, &why);
        assert_int_equal(rc, cases[i].rc);
        if (rc == AM_OK) {
            assert_int_equal(len, cases[i].msg_len);
            assert_ptr_equal(msg, (const uint8_t *)cases[i].data + 5);
        } else {
            assert_non_null(why);
        }
    }
    am_arena_destroy(a);
}

static void test_unframe_gzip_inflates_and_caps(void **st)
{
    (void)st;
    uint8_t plain[300];
    memset(plain, 'x', sizeof(plain));
    uint8_t *gz = NULL;
    size_t gz_len = 0;
    assert_int_equal(am_gzip_compress(plain, sizeof(plain), &gz, &gz_len), AM_OK);
    struct am_buf framed;
    am_buf_init(&framed, 4096);
    assert_int_equal(am_grpc_frame(&framed, gz, gz_len), AM_OK);
    framed.data[0] = 1; /* compressed */
    struct am_arena *a = am_arena_create(1 << 16);
    const uint8_t *msg = NULL;
    size_t len = 0;
    const char *why = NULL;
    assert_int_equal(am_grpc_unframe((uint8_t *)framed.data, framed.len, AM_STR("gzip"), 300, a,
                                     &msg, &len, &why),
                     AM_OK);
    assert_int_equal(len, 300);
    assert_memory_equal(msg, plain, 300);
    assert_int_equal(am_grpc_unframe((uint8_t *)framed.data, framed.len, AM_STR("gzip"), 299, a,
                                     &msg, &len, &why),
                     AM_ETOOBIG);
    am_arena_destroy(a);
    am_buf_fini(&framed);
    am_free(gz);
}

static void test_frame_prefix_big_endian(void **st)
{
    (void)st;
    struct am_buf b;
    am_buf_init(&b, 1024);
    uint8_t msg[258] = {0};
    assert_int_equal(am_grpc_frame(&b, msg, sizeof(msg)), AM_OK);
    assert_int_equal(b.len, 263);
    assert_memory_equal(b.data, "\0\0\0\1\2", 5);
    am_buf_fini(&b);
    am_buf_init(&b, 4);
    assert_int_equal(am_grpc_frame(&b, msg, 1), AM_ETOOBIG);
    am_buf_fini(&b);
}

static void test_timeout_table_ns(void **st)
{
    (void)st;
    static const struct {
        const char *v;
        int rc;
        uint64_t ns;
    } cases[] = {
        {"1S", AM_OK, 1000000000ull},
        {"250m", AM_OK, 250000000ull},
        {"10u", AM_OK, 10000ull},
        {"7n", AM_OK, 7},
        {"2M", AM_OK, 120000000000ull},
        {"1H", AM_OK, 3600000000000ull},
        {"99999999H", AM_OK, UINT64_MAX}, /* saturates */
        {"99999999S", AM_OK, 99999999ull * 1000000000ull},
        {"0S", AM_OK, 0},
        {"S", AM_EINVAL, 0},
        {"", AM_EINVAL, 0},
        {"123456789S", AM_EINVAL, 0}, /* 9 digits */
        {"1s", AM_EINVAL, 0},
        {"-1S", AM_EINVAL, 0},
        {"1.5S", AM_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ns = 42;
        assert_int_equal(am_grpc_parse_timeout(am_str_from(cases[i].v), &ns), cases[i].rc);
        if (cases[i].rc == AM_OK) {
            assert_true(ns == cases[i].ns);
        }
    }
}

static void test_code_for_status_spec_table(void **st)
{
    (void)st;
    static const int map[][2] = {
        {200, 0}, {400, 3},  {401, 16}, {403, 7}, {404, 12}, {405, 12}, {408, 4},
        {413, 8}, {415, 12}, {429, 8},  {431, 8}, {500, 13}, {503, 14}, {502, 13},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        assert_int_equal(am_grpc_code_for_status(map[i][0]), map[i][1]);
    }
}

static void test_message_encode_escapes(void **st)
{
    (void)st;
    char out[32];
    assert_int_equal(am_grpc_message_encode(out, sizeof(out), AM_STR("a b%c\n\xc3\xa9")), 16);
    assert_string_equal(out, "a b%25c%0A%C3%A9");
    assert_int_equal(am_grpc_message_encode(out, 5, AM_STR("ab%cd")), 2); /* never split %25 */
    assert_string_equal(out, "ab");
}

static void test_status_message_extracts_field_2(void **st)
{
    (void)st;
    /* code=3 (field 1 varint), message="bad" (field 2), details skipped */
    static const uint8_t s[] = {0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'};
    struct am_str m = am_grpc_status_message(s, sizeof(s));
    assert_true(am_str_eq(m, AM_STR("bad")));
    static const uint8_t trunc[] = {0x08, 0x03, 0x12, 0x09, 'b'};
    assert_int_equal(am_grpc_status_message(trunc, sizeof(trunc)).len, 0);
    static const uint8_t junk[] = {0x0f, 0xff};
    assert_int_equal(am_grpc_status_message(junk, sizeof(junk)).len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unframe_table_codes_exact),
        cmocka_unit_test(test_unframe_gzip_inflates_and_caps),
        cmocka_unit_test(test_frame_prefix_big_endian),
        cmocka_unit_test(test_timeout_table_ns),
        cmocka_unit_test(test_code_for_status_spec_table),
        cmocka_unit_test(test_message_encode_escapes),
        cmocka_unit_test(test_status_message_extracts_field_2),
    };
    return cmocka_run_group_tests_name("grpc", tests, NULL, NULL);
}
