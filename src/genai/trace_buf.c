/*
 * trace_buf.c - trace assembly (SPEC.md 3; design in docs/design/genai.md).
 * Per shard: a chained hash of traces plus a list ordered by last arrival
 * (quiet traces are at its head), and a refcounted string intern table
 * (ids, 0 = none) for agent, model, tool and conversation names. A trace is
 * an array of 48-byte skeletons with an open-addressing index by span id,
 * and "held" records (112 bytes) for spans whose observations wait.
 * Every heap block is accounted in shard->bytes (size + ALLOC_OVERHEAD).
 * ~1,100 lines: the intern table and the trace index share the shard's lock
 * and accounting; splitting them into trace_buf_int.h is the next step.
 */
#include <pthread.h>
#include <string.h>

#include "am/alloc.h"
#include "am/trace_buf.h"

#define NONE UINT32_MAX
#define ALLOC_OVERHEAD 16 /* what malloc spends per block, for the accounting */
#define MAX_DEPTH 256     /* parent walks stop here (cycles, absurd nesting) */
#define OP_EVAL 0xff
#define SMALL_TRACE                                                                                \
    16 /* up to this many spans, no index: node_find scans */ /* a log-record evaluation waiting   \
                                                                 for its span */

/* ---- interned strings ---------------------------------------------------- */

struct istr {
    uint64_t hash;
    uint32_t next; /* chain in the table, by id */
    uint32_t refs;
    uint32_t len;
    char s[];
};

struct itab {
    struct istr **ent; /* by id; ent[0] unused */
    uint32_t n_ent, cap_ent;
    uint32_t *buckets; /* heads by hash, ids */
    uint32_t nbuckets, live;
    uint32_t *free_ids;
    uint32_t n_free, cap_free;
};

struct shard;
static void acct(struct shard *s, size_t old_bytes, size_t new_bytes);

/* ---- skeletons ----------------------------------------------------------- */

enum {
    F_HAS_PARENT = 1,
    F_ESCALATE = 2,
    F_USAGE = 4, /* inference with usage, or an aggregate with usage or cost */
};

struct node {
    uint64_t span_id;
    uint64_t parent_id;
    double cost;     /* contribution */
    uint64_t tokens; /* contribution */
    uint32_t agent;  /* own agent name (AGENT spans: their resolved name) */
    uint32_t conv;   /* own conversation id */
    uint32_t held;   /* index into held, NONE */
    uint8_t op;
    uint8_t flags;
    uint8_t pad[2];
};

/* What a span needs to be derived later. */
struct held {
    uint64_t tokens[AM_TOK_COUNT];
    uint64_t duration_ns;
    uint64_t arrival_ns;
    uint64_t wait_on; /* the missing span id the parent walk stopped at */
    double cost;
    uint32_t operation, provider, request_model, response_model, tool, error_type, service;
    uint32_t tokens_present;
    uint32_t first_eval; /* NONE */
    uint32_t node;
    uint8_t op, outcome, has_cost, waiting;
};

struct heval {
    double score;
    uint32_t name, label;
    uint32_t next;
    uint8_t has_score;
};

struct trace {
    uint8_t id[16];
    uint64_t hash;
    struct trace *hnext, *prev, *next;
    uint64_t last_ns;
    struct node *nodes;
    struct held *held;
    struct heval *evals;
    uint32_t *idx; /* node index + 1, 0 empty */
    uint32_t nn, ncap, nh, hcap, ne, ecap, idx_cap, waiting;
};

struct shard {
    pthread_mutex_t mu;
    struct trace **tab;
    size_t tab_cap, ntraces, nspans, nwaiting, bytes;
    struct trace *head, *tail;
    struct itab strs;
};

struct rules {
    uint64_t wait_ns;
    size_t max_per_shard;
    char *esc_attr;
    size_t esc_attr_len;
    struct am_str *tools; /* owned copies */
    size_t ntools;
};

struct am_trace_buf {
    unsigned nshards;
    struct shard *shards;
    struct rules rules; /* written only with every shard lock held */
    struct am_conv *conv;
    struct am_quality *quality;
};

static void acct(struct shard *s, size_t old_bytes, size_t new_bytes)
{
    s->bytes = s->bytes - old_bytes + new_bytes;
}

/* Resize an accounted array from ocap to ncap elements (0 frees it). */
static void *arr_resize(struct shard *s, void *p, size_t elt, uint32_t ocap, uint32_t ncap)
{
    acct(s, ocap ? ocap * elt + ALLOC_OVERHEAD : 0, ncap ? ncap * elt + ALLOC_OVERHEAD : 0);
    if (ncap == 0) {
        am_free(p);
        return NULL;
    }
    return am_xrealloc(p, ncap * elt);
}

static uint32_t grow_cap(uint32_t cap)
{
    return cap == 0 ? 1 : cap + cap / 2 + 1; /* 1 2 4 7 11 ...: most traces are small */
}

/* ---- intern table (per shard, under its lock) ---------------------------- */

static struct istr *istr_get(const struct shard *s, uint32_t id)
{
    return s->strs.ent[id];
}

static struct am_str istr_view(const struct shard *s, uint32_t id)
{
    if (id == 0) {
        return AM_STR_NULL;
    }
    const struct istr *e = istr_get(s, id);
    return (struct am_str){e->s, e->len};
}

static void itab_rehash(struct shard *s)
{
    struct itab *t = &s->strs;
    uint32_t nb = t->nbuckets ? t->nbuckets * 2 : 64;
    t->buckets = arr_resize(s, t->buckets, sizeof(uint32_t), t->nbuckets, nb);
    memset(t->buckets, 0, nb * sizeof(uint32_t));
    t->nbuckets = nb;
    for (uint32_t id = 1; id < t->n_ent; id++) {
        struct istr *e = t->ent[id];
        if (e != NULL) {
            e->next = t->buckets[e->hash & (nb - 1)];
            t->buckets[e->hash & (nb - 1)] = id;
        }
    }
}

static uint32_t new_id(struct shard *s)
{
    struct itab *t = &s->strs;
    if (t->n_free > 0) {
        return t->free_ids[--t->n_free];
    }
    if (t->n_ent == 0) {
        t->n_ent = 1; /* id 0 is "none" */
    }
    if (t->n_ent >= t->cap_ent) {
        uint32_t cap = t->cap_ent ? grow_cap(t->cap_ent) : 16;
        t->ent = arr_resize(s, t->ent, sizeof(*t->ent), t->cap_ent, cap);
        t->cap_ent = cap;
    }
    return t->n_ent++;
}

/* Intern str (copy on first use) and take a reference. Empty gives 0. */
static uint32_t intern(struct shard *s, struct am_str str)
{
    struct itab *t = &s->strs;
    if (str.len == 0) {
        return 0;
    }
    uint64_t h = am_hash(str.ptr, str.len);
    if (t->nbuckets > 0) {
        for (uint32_t id = t->buckets[h & (t->nbuckets - 1)]; id != 0; id = t->ent[id]->next) {
            struct istr *e = t->ent[id];
            if (e->hash == h && e->len == str.len && memcmp(e->s, str.ptr, str.len) == 0) {
                e->refs++;
                return id;
            }
        }
    }
    if (t->live + 1 > t->nbuckets) {
        itab_rehash(s);
    }
    uint32_t id = new_id(s);
    struct istr *e = am_xmalloc(sizeof(*e) + str.len);
    acct(s, 0, sizeof(*e) + str.len + ALLOC_OVERHEAD);
    e->hash = h;
    e->refs = 1;
    e->len = (uint32_t)str.len;
    memcpy(e->s, str.ptr, str.len);
    e->next = t->buckets[h & (t->nbuckets - 1)];
    t->buckets[h & (t->nbuckets - 1)] = id;
    t->ent[id] = e;
    t->live++;
    return id;
}

static void release(struct shard *s, uint32_t id)
{
    struct itab *t = &s->strs;
    if (id == 0) {
        return;
    }
    struct istr *e = t->ent[id];
    if (--e->refs > 0) {
        return;
    }
    uint32_t *pp = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*pp != id) {
        pp = &t->ent[*pp]->next;
    }
    *pp = e->next;
    acct(s, sizeof(*e) + e->len + ALLOC_OVERHEAD, 0);
    am_free(e);
    t->ent[id] = NULL;
    t->live--;
    if (t->n_free == t->cap_free) {
        uint32_t cap = grow_cap(t->cap_free);
        t->free_ids = arr_resize(s, t->free_ids, sizeof(uint32_t), t->cap_free, cap);
        t->cap_free = cap;
    }
    t->free_ids[t->n_free++] = id;
}

static void itab_fini(struct shard *s)
{
    struct itab *t = &s->strs;
    for (uint32_t id = 1; id < t->n_ent; id++) {
        if (t->ent[id] != NULL) {
            acct(s, sizeof(struct istr) + t->ent[id]->len + ALLOC_OVERHEAD, 0);
            am_free(t->ent[id]);
        }
    }
    arr_resize(s, t->ent, sizeof(*t->ent), t->cap_ent, 0);
    arr_resize(s, t->buckets, sizeof(uint32_t), t->nbuckets, 0);
    arr_resize(s, t->free_ids, sizeof(uint32_t), t->cap_free, 0);
    memset(t, 0, sizeof(*t));
}

/* ---- traces and their span index ----------------------------------------- */

static uint64_t id64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t slot_hash(uint64_t span_id, uint32_t cap)
{
    uint64_t h = span_id * 0x9e3779b97f4a7c15u;
    return (uint32_t)(h >> 32) & (cap - 1);
}

static uint32_t node_find(const struct trace *t, uint64_t span_id)
{
    if (t->idx_cap == 0) { /* small trace: a scan beats hashing */
        for (uint32_t i = 0; i < t->nn && span_id != 0; i++) {
            if (t->nodes[i].span_id == span_id) {
                return i;
            }
        }
        return NONE;
    }
    for (uint32_t s = slot_hash(span_id, t->idx_cap);; s = (s + 1) & (t->idx_cap - 1)) {
        uint32_t v = t->idx[s];
        if (v == 0) {
            return NONE;
        }
        if (t->nodes[v - 1].span_id == span_id) {
            return v - 1;
        }
    }
}

static void idx_put(struct trace *t, uint32_t i)
{
    uint32_t s = slot_hash(t->nodes[i].span_id, t->idx_cap);
    while (t->idx[s] != 0) {
        s = (s + 1) & (t->idx_cap - 1);
    }
    t->idx[s] = i + 1;
}

/* Keep the index at most half full. */
static void idx_reserve(struct shard *sh, struct trace *t, uint32_t n)
{
    if (n * 2 <= t->idx_cap || (t->idx_cap == 0 && n <= SMALL_TRACE)) {
        return;
    }
    uint32_t cap = t->idx_cap ? t->idx_cap * 2 : 4 * SMALL_TRACE;
    t->idx = arr_resize(sh, t->idx, sizeof(uint32_t), t->idx_cap, cap);
    memset(t->idx, 0, cap * sizeof(uint32_t));
    t->idx_cap = cap;
    for (uint32_t i = 0; i < t->nn; i++) {
        if (t->nodes[i].span_id != 0) {
            idx_put(t, i);
        }
    }
}

static void shard_rehash(struct shard *s)
{
    size_t cap = s->tab_cap ? s->tab_cap * 2 : 64;
    struct trace **tab = am_xcalloc(cap, sizeof(*tab));
    acct(s, s->tab_cap ? s->tab_cap * sizeof(*tab) + ALLOC_OVERHEAD : 0,
         cap * sizeof(*tab) + ALLOC_OVERHEAD);
    for (struct trace *t = s->head; t != NULL; t = t->next) {
        t->hnext = tab[t->hash & (cap - 1)];
        tab[t->hash & (cap - 1)] = t;
    }
    am_free(s->tab);
    s->tab = tab;
    s->tab_cap = cap;
}

static struct trace **trace_slot(struct shard *s, const uint8_t *id, uint64_t hash)
{
    struct trace **pp = &s->tab[hash & (s->tab_cap - 1)];
    while (*pp != NULL && !((*pp)->hash == hash && memcmp((*pp)->id, id, 16) == 0)) {
        pp = &(*pp)->hnext;
    }
    return pp;
}

static void lru_unlink(struct shard *s, struct trace *t)
{
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        s->head = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    } else {
        s->tail = t->prev;
    }
    t->prev = NULL;
    t->next = NULL;
}

static void lru_append(struct shard *s, struct trace *t)
{
    t->prev = s->tail;
    t->next = NULL;
    if (s->tail != NULL) {
        s->tail->next = t;
    } else {
        s->head = t;
    }
    s->tail = t;
}

/* Find or create the trace and mark it active at now_ns (tail of the list). */
static struct trace *trace_touch(struct shard *s, const uint8_t *id, uint64_t hash, uint64_t now_ns)
{
    if (s->ntraces + 1 > s->tab_cap) {
        shard_rehash(s);
    }
    struct trace **pp = trace_slot(s, id, hash);
    struct trace *t = *pp;
    if (t == NULL) {
        t = am_xcalloc(1, sizeof(*t));
        acct(s, 0, sizeof(*t) + ALLOC_OVERHEAD);
        memcpy(t->id, id, 16);
        t->hash = hash;
        *pp = t;
        s->ntraces++;
    } else {
        lru_unlink(s, t);
    }
    lru_append(s, t);
    t->last_ns = now_ns;
    return t;
}

static void held_release(struct shard *s, struct held *h)
{
    uint32_t ids[] = {h->operation, h->provider,   h->request_model, h->response_model,
                      h->tool,      h->error_type, h->service};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        release(s, ids[i]);
    }
}

/* Unlink t, drop its string references and free it. */
static void trace_free(struct shard *s, struct trace *t)
{
    *trace_slot(s, t->id, t->hash) = t->hnext;
    lru_unlink(s, t);
    for (uint32_t i = 0; i < t->nn; i++) {
        release(s, t->nodes[i].agent);
        release(s, t->nodes[i].conv);
    }
    for (uint32_t i = 0; i < t->nh; i++) {
        held_release(s, &t->held[i]);
    }
    for (uint32_t i = 0; i < t->ne; i++) {
        release(s, t->evals[i].name);
        release(s, t->evals[i].label);
    }
    s->nspans -= t->nn;
    s->nwaiting -= t->waiting;
    s->ntraces--;
    arr_resize(s, t->nodes, sizeof(*t->nodes), t->ncap, 0);
    arr_resize(s, t->held, sizeof(*t->held), t->hcap, 0);
    arr_resize(s, t->evals, sizeof(*t->evals), t->ecap, 0);
    arr_resize(s, t->idx, sizeof(uint32_t), t->idx_cap, 0);
    acct(s, sizeof(*t) + ALLOC_OVERHEAD, 0);
    am_free(t);
}

/* ---- lifecycle ----------------------------------------------------------- */

static void rules_fini(struct rules *r)
{
    for (size_t i = 0; i < r->ntools; i++) {
        am_free((void *)r->tools[i].ptr);
    }
    am_free(r->tools);
    am_free(r->esc_attr);
    memset(r, 0, sizeof(*r));
}

static void rules_set(struct rules *r, const struct am_trace_buf_opts *o, unsigned nshards)
{
    rules_fini(r);
    r->wait_ns = o->trace_wait_ns;
    r->max_per_shard = o->max_pending_spans ? o->max_pending_spans / nshards : 0;
    if (o->max_pending_spans > 0 && r->max_per_shard == 0) {
        r->max_per_shard = 1;
    }
    if (o->escalation_attribute.len > 0) {
        r->esc_attr = am_str_dup(o->escalation_attribute);
        r->esc_attr_len = o->escalation_attribute.len;
    }
    r->ntools = o->escalation_tool_count;
    r->tools = r->ntools ? am_xcalloc(r->ntools, sizeof(*r->tools)) : NULL;
    for (size_t i = 0; i < r->ntools; i++) {
        r->tools[i].ptr = am_str_dup(o->escalation_tools[i]);
        r->tools[i].len = o->escalation_tools[i].len;
    }
}

struct am_trace_buf *am_trace_buf_create(const struct am_trace_buf_opts *opts)
{
    struct am_trace_buf *tb = am_xcalloc(1, sizeof(*tb));
    tb->nshards = opts->shards ? opts->shards : 1;
    tb->shards = am_xcalloc(tb->nshards, sizeof(*tb->shards));
    for (unsigned i = 0; i < tb->nshards; i++) {
        pthread_mutex_init(&tb->shards[i].mu, NULL);
    }
    rules_set(&tb->rules, opts, tb->nshards);
    tb->conv = opts->conv;
    tb->quality = opts->quality;
    return tb;
}

void am_trace_buf_destroy(struct am_trace_buf *tb)
{
    if (tb == NULL) {
        return;
    }
    for (unsigned i = 0; i < tb->nshards; i++) {
        struct shard *s = &tb->shards[i];
        while (s->head != NULL) {
            trace_free(s, s->head);
        }
        itab_fini(s);
        am_free(s->tab);
        pthread_mutex_destroy(&s->mu);
    }
    rules_fini(&tb->rules);
    am_free(tb->shards);
    am_free(tb);
}

void am_trace_buf_configure(struct am_trace_buf *tb, const struct am_trace_buf_opts *opts)
{
    for (unsigned i = 0; i < tb->nshards; i++) {
        pthread_mutex_lock(&tb->shards[i].mu);
    }
    rules_set(&tb->rules, opts, tb->nshards);
    for (unsigned i = tb->nshards; i-- > 0;) {
        pthread_mutex_unlock(&tb->shards[i].mu);
    }
}

void am_trace_buf_stats(struct am_trace_buf *tb, struct am_trace_buf_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->bytes = sizeof(*tb) + tb->nshards * sizeof(struct shard);
    for (unsigned i = 0; i < tb->nshards; i++) {
        struct shard *s = &tb->shards[i];
        pthread_mutex_lock(&s->mu);
        out->traces += s->ntraces;
        out->spans += s->nspans;
        out->waiting += s->nwaiting;
        out->bytes += s->bytes;
        pthread_mutex_unlock(&s->mu);
    }
}

/* ---- attribution --------------------------------------------------------- */

enum walk_kind { W_FOUND, W_ROOT, W_BREAK };

struct walk {
    enum walk_kind kind;
    uint32_t agent;   /* W_FOUND: intern id of the agent name */
    uint64_t missing; /* W_BREAK: the span id not held yet */
};

/* Node i's agent: its own name, else its nearest invoke_agent ancestor's,
 * found through every intermediate span held. An evaluation node takes the
 * agent of the span it names. */
static void walk_from(const struct trace *t, uint32_t i, struct walk *w)
{
    const struct node *n = &t->nodes[i];
    if (n->op == OP_EVAL) {
        uint32_t j = node_find(t, n->parent_id);
        if (j == NONE) {
            *w = (struct walk){W_BREAK, 0, n->parent_id};
            return;
        }
        n = &t->nodes[j];
    }
    if (n->agent != 0) {
        *w = (struct walk){W_FOUND, n->agent, 0};
        return;
    }
    for (int depth = 0; depth < MAX_DEPTH && (n->flags & F_HAS_PARENT); depth++) {
        uint32_t j = node_find(t, n->parent_id);
        if (j == NONE) {
            *w = (struct walk){W_BREAK, 0, n->parent_id};
            return;
        }
        n = &t->nodes[j];
        if (n->op == AM_OP_AGENT) {
            *w = (struct walk){W_FOUND, n->agent, 0};
            return;
        }
    }
    *w = (struct walk){W_ROOT, 0, 0};
}

static struct am_str fallback_name(const struct shard *s, const struct held *h)
{
    return h->service != 0 ? istr_view(s, h->service) : AM_STR("unknown");
}

static void emit_count(const struct am_obs_sink *sink, enum am_metric m, const char *reason,
                       size_t n)
{
    struct am_obs o;
    if (n == 0) {
        return;
    }
    memset(&o, 0, sizeof(o));
    o.metric = m;
    o.kind = AM_OBS_INC;
    o.value = (double)n;
    o.labels[0] = am_str_from(reason);
    sink->fn(sink->ud, &o, 1);
}

/* ---- held records -------------------------------------------------------- */

/* A held record for node; full: with the strings needed to derive it later
 * (else only what finishing a trace reads: arrival, op, node). */
static uint32_t held_new(struct shard *s, struct trace *t, uint32_t node,
                         const struct am_span_facts *f, uint64_t now_ns, bool full)
{
    if (t->nh == t->hcap) {
        uint32_t cap = grow_cap(t->hcap);
        t->held = arr_resize(s, t->held, sizeof(*t->held), t->hcap, cap);
        t->hcap = cap;
    }
    struct held *h = &t->held[t->nh];
    memset(h, 0, sizeof(*h));
    memcpy(h->tokens, f->tokens, sizeof(h->tokens));
    h->duration_ns = f->duration_ns;
    h->arrival_ns = now_ns;
    h->cost = f->cost;
    if (full) {
        h->operation = intern(s, f->operation);
        h->provider = intern(s, f->provider);
        h->request_model = intern(s, f->request_model);
        h->response_model = intern(s, f->response_model);
        h->tool = intern(s, f->tool_name);
        h->error_type = intern(s, f->error_type);
        h->service = intern(s, f->service_name);
    }
    h->tokens_present = f->tokens_present;
    h->first_eval = NONE;
    h->node = node;
    h->op = (uint8_t)f->op;
    h->outcome = (uint8_t)f->outcome;
    h->has_cost = f->has_cost;
    t->nodes[node].held = t->nh;
    return t->nh++;
}

/* The facts a held record stands for; views into the intern table. */
static void held_facts(const struct shard *s, const struct held *h, struct am_span_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->op = (enum am_op)h->op;
    f->operation = istr_view(s, h->operation);
    f->provider = istr_view(s, h->provider);
    f->request_model = istr_view(s, h->request_model);
    f->response_model = istr_view(s, h->response_model);
    f->tool_name = istr_view(s, h->tool);
    f->error_type = istr_view(s, h->error_type);
    f->service_name = istr_view(s, h->service);
    f->outcome = (enum am_outcome)h->outcome;
    f->duration_ns = h->duration_ns;
    memcpy(f->tokens, h->tokens, sizeof(f->tokens));
    f->tokens_present = h->tokens_present;
    f->cost = h->cost;
    f->has_cost = h->has_cost;
}

static void eval_hold(struct shard *s, struct trace *t, struct held *h, const struct am_eval *ev)
{
    if (t->ne == t->ecap) {
        uint32_t cap = grow_cap(t->ecap);
        t->evals = arr_resize(s, t->evals, sizeof(*t->evals), t->ecap, cap);
        t->ecap = cap;
    }
    struct heval *e = &t->evals[t->ne];
    e->score = ev->score;
    e->has_score = ev->has_score;
    e->name = intern(s, ev->name);
    e->label = intern(s, ev->label);
    e->next = h->first_eval;
    h->first_eval = t->ne++;
}

static void hold_waiting(struct shard *s, struct trace *t, uint32_t hi, uint64_t missing)
{
    t->held[hi].waiting = 1;
    t->held[hi].wait_on = missing;
    t->waiting++;
    s->nwaiting++;
}

/* ---- emission ------------------------------------------------------------ */

static void emit_span(const struct trace *t, const struct node *n, const struct am_derive_opts *d,
                      const struct am_span_facts *f, struct am_str agent,
                      const struct am_obs_sink *sink)
{
    struct am_obs out[AM_DERIVE_MAX_OBS];
    size_t k = am_derive_facts(d, f, agent, t->id, (const uint8_t *)&n->span_id, out);
    if (k > 0) {
        sink->fn(sink->ud, out, k);
    }
}

static void emit_held_evals(struct am_trace_buf *tb, struct shard *s, const struct trace *t,
                            const struct held *h, struct am_str agent, uint64_t now_ns,
                            const struct am_obs_sink *sink)
{
    const struct node *n = &t->nodes[h->node];
    const uint8_t *sid = (const uint8_t *)(n->op == OP_EVAL ? &n->parent_id : &n->span_id);
    for (uint32_t e = h->first_eval; e != NONE && tb->quality != NULL; e = t->evals[e].next) {
        struct am_eval ev = {istr_view(s, t->evals[e].name), istr_view(s, t->evals[e].label),
                             t->evals[e].score, t->evals[e].has_score};
        am_quality_add(tb->quality, agent, &ev, t->id, sid, now_ns, sink);
    }
}

/* A waiting record's agent is known (or given up on): emit what it held. */
static void held_resolve(struct am_trace_buf *tb, struct shard *s, struct trace *t, uint32_t hi,
                         struct am_str agent, const struct am_derive_opts *d, uint64_t now_ns,
                         const struct am_obs_sink *sink)
{
    struct held *h = &t->held[hi];
    struct am_span_facts f;
    if (h->op != OP_EVAL) {
        held_facts(s, h, &f);
        emit_span(t, &t->nodes[h->node], d, &f, agent, sink);
    }
    emit_held_evals(tb, s, t, h, agent, now_ns, sink);
    h->waiting = 0;
    t->waiting--;
    s->nwaiting--;
}

/* Span sid just arrived: retry the records whose walk stopped at it. */
static void wake(struct am_trace_buf *tb, struct shard *s, struct trace *t, uint64_t sid,
                 const struct am_derive_opts *d, uint64_t now_ns, const struct am_obs_sink *sink)
{
    size_t roots = 0;
    for (uint32_t hi = 0; hi < t->nh && t->waiting > 0 && sid != 0; hi++) {
        struct held *h = &t->held[hi];
        struct walk w;
        if (!h->waiting || h->wait_on != sid) {
            continue;
        }
        walk_from(t, h->node, &w);
        if (w.kind == W_FOUND) {
            held_resolve(tb, s, t, hi, istr_view(s, w.agent), d, now_ns, sink);
        } else if (w.kind == W_ROOT) {
            held_resolve(tb, s, t, hi, fallback_name(s, h), d, now_ns, sink);
            roots++;
        } else {
            h->wait_on = w.missing;
        }
    }
    emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "no_agent_ancestor", roots);
}

/* ---- finishing a trace --------------------------------------------------- */

/* Scratch for one finish: per node its parent, nearest invoke_agent
 * ancestor, depth, and the agent request sums of invoke_agent nodes. */
#define SCRATCH_SMALL 32 /* traces up to this many spans finish without a heap block */

struct scratch {
    uint32_t *parent, *agent_of, *order;
    uint16_t *depth;
    uint8_t *below; /* some span below counted usage */
    struct am_request_sums *sums;
    void *heap; /* one block for all of the above, or NULL: small_* */
    struct am_request_sums small_sums[SCRATCH_SMALL];
    uint32_t small_u32[3 * SCRATCH_SMALL];
    uint16_t small_depth[SCRATCH_SMALL];
    uint8_t small_below[SCRATCH_SMALL];
};

static void scratch_alloc(struct scratch *x, uint32_t n)
{
    x->heap = NULL;
    x->sums = x->small_sums;
    x->parent = x->small_u32;
    x->depth = x->small_depth;
    x->below = x->small_below;
    if (n > SCRATCH_SMALL) {
        size_t per = sizeof(*x->sums) + 3 * sizeof(uint32_t) + sizeof(uint16_t) + 1;
        unsigned char *p = am_xmalloc(n * per);
        x->heap = p;
        x->sums = (struct am_request_sums *)(void *)p;
        x->parent = (uint32_t *)(void *)(p + n * sizeof(*x->sums));
        x->depth = (uint16_t *)(void *)(x->parent + 3 * n);
        x->below = (uint8_t *)(x->depth + n);
    }
    x->agent_of = x->parent + n;
    x->order = x->agent_of + n;
    memset(x->sums, 0, n * sizeof(*x->sums));
    memset(x->below, 0, n);
}

static void scratch_init(struct scratch *x, const struct trace *t)
{
    uint32_t n = t->nn;
    uint32_t count[MAX_DEPTH + 1];
    uint16_t maxd = 0;
    scratch_alloc(x, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct node *nd = &t->nodes[i];
        bool linked = (nd->flags & F_HAS_PARENT) && nd->op != OP_EVAL;
        x->parent[i] = linked ? node_find(t, nd->parent_id) : NONE;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = x->parent[i];
        uint16_t d = 0;
        x->agent_of[i] = NONE;
        for (; j != NONE && d < MAX_DEPTH; j = x->parent[j], d++) {
            if (x->agent_of[i] == NONE && t->nodes[j].op == AM_OP_AGENT) {
                x->agent_of[i] = j;
            }
        }
        x->depth[i] = d;
        maxd = d > maxd ? d : maxd;
    }
    memset(count, 0, (maxd + 1u) * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++) {
        count[x->depth[i]]++;
    }
    /* deepest first: a node is visited before its parent */
    uint32_t pos = 0;
    for (int d = maxd; d >= 0; d--) {
        uint32_t c = count[d];
        count[d] = pos;
        pos += c;
    }
    for (uint32_t i = 0; i < n; i++) {
        x->order[count[x->depth[i]]++] = i;
    }
}

static void scratch_fini(struct scratch *x)
{
    am_free(x->heap);
}

/* The conversation a node belongs to: its own, else its nearest ancestor's. */
static uint32_t conv_of(const struct trace *t, const struct scratch *x, uint32_t i)
{
    for (int d = 0; i != NONE && d <= MAX_DEPTH; i = x->parent[i], d++) {
        if (t->nodes[i].conv != 0) {
            return t->nodes[i].conv;
        }
    }
    return 0;
}

static struct am_str agent_label(const struct shard *s, const struct trace *t,
                                 const struct scratch *x, uint32_t i)
{
    const struct node *n = &t->nodes[i];
    if (n->agent != 0) {
        return istr_view(s, n->agent);
    }
    if (x->agent_of[i] != NONE) {
        return istr_view(s, t->nodes[x->agent_of[i]].agent);
    }
    return n->held != NONE ? fallback_name(s, &t->held[n->held]) : AM_STR("unknown");
}

/*
 * Usage and per-request sums, deepest spans first. Inference spans always
 * count (they were derived already); an invoke_agent or wrapper span's own
 * usage counts only when nothing below it counted. Counted usage adds to the
 * nearest invoke_agent (an invoke_agent's own usage to itself).
 */
static void finish_usage(struct shard *s, struct trace *t, struct scratch *x,
                         const struct am_derive_opts *d, const struct am_obs_sink *sink)
{
    struct am_obs out[AM_DERIVE_MAX_OBS];
    for (uint32_t k = 0; k < t->nn; k++) {
        uint32_t i = x->order[k];
        const struct node *n = &t->nodes[i];
        bool counted = false;
        uint32_t owner = n->op == AM_OP_AGENT ? i : x->agent_of[i];
        if (n->op == AM_OP_INFERENCE) {
            counted = (n->flags & F_USAGE) != 0;
            if (owner != NONE) {
                x->sums[owner].inference_calls++;
            }
        } else if (n->op == AM_OP_TOOL && owner != NONE) {
            x->sums[owner].tool_calls++;
        } else if ((n->op == AM_OP_AGENT || n->op == AM_OP_WRAPPER) && (n->flags & F_USAGE) &&
                   !x->below[i] && n->held != NONE) {
            struct am_span_facts f;
            held_facts(s, &t->held[n->held], &f);
            size_t m = am_derive_usage(d, &f, agent_label(s, t, x, i), t->id,
                                       (const uint8_t *)&n->span_id, out);
            if (m > 0) {
                sink->fn(sink->ud, out, m);
            }
            counted = true;
        }
        if (owner != NONE && (counted || n->op == AM_OP_INFERENCE)) {
            x->sums[owner].tokens += n->tokens;
            x->sums[owner].cost += n->cost;
        }
        if (x->parent[i] != NONE && (counted || x->below[i])) {
            x->below[x->parent[i]] = 1;
        }
    }
}

static void finish_agents(struct am_trace_buf *tb, struct shard *s, struct trace *t,
                          struct scratch *x, const struct am_obs_sink *sink)
{
    struct am_obs out[4];
    for (uint32_t i = 0; i < t->nn; i++) {
        const struct node *n = &t->nodes[i];
        if (n->op != AM_OP_AGENT) {
            continue;
        }
        struct am_str agent = istr_view(s, n->agent);
        size_t m = am_derive_request(agent, &x->sums[i], t->id, (const uint8_t *)&n->span_id, out);
        sink->fn(sink->ud, out, m);
        uint32_t conv = x->agent_of[i] == NONE ? conv_of(t, x, i) : 0;
        if (conv != 0 && tb->conv != NULL) {
            am_conv_turn(tb->conv, istr_view(s, conv), agent, t->held[n->held].arrival_ns, sink);
        }
    }
    for (uint32_t i = 0; i < t->nn && tb->conv != NULL; i++) {
        uint32_t conv = (t->nodes[i].flags & F_ESCALATE) ? conv_of(t, x, i) : 0;
        if (conv != 0) {
            am_conv_escalate(tb->conv, istr_view(s, conv));
        }
    }
}

/* The trace is quiet (or evicted, or shut down): resolve its waiting spans
 * with the fallback, emit its per-request metrics and conversation facts,
 * and free it. */
static void finish_trace(struct am_trace_buf *tb, struct shard *s, struct trace *t,
                         const struct am_derive_opts *d, uint64_t now_ns, const char *why,
                         const struct am_obs_sink *sink)
{
    size_t fell_back = 0;
    struct scratch x;
    for (uint32_t hi = 0; hi < t->nh && t->waiting > 0; hi++) {
        if (t->held[hi].waiting) {
            held_resolve(tb, s, t, hi, fallback_name(s, &t->held[hi]), d, now_ns, sink);
            fell_back++;
        }
    }
    emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, why, fell_back);
    scratch_init(&x, t);
    finish_usage(s, t, &x, d, sink);
    finish_agents(tb, s, t, &x, sink);
    scratch_fini(&x);
    trace_free(s, t);
}

static void evict_over_cap(struct am_trace_buf *tb, struct shard *s, const struct am_derive_opts *d,
                           uint64_t now_ns, const struct am_obs_sink *sink)
{
    while (tb->rules.max_per_shard > 0 && s->nspans > tb->rules.max_per_shard && s->head != NULL) {
        emit_count(sink, AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, "max_pending_spans", s->head->nn);
        finish_trace(tb, s, s->head, d, now_ns, "max_pending_spans", sink);
    }
}

/* ---- the request path ---------------------------------------------------- */

static struct shard *shard_of(struct am_trace_buf *tb, uint64_t trace_hash)
{
    return &tb->shards[(trace_hash >> 40) % tb->nshards];
}

static bool escalates(const struct rules *r, const struct am_span *span,
                      const struct am_span_facts *f)
{
    if (f->op == AM_OP_TOOL) {
        for (size_t i = 0; i < r->ntools; i++) {
            if (am_str_eq(f->tool_name, r->tools[i])) {
                return true;
            }
        }
    }
    if (r->esc_attr_len == 0) {
        return false;
    }
    const struct am_anyval *v =
        am_attrs_get(&span->attrs, (struct am_str){r->esc_attr, r->esc_attr_len});
    if (v == NULL) {
        return false;
    }
    return (v->type == AM_VAL_BOOL && v->u.b) ||
           (v->type == AM_VAL_STRING && am_str_case_eq(v->u.s, AM_STR("true")));
}

/* 1 4 8 13 20 ...: one block for a lone span, few reallocations for the
 * common trace of a handful. */
static uint32_t node_cap(uint32_t cap)
{
    if (cap == 0) {
        return 1;
    }
    return cap < 4 ? 4 : cap < 8 ? 8 : grow_cap(cap);
}

/* Intern a span's agent name: most spans share the previous span's. */
static uint32_t intern_agent(struct shard *s, const struct trace *t, struct am_str name)
{
    uint32_t prev = t->nn >= 2 ? t->nodes[t->nn - 2].agent : 0;
    if (prev != 0 && name.len > 0) {
        struct istr *e = istr_get(s, prev);
        if (e->len == name.len && memcmp(e->s, name.ptr, name.len) == 0) {
            e->refs++;
            return prev;
        }
    }
    return intern(s, name);
}

static uint32_t node_add(struct shard *s, struct trace *t, uint64_t sid, uint64_t parent,
                         bool has_parent, uint8_t op)
{
    if (t->nn == t->ncap) {
        uint32_t cap = node_cap(t->ncap);
        t->nodes = arr_resize(s, t->nodes, sizeof(*t->nodes), t->ncap, cap);
        t->ncap = cap;
    }
    idx_reserve(s, t, t->nn + 1);
    struct node *n = &t->nodes[t->nn];
    memset(n, 0, sizeof(*n));
    n->span_id = sid;
    n->parent_id = parent;
    n->held = NONE;
    n->op = op;
    n->flags = has_parent ? F_HAS_PARENT : 0;
    if (sid != 0 && t->idx_cap > 0) {
        idx_put(t, t->nn);
    }
    s->nspans++;
    return t->nn++;
}

static size_t span_evals(const struct am_span *span, struct am_eval *evs, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < span->event_count && n < cap; i++) {
        const struct am_span_event *e = &span->events[i];
        if (am_str_eq(e->name, AM_STR(AM_EVAL_EVENT_NAME)) && am_eval_parse(&e->attrs, &evs[n])) {
            n++;
        }
    }
    return n;
}

#define MAX_SPAN_EVALS 16

/* Attribute node i now, or make it wait: the span's own observations and
 * its evaluations. */
static void attribute(struct am_trace_buf *tb, struct shard *s, struct trace *t, uint32_t i,
                      const struct am_span_facts *f, const struct am_eval *evs, size_t nev,
                      const struct am_derive_opts *d, uint64_t now_ns,
                      const struct am_obs_sink *sink)
{
    struct walk w;
    struct am_str agent;
    walk_from(t, i, &w);
    if (w.kind == W_BREAK) {
        /* never a skeleton-only record: those are AGENT spans, which have a name */
        uint32_t hi =
            t->nodes[i].held != NONE ? t->nodes[i].held : held_new(s, t, i, f, now_ns, true);
        for (size_t e = 0; e < nev; e++) {
            eval_hold(s, t, &t->held[hi], &evs[e]);
        }
        hold_waiting(s, t, hi, w.missing);
        return;
    }
    if (w.kind == W_FOUND) {
        agent = istr_view(s, w.agent);
    } else {
        agent = f->service_name.len > 0 ? f->service_name : AM_STR("unknown");
        emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "no_agent_ancestor", 1);
    }
    emit_span(t, &t->nodes[i], d, f, agent, sink);
    for (size_t e = 0; e < nev && tb->quality != NULL; e++) {
        am_quality_add(tb->quality, agent, &evs[e], t->id, (const uint8_t *)&t->nodes[i].span_id,
                       now_ns, sink);
    }
}

void am_trace_buf_add(struct am_trace_buf *tb, const struct am_derive_opts *d,
                      const struct am_span *span, const struct am_span_facts *f, uint64_t now_ns,
                      const struct am_obs_sink *sink)
{
    uint64_t th = am_hash(span->trace_id, 16);
    struct shard *s = shard_of(tb, th);
    struct am_eval evs[MAX_SPAN_EVALS];
    size_t nev = tb->quality != NULL ? span_evals(span, evs, MAX_SPAN_EVALS) : 0;
    uint64_t sid = id64(span->span_id);
    struct am_contrib c;

    pthread_mutex_lock(&s->mu);
    struct trace *t = trace_touch(s, span->trace_id, th, now_ns);
    if (sid != 0 && node_find(t, sid) != NONE) {
        pthread_mutex_unlock(&s->mu); /* a retried span: counted once */
        return;
    }
    uint32_t i = node_add(s, t, sid, span->has_parent ? id64(span->parent_span_id) : 0,
                          span->has_parent, (uint8_t)f->op);
    struct node *n = &t->nodes[i];
    n->conv = intern(s, f->conversation_id);
    n->flags |= escalates(&tb->rules, span, f) ? F_ESCALATE : 0;
    n->agent = intern_agent(s, t, f->op == AM_OP_AGENT ? am_derive_agent_name(f) : f->agent_name);
    if (f->op == AM_OP_INFERENCE || f->op == AM_OP_AGENT || f->op == AM_OP_WRAPPER) {
        am_derive_contrib(d, f, &c);
        n->cost = c.cost;
        n->tokens = c.tokens;
        n->flags |= (c.has_usage || f->has_cost) ? F_USAGE : 0;
    }
    if (f->op == AM_OP_AGENT || (f->op == AM_OP_WRAPPER && (n->flags & F_USAGE))) {
        /* turn arrival; aggregate usage needs the strings too */
        held_new(s, t, i, f, now_ns, (n->flags & F_USAGE) != 0);
    }
    if (f->op == AM_OP_INFERENCE || f->op == AM_OP_TOOL || f->op == AM_OP_AGENT || nev > 0) {
        attribute(tb, s, t, i, f, evs, nev, d, now_ns, sink);
    }
    wake(tb, s, t, sid, d, now_ns, sink);
    evict_over_cap(tb, s, d, now_ns, sink);
    pthread_mutex_unlock(&s->mu);
}

void am_trace_buf_add_eval(struct am_trace_buf *tb, const uint8_t *trace_id, const uint8_t *span_id,
                           struct am_str service_name, const struct am_eval *ev, uint64_t now_ns,
                           const struct am_obs_sink *sink)
{
    static const uint8_t zero[16];
    struct am_str fallback = service_name.len > 0 ? service_name : AM_STR("unknown");
    if (tb->quality == NULL) {
        return;
    }
    if (trace_id == NULL || span_id == NULL || memcmp(trace_id, zero, 16) == 0 ||
        memcmp(span_id, zero, 8) == 0) {
        am_quality_add(tb->quality, fallback, ev, NULL, NULL, now_ns, sink);
        return;
    }
    uint64_t th = am_hash(trace_id, 16);
    struct shard *s = shard_of(tb, th);
    pthread_mutex_lock(&s->mu);
    struct trace *t = trace_touch(s, trace_id, th, now_ns);
    uint32_t i = node_add(s, t, 0, id64(span_id), true, OP_EVAL);
    struct walk w;
    walk_from(t, i, &w);
    if (w.kind == W_BREAK) {
        struct am_span_facts f;
        memset(&f, 0, sizeof(f));
        f.service_name = service_name;
        uint32_t hi = held_new(s, t, i, &f, now_ns, true);
        t->held[hi].op = OP_EVAL;
        eval_hold(s, t, &t->held[hi], ev);
        hold_waiting(s, t, hi, w.missing);
    } else {
        bool found = w.kind == W_FOUND;
        am_quality_add(tb->quality, found ? istr_view(s, w.agent) : fallback, ev, trace_id, span_id,
                       now_ns, sink);
        emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "no_agent_ancestor", found ? 0 : 1);
    }
    pthread_mutex_unlock(&s->mu); /* the next span added enforces the cap */
}

static void emit_gauges(struct am_trace_buf *tb, const struct am_obs_sink *sink)
{
    struct am_trace_buf_stats st;
    struct am_obs o[3];
    am_trace_buf_stats(tb, &st);
    memset(o, 0, sizeof(o));
    o[0].metric = AM_M_SELF_TRACES_PENDING;
    o[0].value = (double)st.traces;
    o[1].metric = AM_M_SELF_SPANS_PENDING;
    o[1].value = (double)st.spans;
    o[2].metric = AM_M_SELF_SPANS_WAITING;
    o[2].value = (double)st.waiting;
    for (int k = 0; k < 3; k++) {
        o[k].kind = AM_OBS_SET;
    }
    sink->fn(sink->ud, o, 3);
}

void am_trace_buf_tick(struct am_trace_buf *tb, const struct am_derive_opts *d, uint64_t now_ns,
                       const struct am_obs_sink *sink)
{
    for (unsigned k = 0; k < tb->nshards; k++) {
        struct shard *s = &tb->shards[k];
        pthread_mutex_lock(&s->mu);
        while (s->head != NULL && s->head->last_ns + tb->rules.wait_ns <= now_ns) {
            finish_trace(tb, s, s->head, d, now_ns, "trace_wait", sink);
        }
        pthread_mutex_unlock(&s->mu);
    }
    emit_gauges(tb, sink);
}

void am_trace_buf_flush(struct am_trace_buf *tb, const struct am_derive_opts *d, uint64_t now_ns,
                        const struct am_obs_sink *sink)
{
    for (unsigned k = 0; k < tb->nshards; k++) {
        struct shard *s = &tb->shards[k];
        pthread_mutex_lock(&s->mu);
        while (s->head != NULL) {
            finish_trace(tb, s, s->head, d, now_ns, "shutdown", sink);
        }
        pthread_mutex_unlock(&s->mu);
    }
    emit_gauges(tb, sink);
}
