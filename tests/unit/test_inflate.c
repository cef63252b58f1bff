/*
 * test_inflate.c - capped gzip inflation: round trip, concatenated members,
 * truncation and corruption (AM_EINVAL with a why), and the output cap
 * exactly at its boundary (max_out == size passes, size - 1 is AM_ETOOBIG).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <zlib.h>

#include "am/alloc.h"
#include "am/arena.h"
#include "am/err.h"
#include "am/inflate.h"

#define PLAIN_LEN 100000u

static uint32_t header_crc32(const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(0L, p, (uInt)n);
}

static uint8_t *make_plain(void)
{
    uint8_t *p = am_xmalloc(PLAIN_LEN);
    uint32_t x = 12345;
    for (size_t i = 0; i < PLAIN_LEN; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)((i % 7 == 0) ? (x >> 24) : 'a' + (i % 13));
    }
    return p;
}

static void test_inflate_round_trip_and_cap_boundary(void **st)
{
    (void)st;
    uint8_t *plain = make_plain();
    uint8_t *gz;
    size_t gz_len;
    assert_int_equal(am_gzip_compress(plain, PLAIN_LEN, &gz, &gz_len), AM_OK);
    static const struct {
        size_t max_out;
        int rc;
    } cases[] = {{PLAIN_LEN * 2, AM_OK},
                 {PLAIN_LEN, AM_OK},
                 {PLAIN_LEN - 1, AM_ETOOBIG},
                 {4096, AM_ETOOBIG},
                 {0, AM_ETOOBIG}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_arena *a = am_arena_create(1 << 20);
        const uint8_t *out = NULL;
        size_t out_len = 0;
        const char *why = NULL;
        int rc = am_inflate_gzip(gz, gz_len, cases[i].max_out, a, &out, &out_len, &why);
        assert_int_equal(rc, cases[i].rc);
        if (rc == AM_OK) {
            assert_int_equal(out_len, PLAIN_LEN);
            assert_memory_equal(out, plain, PLAIN_LEN);
        } else {
            assert_string_equal(why, "inflated body too large");
        }
        am_arena_destroy(a);
    }
    am_free(gz);
    am_free(plain);
}

static void test_inflate_arena_budget_is_etoobig(void **st)
{
    (void)st;
    uint8_t *plain = make_plain();
    uint8_t *gz;
    size_t gz_len;
    assert_int_equal(am_gzip_compress(plain, PLAIN_LEN, &gz, &gz_len), AM_OK);
    struct am_arena *a = am_arena_create(PLAIN_LEN / 2);
    const uint8_t *out;
    size_t out_len;
    const char *why = NULL;
    assert_int_equal(am_inflate_gzip(gz, gz_len, PLAIN_LEN, a, &out, &out_len, &why), AM_ETOOBIG);
    assert_string_equal(why, "inflated body over the request memory budget");
    am_arena_destroy(a);
    am_free(gz);
    am_free(plain);
}

static void test_inflate_concatenated_members_join(void **st)
{
    (void)st;
    uint8_t *g1, *g2, *g3;
    size_t n1, n2, n3;
    assert_int_equal(am_gzip_compress((const uint8_t *)"hello ", 6, &g1, &n1), AM_OK);
    assert_int_equal(am_gzip_compress((const uint8_t *)"", 0, &g2, &n2), AM_OK);
    assert_int_equal(am_gzip_compress((const uint8_t *)"world", 5, &g3, &n3), AM_OK);
    uint8_t *all = am_xmalloc(n1 + n2 + n3);
    memcpy(all, g1, n1);
    memcpy(all + n1, g2, n2);
    memcpy(all + n1 + n2, g3, n3);
    struct am_arena *a = am_arena_create(1 << 16);
    const uint8_t *out;
    size_t out_len;
    const char *why = NULL;
    assert_int_equal(am_inflate_gzip(all, n1 + n2 + n3, 64, a, &out, &out_len, &why), AM_OK);
    assert_int_equal(out_len, 11);
    assert_memory_equal(out, "hello world", 11);
    /* The cap covers all members together. */
    assert_int_equal(am_inflate_gzip(all, n1 + n2 + n3, 10, a, &out, &out_len, &why), AM_ETOOBIG);
    am_arena_destroy(a);
    am_free(all);
    am_free(g1);
    am_free(g2);
    am_free(g3);
}

static void test_inflate_truncated_and_corrupt_are_einval(void **st)
{
    (void)st;
    uint8_t *plain = make_plain();
    uint8_t *gz;
    size_t gz_len;
    assert_int_equal(am_gzip_compress(plain, 1000, &gz, &gz_len), AM_OK);
    uint8_t *bad = am_xmalloc(gz_len + 4);
    struct am_arena *a = am_arena_create(1 << 20);
    const uint8_t *out;
    size_t out_len;
    const char *why;
    /* Every strict prefix is truncated (the empty one is an empty body). */
    for (size_t n = 0; n < gz_len; n++) {
        memcpy(bad, gz, n);
        why = NULL;
        assert_int_equal(am_inflate_gzip(bad, n, 1 << 20, a, &out, &out_len, &why), AM_EINVAL);
        assert_string_equal(why, n == 0 ? "gzip: empty body" : "gzip: truncated stream");
        am_arena_reset(a);
    }
    static const struct {
        size_t at;
        uint8_t x;
        const char *why;
    } flips[] = {
        {0, 0x00, "gzip: corrupt stream"}, /* magic */
        {3, 0xe0, "gzip: corrupt stream"}, /* reserved flag bits */
    };
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        memcpy(bad, gz, gz_len);
        bad[flips[i].at] = flips[i].x;
        assert_int_equal(am_inflate_gzip(bad, gz_len, 1 << 20, a, &out, &out_len, &why), AM_EINVAL);
        assert_string_equal(why, flips[i].why);
    }
    /* CRC mismatch in the trailer. */
    memcpy(bad, gz, gz_len);
    bad[gz_len - 8] ^= 0xff;
    assert_int_equal(am_inflate_gzip(bad, gz_len, 1 << 20, a, &out, &out_len, &why), AM_EINVAL);
    /* Trailing garbage after a complete member. */
    memcpy(bad, gz, gz_len);
    memcpy(bad + gz_len, "junk", 4);
    assert_int_equal(am_inflate_gzip(bad, gz_len + 4, 1 << 20, a, &out, &out_len, &why), AM_EINVAL);
    assert_string_equal(why, "gzip: corrupt stream");
    am_arena_destroy(a);
    am_free(bad);
    am_free(gz);
    am_free(plain);
}

/* Bodies the one-call path must leave to zlib, with zlib's verdict: a
 * trailer whose size is too small or too large (length check), a header CRC
 * that does not match (FHCRC), and, inflated whole, a member with FNAME and
 * a header CRC that matches. Also: the arena holds one buffer of the body's
 * size, not a doubled one. */
static void test_inflate_one_call_path_keeps_zlib_verdicts(void **st)
{
    (void)st;
    uint8_t *plain = make_plain();
    uint8_t *gz;
    size_t gz_len;
    assert_int_equal(am_gzip_compress(plain, PLAIN_LEN, &gz, &gz_len), AM_OK);
    uint8_t *bad = am_xmalloc(gz_len + 16);
    struct am_arena *a = am_arena_create(1 << 20);
    const uint8_t *out;
    size_t out_len;
    const char *why;
    assert_int_equal(am_inflate_gzip(gz, gz_len, 1 << 20, a, &out, &out_len, &why), AM_OK);
    assert_int_equal(out_len, PLAIN_LEN);
    assert_memory_equal(out, plain, PLAIN_LEN);
    assert_true(am_arena_used(a) < PLAIN_LEN + 4096);
    am_arena_reset(a);
    for (int delta = -1; delta <= 1; delta += 2) { /* ISIZE one off either way */
        memcpy(bad, gz, gz_len);
        uint32_t isize = (uint32_t)((int)PLAIN_LEN + delta);
        for (int k = 0; k < 4; k++) {
            bad[gz_len - 4 + k] = (uint8_t)(isize >> (8 * k));
        }
        why = NULL;
        assert_int_equal(am_inflate_gzip(bad, gz_len, 1 << 20, a, &out, &out_len, &why), AM_EINVAL);
        assert_string_equal(why, "gzip: corrupt stream");
        am_arena_reset(a);
    }
    /* FHCRC: the CRC-32 of the header's bytes, low 16 bits, after FNAME */
    static const uint8_t name[] = "b.pb";
    size_t h = 0;
    memcpy(bad, gz, 10);
    bad[3] = 0x02 | 0x08;
    h = 10;
    memcpy(bad + h, name, sizeof(name));
    h += sizeof(name);
    uint32_t crc = header_crc32(bad, h);
    bad[h] = (uint8_t)crc;
    bad[h + 1] = (uint8_t)(crc >> 8);
    memcpy(bad + h + 2, gz + 10, gz_len - 10);
    size_t n = gz_len + sizeof(name) + 2;
    assert_int_equal(am_inflate_gzip(bad, n, 1 << 20, a, &out, &out_len, &why), AM_OK);
    assert_int_equal(out_len, PLAIN_LEN);
    assert_memory_equal(out, plain, PLAIN_LEN);
    am_arena_reset(a);
    bad[h] ^= 0x01;
    why = NULL;
    assert_int_equal(am_inflate_gzip(bad, n, 1 << 20, a, &out, &out_len, &why), AM_EINVAL);
    assert_string_equal(why, "gzip: corrupt stream");
    am_arena_destroy(a);
    am_free(bad);
    am_free(gz);
    am_free(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inflate_round_trip_and_cap_boundary),
        cmocka_unit_test(test_inflate_arena_budget_is_etoobig),
        cmocka_unit_test(test_inflate_concatenated_members_join),
        cmocka_unit_test(test_inflate_truncated_and_corrupt_are_einval),
        cmocka_unit_test(test_inflate_one_call_path_keeps_zlib_verdicts),
    };
    return cmocka_run_group_tests_name("inflate", tests, NULL, NULL);
}
