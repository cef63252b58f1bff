/*
 * conv.c - conversations (SPEC.md 3): turns counted per gen_ai.conversation.id,
 * finished after idle_timeout on the collector's monotonic clock, outcome
 * resolved/escalated, and agent_escalation_rate over a one-hour window per
 * agent. Each shard keeps a core/map keyed by conversation id (seeded hash:
 * a peer chooses the ids) and a list ordered by last turn (oldest first), so
 * idle expiry and cap eviction pop from its head.
 */
#include <pthread.h>
#include <string.h>

#include "am/alloc.h"
#include "am/conv.h"
#include "am/err.h"
#include "am/map.h"
#include "am/quality.h"

struct conv {
    struct conv *prev, *next; /* by last turn, oldest first */
    uint64_t hash;
    uint64_t last_turn_ns;
    uint32_t turns;
    bool escalated;
    char *id;
    char *agent;
    size_t id_len, agent_len;
};

struct shard {
    pthread_mutex_t mu;
    struct am_map map; /* id -> conv */
    size_t n;
    struct conv *head, *tail;
};

struct rate {
    char *agent;
    size_t agent_len;
    struct am_window w; /* a = escalated, b = finished */
};

struct am_conv {
    unsigned nshards;
    uint64_t idle_ns;
    size_t max_per_shard;
    struct shard *shards;
    pthread_mutex_t rate_mu;
    struct rate *rates;
    size_t nrates, rates_cap;
};

static size_t per_shard(size_t max_open, unsigned nshards)
{
    if (max_open == 0) {
        return 0;
    }
    return max_open / nshards > 0 ? max_open / nshards : 1;
}

static void conv_key(const void *value, const void **key, size_t *key_len)
{
    const struct conv *v = value;
    *key = v->id;
    *key_len = v->id_len;
}

static const struct am_map_ops conv_ops = {.key = conv_key};

struct am_conv *am_conv_create(const struct am_conv_opts *opts)
{
    struct am_conv *c = am_xcalloc(1, sizeof(*c));
    c->nshards = opts->shards ? opts->shards : 1;
    c->idle_ns = opts->idle_timeout_ns;
    c->max_per_shard = per_shard(opts->max_open, c->nshards);
    c->shards = am_xcalloc(c->nshards, sizeof(*c->shards));
    for (unsigned i = 0; i < c->nshards; i++) {
        pthread_mutex_init(&c->shards[i].mu, NULL);
        am_map_init(&c->shards[i].map, &conv_ops, NULL);
    }
    pthread_mutex_init(&c->rate_mu, NULL);
    return c;
}

static void conv_free(struct conv *v)
{
    am_free(v->id);
    am_free(v->agent);
    am_free(v);
}

void am_conv_destroy(struct am_conv *c)
{
    if (c == NULL) {
        return;
    }
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];
        while (s->head != NULL) {
            struct conv *v = s->head;
            s->head = v->next;
            conv_free(v);
        }
        am_map_fini(&s->map);
        pthread_mutex_destroy(&s->mu);
    }
    for (size_t i = 0; i < c->nrates; i++) {
        am_free(c->rates[i].agent);
        am_window_fini(&c->rates[i].w);
    }
    am_free(c->rates);
    am_free(c->shards);
    pthread_mutex_destroy(&c->rate_mu);
    am_free(c);
}

void am_conv_configure(struct am_conv *c, uint64_t idle_timeout_ns, size_t max_open)
{
    for (unsigned i = 0; i < c->nshards; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
    }
    c->idle_ns = idle_timeout_ns;
    c->max_per_shard = per_shard(max_open, c->nshards);
    for (unsigned i = c->nshards; i-- > 0;) {
        pthread_mutex_unlock(&c->shards[i].mu);
    }
}

static struct shard *shard_of(struct am_conv *c, uint64_t hash)
{
    return &c->shards[(hash >> 32) % c->nshards];
}

static void list_unlink(struct shard *s, struct conv *v)
{
    if (v->prev != NULL) {
        v->prev->next = v->next;
    } else {
        s->head = v->next;
    }
    if (v->next != NULL) {
        v->next->prev = v->prev;
    } else {
        s->tail = v->prev;
    }
    v->prev = NULL;
    v->next = NULL;
}

/* Insert v keeping the list ordered by last turn (oldest first). Turns come
 * nearly in order, so the walk from the tail is short. */
static void list_insert(struct shard *s, struct conv *v)
{
    struct conv *after = s->tail;
    while (after != NULL && after->last_turn_ns > v->last_turn_ns) {
        after = after->prev;
    }
    v->prev = after;
    v->next = after != NULL ? after->next : s->head;
    if (v->next != NULL) {
        v->next->prev = v;
    } else {
        s->tail = v;
    }
    if (after != NULL) {
        after->next = v;
    } else {
        s->head = v;
    }
}

static struct rate *rate_get(struct am_conv *c, struct am_str agent)
{
    for (size_t i = 0; i < c->nrates; i++) {
        if (am_str_eq((struct am_str){c->rates[i].agent, c->rates[i].agent_len}, agent)) {
            return &c->rates[i];
        }
    }
    if (c->nrates == c->rates_cap) {
        c->rates_cap = c->rates_cap ? c->rates_cap * 2 : 8;
        c->rates = am_xrealloc(c->rates, c->rates_cap * sizeof(*c->rates));
    }
    struct rate *r = &c->rates[c->nrates++];
    r->agent = am_str_dup(agent);
    r->agent_len = agent.len;
    am_window_init(&r->w, AM_CONV_RATE_WINDOW_NS);
    return r;
}

static void obs_init(struct am_obs *o, enum am_metric m, enum am_obs_kind k, double v)
{
    memset(o, 0, sizeof(*o));
    o->metric = m;
    o->kind = k;
    o->value = v;
}

/* Finish v: observe it, feed its agent's rate window, unlink and free it. */
static void finish(struct am_conv *c, struct shard *s, struct conv *v, uint64_t now_ns,
                   const struct am_obs_sink *sink)
{
    struct am_str agent = {v->agent, v->agent_len};
    struct am_obs o[2];
    obs_init(&o[0], AM_M_AGENT_CONVERSATION_TURNS, AM_OBS_OBSERVE, (double)v->turns);
    o[0].labels[0] = agent;
    obs_init(&o[1], AM_M_AGENT_CONVERSATIONS_TOTAL, AM_OBS_INC, 1);
    o[1].labels[0] = agent;
    o[1].labels[1] = v->escalated ? AM_STR("escalated") : AM_STR("resolved");
    sink->fn(sink->ud, o, 2);

    pthread_mutex_lock(&c->rate_mu);
    am_window_add(&rate_get(c, agent)->w, now_ns, v->escalated ? 1 : 0, 1);
    pthread_mutex_unlock(&c->rate_mu);

    am_map_remove_value(&s->map, v->hash, v);
    list_unlink(s, v);
    s->n--;
    conv_free(v);
}

static void evict_over_cap(struct am_conv *c, struct shard *s, uint64_t now_ns,
                           const struct am_obs_sink *sink)
{
    while (c->max_per_shard > 0 && s->n > c->max_per_shard) {
        struct am_obs o;
        finish(c, s, s->head, now_ns, sink);
        obs_init(&o, AM_M_SELF_CONVERSATIONS_EVICTED_TOTAL, AM_OBS_INC, 1);
        o.labels[0] = AM_STR("max_open_conversations");
        sink->fn(sink->ud, &o, 1);
    }
}

/* Find or open conversation id in s (locked); NULL when the map cannot grow. */
static struct conv *conv_get(struct shard *s, struct am_str id, uint64_t hash, struct am_str agent,
                             bool *created)
{
    struct conv *v = am_map_get(&s->map, hash, id.ptr, id.len);
    *created = false;
    if (v != NULL) {
        return v;
    }
    v = am_xcalloc(1, sizeof(*v));
    v->hash = hash;
    v->id = am_str_dup(id);
    v->id_len = id.len;
    v->agent = am_str_dup(agent);
    v->agent_len = agent.len;
    if (am_map_insert(&s->map, hash, v) != AM_OK) {
        conv_free(v);
        return NULL;
    }
    list_insert(s, v);
    s->n++;
    *created = true;
    return v;
}

/* Count a turn or merge a restored conversation, and re-sort v. */
static void touch(struct shard *s, struct conv *v, uint32_t turns, uint64_t last_ns)
{
    v->turns += turns;
    if (last_ns > v->last_turn_ns) {
        v->last_turn_ns = last_ns;
    }
    list_unlink(s, v);
    list_insert(s, v);
}

void am_conv_turn(struct am_conv *c, struct am_str id, struct am_str agent, uint64_t arrival_ns,
                  const struct am_obs_sink *sink)
{
    uint64_t hash = am_map_hash(id.ptr, id.len);
    struct shard *s = shard_of(c, hash);
    bool created;

    pthread_mutex_lock(&s->mu);
    struct conv *v = conv_get(s, id, hash, agent, &created);
    if (v != NULL) {
        touch(s, v, 1, arrival_ns);
    }
    if (created) {
        evict_over_cap(c, s, arrival_ns, sink);
    }
    pthread_mutex_unlock(&s->mu);
}

bool am_conv_escalate(struct am_conv *c, struct am_str id)
{
    uint64_t hash = am_map_hash(id.ptr, id.len);
    struct shard *s = shard_of(c, hash);
    bool found = false;

    pthread_mutex_lock(&s->mu);
    struct conv *v = am_map_get(&s->map, hash, id.ptr, id.len);
    if (v != NULL) {
        v->escalated = true;
        found = true;
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

static void rates_emit(struct am_conv *c, uint64_t now_ns, const struct am_obs_sink *sink)
{
    pthread_mutex_lock(&c->rate_mu);
    for (size_t i = 0; i < c->nrates;) {
        struct rate *r = &c->rates[i];
        double esc, fin;
        am_window_sum(&r->w, now_ns, &esc, &fin);
        if (fin > 0) {
            struct am_obs o;
            obs_init(&o, AM_M_AGENT_ESCALATION_RATE, AM_OBS_SET, 100.0 * esc / fin);
            o.labels[0] = (struct am_str){r->agent, r->agent_len};
            sink->fn(sink->ud, &o, 1);
            i++;
            continue;
        }
        am_free(r->agent);
        am_window_fini(&r->w);
        c->rates[i] = c->rates[--c->nrates];
    }
    pthread_mutex_unlock(&c->rate_mu);
}

static void finish_shards(struct am_conv *c, uint64_t now_ns, bool all,
                          const struct am_obs_sink *sink)
{
    size_t open = 0;
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        while (s->head != NULL && (all || s->head->last_turn_ns + c->idle_ns <= now_ns)) {
            finish(c, s, s->head, now_ns, sink);
        }
        open += s->n;
        pthread_mutex_unlock(&s->mu);
    }
    struct am_obs o;
    obs_init(&o, AM_M_SELF_CONVERSATIONS_OPEN, AM_OBS_SET, (double)open);
    sink->fn(sink->ud, &o, 1);
    rates_emit(c, now_ns, sink);
}

void am_conv_tick(struct am_conv *c, uint64_t now_ns, const struct am_obs_sink *sink)
{
    finish_shards(c, now_ns, false, sink);
}

void am_conv_flush(struct am_conv *c, uint64_t now_ns, const struct am_obs_sink *sink)
{
    finish_shards(c, now_ns, true, sink);
}

size_t am_conv_open_count(struct am_conv *c)
{
    size_t n = 0;
    for (unsigned i = 0; i < c->nshards; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
        n += c->shards[i].n;
        pthread_mutex_unlock(&c->shards[i].mu);
    }
    return n;
}

/*
 * State file: "AMCV", u32 version 1, then per conversation u64 idle age in
 * ns, u32 turns, u8 escalated, u32 id length + id, u32 agent length +
 * agent; all little-endian. Ages (not monotonic timestamps) survive a
 * restart: the clock of the next process starts elsewhere.
 */
#define STATE_MAGIC "AMCV"
#define STATE_VERSION 1u

static int put_le(struct am_buf *b, uint64_t v, unsigned bytes)
{
    unsigned char t[8];
    for (unsigned i = 0; i < bytes; i++) {
        t[i] = (unsigned char)(v >> (8 * i));
    }
    return am_buf_append(b, t, bytes);
}

static int put_conv(struct am_buf *b, const struct conv *v, uint64_t now_ns)
{
    uint64_t age = now_ns > v->last_turn_ns ? now_ns - v->last_turn_ns : 0;
    int rc = put_le(b, age, 8);
    rc = rc ? rc : put_le(b, v->turns, 4);
    rc = rc ? rc : put_le(b, v->escalated ? 1 : 0, 1);
    rc = rc ? rc : put_le(b, v->id_len, 4);
    rc = rc ? rc : am_buf_append(b, v->id, v->id_len);
    rc = rc ? rc : put_le(b, v->agent_len, 4);
    return rc ? rc : am_buf_append(b, v->agent, v->agent_len);
}

int am_conv_save(struct am_conv *c, uint64_t now_ns, struct am_buf *out)
{
    int rc = am_buf_append(out, STATE_MAGIC, 4);
    rc = rc ? rc : put_le(out, STATE_VERSION, 4);
    for (unsigned i = 0; i < c->nshards && rc == AM_OK; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        for (struct conv *v = s->head; v != NULL && rc == AM_OK; v = v->next) {
            rc = put_conv(out, v, now_ns);
        }
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

struct reader {
    const unsigned char *p;
    size_t len, off;
    bool bad;
};

static uint64_t get_le(struct reader *r, unsigned bytes)
{
    uint64_t v = 0;
    if (r->bad || r->len - r->off < bytes) {
        r->bad = true;
        return 0;
    }
    for (unsigned i = 0; i < bytes; i++) {
        v |= (uint64_t)r->p[r->off + i] << (8 * i);
    }
    r->off += bytes;
    return v;
}

static struct am_str get_str(struct reader *r)
{
    uint64_t n = get_le(r, 4);
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return AM_STR_NULL;
    }
    struct am_str s = {(const char *)r->p + r->off, (size_t)n};
    r->off += (size_t)n;
    return s;
}

static void load_one(struct am_conv *c, struct am_str id, struct am_str agent, uint32_t turns,
                     bool escalated, uint64_t last_ns, const struct am_obs_sink *sink)
{
    uint64_t hash = am_map_hash(id.ptr, id.len);
    struct shard *s = shard_of(c, hash);
    bool created;
    pthread_mutex_lock(&s->mu);
    struct conv *v = conv_get(s, id, hash, agent, &created);
    if (v != NULL) {
        v->escalated = v->escalated || escalated;
        touch(s, v, turns, last_ns);
    }
    if (created) {
        evict_over_cap(c, s, last_ns, sink);
    }
    pthread_mutex_unlock(&s->mu);
}

int am_conv_load(struct am_conv *c, const void *data, size_t len, uint64_t now_ns,
                 const struct am_obs_sink *sink)
{
    struct reader r = {data, len, 0, false};
    if (len < 8 || memcmp(data, STATE_MAGIC, 4) != 0) {
        return AM_EINVAL;
    }
    r.off = 4;
    if (get_le(&r, 4) != STATE_VERSION) {
        return AM_EINVAL;
    }
    while (r.off < r.len) {
        uint64_t age = get_le(&r, 8);
        uint32_t turns = (uint32_t)get_le(&r, 4);
        uint64_t esc = get_le(&r, 1);
        struct am_str id = get_str(&r);
        struct am_str agent = get_str(&r);
        if (r.bad || esc > 1 || id.len == 0 || turns == 0) {
            return AM_EINVAL;
        }
        load_one(c, id, agent, turns, esc == 1, age < now_ns ? now_ns - age : 0, sink);
    }
    return AM_OK;
}
