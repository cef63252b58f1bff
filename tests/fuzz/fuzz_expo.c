/*
 * fuzz_expo.c - random series operations -> exposition -> a strict line
 * checker (STYLE.md 5.10). The input is a small header (shards, cap, max
 * label bytes) then records: metric, kind/shard, value selector, and for
 * each label a length byte and that many raw bytes. The checker accepts only
 * text format 0.0.4 as expo promises it: HELP then TYPE then samples,
 * escaped label values, cumulative buckets ending in +Inf, _count == +Inf.
 * The same store is rendered as OpenMetrics and checked line by line too:
 * HELP/TYPE per family, allowed suffixes per type, canonical le, exemplar
 * syntax only on _total and _bucket, fixed-point timestamps, # EOF last.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am/clock.h"
#include "am/err.h"
#include "am/expo.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rd {
    const uint8_t *p;
    size_t n;
};

static uint8_t byte(struct rd *r)
{
    if (r->n == 0) {
        return 0;
    }
    r->n--;
    return *r->p++;
}

static double pick_value(uint8_t a, uint8_t b)
{
    static const double base[16] = {0,  0.5, 1,     2.5,    1e6,  -1,      0.1, 1e-7,
                                    60, 75,  1e300, 5e-324, 1e21, 123.456, NAN, INFINITY};
    return base[a % 16] * (1 + b / 7.0);
}

/* Apply one record; returns 0 when the input is exhausted. */
static int one_op(struct am_series_store *s, unsigned shards, struct rd *r)
{
    if (r->n < 3) {
        return 0;
    }
    struct am_obs o;
    memset(&o, 0, sizeof(o));
    o.metric = (enum am_metric)(byte(r) % (AM_M_COUNT + 1));
    uint8_t k = byte(r);
    o.kind = (enum am_obs_kind)(k % 3);
    uint8_t a = byte(r);
    o.value = pick_value(a, byte(r));
    unsigned lc = o.metric < AM_M_COUNT ? am_family_get(o.metric)->label_count : 1;
    for (unsigned i = 0; i < lc; i++) {
        size_t len = byte(r) % 24;
        len = len < r->n ? len : r->n;
        o.labels[i].ptr = (const char *)r->p;
        o.labels[i].len = len;
        r->p += len;
        r->n -= len;
    }
    o.has_exemplar = (uint8_t)((k >> 6) & 1);
    memset(o.trace_id, a, sizeof(o.trace_id));
    memset(o.span_id, k, sizeof(o.span_id));
    int rc = am_series_apply(s, (k >> 2) % shards, &o, 1);
    CHECK(rc == AM_OK || rc == AM_EINVAL || rc == AM_ENOMEM);
    return 1;
}

struct chk {
    char fam[128];
    int type; /* enum am_metric_type, -1 before TYPE */
    int help_seen;
    char hist_labels[4096]; /* labels of the open histogram series */
    size_t hist_len;
    int in_hist; /* 1 buckets open, 2 +Inf seen, 3 _sum seen */
    double prev_le;
    double inf_count;
    double prev_count;
};

static size_t ident(const char *p, const char *end, int colon)
{
    size_t i = 0;
    while (p + i < end &&
           (p[i] == '_' || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
            (colon && p[i] == ':') || (i > 0 && p[i] >= '0' && p[i] <= '9'))) {
        i++;
    }
    return i;
}

static double number(const char *p, const char *end)
{
    size_t n = (size_t)(end - p);
    if (n == 4 && memcmp(p, "+Inf", 4) == 0) {
        return INFINITY;
    }
    if (n == 4 && memcmp(p, "-Inf", 4) == 0) {
        return -INFINITY;
    }
    if (n == 3 && memcmp(p, "NaN", 3) == 0) {
        return NAN;
    }
    char tmp[40];
    CHECK(n > 0 && n < sizeof(tmp));
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    CHECK(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9'));
    char *e;
    double v = strtod(tmp, &e);
    CHECK(*e == '\0');
    return v;
}

static void comment(struct chk *c, const char *p, const char *end)
{
    int help = end - p > 7 && memcmp(p, "# HELP ", 7) == 0;
    CHECK(help || (end - p > 7 && memcmp(p, "# TYPE ", 7) == 0));
    p += 7;
    size_t n = ident(p, end, 1);
    CHECK(n > 0 && n < sizeof(c->fam) && p + n < end && p[n] == ' ');
    CHECK(c->in_hist == 0);
    if (help) {
        memcpy(c->fam, p, n);
        c->fam[n] = '\0';
        c->type = -1;
        c->help_seen = 1;
        return;
    }
    CHECK(c->help_seen && c->type == -1 && strlen(c->fam) == n && memcmp(c->fam, p, n) == 0);
    const char *t = p + n + 1;
    size_t tl = (size_t)(end - t);
    c->type = tl == 7 && memcmp(t, "counter", 7) == 0     ? AM_TYPE_COUNTER
              : tl == 5 && memcmp(t, "gauge", 5) == 0     ? AM_TYPE_GAUGE
              : tl == 9 && memcmp(t, "histogram", 9) == 0 ? AM_TYPE_HISTOGRAM
                                                          : -2;
    CHECK(c->type >= 0);
}

/* Parse {a="x",...}; returns the end; *le gets the le value (or NULL). */
static const char *labels(const char *p, const char *end, const char **le, size_t *le_len)
{
    *le = NULL;
    if (p == end || *p != '{') {
        return p;
    }
    p++;
    for (int first = 1; p < end && *p != '}'; first = 0) {
        if (!first) {
            CHECK(*p == ',');
            p++;
        }
        size_t n = ident(p, end, 0);
        CHECK(n > 0 && p + n + 1 < end && p[n] == '=' && p[n + 1] == '"');
        int is_le = n == 2 && memcmp(p, "le", 2) == 0;
        p += n + 2;
        const char *v = p;
        while (p < end && *p != '"') {
            if (*p == '\\') {
                p++;
                CHECK(p < end && (*p == '\\' || *p == '"' || *p == 'n'));
            }
            p++;
        }
        CHECK(p < end);
        if (is_le) {
            *le = v;
            *le_len = (size_t)(p - v);
        }
        p++;
    }
    CHECK(p < end);
    return p + 1;
}

static void hist_sample(struct chk *c, const char *suffix, const char *lab, size_t lab_len,
                        const char *le, size_t le_len, double v)
{
    if (strcmp(suffix, "_bucket") == 0) {
        CHECK(le != NULL);
        double bound = number(le, le + le_len);
        if (c->in_hist == 0) {
            CHECK(lab_len < sizeof(c->hist_labels));
            memcpy(c->hist_labels, lab, lab_len);
            c->hist_len = lab_len;
            c->in_hist = 1;
            c->prev_le = -INFINITY;
            c->prev_count = 0;
        }
        CHECK(c->in_hist == 1 && bound > c->prev_le && v >= c->prev_count);
        c->prev_le = bound;
        c->prev_count = v;
        if (isinf(bound)) {
            c->in_hist = 2;
            c->inf_count = v;
        }
        return;
    }
    CHECK(le == NULL);
    if (strcmp(suffix, "_sum") == 0) {
        CHECK(c->in_hist == 2);
        c->in_hist = 3;
        return;
    }
    CHECK(strcmp(suffix, "_count") == 0 && c->in_hist == 3 && v == c->inf_count);
    c->in_hist = 0;
}

static void sample(struct chk *c, const char *p, const char *end)
{
    CHECK(c->type >= 0);
    size_t n = ident(p, end, 1);
    size_t fl = strlen(c->fam);
    CHECK(n >= fl && memcmp(p, c->fam, fl) == 0);
    char suffix[16];
    CHECK(n - fl < sizeof(suffix));
    memcpy(suffix, p + fl, n - fl);
    suffix[n - fl] = '\0';
    const char *le;
    size_t le_len = 0;
    const char *lab = p + n;
    const char *q = labels(lab, end, &le, &le_len);
    CHECK(q < end && *q == ' ');
    double v = number(q + 1, end);
    /* label text without the trailing le="..." to match bucket lines of one series */
    size_t lab_len = le != NULL ? (size_t)(le - 4 - lab) : (size_t)(q - lab);
    if (c->type == AM_TYPE_HISTOGRAM) {
        if (c->in_hist != 0 && strcmp(suffix, "_bucket") != 0) {
            /* _sum/_count carry the same labels, closed by '}' instead of ',' */
            CHECK((c->hist_len == 1 && lab_len == 0) ||
                  (lab_len > 1 && lab_len == c->hist_len &&
                   memcmp(lab, c->hist_labels, lab_len - 1) == 0));
        } else if (c->in_hist != 0) {
            CHECK(lab_len == c->hist_len && memcmp(lab, c->hist_labels, lab_len) == 0);
        }
        hist_sample(c, suffix, lab, lab_len, le, le_len, v);
        return;
    }
    CHECK(suffix[0] == '\0' && le == NULL);
    CHECK(c->type != AM_TYPE_COUNTER || v >= 0);
}

static void check_text(const char *t, size_t n)
{
    struct chk c;
    memset(&c, 0, sizeof(c));
    c.type = -1;
    if (n == 0) {
        return; /* an empty exposition; t may be NULL */
    }
    CHECK(t[n - 1] == '\n');
    const char *p = t;
    const char *end = t + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        CHECK(nl != NULL);
        if (*p == '#') {
            comment(&c, p, nl);
        } else {
            sample(&c, p, nl);
        }
        p = nl + 1;
    }
    CHECK(c.in_hist == 0);
}

/* `<digits>.<3 digits>` exactly (timestamps and _created values). */
static const char *om_seconds(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9') {
        q++;
    }
    CHECK(q > p && q + 4 <= end && *q == '.');
    for (int i = 1; i <= 3; i++) {
        CHECK(q[i] >= '0' && q[i] <= '9');
    }
    return q + 4;
}

static const char *om_hex(const char *p, const char *end, const char *key, size_t digits)
{
    size_t n = strlen(key);
    CHECK((size_t)(end - p) > n + digits + 1 && memcmp(p, key, n) == 0);
    p += n;
    for (size_t i = 0; i < digits; i++) {
        CHECK((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'));
    }
    CHECK(p[digits] == '"');
    return p + digits + 1;
}

/* ` # {trace_id="..",span_id=".."} <value> <ts>` up to end. */
static void om_exemplar(const char *p, const char *end)
{
    CHECK(end - p > 4 && memcmp(p, " # {", 4) == 0);
    p = om_hex(p + 4, end, "trace_id=\"", 32);
    p = om_hex(p, end, ",span_id=\"", 16);
    CHECK(end - p > 2 && p[0] == '}' && p[1] == ' ');
    p += 2;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    CHECK(sp != NULL);
    (void)number(p, sp);
    CHECK(om_seconds(sp + 1, end) == end);
}

struct omchk {
    char fam[128];
    size_t fam_len;
    int type;
};

static void om_comment(struct omchk *c, const char *p, const char *end)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    int help = end - p > 7 && memcmp(p, "# HELP ", 7) == 0;
    CHECK(help || (end - p > 7 && memcmp(p, "# TYPE ", 7) == 0));
    p += 7;
    size_t n = ident(p, end, 1);
    CHECK(n > 0 && n < sizeof(c->fam) && p + n < end && p[n] == ' ');
    if (help) {
        memcpy(c->fam, p, n);
        c->fam_len = n;
        c->type = -1;
        return;
    }
    CHECK(n == c->fam_len && memcmp(p, c->fam, n) == 0 && c->type == -1);
    CHECK(!(n > 6 && memcmp(p + n - 6, "_total", 6) == 0));
    for (int t = 0; t < 3; t++) {
        size_t tl = strlen(types[t]);
        if ((size_t)(end - (p + n + 1)) == tl && memcmp(p + n + 1, types[t], tl) == 0) {
            c->type = t;
        }
    }
    CHECK(c->type >= 0);
}

static void om_sample(const struct omchk *c, const char *p, const char *end)
{
    static const char *const allowed[3][4] = {
        {"_total", "_created", NULL, NULL},
        {"", NULL, NULL, NULL},
        {"_bucket", "_count", "_sum", "_created"},
    };
    CHECK(c->type >= 0 && (size_t)(end - p) > c->fam_len && memcmp(p, c->fam, c->fam_len) == 0);
    p += c->fam_len;
    size_t n = ident(p, end, 1);
    int ok = -1;
    for (int i = 0; i < 4 && allowed[c->type][i] != NULL; i++) {
        if (strlen(allowed[c->type][i]) == n && memcmp(p, allowed[c->type][i], n) == 0) {
            ok = i;
        }
    }
    CHECK(ok >= 0);
    int created = n == 8 && memcmp(p, "_created", 8) == 0;
    int may_ex =
        (n == 6 && memcmp(p, "_total", 6) == 0) || (n == 7 && memcmp(p, "_bucket", 7) == 0);
    const char *le = NULL;
    size_t le_len = 0;
    p = labels(p + n, end, &le, &le_len);
    CHECK((le != NULL) == (c->type == 2 && n == 7));
    if (le != NULL && !(le_len == 4 && memcmp(le, "+Inf", 4) == 0)) {
        int dot = 0;
        for (size_t i = 0; i < le_len; i++) {
            dot |= le[i] == '.' || le[i] == 'e';
        }
        CHECK(dot); /* canonical: "1.0", never "1" */
    }
    CHECK(p < end && *p == ' ');
    p++;
    if (created) {
        CHECK(om_seconds(p, end) == end);
        return;
    }
    /* the value never contains a space: the first one starts the exemplar */
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    CHECK(sp == NULL || may_ex);
    const char *vend = sp != NULL ? sp : end;
    (void)number(p, vend);
    if (vend != end) {
        om_exemplar(vend, end);
    }
}

static void check_om(const char *t, size_t n)
{
    CHECK(n >= 6 && memcmp(t + n - 6, "# EOF\n", 6) == 0);
    struct omchk c;
    memset(&c, 0, sizeof(c));
    c.type = -1;
    const char *p = t;
    const char *end = t + n - 6;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        CHECK(nl != NULL);
        if (*p == '#') {
            om_comment(&c, p, nl);
        } else {
            om_sample(&c, p, nl);
        }
        p = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rd r = {data, size};
    unsigned shards = 1 + byte(&r) % 3;
    struct am_clock_manual clk;
    am_clock_manual_init(&clk, 1, 1700000000000000000ull + byte(&r) * 1000000ull);
    struct am_series_opts opts = {.shards = shards,
                                  .max_series_per_metric = byte(&r) % 6,
                                  .max_label_value_bytes = 1 + byte(&r) % 20,
                                  .clock = &clk.clock};
    struct am_series_store *s = am_series_create(&opts);
    if (s == NULL) {
        return 0;
    }
    while (one_op(s, shards, &r)) {
        am_clock_manual_advance(&clk, 1234567u);
    }
    struct am_buf out;
    am_buf_init(&out, 1u << 22);
    CHECK(am_expo_text(s, &out) == AM_OK);
    check_text(out.data, out.len);
    out.len = 0;
    CHECK(am_expo_openmetrics(s, &out) == AM_OK);
    check_om(out.data, out.len);
    am_buf_fini(&out);
    am_series_destroy(s);
    return 0;
}
