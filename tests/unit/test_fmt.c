/*
 * test_fmt.c - am_fmt_double against Go's strconv.FormatFloat(v, 'g', -1,
 * 64): a table of exact cases (powers of two whose nearest 16-digit decimal
 * does not round-trip, halfway cases, subnormals, the exponent switch at
 * 1e-05 and 1e+06), and a sweep of a million doubles checked for
 * round-trip, minimal length and nearness. With --dump N the binary prints
 * "hexbits text" for the sweep instead, which scripts/check-fmt-double.py
 * compares with CPython's repr (unit.fmt_python).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/fmt.h"

#define SWEEP 1000000

static void test_fmt_double_cases_match_go(void **st)
{
    (void)st;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {-0.0, "-0"},
        {1, "1"},
        {-1, "-1"},
        {1000000, "1e+06"},
        {123456, "123456"},
        {1234567, "1.234567e+06"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {0.000123, "0.000123"},
        {0.1, "0.1"},
        {3.14, "3.14"},
        {1e5, "100000"},
        {2.5e6, "2.5e+06"},
        {999999, "999999"},
        {1.0000000000000002, "1.0000000000000002"},
        {5e-324, "5e-324"},
        {1e-323, "1e-323"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.7976931348623157e+308, "1.7976931348623157e+308"},
        {0.30000000000000004, "0.30000000000000004"},
        {0.1 + 0.2 - 0.3, "5.551115123125783e-17"},
        {12.5, "12.5"},
        {1e+21, "1e+21"},
        {1e+20, "1e+20"},
        {123456789, "1.23456789e+08"},
        {9007199254740993.0, "9.007199254740992e+15"},
        {18446744073709551616.0, "1.8446744073709552e+19"},
        {7.120236347223045e-307, "7.120236347223045e-307"}, /* 2^-1017 */
        {1e100, "1e+100"},
        {-2.5e-7, "-2.5e-07"},
        {100, "100"},
        {0.5, "0.5"},
        {81.92, "81.92"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
        {9.5367431640625e-07, "9.5367431640625e-07"},      /* 2^-20 */
        {5.9604644775390625e-08, "5.960464477539063e-08"}, /* 2^-24: next one up */
        {4.468743327960138e+16, "4.468743327960138e+16"},  /* halfway, even: 16 */
        {0.001, "0.001"},
        {5.12, "5.12"},
        {16777216, "1.6777216e+07"},
        {262144, "262144"},
        {1048576, "1.048576e+06"},
        {-2.5, "-2.5"},
        {200000, "200000"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[AM_FMT_DOUBLE_MAX];
        size_t n = am_fmt_double(cases[i].v, buf);
        assert_string_equal(buf, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
}

/* xorshift64*: the same million doubles on every run. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* The i-th double of the sweep: a quarter raw bit patterns (every exponent,
 * subnormals included), a quarter decimals of 1-9 digits scaled by 10^-12
 * .. 10^12 (bucket-like values), a quarter powers of two and their
 * neighbours, a quarter integers up to 2^64. NaN and infinities are skipped
 * (the table has them). */
static double sweep_value(uint64_t *s, unsigned i)
{
    uint64_t r = next_rand(s);
    double v;
    switch (i % 4) {
    case 0:
        memcpy(&v, &r, sizeof(v));
        break;
    case 1: {
        double m = (double)(r % 1000000000u);
        int e = (int)((r >> 32) % 25) - 12;
        v = m * pow(10, e);
        break;
    }
    case 2: {
        int e = (int)(r % 2046) - 1074;
        v = ldexp(1.0, e);
        int step = (int)((r >> 16) % 3) - 1;
        v = step < 0 ? nextafter(v, 0) : step > 0 ? nextafter(v, INFINITY) : v;
        break;
    }
    default:
        v = (double)(r >> (r % 64));
        break;
    }
    if (!isfinite(v)) {
        v = 1.5;
    }
    return (r & 1u << 20) ? -v : v;
}

/* The significant digits of text (sign, point, exponent and leading zeros
 * dropped) and its decimal exponent, as value = 0.DIGITS * 10^dp. */
static int digits_of(const char *text, char *d, int *dp)
{
    int nd = 0, point = -1, lead = 1, skipped = 0;
    const char *p = text[0] == '-' ? text + 1 : text;
    for (; *p != '\0' && *p != 'e'; p++) {
        if (*p == '.') {
            point = nd + skipped;
            continue;
        }
        if (lead && *p == '0') {
            skipped++;
            continue;
        }
        lead = 0;
        d[nd++] = *p;
    }
    int intdigits = point < 0 ? nd + skipped : point;
    *dp = intdigits - skipped + (*p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0);
    while (nd > 1 && d[nd - 1] == '0') {
        nd--; /* "10240": the trailing zero is not a significant digit */
    }
    return nd;
}

/* Does the decimal 0.d[0..nd) * 10^dp read back as v? */
static int reads_as(const char *d, int nd, int dp, double v)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "0.%.*se%d", nd, d, dp);
    return strtod(buf, NULL) == fabs(v);
}

/* One decimal digit string +1 in its last place (carry may lengthen it). */
static int bump(char *d, int nd, int *dp)
{
    int i = nd - 1;
    while (i >= 0 && d[i] == '9') {
        d[i--] = '0';
    }
    if (i < 0) {
        memmove(d + 1, d, (size_t)nd);
        d[0] = '1';
        (*dp)++;
        return nd + 1;
    }
    d[i]++;
    return nd;
}

/* Independent of fmt.c's search: out reads back as v; no decimal with one
 * digit fewer does (it is enough to try the two that bracket v, because
 * the doubles reading as v form an interval around it); and out is no
 * farther from v than its neighbours at the same length that also read as
 * v (compared in long double, which holds the 17-digit differences). */
static void check_one(double v, const char *out)
{
    if (strtod(out, NULL) != v || signbit(strtod(out, NULL)) != signbit(v)) {
        fail_msg("%a: %s does not read back", v, out);
    }
    if (v == 0) {
        return;
    }
    char d[40];
    int dp;
    int nd = digits_of(out, d, &dp);
    if (nd > 1) {
        char e[40];
        char lo[40];
        snprintf(e, sizeof(e), "%.*e", nd - 2, fabs(v));
        int ldp;
        int lnd = digits_of(e, lo, &ldp);
        /* %.*e rounds to nearest: the bracketing pair is it and its
         * neighbour on the other side of v */
        char nb[40];
        int ndp = ldp;
        memcpy(nb, lo, (size_t)lnd);
        long double x = strtold(e, NULL);
        int nnd = lnd;
        if (x < fabsl((long double)v)) {
            nnd = bump(nb, lnd, &ndp);
        } else {
            /* the one below: decrement the last digit (borrowing) */
            int i = lnd - 1;
            while (i >= 0 && nb[i] == '0') {
                nb[i--] = '9';
            }
            if (i >= 0) {
                nb[i]--;
            }
        }
        if (reads_as(lo, lnd, ldp, v) || reads_as(nb, nnd, ndp, v)) {
            fail_msg("%a: %s is not the shortest", v, out);
        }
    }
    char up[40];
    int udp = dp;
    memcpy(up, d, (size_t)nd);
    int und = bump(up, nd, &udp);
    char ubuf[64];
    snprintf(ubuf, sizeof(ubuf), "0.%.*se%d", und, up, udp);
    long double diff = fabsl(strtold(out, NULL) - (long double)v);
    long double udiff = fabsl(fabsl(strtold(ubuf, NULL)) - fabsl((long double)v));
    if (reads_as(up, und, udp, v) && udiff < diff) {
        fail_msg("%a: %s is farther from v than %s", v, out, ubuf);
    }
}

static void test_fmt_double_million_round_trip_shortest(void **st)
{
    (void)st;
    uint64_t s = UINT64_C(0x9e3779b97f4a7c15);
    for (unsigned i = 0; i < SWEEP; i++) {
        double v = sweep_value(&s, i);
        char out[AM_FMT_DOUBLE_MAX];
        size_t n = am_fmt_double(v, out);
        assert_int_equal(n, strlen(out));
        check_one(v, out);
    }
}

static int dump(unsigned count)
{
    uint64_t s = UINT64_C(0x9e3779b97f4a7c15);
    for (unsigned i = 0; i < count; i++) {
        double v = sweep_value(&s, i);
        char out[AM_FMT_DOUBLE_MAX];
        uint64_t bits;
        am_fmt_double(v, out);
        memcpy(&bits, &v, sizeof(bits));
        printf("%016" PRIx64 " %s\n", bits, out);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) {
        return dump((unsigned)strtoul(argv[2], NULL, 10));
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_double_cases_match_go),
        cmocka_unit_test(test_fmt_double_million_round_trip_shortest),
    };
    return cmocka_run_group_tests_name("fmt", tests, NULL, NULL);
}
