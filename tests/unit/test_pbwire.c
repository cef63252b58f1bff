/*
 * test_pbwire.c - the shared protobuf wire reader (am/pbwire.h) used by the
 * OTLP decoders and the gRPC status parser: varint lengths 1..10 and the
 * 11-byte and truncated errors, tags (field 0, groups), length-delimited
 * payloads that would run past the end, and skipping each wire type.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/pbwire.h"

static void test_pbwire_varint_lengths_and_errors(void **st)
{
    (void)st;
    static const struct {
        uint8_t b[12];
        size_t n;
        int rc;
        uint64_t v;
        size_t used;
    } cases[] = {
        {{0x00}, 1, AM_OK, 0, 1},
        {{0x7f}, 1, AM_OK, 127, 1},
        {{0x80, 0x01}, 2, AM_OK, 128, 2},
        {{0xac, 0x02, 0x99}, 3, AM_OK, 300, 2},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10, AM_OK, UINT64_MAX, 10},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 11, AM_EINVAL, 0, 0},
        {{0x80, 0x80}, 2, AM_EINVAL, 0, 0},
        {{0}, 0, AM_EINVAL, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const uint8_t *p = cases[i].b;
        uint64_t v = 12345;
        const char *why = NULL;
        int rc = am_pbwire_varint(&p, cases[i].b + cases[i].n, &v, &why);
        assert_int_equal(rc, cases[i].rc);
        if (rc == AM_OK) {
            assert_true(v == cases[i].v);
            assert_int_equal(p - cases[i].b, cases[i].used);
        } else {
            assert_non_null(why);
        }
    }
}

static void test_pbwire_tag_len_skip(void **st)
{
    (void)st;
    const char *why = NULL;
    uint32_t field;
    unsigned wt;
    /* field 2, LEN, 3 bytes "abc"; then field 1 fixed64; then field 3 fixed32 */
    static const uint8_t msg[] = {0x12, 3, 'a', 'b', 'c',  0x09, 1, 2, 3, 4,
                                  5,    6, 7,   8,   0x1d, 9,    9, 9, 9};
    const uint8_t *p = msg;
    const uint8_t *end = msg + sizeof(msg);
    assert_int_equal(am_pbwire_tag(&p, end, &field, &wt, &why), AM_OK);
    assert_int_equal(field, 2);
    assert_int_equal(wt, AM_PBWIRE_LEN);
    const uint8_t *q;
    size_t n;
    assert_int_equal(am_pbwire_len(&p, end, &q, &n, &why), AM_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(q, "abc", 3);
    assert_int_equal(am_pbwire_tag(&p, end, &field, &wt, &why), AM_OK);
    assert_int_equal(wt, AM_PBWIRE_I64);
    assert_true(am_pbwire_le64(p) == 0x0807060504030201ull);
    assert_int_equal(am_pbwire_skip(&p, end, wt, &why), AM_OK);
    assert_int_equal(am_pbwire_tag(&p, end, &field, &wt, &why), AM_OK);
    assert_int_equal(field, 3);
    assert_int_equal(am_pbwire_skip(&p, end, wt, &why), AM_OK);
    assert_ptr_equal(p, end);
    /* fixed32 with 3 bytes left, a length past the end, field 0, a group */
    static const uint8_t short32[] = {9, 9, 9};
    p = short32;
    assert_int_equal(am_pbwire_skip(&p, short32 + 3, AM_PBWIRE_I32, &why), AM_EINVAL);
    static const uint8_t past[] = {5, 'x'};
    p = past;
    assert_int_equal(am_pbwire_len(&p, past + 2, &q, &n, &why), AM_EINVAL);
    assert_string_equal(why, "wire: length past end of message");
    static const uint8_t zero[] = {0x02};
    p = zero;
    assert_int_equal(am_pbwire_tag(&p, zero + 1, &field, &wt, &why), AM_EINVAL);
    static const uint8_t group[] = {0x0b};
    p = group;
    assert_int_equal(am_pbwire_tag(&p, group + 1, &field, &wt, &why), AM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pbwire_varint_lengths_and_errors),
        cmocka_unit_test(test_pbwire_tag_len_skip),
    };
    return cmocka_run_group_tests_name("pbwire", tests, NULL, NULL);
}
