/*
 * trace_buf_store.c - the storage of trace assembly: per shard, a
 * refcounted string intern table (ids, 0 = none), a chained hash of traces
 * plus a list ordered by last arrival (quiet traces at its head), and per
 * trace its array of 48-byte skeletons, indexed by span id past SMALL_TRACE.
 * Every heap block is accounted in shard->bytes (size + ALLOC_OVERHEAD).
 */
#include "am/alloc.h"
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

static void idx_put(struct trace *t, uint32_t i)
{
    uint32_t s = tb_slot_hash(t->nodes[i].span_id, t->idx_cap);
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
    t->idx = tb_arr_resize(sh, t->idx, sizeof(uint32_t), t->idx_cap, cap);
    memset(t->idx, 0, cap * sizeof(uint32_t));
    t->idx_cap = cap;
    for (uint32_t i = 0; i < t->nn; i++) {
        if (t->nodes[i].span_id != 0) {
            idx_put(t, i);
        }
    }
}

/* Open addressing, linear probing, at most half full: a probe compares
 * the hashes in the table and touches a (cold) trace only on a match. */
static size_t slot_find(const struct shard *s, const uint8_t *id, uint64_t hash)
{
    size_t mask = s->tab_cap - 1;
    size_t i = hash & mask;
    while (s->tab[i].t != NULL &&
           !(s->tab[i].hash == hash && memcmp(s->tab[i].t->id, id, 16) == 0)) {
        i = (i + 1) & mask;
    }
    return i;
}

static void shard_rehash(struct shard *s)
{
    size_t cap = s->tab_cap ? s->tab_cap * 2 : 64;
    struct tslot *old = s->tab;
    tb_acct(s, s->tab_cap ? s->tab_cap * sizeof(*old) + ALLOC_OVERHEAD : 0,
            cap * sizeof(*old) + ALLOC_OVERHEAD);
    s->tab = am_xcalloc(cap, sizeof(*old));
    s->tab_cap = cap;
    for (struct trace *t = s->head; t != NULL; t = t->next) {
        size_t i = slot_find(s, t->id, t->hash);
        s->tab[i] = (struct tslot){t->hash, t};
    }
    am_free(old);
}

/* Empty slot i, shifting back the entries of its probe run. */
static void slot_delete(struct shard *s, size_t i)
{
    size_t mask = s->tab_cap - 1;
    for (size_t j = (i + 1) & mask; s->tab[j].t != NULL; j = (j + 1) & mask) {
        size_t home = s->tab[j].hash & mask;
        /* j may move to i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            s->tab[i] = s->tab[j];
            i = j;
        }
    }
    s->tab[i].t = NULL;
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

/* Find or create the trace and mark it active at now_ns (tail of the list).
 * Spans of a trace mostly arrive together: the tail is tried first. */
struct trace *tb_trace_touch(struct shard *s, const uint8_t *id, uint64_t hash, uint64_t now_ns)
{
    struct trace *t = s->tail;
    if (t != NULL && t->hash == hash && memcmp(t->id, id, 16) == 0) {
        t->last_ns = now_ns;
        return t;
    }
    if ((s->ntraces + 1) * 2 > s->tab_cap) {
        shard_rehash(s);
    }
    size_t i = slot_find(s, id, hash);
    t = s->tab[i].t;
    if (t == NULL) {
        t = am_xcalloc(1, sizeof(*t));
        tb_acct(s, 0, sizeof(*t) + ALLOC_OVERHEAD);
        memcpy(t->id, id, 16);
        t->hash = hash;
        s->tab[i] = (struct tslot){hash, t};
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
}

/* Unlink t, drop its string references and free it. */
void tb_trace_free(struct shard *s, struct trace *t)
{
    slot_delete(s, slot_find(s, t->id, t->hash));
    lru_unlink(s, t);
    for (uint32_t i = 0; i < t->nn; i++) {
        tb_release(s, t->nodes[i].agent);
        tb_release(s, t->nodes[i].conv);
    }
    for (uint32_t i = 0; i < t->nh; i++) {
        held_release(s, &t->held[i]);
    }
    for (uint32_t i = 0; i < t->ne; i++) {
        tb_release(s, t->evals[i].name);
        tb_release(s, t->evals[i].label);
    }
    s->nspans -= t->nn;
    s->nwaiting -= t->waiting;
    s->ntraces--;
    tb_arr_resize(s, t->nodes, sizeof(*t->nodes), t->ncap, 0);
    tb_arr_resize(s, t->held, sizeof(*t->held), t->hcap, 0);
    tb_arr_resize(s, t->evals, sizeof(*t->evals), t->ecap, 0);
    tb_arr_resize(s, t->idx, sizeof(uint32_t), t->idx_cap, 0);
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

uint32_t tb_node_add(struct shard *s, struct trace *t, uint64_t sid, uint64_t parent,
                     bool has_parent, uint8_t op)
{
    if (t->nn == t->ncap) {
        uint32_t cap = node_cap(t->ncap);
        t->nodes = tb_arr_resize(s, t->nodes, sizeof(*t->nodes), t->ncap, cap);
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
