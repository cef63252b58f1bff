/*
 * expo.c - Prometheus text exposition 0.0.4 and OpenMetrics 1.0.0 with
 * exemplars (SPEC.md 1, 2) over a merged store visit, written straight into
 * the caller's capped am_buf with no per-series allocation; and the Accept
 * header negotiation between the two. Numbers follow Go's FormatFloat(v, 'g', -1, 64):
 * shortest round-trip digits, %e form when exp < -4 || exp >= 6.
 */
#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/err.h"
#include "am/expo.h"

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

size_t am_expo_format_double(double v, char *dst)
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

/* ---- exposition ---- */

struct expo_state {
    struct am_buf *out;
    int rc;
    int om;           /* OpenMetrics 1.0.0 rather than text 0.0.4 */
    char family[128]; /* OpenMetrics family name (counters without _total) */
    int metric;       /* family whose header was written last, -1 before any */
    unsigned le_count;
    char le[AM_MAX_BUCKETS][32];
};

static void put(struct expo_state *st, const char *p, size_t n)
{
    if (st->rc == AM_OK) {
        st->rc = am_buf_append(st->out, p, n);
    }
}

static void put_str(struct expo_state *st, const char *s)
{
    put(st, s, strlen(s));
}

/* Write s with the bytes in `special` escaped as \\, \" and \n. */
static void put_escaped(struct expo_state *st, const char *s, int quotes)
{
    const char *run = s;
    for (const char *p = s; *p != '\0'; p++) {
        const char *esc = NULL;
        if (*p == '\\') {
            esc = "\\\\";
        } else if (*p == '\n') {
            esc = "\\n";
        } else if (quotes && *p == '"') {
            esc = "\\\"";
        }
        if (esc != NULL) {
            put(st, run, (size_t)(p - run));
            put(st, esc, 2);
            run = p + 1;
        }
    }
    put_str(st, run);
}

static void put_double(struct expo_state *st, double v)
{
    char num[32];
    size_t n = am_expo_format_double(v, num);
    put(st, num, n);
}

/* OpenMetrics: the family name drops a counter's _total (its samples put
 * it back); HELP escapes \\, \n and \" (the ABNF's escaped-string). */
static void put_om_header(struct expo_state *st, const struct am_family *f, const char *type)
{
    size_t n = strlen(f->name);
    if (f->type == AM_TYPE_COUNTER && n > 6 && strcmp(f->name + n - 6, "_total") == 0) {
        n -= 6;
    }
    if (n >= sizeof(st->family)) {
        n = sizeof(st->family) - 1; /* family names are static and short */
    }
    memcpy(st->family, f->name, n);
    st->family[n] = '\0';
    put_str(st, "# HELP ");
    put_str(st, st->family);
    put(st, " ", 1);
    put_escaped(st, f->help, 1);
    put_str(st, "\n# TYPE ");
    put_str(st, st->family);
    put(st, " ", 1);
    put_str(st, type);
    put(st, "\n", 1);
}

static void put_header(struct expo_state *st, const struct am_family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    if (st->om) {
        put_om_header(st, f, types[f->type]);
        return;
    }
    put_str(st, "# HELP ");
    put_str(st, f->name);
    put(st, " ", 1);
    put_escaped(st, f->help, 0);
    put_str(st, "\n# TYPE ");
    put_str(st, f->name);
    put(st, " ", 1);
    put_str(st, types[f->type]);
    put(st, "\n", 1);
}

/* `{l1="v1",...[,le="x"]}`, nothing when there are no labels and no le. */
static void put_labels(struct expo_state *st, const struct am_family *f, const char *const *vals,
                       const char *le)
{
    if (f->label_count == 0 && le == NULL) {
        return;
    }
    put(st, "{", 1);
    for (unsigned i = 0; i < f->label_count; i++) {
        if (i > 0) {
            put(st, ",", 1);
        }
        put_str(st, f->labels[i]);
        put(st, "=\"", 2);
        put_escaped(st, vals[i], 1);
        put(st, "\"", 1);
    }
    if (le != NULL) {
        put_str(st, f->label_count > 0 ? ",le=\"" : "le=\"");
        put_str(st, le);
        put(st, "\"", 1);
    }
    put(st, "}", 1);
}

static void put_sample(struct expo_state *st, const struct am_family *f, const char *suffix,
                       const char *const *vals, const char *le, double v)
{
    put_str(st, f->name);
    put_str(st, suffix);
    put_labels(st, f, vals, le);
    put(st, " ", 1);
    put_double(st, v);
    put(st, "\n", 1);
}

static void put_histogram(struct expo_state *st, const struct am_family *f,
                          const struct am_series_view *v)
{
    uint64_t cum = 0;
    for (unsigned b = 0; b < v->bound_count; b++) {
        cum += v->bucket_counts[b];
        put_sample(st, f, "_bucket", v->label_values, st->le[b], (double)cum);
    }
    cum += v->bucket_counts[v->bound_count];
    put_sample(st, f, "_bucket", v->label_values, "+Inf", (double)cum);
    put_sample(st, f, "_sum", v->label_values, NULL, v->sum);
    put_sample(st, f, "_count", v->label_values, NULL, (double)v->count);
}

/* Seconds with millisecond precision, fixed notation: 1700000001.250. */
static void put_seconds(struct expo_state *st, uint64_t ns)
{
    if (st->rc == AM_OK) {
        st->rc = am_buf_printf(st->out, "%llu.%03u", (unsigned long long)(ns / 1000000000u),
                               (unsigned)(ns / 1000000u % 1000u));
    }
}

/* ` # {trace_id="<32 hex>",span_id="<16 hex>"} <value> <timestamp>` */
static void put_exemplar(struct expo_state *st, const struct am_exemplar *e)
{
    static const char hex[] = "0123456789abcdef";
    char ids[sizeof(" # {trace_id=\"") + 32 + sizeof("\",span_id=\"") + 16 + sizeof("\"} ")];
    size_t n = 0;
    memcpy(ids, " # {trace_id=\"", 14);
    n = 14;
    for (unsigned i = 0; i < 16; i++) {
        ids[n++] = hex[e->trace_id[i] >> 4];
        ids[n++] = hex[e->trace_id[i] & 15];
    }
    memcpy(ids + n, "\",span_id=\"", 11);
    n += 11;
    for (unsigned i = 0; i < 8; i++) {
        ids[n++] = hex[e->span_id[i] >> 4];
        ids[n++] = hex[e->span_id[i] & 15];
    }
    memcpy(ids + n, "\"} ", 3);
    n += 3;
    put(st, ids, n);
    put_double(st, e->value);
    put(st, " ", 1);
    put_seconds(st, e->wall_ns);
}

/* One OpenMetrics sample line; ex may be NULL or an empty slot. */
static void put_om_sample(struct expo_state *st, const struct am_family *f, const char *suffix,
                          const char *const *vals, const char *le, double v,
                          const struct am_exemplar *ex)
{
    put_str(st, st->family);
    put_str(st, suffix);
    put_labels(st, f, vals, le);
    put(st, " ", 1);
    put_double(st, v);
    if (ex != NULL && ex->wall_ns != 0) {
        put_exemplar(st, ex);
    }
    put(st, "\n", 1);
}

static void put_created(struct expo_state *st, const struct am_family *f,
                        const struct am_series_view *v)
{
    if (v->created_ns == 0) {
        return;
    }
    put_str(st, st->family);
    put_str(st, "_created");
    put_labels(st, f, v->label_values, NULL);
    put(st, " ", 1);
    put_seconds(st, v->created_ns);
    put(st, "\n", 1);
}

static void put_om_series(struct expo_state *st, const struct am_family *f,
                          const struct am_series_view *v)
{
    const struct am_exemplar *ex = v->exemplars;
    if (f->type == AM_TYPE_GAUGE) {
        put_om_sample(st, f, "", v->label_values, NULL, v->value, NULL);
        return;
    }
    if (f->type == AM_TYPE_COUNTER) {
        put_om_sample(st, f, "_total", v->label_values, NULL, v->value, ex);
        put_created(st, f, v);
        return;
    }
    uint64_t cum = 0;
    for (unsigned b = 0; b <= v->bound_count; b++) {
        cum += v->bucket_counts[b];
        const char *le = b < v->bound_count ? st->le[b] : "+Inf";
        put_om_sample(st, f, "_bucket", v->label_values, le, (double)cum,
                      ex != NULL ? &ex[b] : NULL);
    }
    put_om_sample(st, f, "_count", v->label_values, NULL, (double)v->count, NULL);
    put_om_sample(st, f, "_sum", v->label_values, NULL, v->sum, NULL);
    put_created(st, f, v);
}

/* OpenMetrics canonical number for le: Go's 'g' text, plus ".0" when it
 * reads as an integer ("1" -> "1.0"; "1e+06" and "0.5" stay). */
static void le_canonical(double bound, char *dst)
{
    size_t n = am_expo_format_double(bound, dst);
    if (strpbrk(dst, ".eEIN") == NULL && n + 2 < 32) {
        memcpy(dst + n, ".0", 3);
    }
}

static void on_series(void *ud, const struct am_series_view *v)
{
    struct expo_state *st = ud;
    if (st->rc != AM_OK) {
        return;
    }
    const struct am_family *f = am_family_get(v->metric);
    if ((int)v->metric != st->metric) {
        st->metric = (int)v->metric;
        put_header(st, f);
        st->le_count = f->type == AM_TYPE_HISTOGRAM ? v->bound_count : 0;
        for (unsigned b = 0; b < st->le_count; b++) {
            if (st->om) {
                le_canonical(v->bounds[b], st->le[b]);
            } else {
                am_expo_format_double(v->bounds[b], st->le[b]);
            }
        }
    }
    if (st->om) {
        put_om_series(st, f, v);
    } else if (f->type == AM_TYPE_HISTOGRAM) {
        put_histogram(st, f, v);
    } else {
        put_sample(st, f, "", v->label_values, NULL, v->value);
    }
}

int am_expo_text(struct am_series_store *s, struct am_buf *out)
{
    struct expo_state st = {.out = out, .rc = AM_OK, .metric = -1};
    am_series_visit(s, on_series, &st);
    return st.rc;
}

int am_expo_openmetrics(struct am_series_store *s, struct am_buf *out)
{
    struct expo_state st = {.out = out, .rc = AM_OK, .metric = -1, .om = 1};
    am_series_visit(s, on_series, &st);
    put_str(&st, "# EOF\n");
    return st.rc;
}

/* ---- Accept negotiation ---- */

static struct am_str trim(struct am_str s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t')) {
        s.len--;
    }
    return s;
}

/* Split s at the first c: *head before it, s after it (empty when absent). */
static struct am_str cut(struct am_str *s, char c)
{
    const char *p = s->len > 0 ? memchr(s->ptr, c, s->len) : NULL;
    struct am_str head = {s->ptr, p != NULL ? (size_t)(p - s->ptr) : s->len};
    s->ptr = p != NULL ? p + 1 : s->ptr + s->len;
    s->len = p != NULL ? s->len - head.len - 1 : 0;
    return head;
}

static bool ieq(struct am_str a, const char *b)
{
    size_t n = strlen(b);
    if (a.len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = a.ptr[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c + 32);
        }
        if (c != b[i]) {
            return false;
        }
    }
    return true;
}

/* RFC 9110 qvalue: "0"["." 0-3 digits] or "1"["." 0-3 zeros], in
 * thousandths; -1 when malformed. */
static int qvalue(struct am_str v)
{
    if (v.len == 0 || v.len > 5 || (v.ptr[0] != '0' && v.ptr[0] != '1') ||
        (v.len > 1 && v.ptr[1] != '.') || v.len == 2) {
        return v.len == 1 && (v.ptr[0] == '0' || v.ptr[0] == '1') ? (v.ptr[0] - '0') * 1000 : -1;
    }
    int q = (v.ptr[0] - '0') * 1000;
    int scale = 100;
    for (size_t i = 2; i < v.len; i++, scale /= 10) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9') {
            return -1;
        }
        q += (v.ptr[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* The q of one media range (1000 when absent, -1 when malformed). */
static int range_q(struct am_str params)
{
    int q = 1000;
    while (params.len > 0) {
        struct am_str p = trim(cut(&params, ';'));
        struct am_str name = trim(cut(&p, '='));
        if (ieq(name, "q")) {
            q = qvalue(trim(p));
        }
    }
    return q;
}

int am_expo_negotiate(struct am_str accept)
{
    int q_om = 0;
    int q_text = 0;
    while (accept.len > 0) {
        struct am_str range = cut(&accept, ',');
        struct am_str type = trim(cut(&range, ';'));
        int q = range_q(range);
        if (q < 0) {
            continue;
        }
        if (ieq(type, "application/openmetrics-text")) {
            q_om = q > q_om ? q : q_om;
        } else if (ieq(type, "text/plain") || ieq(type, "text/*") || ieq(type, "*/*")) {
            q_text = q > q_text ? q : q_text;
        }
    }
    return q_om > 0 && q_om > q_text ? AM_EXPO_OPENMETRICS : AM_EXPO_TEXT;
}
