/*
 * self.c - the collector registry of am/self.h and the collectors whose
 * sources metrics and core can see (process_*, build info). What a
 * collector sets is buffered on the caller's stack (observations and the
 * bytes of their label values) and applied to the shard a batch at a time.
 */
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/proc.h"
#include "am/self.h"

#define SELF_OBS 64
#define SELF_TEXT 2048

struct self_entry {
    const char *name;
    am_self_collect_cb cb;
    void *ud;
};

struct am_self {
    struct am_series_store *store;
    struct self_entry *e;
    size_t n;
    size_t cap;
};

struct am_self_out {
    struct am_self *s;
    unsigned shard;
    int rc;
    size_t n;
    size_t text_len;
    struct am_obs obs[SELF_OBS];
    char text[SELF_TEXT];
};

struct am_self *am_self_create(struct am_series_store *store)
{
    struct am_self *s = am_xcalloc(1, sizeof(*s));
    s->store = store;
    return s;
}

void am_self_destroy(struct am_self *s)
{
    if (s == NULL) {
        return;
    }
    am_free(s->e);
    am_free(s);
}

void am_self_register(struct am_self *s, const char *name, am_self_collect_cb cb, void *ud)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->e = am_xrealloc(s->e, s->cap * sizeof(*s->e));
    }
    s->e[s->n++] = (struct self_entry){name, cb, ud};
}

size_t am_self_count(const struct am_self *s)
{
    return s->n;
}

const char *am_self_name(const struct am_self *s, size_t i)
{
    return i < s->n ? s->e[i].name : NULL;
}

static void flush(struct am_self_out *o)
{
    if (o->n > 0) {
        int rc = am_series_apply(o->s->store, o->shard, o->obs, o->n);
        if (rc != AM_OK && o->rc == AM_OK) {
            o->rc = rc;
        }
    }
    o->n = 0;
    o->text_len = 0;
}

/* A copy of l in o's text buffer (flushing first when it is full); values
 * longer than the whole buffer are cut, which no collector's are. */
static struct am_str keep(struct am_self_out *o, struct am_str l)
{
    if (l.len > SELF_TEXT / 4) {
        l.len = SELF_TEXT / 4;
    }
    if (l.len == 0 || l.ptr == NULL) {
        return l;
    }
    char *p = o->text + o->text_len;
    memcpy(p, l.ptr, l.len);
    o->text_len += l.len;
    return (struct am_str){p, l.len};
}

void am_self_set(struct am_self_out *o, enum am_metric m, double v, struct am_str l0,
                 struct am_str l1)
{
    if (o->n == SELF_OBS || o->text_len + l0.len + l1.len > SELF_TEXT) {
        flush(o);
    }
    struct am_obs *ob = &o->obs[o->n++];
    memset(ob, 0, sizeof(*ob));
    ob->metric = m;
    ob->kind = AM_OBS_SET;
    ob->value = v;
    ob->labels[0] = keep(o, l0);
    ob->labels[1] = keep(o, l1);
}

int am_self_collect(struct am_self *s, unsigned shard)
{
    struct am_self_out *o = am_xmalloc(sizeof(*o));
    o->s = s;
    o->shard = shard;
    o->rc = AM_OK;
    o->n = 0;
    o->text_len = 0;
    for (size_t i = 0; i < s->n; i++) {
        s->e[i].cb(s->e[i].ud, o);
    }
    flush(o);
    int rc = o->rc;
    am_free(o);
    return rc;
}

void am_self_process(void *ud, struct am_self_out *out)
{
    const double *start = ud;
    struct am_proc_stats ps;
    if (am_proc_read(&ps) == 0) {
        am_self_set(out, AM_M_PROCESS_CPU_SECONDS_TOTAL, ps.cpu_seconds, AM_STR_NULL, AM_STR_NULL);
        am_self_set(out, AM_M_PROCESS_RESIDENT_MEMORY_BYTES, (double)ps.rss_bytes, AM_STR_NULL,
                    AM_STR_NULL);
        am_self_set(out, AM_M_PROCESS_OPEN_FDS, (double)ps.open_fds, AM_STR_NULL, AM_STR_NULL);
        am_self_set(out, AM_M_PROCESS_MAX_FDS, (double)ps.max_fds, AM_STR_NULL, AM_STR_NULL);
    }
    am_self_set(out, AM_M_PROCESS_START_TIME_SECONDS, *start, AM_STR_NULL, AM_STR_NULL);
}

void am_self_build_info(void *ud, struct am_self_out *out)
{
    (void)ud;
    am_self_set(out, AM_M_SELF_BUILD_INFO, 1, AM_STR(AM_VERSION), AM_STR_NULL);
}
