#ifndef AM_TEST_GENAI_SPAN_H
#define AM_TEST_GENAI_SPAN_H

/*
 * Hand-built span views for the genai unit tests (classify, derive): a span
 * with a resource and up to TS_MAX_ATTRS attributes, all in one struct the
 * test owns. Strings point at the literals the test passes.
 */

#include <string.h>

#include "am/span.h"

#define TS_MAX_ATTRS 32

/* One attribute as a test table row: type 's' string, 'i' int, 'd' double,
 * 'b' bool. A NULL key ends a list. */
struct ts_attr {
    const char *key;
    char type;
    const char *s;
    int64_t i;
    double d;
};

#define TS_S(k, v)                                                                                 \
    {                                                                                              \
        (k), 's', (v), 0, 0                                                                        \
    }
#define TS_I(k, v)                                                                                 \
    {                                                                                              \
        (k), 'i', NULL, (v), 0                                                                     \
    }
#define TS_D(k, v)                                                                                 \
    {                                                                                              \
        (k), 'd', NULL, 0, (v)                                                                     \
    }
#define TS_B(k, v)                                                                                 \
    {                                                                                              \
        (k), 'b', NULL, (v), 0                                                                     \
    }

struct ts_span {
    struct am_kv kv[TS_MAX_ATTRS];
    struct am_resource res;
    struct am_span span;
};

static inline void ts_span_init(struct ts_span *t, const char *service)
{
    memset(t, 0, sizeof(*t));
    t->res.service_name = am_str_from(service);
    t->span.resource = &t->res;
    t->span.attrs.items = t->kv;
    for (int i = 0; i < 16; i++) {
        t->span.trace_id[i] = (uint8_t)(0xa0 + i);
    }
    for (int i = 0; i < 8; i++) {
        t->span.span_id[i] = (uint8_t)(0xb0 + i);
    }
}

static inline void ts_span_add(struct ts_span *t, const struct ts_attr *a)
{
    struct am_kv *kv = &t->kv[t->span.attrs.count++];
    kv->key = am_str_from(a->key);
    switch (a->type) {
    case 's':
        kv->val.type = AM_VAL_STRING;
        kv->val.u.s = am_str_from(a->s);
        break;
    case 'i':
        kv->val.type = AM_VAL_INT;
        kv->val.u.i = a->i;
        break;
    case 'd':
        kv->val.type = AM_VAL_DOUBLE;
        kv->val.u.d = a->d;
        break;
    default:
        kv->val.type = AM_VAL_BOOL;
        kv->val.u.b = a->i != 0;
        break;
    }
}

/* Add every attribute of a NULL-key-terminated list. */
static inline void ts_span_add_all(struct ts_span *t, const struct ts_attr *list)
{
    for (; list->key != NULL; list++) {
        ts_span_add(t, list);
    }
}

#endif
