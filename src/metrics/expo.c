/*
 * expo.c - Prometheus text exposition 0.0.4 and OpenMetrics 1.0.0 with
 * exemplars (SPEC.md 1, 2) over a merged store visit, written straight into
 * the caller's capped am_buf with no per-series allocation; and the Accept
 * header negotiation between the two. Numbers are am_fmt_double's (Go's
 * FormatFloat(v, 'g', -1, 64), as Prometheus writes them).
 */
#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/err.h"
#include "am/expo.h"
#include "am/fmt.h"

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
    size_t n = am_fmt_double(v, num);
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
    size_t n = am_fmt_double(bound, dst);
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
                am_fmt_double(v->bounds[b], st->le[b]);
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
