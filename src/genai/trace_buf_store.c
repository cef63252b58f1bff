/*
 * trace_buf_store.c - the storage of trace assembly: per shard, a
 * refcounted string intern table (ids, 0 = none), the traces in a core/map
 * (seeded hash of the trace id) plus a list ordered by last arrival (quiet
 * traces at its head), and per trace its array of 48-byte skeletons,
 * indexed by span id past SMALL_TRACE, and the lists of waiting records by
 * the span id they wait for (both core/map, seeded: span ids are peer data).
 * Every heap block is accounted in shard->bytes (size + ALLOC_OVERHEAD).
 */
#include "am/alloc.h"
#include "am/err.h"
#include "trace_buf_int.h"

void tb_acct(struct shard *s, size_t old_bytes, size_t new_bytes)
{
    s->bytes = s->bytes - old_bytes + new_bytes;
}

/* Resize an accounted array from ocap to ncap elements (0 frees it). */
void *tb_arr_resize(struct shard *s, void *p, size_t elt, uint32_t ocap, uint32_t ncap)
{
    tb_acct(s, ocap ? ocap * elt + ALLOC_OVERHEAD : 0, ncap ? ncap * elt + ALLOC_OVERHEAD : 0);
    if (ncap == 0) {
        am_free(p);
        return NULL;
    }
    return am_xrealloc(p, ncap * elt);
}

uint32_t tb_grow_cap(uint32_t cap)
{
    return cap == 0 ? 1 : cap + cap / 2 + 1; /* 1 2 4 7 11 ...: most traces are small */
}

/* ---- intern table (per shard, under its lock) ---------------------------- */

static void itab_rehash(struct shard *s)
{
    struct itab *t = &s->strs;
    uint32_t nb = t->nbuckets ? t->nbuckets * 2 : 64;
    t->buckets = tb_arr_resize(s, t->buckets, sizeof(uint32_t), t->nbuckets, nb);
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
        uint32_t cap = t->cap_ent ? tb_grow_cap(t->cap_ent) : 16;
        t->ent = tb_arr_resize(s, t->ent, sizeof(*t->ent), t->cap_ent, cap);
        t->cap_ent = cap;
    }
    return t->n_ent++;
}

/* Intern str (copy on first use) and take a reference. Empty gives 0. */
uint32_t tb_intern(struct shard *s, struct am_str str)
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
    tb_acct(s, 0, sizeof(*e) + str.len + ALLOC_OVERHEAD);
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

void tb_release(struct shard *s, uint32_t id)
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
    tb_acct(s, sizeof(*e) + e->len + ALLOC_OVERHEAD, 0);
    am_free(e);
    t->ent[id] = NULL;
    t->live--;
    if (t->n_free == t->cap_free) {
        uint32_t cap = tb_grow_cap(t->cap_free);
        t->free_ids = tb_arr_resize(s, t->free_ids, sizeof(uint32_t), t->cap_free, cap);
        t->cap_free = cap;
    }
    t->free_ids[t->n_free++] = id;
}

void tb_itab_fini(struct shard *s)
{
    struct itab *t = &s->strs;
    for (uint32_t id = 1; id < t->n_ent; id++) {
        if (t->ent[id] != NULL) {
            tb_acct(s, sizeof(struct istr) + t->ent[id]->len + ALLOC_OVERHEAD, 0);
            am_free(t->ent[id]);
        }
    }
    tb_arr_resize(s, t->ent, sizeof(*t->ent), t->cap_ent, 0);
    tb_arr_resize(s, t->buckets, sizeof(uint32_t), t->nbuckets, 0);
    tb_arr_resize(s, t->free_ids, sizeof(uint32_t), t->cap_free, 0);
    memset(t, 0, sizeof(*t));
}

/* ---- traces and their span index ----------------------------------------- */

/* Account a map's slot array after an operation that may have resized it. */
static void map_acct(struct shard *s, size_t old_cap, const struct am_map *m)
{
    size_t slot = sizeof(struct am_map_slot);
    tb_acct(s, old_cap ? old_cap * slot + ALLOC_OVERHEAD : 0,
            m->cap ? m->cap * slot + ALLOC_OVERHEAD : 0);
}

static struct am_map *map_new(struct shard *s, const struct am_map_ops *ops, struct trace *t)
{
    struct am_map *m = am_try_malloc(sizeof(*m));
    if (m != NULL) {
        am_map_init(m, ops, t);
        tb_acct(s, 0, sizeof(*m) + ALLOC_OVERHEAD);
    }
    return m;
}

static void map_free(struct shard *s, struct am_map *m)
{
    if (m == NULL) {
        return;
    }
    map_acct(s, m->cap, &(struct am_map){0});
    am_map_fini(m);
    tb_acct(s, sizeof(*m) + ALLOC_OVERHEAD, 0);
    am_free(m);
}

static void trace_key(const void *v, const void **key, size_t *len)
{
    const struct trace *t = v;
    *key = t->id;
    *len = sizeof(t->id);
}

static const struct am_map_ops trace_ops = {.key = trace_key};

void tb_shard_init(struct shard *s)
{
    pthread_mutex_init(&s->mu, NULL);
    am_map_init(&s->traces, &trace_ops, NULL);
}

void tb_shard_fini(struct shard *s)
{
    map_acct(s, s->traces.cap, &(struct am_map){0});
    am_map_fini(&s->traces);
    pthread_mutex_destroy(&s->mu);
}

/* span id -> node: the map holds node index + 1 and compares through the trace */
static bool node_eq(const void *v, const void *key, size_t len, void *ctx)
{
    const struct trace *t = ctx;
    uint64_t sid;
    if (len != sizeof(sid)) {
        return false;
    }
    memcpy(&sid, key, sizeof(sid));
    return t->nodes[(uintptr_t)v - 1].span_id == sid;
}

static bool waitq_eq(const void *v, const void *key, size_t len, void *ctx)
{
    const struct trace *t = ctx;
    uint64_t sid;
    if (len != sizeof(sid)) {
        return false;
    }
    memcpy(&sid, key, sizeof(sid));
    return t->wq[(uintptr_t)v - 1].span_id == sid;
}

static const struct am_map_ops node_ops = {.eq = node_eq};
static const struct am_map_ops waitq_ops = {.eq = waitq_eq};

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

/* Find or create the trace and mark it active at now_ns (tail of the list).
 * Spans of a trace mostly arrive together: the tail is tried first. NULL
 * when the trace table cannot grow. */
struct trace *tb_trace_touch(struct shard *s, const uint8_t *id, uint64_t hash, uint64_t now_ns)
{
    struct trace *t = s->tail;
    if (t != NULL && t->hash == hash && memcmp(t->id, id, 16) == 0) {
        t->last_ns = now_ns;
        return t;
    }
    t = am_map_get(&s->traces, hash, id, 16);
    if (t == NULL) {
        size_t old = s->traces.cap;
        t = am_xcalloc(1, sizeof(*t));
        memcpy(t->id, id, 16);
        t->hash = hash;
        if (am_map_insert(&s->traces, hash, t) != AM_OK) {
            am_free(t);
            return NULL;
        }
        map_acct(s, old, &s->traces);
        tb_acct(s, 0, sizeof(*t) + ALLOC_OVERHEAD);
        t->wq_free = NONE;
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
        tb_release(s, ids[i]);
    }
    for (size_t j = 0; j < AM_MAX_DIMS; j++) {
        tb_release(s, h->dims[j]);
    }
}

/* Drop what only a live trace needs: held records, evaluations, waiter
 * lists, conversation ids. Nodes and their index stay (a tombstone). */
void tb_trace_strip(struct shard *s, struct trace *t)
{
    for (uint32_t i = 0; i < t->nn; i++) {
        tb_release(s, t->nodes[i].conv);
        t->nodes[i].conv = 0;
        t->nodes[i].held = NONE;
    }
    for (uint32_t i = 0; i < t->nh; i++) {
        held_release(s, &t->held[i]);
    }
    for (uint32_t i = 0; i < t->ne; i++) {
        tb_release(s, t->evals[i].name);
        tb_release(s, t->evals[i].label);
    }
    s->nwaiting -= t->waiting;
    t->waiting = 0;
    t->held = tb_arr_resize(s, t->held, sizeof(*t->held), t->hcap, 0);
    t->evals = tb_arr_resize(s, t->evals, sizeof(*t->evals), t->ecap, 0);
    if (t->wq != &t->wq1) {
        tb_arr_resize(s, t->wq, sizeof(*t->wq), t->wqcap, 0);
    }
    t->wq = NULL;
    t->nh = t->hcap = t->ne = t->ecap = t->nwq = t->wqcap = 0;
    t->wq_free = NONE;
    map_free(s, t->waits);
    t->waits = NULL;
}

/* Unlink t, drop its string references and free it. */
void tb_trace_free(struct shard *s, struct trace *t)
{
    size_t old = s->traces.cap;
    am_map_remove_value(&s->traces, t->hash, t);
    map_acct(s, old, &s->traces);
    lru_unlink(s, t);
    tb_trace_strip(s, t);
    for (uint32_t i = 0; i < t->nn; i++) {
        tb_release(s, t->nodes[i].agent);
    }
    for (uint32_t i = 0; i < t->nad; i++) {
        tb_release(s, t->adims[i].tuple);
    }
    tb_arr_resize(s, t->adims, sizeof(*t->adims), t->adcap, 0);
    if (t->state == T_TOMB) {
        s->ntombs--;
        s->ntomb_spans -= t->nn;
    } else {
        s->nspans -= t->nn;
    }
    s->ntraces--;
    tb_arr_resize(s, t->nodes, sizeof(*t->nodes), t->ncap, 0);
    map_free(s, t->idx);
    tb_acct(s, sizeof(*t) + ALLOC_OVERHEAD, 0);
    am_free(t);
}

/* ---- skeletons ---------------------------------------------------------- */

/* 1 4 8 13 20 ...: one block for a lone span, few reallocations for the
 * common trace of a handful. */
static uint32_t node_cap(uint32_t cap)
{
    if (cap == 0) {
        return 1;
    }
    return cap < 4 ? 4 : cap < 8 ? 8 : tb_grow_cap(cap);
}

/* Intern a span's agent name: most spans share the previous span's. */
uint32_t tb_intern_agent(struct shard *s, const struct trace *t, struct am_str name)
{
    uint32_t prev = t->nn >= 2 ? t->nodes[t->nn - 2].agent : 0;
    if (prev != 0 && name.len > 0) {
        struct istr *e = tb_istr_get(s, prev);
        if (e->len == name.len && memcmp(e->s, name.ptr, name.len) == 0) {
            e->refs++;
            return prev;
        }
    }
    return tb_intern(s, name);
}

/* Index the trace once it outgrows a scan; an index that cannot grow is
 * dropped (lookups scan again: slower, still right). */
static int idx_put(struct trace *t, uint32_t i)
{
    if (t->nodes[i].span_id == 0) {
        return AM_OK;
    }
    return am_map_insert(t->idx, tb_span_hash(t->nodes[i].span_id), (void *)(uintptr_t)(i + 1));
}

static void idx_add(struct shard *s, struct trace *t, uint32_t i)
{
    int rc = AM_OK;
    if (t->nn <= SMALL_TRACE || t->index_failed) {
        return;
    }
    if (t->idx == NULL) { /* build it: every node so far */
        t->idx = map_new(s, &node_ops, t);
        rc = t->idx != NULL ? am_map_reserve(t->idx, 2u * SMALL_TRACE) : AM_ENOMEM;
        for (uint32_t k = 0; k < i && rc == AM_OK; k++) {
            rc = idx_put(t, k);
        }
        if (t->idx != NULL) {
            map_acct(s, 0, t->idx);
        }
    }
    size_t old = t->idx != NULL ? t->idx->cap : 0;
    if (rc == AM_OK) {
        rc = idx_put(t, i);
        map_acct(s, old, t->idx);
    }
    if (rc != AM_OK) {
        map_free(s, t->idx);
        t->idx = NULL;
        t->index_failed = 1;
    }
}

uint32_t tb_node_add(struct shard *s, struct trace *t, uint64_t sid, uint64_t parent,
                     bool has_parent, uint8_t op)
{
    if (t->nn == t->ncap) {
        uint32_t cap = node_cap(t->ncap);
        t->nodes = tb_arr_resize(s, t->nodes, sizeof(*t->nodes), t->ncap, cap);
        t->ncap = cap;
    }
    struct node *n = &t->nodes[t->nn];
    memset(n, 0, sizeof(*n));
    n->span_id = sid;
    n->parent_id = parent;
    n->held = NONE;
    n->op = op;
    n->flags = has_parent ? F_HAS_PARENT : 0;
    if (t->state == T_TOMB) {
        s->ntomb_spans++;
    } else {
        s->nspans++;
    }
    t->nn++;
    idx_add(s, t, t->nn - 1);
    return t->nn - 1;
}

/* ---- waiter lists --------------------------------------------------------- */

/* The first list lives in the trace (most traces wait for one span at most). */
static void wq_grow(struct shard *s, struct trace *t)
{
    if (t->wqcap == 0) {
        t->wq = &t->wq1;
        t->wqcap = 1;
        return;
    }
    uint32_t cap = t->wqcap < 4 ? 4 : tb_grow_cap(t->wqcap);
    if (t->wq == &t->wq1) {
        t->wq = tb_arr_resize(s, NULL, sizeof(*t->wq), 0, cap);
        t->wq[0] = t->wq1;
    } else {
        t->wq = tb_arr_resize(s, t->wq, sizeof(*t->wq), t->wqcap, cap);
    }
    t->wqcap = cap;
}

static uint32_t waitq_find(const struct trace *t, uint64_t sid, uint64_t h)
{
    if (t->waits != NULL) {
        void *v = am_map_get(t->waits, h, &sid, sizeof(sid));
        return v != NULL ? (uint32_t)((uintptr_t)v - 1) : NONE;
    }
    for (uint32_t q = 0; q < t->nwq; q++) {
        if (t->wq[q].next_free == WQ_LIVE && t->wq[q].span_id == sid) {
            return q;
        }
    }
    return NONE;
}

/* Past SMALL_WAITS lists, a map; without memory for it, scans go on. */
static void waits_build(struct shard *s, struct trace *t)
{
    int rc = AM_ENOMEM;
    t->waits = map_new(s, &waitq_ops, t);
    if (t->waits != NULL) {
        rc = am_map_reserve(t->waits, 2u * SMALL_WAITS);
    }
    for (uint32_t q = 0; q < t->nwq && rc == AM_OK; q++) {
        if (t->wq[q].next_free == WQ_LIVE) {
            rc =
                am_map_insert(t->waits, tb_span_hash(t->wq[q].span_id), (void *)(uintptr_t)(q + 1));
        }
    }
    if (t->waits != NULL) {
        map_acct(s, 0, t->waits);
    }
    if (rc != AM_OK) {
        map_free(s, t->waits);
        t->waits = NULL;
        t->waits_failed = 1;
    }
}

/* The waiter list for span id sid, created if asked; NONE if absent (or if
 * it cannot be created: the caller resolves the record at once). */
uint32_t tb_waitq(struct shard *s, struct trace *t, uint64_t sid, bool create)
{
    uint64_t h = t->waits != NULL ? tb_span_hash(sid) : 0;
    uint32_t q = waitq_find(t, sid, h);
    if (q != NONE || !create) {
        return q;
    }
    q = t->wq_free;
    if (q != NONE) {
        t->wq_free = t->wq[q].next_free;
    } else {
        if (t->nwq == t->wqcap) {
            wq_grow(s, t);
        }
        q = t->nwq++;
    }
    t->wq[q] = (struct waitq){sid, NONE, NONE, NONE, WQ_LIVE};
    if (t->waits == NULL && t->nwq > SMALL_WAITS && !t->waits_failed) {
        waits_build(s, t); /* includes q */
        return q;
    }
    if (t->waits != NULL) {
        size_t old = t->waits->cap;
        if (am_map_insert(t->waits, tb_span_hash(sid), (void *)(uintptr_t)(q + 1)) != AM_OK) {
            t->wq[q].next_free = t->wq_free;
            t->wq_free = q;
            return NONE;
        }
        map_acct(s, old, t->waits);
    }
    return q;
}

/* Take waiter list q out of the lookup (its records are the caller's now). */
void tb_waitq_take(struct shard *s, struct trace *t, uint32_t q)
{
    if (t->waits != NULL) {
        size_t old = t->waits->cap;
        uint64_t sid = t->wq[q].span_id;
        am_map_remove(t->waits, tb_span_hash(sid), &sid, sizeof(sid));
        map_acct(s, old, t->waits);
    }
    t->wq[q].next_free = t->wq_free;
    t->wq_free = q;
}
