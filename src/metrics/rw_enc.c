/*
 * rw_enc.c - series views -> snappy-compressed prometheus.WriteRequest
 * batches (SPEC.md 5; schema in proto/prometheus/). Sans-I/O. Labels are
 * sorted once per family into a "plan" at create time, so a sample costs a
 * walk over its few labels and a memcpy; the protobuf is written by hand
 * because every length prefix is computable up front (no nested buffers).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "am/alloc.h"
#include "am/buf.h"
#include "am/err.h"
#include "am/fmt.h"
#include "am/rw.h"

#define BATCH_MAX_BYTES ((size_t)1 << 30)
#define DEFAULT_MAX_SAMPLES 2000

enum slot_src {
    SRC_NAME,   /* __name__ */
    SRC_FAMILY, /* label_values[idx], else external[ext] when empty */
    SRC_EXT,    /* external[idx] */
    SRC_LE,     /* le (bucket series only) */
};

struct slot {
    enum slot_src src;
    int idx;
    int ext; /* SRC_FAMILY fallback, -1 for none */
    const char *name;
    size_t name_len;
};

struct plan {
    unsigned n;
    struct slot *slots;
};

/* One label of an emitted series. */
struct pair {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct le_cache {
    unsigned count;
    double bounds[AM_MAX_BUCKETS];
    char text[AM_MAX_BUCKETS + 1][32];
    size_t len[AM_MAX_BUCKETS + 1];
};

struct am_rw_enc {
    struct am_header_kv *ext;
    size_t n_ext;
    uint32_t max_samples;
    struct plan plain[AM_M_COUNT];
    struct plan bucket[AM_M_COUNT];
    char *names[AM_M_COUNT][3]; /* histograms: _bucket, _sum, _count */
    struct le_cache *le[AM_M_COUNT];
    /* current snapshot */
    int64_t ts_ms;
    am_rw_enc_batch_cb cb;
    void *ud;
    struct am_buf batch;
    struct am_buf out;
    uint32_t samples;
};

/* ---- plans ---- */

static int slot_cmp(const void *a, const void *b)
{
    return strcmp(((const struct slot *)a)->name, ((const struct slot *)b)->name);
}

static void add_slot(struct plan *p, enum slot_src src, int idx, int ext, const char *name)
{
    struct slot *s = &p->slots[p->n++];
    s->src = src;
    s->idx = idx;
    s->ext = ext;
    s->name = name;
    s->name_len = strlen(name);
}

static int find_ext(const struct am_rw_enc *e, const char *name)
{
    for (size_t i = 0; i < e->n_ext; i++) {
        if (strcmp(e->ext[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static bool family_has(const struct am_family *f, const char *name)
{
    for (unsigned i = 0; i < f->label_count; i++) {
        if (strcmp(f->labels[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* A series label wins over an external label of the same name; an empty
 * series value lets the external one through (empty means absent). */
static void build_plan(struct am_rw_enc *e, const struct am_family *f, struct plan *p, bool le)
{
    p->slots = am_xcalloc(f->label_count + e->n_ext + 2, sizeof(*p->slots));
    p->n = 0;
    add_slot(p, SRC_NAME, 0, -1, "__name__");
    for (unsigned i = 0; i < f->label_count; i++) {
        add_slot(p, SRC_FAMILY, (int)i, find_ext(e, f->labels[i]), f->labels[i]);
    }
    for (size_t i = 0; i < e->n_ext; i++) {
        const char *n = e->ext[i].name;
        if (strcmp(n, "__name__") == 0 || family_has(f, n) || (le && strcmp(n, "le") == 0)) {
            continue;
        }
        add_slot(p, SRC_EXT, (int)i, -1, n);
    }
    if (le) {
        add_slot(p, SRC_LE, 0, -1, "le");
    }
    qsort(p->slots, p->n, sizeof(*p->slots), slot_cmp);
}

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    char *s = am_xmalloc(la + lb + 1);
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

struct am_rw_enc *am_rw_enc_create(const struct am_header_kv *external_labels, size_t n_external,
                                   uint32_t max_samples)
{
    struct am_rw_enc *e = am_xcalloc(1, sizeof(*e));
    e->ext = am_xcalloc(n_external ? n_external : 1, sizeof(*e->ext));
    for (size_t i = 0; i < n_external; i++) {
        const struct am_header_kv *kv = &external_labels[i];
        if (kv->name == NULL || kv->value == NULL || kv->name[0] == '\0' || kv->value[0] == '\0' ||
            find_ext(e, kv->name) >= 0) {
            continue;
        }
        e->ext[e->n_ext].name = am_xstrdup(kv->name);
        e->ext[e->n_ext].value = am_xstrdup(kv->value);
        e->n_ext++;
    }
    e->max_samples = max_samples ? max_samples : DEFAULT_MAX_SAMPLES;
    for (int m = 0; m < AM_M_COUNT; m++) {
        const struct am_family *f = am_family_get((enum am_metric)m);
        build_plan(e, f, &e->plain[m], false);
        if (f->type == AM_TYPE_HISTOGRAM) {
            build_plan(e, f, &e->bucket[m], true);
            e->names[m][0] = concat(f->name, "_bucket");
            e->names[m][1] = concat(f->name, "_sum");
            e->names[m][2] = concat(f->name, "_count");
            e->le[m] = am_xcalloc(1, sizeof(*e->le[m]));
        }
    }
    am_buf_init(&e->batch, BATCH_MAX_BYTES);
    am_buf_init(&e->out, BATCH_MAX_BYTES);
    return e;
}

void am_rw_enc_destroy(struct am_rw_enc *e)
{
    if (e == NULL) {
        return;
    }
    for (int m = 0; m < AM_M_COUNT; m++) {
        am_free(e->plain[m].slots);
        am_free(e->bucket[m].slots);
        am_free(e->le[m]);
        for (int k = 0; k < 3; k++) {
            am_free(e->names[m][k]);
        }
    }
    for (size_t i = 0; i < e->n_ext; i++) {
        am_free(e->ext[i].name);
        am_free(e->ext[i].value);
    }
    am_free(e->ext);
    am_buf_fini(&e->batch);
    am_buf_fini(&e->out);
    am_free(e);
}

static const struct le_cache *le_for(struct am_rw_enc *e, const struct am_series_view *v)
{
    struct le_cache *c = e->le[v->metric];
    unsigned n = v->bound_count > AM_MAX_BUCKETS ? AM_MAX_BUCKETS : v->bound_count;
    if (c->count == n && c->len[n] != 0 && memcmp(c->bounds, v->bounds, n * sizeof(double)) == 0) {
        return c;
    }
    c->count = n;
    for (unsigned i = 0; i < n; i++) {
        c->bounds[i] = v->bounds[i];
        c->len[i] = am_fmt_double(v->bounds[i], c->text[i]);
    }
    c->len[n] = am_fmt_double(INFINITY, c->text[n]);
    return c;
}

/* ---- protobuf writer ---- */

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *put_bytes(uint8_t *p, uint8_t tag, const char *s, size_t n)
{
    *p++ = tag;
    p = put_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

static inline size_t label_len(const struct pair *l)
{
    return 2 + varint_len(l->name_len) + l->name_len + varint_len(l->value_len) + l->value_len;
}

static int flush(struct am_rw_enc *e)
{
    if (e->samples == 0) {
        return AM_OK;
    }
    size_t need = snappy_max_compressed_length(e->batch.len);
    am_buf_reset(&e->out);
    if (am_buf_reserve(&e->out, need) != AM_OK) {
        return AM_ETOOBIG;
    }
    size_t clen = need;
    if (snappy_compress(e->batch.data, e->batch.len, e->out.data, &clen) != SNAPPY_OK) {
        return AM_EINTERNAL;
    }
    uint32_t samples = e->samples;
    am_buf_reset(&e->batch);
    e->samples = 0;
    return e->cb(e->ud, e->out.data, clen, samples);
}

/* Lower-case hex of n bytes into out (2n chars). */
static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
}

/* Exemplar{labels: trace_id, span_id; value; timestamp ms}, as the
 * TimeSeries field 3 it becomes. Its size, or 0 when there is none. */
struct ex_text {
    struct pair labels[2];
    char trace[32];
    char span[16];
    size_t body;
};

static size_t exemplar_prepare(const struct am_exemplar *ex, struct ex_text *t)
{
    if (ex == NULL || ex->wall_ns == 0) {
        return 0;
    }
    hex(ex->trace_id, 16, t->trace);
    hex(ex->span_id, 8, t->span);
    t->labels[0] = (struct pair){"span_id", 7, t->span, 16}; /* sorted by name */
    t->labels[1] = (struct pair){"trace_id", 8, t->trace, 32};
    t->body = 0;
    for (int i = 0; i < 2; i++) {
        size_t ll = label_len(&t->labels[i]);
        t->body += 1 + varint_len(ll) + ll;
    }
    t->body += 1 + 8 + 1 + varint_len(ex->wall_ns / 1000000u);
    return 1 + varint_len(t->body) + t->body;
}

static uint8_t *put_double(uint8_t *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    for (int i = 0; i < 8; i++) {
        *p++ = (uint8_t)(bits >> (8 * i));
    }
    return p;
}

/* Write one TimeSeries{labels, samples[1], exemplars[0..1]} as WriteRequest
 * field 1. ex may be NULL. */
static int emit(struct am_rw_enc *e, const struct pair *l, unsigned n, double value,
                const struct am_exemplar *ex)
{
    struct ex_text t;
    size_t labels = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t ll = label_len(&l[i]);
        labels += 1 + varint_len(ll) + ll;
    }
    uint64_t ts = (uint64_t)e->ts_ms;
    size_t sample = 1 + 8 + 1 + varint_len(ts);
    size_t exemplar = exemplar_prepare(ex, &t);
    size_t series = labels + 1 + varint_len(sample) + sample + exemplar;
    if (am_buf_reserve(&e->batch, 1 + varint_len(series) + series) != AM_OK) {
        return AM_ETOOBIG;
    }
    uint8_t *p = (uint8_t *)e->batch.data + e->batch.len;
    *p++ = 0x0a;
    p = put_varint(p, series);
    for (unsigned i = 0; i < n; i++) {
        *p++ = 0x0a;
        p = put_varint(p, label_len(&l[i]));
        p = put_bytes(p, 0x0a, l[i].name, l[i].name_len);
        p = put_bytes(p, 0x12, l[i].value, l[i].value_len);
    }
    *p++ = 0x12;
    p = put_varint(p, sample);
    *p++ = 0x09;
    p = put_double(p, value);
    *p++ = 0x10;
    p = put_varint(p, ts);
    if (exemplar > 0) {
        *p++ = 0x1a;
        p = put_varint(p, t.body);
        for (int i = 0; i < 2; i++) {
            *p++ = 0x0a;
            p = put_varint(p, label_len(&t.labels[i]));
            p = put_bytes(p, 0x0a, t.labels[i].name, t.labels[i].name_len);
            p = put_bytes(p, 0x12, t.labels[i].value, t.labels[i].value_len);
        }
        *p++ = 0x11;
        p = put_double(p, ex->value);
        *p++ = 0x18;
        p = put_varint(p, ex->wall_ns / 1000000u);
    }
    e->batch.len = (size_t)((char *)p - e->batch.data);
    if (++e->samples >= e->max_samples) {
        return flush(e);
    }
    return AM_OK;
}

/* ---- views ---- */

/* Resolve a plan against one view into label pairs, dropping empty values.
 * *name_at / *le_at get the index of __name__ / le (or -1). */
static unsigned resolve(const struct am_rw_enc *e, const struct plan *p,
                        const struct am_series_view *v, struct pair *out, int *name_at, int *le_at)
{
    unsigned n = 0;
    *le_at = -1;
    *name_at = -1;
    for (unsigned i = 0; i < p->n; i++) {
        const struct slot *s = &p->slots[i];
        const char *val = "";
        if (s->src == SRC_FAMILY) {
            val = v->label_values[s->idx] ? v->label_values[s->idx] : "";
            if (val[0] == '\0' && s->ext >= 0) {
                val = e->ext[s->ext].value;
            }
        } else if (s->src == SRC_EXT) {
            val = e->ext[s->idx].value;
        } else if (s->src == SRC_NAME) {
            *name_at = (int)n;
            val = "-";
        } else {
            *le_at = (int)n;
            val = "-";
        }
        if (val[0] == '\0') {
            continue;
        }
        out[n].name = s->name;
        out[n].name_len = s->name_len;
        out[n].value = val;
        out[n].value_len = strlen(val);
        n++;
    }
    return n;
}

static void set_value(struct pair *p, const char *s, size_t len)
{
    p->value = s;
    p->value_len = len;
}

static int add_histogram(struct am_rw_enc *e, const struct am_series_view *v, bool stale,
                         double stale_v, struct pair *l)
{
    int m = v->metric;
    int name_at;
    int le_at;
    unsigned n = resolve(e, &e->bucket[m], v, l, &name_at, &le_at);
    const struct le_cache *c = le_for(e, v);
    set_value(&l[name_at], e->names[m][0], strlen(e->names[m][0]));
    uint64_t cum = 0;
    int rc = AM_OK;
    for (unsigned i = 0; i <= c->count && rc == AM_OK; i++) {
        cum += (stale || v->bucket_counts == NULL) ? 0 : v->bucket_counts[i];
        set_value(&l[le_at], c->text[i], c->len[i]);
        const struct am_exemplar *ex = stale || v->exemplars == NULL ? NULL : &v->exemplars[i];
        rc = emit(e, l, n, stale ? stale_v : (double)cum, ex);
    }
    n = resolve(e, &e->plain[m], v, l, &name_at, &le_at);
    for (int k = 1; k <= 2 && rc == AM_OK; k++) {
        set_value(&l[name_at], e->names[m][k], strlen(e->names[m][k]));
        double val = k == 1 ? v->sum : (double)v->count;
        rc = emit(e, l, n, stale ? stale_v : val, NULL);
    }
    return rc;
}

static int add(struct am_rw_enc *e, const struct am_series_view *v, bool stale)
{
    if ((unsigned)v->metric >= AM_M_COUNT) {
        return AM_EINVAL;
    }
    struct pair l[AM_MAX_LABELS + 2 + 64];
    struct pair *lp = l;
    size_t need = (size_t)AM_MAX_LABELS + 2 + e->n_ext;
    if (need > sizeof(l) / sizeof(l[0])) {
        lp = am_xmalloc(need * sizeof(*lp));
    }
    uint64_t bits = AM_RW_STALE_NAN_BITS;
    double stale_v;
    memcpy(&stale_v, &bits, sizeof(stale_v));
    const struct am_family *f = am_family_get(v->metric);
    int rc;
    if (f->type == AM_TYPE_HISTOGRAM) {
        rc = add_histogram(e, v, stale, stale_v, lp);
    } else {
        int name_at;
        int le_at;
        unsigned n = resolve(e, &e->plain[v->metric], v, lp, &name_at, &le_at);
        set_value(&lp[name_at], f->name, strlen(f->name));
        const struct am_exemplar *ex = stale || f->type != AM_TYPE_COUNTER ? NULL : v->exemplars;
        rc = emit(e, lp, n, stale ? stale_v : v->value, ex);
    }
    if (lp != l) {
        am_free(lp);
    }
    return rc;
}

void am_rw_enc_begin(struct am_rw_enc *e, int64_t ts_ms, am_rw_enc_batch_cb cb, void *ud)
{
    e->ts_ms = ts_ms;
    e->cb = cb;
    e->ud = ud;
    e->samples = 0;
    am_buf_reset(&e->batch);
}

int am_rw_enc_add_view(struct am_rw_enc *e, const struct am_series_view *v)
{
    return add(e, v, false);
}

int am_rw_enc_stale(struct am_rw_enc *e, const struct am_series_view *v)
{
    return add(e, v, true);
}

int am_rw_enc_finish(struct am_rw_enc *e)
{
    return flush(e);
}
