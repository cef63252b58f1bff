#ifndef AM_TEST_GENAI_REC_H
#define AM_TEST_GENAI_REC_H

/*
 * An observation recorder for the stateful genai tests (trace_buf, conv,
 * quality): the sink copies every observation with its label values, and
 * the queries sum or count the ones matching a metric and label prefix.
 */

#include <stdio.h>
#include <string.h>

#include "am/derive.h"

#define REC_MAX 4096

struct rec_obs {
    enum am_metric m;
    enum am_obs_kind k;
    double v;
    char l[AM_MAX_LABELS][64];
    uint8_t span_id[8];
};

struct rec {
    struct rec_obs o[REC_MAX];
    size_t n;
};

static inline void rec_sink_fn(void *ud, const struct am_obs *obs, size_t n)
{
    struct rec *r = ud;
    for (size_t i = 0; i < n && r->n < REC_MAX; i++) {
        struct rec_obs *o = &r->o[r->n++];
        o->m = obs[i].metric;
        o->k = obs[i].kind;
        o->v = obs[i].value;
        memcpy(o->span_id, obs[i].span_id, 8);
        for (int l = 0; l < AM_MAX_LABELS; l++) {
            snprintf(o->l[l], sizeof(o->l[l]), "%.*s", (int)obs[i].labels[l].len,
                     obs[i].labels[l].ptr ? obs[i].labels[l].ptr : "");
        }
    }
}

static inline bool rec_match(const struct rec_obs *o, enum am_metric m, const char *l0,
                             const char *l1, const char *l2)
{
    return o->m == m && (l0 == NULL || strcmp(o->l[0], l0) == 0) &&
           (l1 == NULL || strcmp(o->l[1], l1) == 0) && (l2 == NULL || strcmp(o->l[2], l2) == 0);
}

/* Sum of values of matching observations (NULL label = any). */
static inline double rec_sum(const struct rec *r, enum am_metric m, const char *l0, const char *l1,
                             const char *l2)
{
    double s = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (rec_match(&r->o[i], m, l0, l1, l2)) {
            s += r->o[i].v;
        }
    }
    return s;
}

static inline size_t rec_count(const struct rec *r, enum am_metric m, const char *l0,
                               const char *l1, const char *l2)
{
    size_t c = 0;
    for (size_t i = 0; i < r->n; i++) {
        c += rec_match(&r->o[i], m, l0, l1, l2);
    }
    return c;
}

/* The value of the last matching observation (gauges); -1 when none. */
static inline double rec_last(const struct rec *r, enum am_metric m, const char *l0, const char *l1)
{
    for (size_t i = r->n; i-- > 0;) {
        if (rec_match(&r->o[i], m, l0, l1, NULL)) {
            return r->o[i].v;
        }
    }
    return -1;
}

#endif
