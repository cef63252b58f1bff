/*
 * fmt.c - am_fmt_double: a double as Go's strconv.FormatFloat(v, 'g', -1,
 * 64) writes it, which is how Prometheus spells sample values and le
 * labels; /metrics and remote_write both use it, so a bucket bound has one
 * spelling everywhere. The digits are the shortest that read back as v,
 * and of those the closest to v (a power of two's lower neighbour is
 * nearer, so the nearest 16-digit decimal may not round-trip while the
 * next one up does: 2^-24 is 5.960464477539063e-08). Exponent form when
 * the decimal exponent is < -4 or >= 6 (Go decides with precision 6 when
 * shortest). Checked against CPython's repr (David Gay's shortest dtoa) on
 * a million doubles by unit.fmt_python.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/fmt.h"

/* Digits of a finite double: value = 0.d[0]d[1]... * 10^dp, no trailing zeros. */
struct expo_digits {
    char d[24];
    int nd;
    int dp;
};

/* Integers below 2^53 are exact, and their own digits are the shortest. */
static void digits_of_int(uint64_t u, struct expo_digits *g)
{
    char tmp[24];
    int n = 0;
    while (u > 0) {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    }
    g->dp = n;
    int lead = 0;
    while (lead < n && tmp[lead] == '0') {
        lead++; /* trailing zeros of the number (tmp is reversed) */
    }
    g->nd = 0;
    for (int i = n - 1; i >= lead; i--) {
        g->d[g->nd++] = tmp[i];
    }
}

/* Parse "d.ddde[+-]x" as printed by %e into g, keeping every digit. */
static void digits_parse(const char *s, struct expo_digits *g)
{
    g->nd = 0;
    const char *p = s;
    for (; *p != 'e'; p++) {
        if (*p != '.') {
            g->d[g->nd++] = *p;
        }
    }
    g->dp = (int)strtol(p + 1, NULL, 10) + 1;
}

static void digits_trim(struct expo_digits *g)
{
    while (g->nd > 0 && g->d[g->nd - 1] == '0') {
        g->nd--;
    }
}

/*
 * For a power of two the rounding interval is narrower below than above, so
 * the nearest 16-digit decimal may fall outside it while the next one up is
 * inside. Bump the last digit of g and keep it if it reads back as v.
 */
static int digits_try_up(double v, struct expo_digits *g)
{
    struct expo_digits up = *g;
    int i = up.nd - 1;
    while (i >= 0 && up.d[i] == '9') {
        up.d[i--] = '0';
    }
    if (i < 0) {
        up.d[0] = '1';
        up.dp++;
    } else {
        up.d[i]++;
    }
    char buf[48];
    snprintf(buf, sizeof(buf), "0.%.*se%d", up.nd, up.d, up.dp);
    if (strtod(buf, NULL) != v) {
        return 0;
    }
    *g = up;
    return 1;
}

/*
 * Fast path for values with few decimals (1.5, 0.25, 12.34): the smallest k
 * <= 9 for which N = round(v * 10^k) gives N / 10^k == v exactly (one
 * correctly rounded division, which is what strtod of "N e-k" returns) is
 * the shortest form; products stay below 2^51 so N is the nearest integer.
 */
static int digits_short_fraction(double v, struct expo_digits *g)
{
    static const double p10[] = {1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    for (int k = 0; k < 9; k++) {
        double x = v * p10[k];
        if (x >= 2251799813685248.0) {
            return 0;
        }
        uint64_t n = (uint64_t)(x + 0.5);
        if (n != 0 && (double)n / p10[k] == v) {
            digits_of_int(n, g);
            g->dp -= k + 1;
            return 1;
        }
    }
    return 0;
}

/*
 * Shortest digits that read back as v (v > 0, finite). Rounding v to 15
 * significant digits gives the shortest form whenever one of <= 15 digits
 * exists (any such decimal lies within 0.12 units of the 15th digit of v);
 * otherwise 16 digits, else 17, which always round-trip. Subnormals have
 * less precision, so for them every length is tried.
 */
static void digits_shortest(double v, struct expo_digits *g)
{
    if (v < 9007199254740992.0 && (double)(uint64_t)v == v) {
        digits_of_int((uint64_t)v, g);
        return;
    }
    if (digits_short_fraction(v, g)) {
        return;
    }
    char buf[40];
    /* subnormals carry fewer significant bits: search from one digit up */
    int first = v < DBL_MIN ? 1 : 15;
    for (int prec = first; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
        digits_parse(buf, g);
        if (prec == 17 || strtod(buf, NULL) == v || (prec == 16 && digits_try_up(v, g))) {
            break;
        }
    }
    digits_trim(g);
}

static size_t put_exp(char *o, int exp)
{
    size_t n = 0;
    o[n++] = 'e';
    o[n++] = exp < 0 ? '-' : '+';
    unsigned e = (unsigned)(exp < 0 ? -exp : exp);
    if (e >= 100) {
        o[n++] = (char)('0' + e / 100);
    }
    o[n++] = (char)('0' + e / 10 % 10);
    o[n++] = (char)('0' + e % 10);
    return n;
}

/* Go's fmtE with prec = nd - 1. */
static size_t fmt_e(char *o, const struct expo_digits *g)
{
    size_t n = 0;
    o[n++] = g->nd > 0 ? g->d[0] : '0';
    if (g->nd > 1) {
        o[n++] = '.';
        memcpy(o + n, g->d + 1, (size_t)g->nd - 1);
        n += (size_t)g->nd - 1;
    }
    return n + put_exp(o + n, g->nd > 0 ? g->dp - 1 : 0);
}

/* Go's fmtF with prec = max(nd - dp, 0). */
static size_t fmt_f(char *o, const struct expo_digits *g)
{
    size_t n = 0;
    if (g->dp > 0) {
        for (int i = 0; i < g->dp; i++) {
            o[n++] = i < g->nd ? g->d[i] : '0';
        }
    } else {
        o[n++] = '0';
    }
    int prec = g->nd - g->dp > 0 ? g->nd - g->dp : 0;
    if (prec > 0) {
        o[n++] = '.';
        for (int i = 1; i <= prec; i++) {
            int j = g->dp + i - 1;
            o[n++] = j >= 0 && j < g->nd ? g->d[j] : '0';
        }
    }
    return n;
}

size_t am_fmt_double(double v, char dst[AM_FMT_DOUBLE_MAX])
{
    const char *special = NULL;
    if (isnan(v)) {
        special = "NaN";
    } else if (isinf(v)) {
        special = v > 0 ? "+Inf" : "-Inf";
    }
    if (special != NULL) {
        memcpy(dst, special, strlen(special) + 1);
        return strlen(special);
    }
    size_t n = 0;
    if (signbit(v)) {
        dst[n++] = '-';
        v = -v;
    }
    struct expo_digits g = {.nd = 0, .dp = 0};
    if (v != 0) {
        digits_shortest(v, &g);
    }
    int exp = g.dp - 1;
    if (g.nd > 0 && (exp < -4 || exp >= 6)) {
        n += fmt_e(dst + n, &g);
    } else {
        n += fmt_f(dst + n, &g);
    }
    dst[n] = '\0';
    return n;
}
