/*
 * quality.c - sliding windows (time buckets on the monotonic clock) and the
 * evaluation results of SPEC.md 3 (Quality): agent_evaluation_score,
 * agent_evaluation_labels_total and agent_quality_score = mean score over
 * quality_window. Windows live in a small array under one mutex: there are
 * few (agent, metric_type) pairs and evaluations are rare next to spans.
 */
#include <pthread.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/quality.h"

#define WINDOW_BUCKETS 60

void am_window_init(struct am_window *w, uint64_t span_ns)
{
    memset(w, 0, sizeof(*w));
    am_window_set_span(w, span_ns);
}

void am_window_fini(struct am_window *w)
{
    am_free(w->buckets);
    memset(w, 0, sizeof(*w));
}

void am_window_set_span(struct am_window *w, uint64_t span_ns)
{
    w->span_ns = span_ns;
    w->width_ns = span_ns / WINDOW_BUCKETS;
    if (w->width_ns == 0) {
        w->width_ns = 1;
    }
}

static struct am_window_bucket *bucket_at(struct am_window *w, unsigned i)
{
    return &w->buckets[(w->head + i) % w->cap];
}

static void grow(struct am_window *w)
{
    unsigned cap = w->cap ? w->cap * 2 : 8;
    struct am_window_bucket *nb = am_xmalloc(cap * sizeof(*nb));
    for (unsigned i = 0; i < w->count; i++) {
        nb[i] = *bucket_at(w, i);
    }
    am_free(w->buckets);
    w->buckets = nb;
    w->cap = cap;
    w->head = 0;
}

void am_window_add(struct am_window *w, uint64_t now_ns, double a, double b)
{
    struct am_window_bucket *last = w->count ? bucket_at(w, w->count - 1) : NULL;
    if (last == NULL || now_ns >= last->end_ns) {
        if (w->count == w->cap) {
            grow(w);
        }
        last = bucket_at(w, w->count++);
        last->end_ns = now_ns - now_ns % w->width_ns + w->width_ns;
        last->a = 0;
        last->b = 0;
    }
    last->a += a;
    last->b += b;
}

void am_window_sum(struct am_window *w, uint64_t now_ns, double *a, double *b)
{
    while (w->count > 0 && bucket_at(w, 0)->end_ns + w->span_ns <= now_ns) {
        w->head = (w->head + 1) % w->cap;
        w->count--;
    }
    *a = 0;
    *b = 0;
    for (unsigned i = 0; i < w->count; i++) {
        *a += bucket_at(w, i)->a;
        *b += bucket_at(w, i)->b;
    }
}

static bool attr_str(const struct am_attrs *attrs, struct am_str key, struct am_str *out)
{
    const struct am_anyval *v = am_attrs_get(attrs, key);
    if (v == NULL || v->type != AM_VAL_STRING || v->u.s.len == 0) {
        return false;
    }
    *out = v->u.s;
    return true;
}

bool am_eval_parse(const struct am_attrs *attrs, struct am_eval *out)
{
    memset(out, 0, sizeof(*out));
    if (!attr_str(attrs, AM_STR("gen_ai.evaluation.name"), &out->name)) {
        return false;
    }
    attr_str(attrs, AM_STR("gen_ai.evaluation.score.label"), &out->label);
    const struct am_anyval *v = am_attrs_get(attrs, AM_STR("gen_ai.evaluation.score.value"));
    if (v != NULL && v->type == AM_VAL_DOUBLE && v->u.d == v->u.d) {
        out->score = v->u.d;
        out->has_score = true;
    } else if (v != NULL && v->type == AM_VAL_INT) {
        out->score = (double)v->u.i;
        out->has_score = true;
    } else if (v != NULL && v->type == AM_VAL_STRING &&
               am_str_to_double(v->u.s, &out->score) == AM_OK) {
        out->has_score = out->score == out->score;
    }
    return out->has_score || out->label.len > 0;
}

struct qentry {
    char *agent;
    char *metric_type; /* lower-cased */
    size_t agent_len, type_len;
    struct am_window w;
};

struct am_quality {
    pthread_mutex_t mu;
    uint64_t window_ns;
    struct qentry *e;
    size_t n, cap;
};

struct am_quality *am_quality_create(uint64_t window_ns)
{
    struct am_quality *q = am_xcalloc(1, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
    q->window_ns = window_ns;
    return q;
}

static void entry_fini(struct qentry *e)
{
    am_free(e->agent);
    am_free(e->metric_type);
    am_window_fini(&e->w);
}

void am_quality_destroy(struct am_quality *q)
{
    if (q == NULL) {
        return;
    }
    for (size_t i = 0; i < q->n; i++) {
        entry_fini(&q->e[i]);
    }
    am_free(q->e);
    pthread_mutex_destroy(&q->mu);
    am_free(q);
}

void am_quality_configure(struct am_quality *q, uint64_t window_ns)
{
    pthread_mutex_lock(&q->mu);
    q->window_ns = window_ns;
    for (size_t i = 0; i < q->n; i++) {
        am_window_set_span(&q->e[i].w, window_ns);
    }
    pthread_mutex_unlock(&q->mu);
}

static bool type_eq(const struct qentry *e, struct am_str agent, struct am_str type)
{
    return am_str_eq((struct am_str){e->agent, e->agent_len}, agent) &&
           am_str_case_eq((struct am_str){e->metric_type, e->type_len}, type);
}

static struct qentry *entry_get(struct am_quality *q, struct am_str agent, struct am_str type)
{
    for (size_t i = 0; i < q->n; i++) {
        if (type_eq(&q->e[i], agent, type)) {
            return &q->e[i];
        }
    }
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 8;
        q->e = am_xrealloc(q->e, q->cap * sizeof(*q->e));
    }
    struct qentry *e = &q->e[q->n++];
    e->agent = am_str_dup(agent);
    e->agent_len = agent.len;
    e->metric_type = am_str_dup(type);
    e->type_len = type.len;
    for (size_t i = 0; i < type.len; i++) {
        char c = e->metric_type[i];
        e->metric_type[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    am_window_init(&e->w, q->window_ns);
    return e;
}

static void set_obs(struct am_obs *o, enum am_metric m, enum am_obs_kind k, double v,
                    const struct qentry *e, const uint8_t *trace_id, const uint8_t *span_id)
{
    memset(o, 0, sizeof(*o));
    o->metric = m;
    o->kind = k;
    o->value = v;
    o->labels[0] = (struct am_str){e->agent, e->agent_len};
    o->labels[1] = (struct am_str){e->metric_type, e->type_len};
    if (trace_id != NULL && span_id != NULL) {
        memcpy(o->trace_id, trace_id, sizeof(o->trace_id));
        memcpy(o->span_id, span_id, sizeof(o->span_id));
        o->has_exemplar = 1;
    }
}

/* The mean of e's window as a SET; false when the window is empty. */
static bool mean_obs(struct qentry *e, uint64_t now_ns, struct am_obs *o)
{
    double sum, count;
    am_window_sum(&e->w, now_ns, &sum, &count);
    if (count == 0) {
        return false;
    }
    set_obs(o, AM_M_AGENT_QUALITY_SCORE, AM_OBS_SET, sum / count, e, NULL, NULL);
    return true;
}

void am_quality_add(struct am_quality *q, struct am_str agent, const struct am_eval *ev,
                    const uint8_t *trace_id, const uint8_t *span_id, uint64_t now_ns,
                    const struct am_obs_sink *sink)
{
    struct am_obs out[3];
    size_t n = 0;

    pthread_mutex_lock(&q->mu);
    struct qentry *e = entry_get(q, agent, ev->name);
    if (ev->has_score) {
        set_obs(&out[n++], AM_M_AGENT_EVALUATION_SCORE, AM_OBS_OBSERVE, ev->score, e, trace_id,
                span_id);
        am_window_add(&e->w, now_ns, ev->score, 1);
    }
    if (ev->label.len > 0) {
        set_obs(&out[n], AM_M_AGENT_EVALUATION_LABELS_TOTAL, AM_OBS_INC, 1, e, trace_id, span_id);
        out[n++].labels[2] = ev->label;
    }
    if (mean_obs(e, now_ns, &out[n])) {
        n++;
    }
    if (n > 0) {
        sink->fn(sink->ud, out, n);
    }
    pthread_mutex_unlock(&q->mu);
}

void am_quality_tick(struct am_quality *q, uint64_t now_ns, const struct am_obs_sink *sink)
{
    struct am_obs o;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->n;) {
        if (mean_obs(&q->e[i], now_ns, &o)) {
            sink->fn(sink->ud, &o, 1);
            i++;
            continue;
        }
        entry_fini(&q->e[i]);
        q->e[i] = q->e[--q->n];
    }
    pthread_mutex_unlock(&q->mu);
}

size_t am_quality_count(struct am_quality *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}
