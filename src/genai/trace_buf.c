/*
 * trace_buf.c - trace assembly (SPEC.md 3; design in docs/design/genai.md):
 * the public API, attribution of a span to its agent (now, or by holding a
 * record until the ancestor arrives) and the request path. Storage is in
 * trace_buf_store.c, finishing a trace in trace_buf_finish.c. Held records
 * (136 bytes) keep what a waiting span needs to be derived later.
 */
#include "am/alloc.h"
#include "trace_buf_int.h"

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

static void rules_set(struct rules *r, const struct am_trace_buf_opts *o)
{
    rules_fini(r);
    r->wait_ns = o->trace_wait_ns;
    r->max_total = o->max_pending_spans;
    r->max_per_trace = o->max_spans_per_trace;
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
        tb_shard_init(&tb->shards[i]);
    }
    rules_set(&tb->rules, opts);
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
            tb_trace_free(s, s->head);
        }
        tb_itab_fini(s);
        tb_shard_fini(s);
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
    rules_set(&tb->rules, opts);
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
        out->tombstones += s->ntombs;
        out->tombstone_spans += s->ntomb_spans;
        out->bytes += s->bytes;
        pthread_mutex_unlock(&s->mu);
    }
}

/* ---- attribution --------------------------------------------------------- */

/* The agent of node j's descendants: the nearest invoke_agent at or above
 * j, found through every intermediate span held. */
static void walk_up(const struct trace *t, uint32_t j, struct walk *w)
{
    const struct node *n = &t->nodes[j];
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        if (n->op == AM_OP_AGENT) {
            *w = (struct walk){W_FOUND, n->agent, 0, (uint32_t)(n - t->nodes)};
            return;
        }
        if (!(n->flags & F_HAS_PARENT)) {
            break;
        }
        uint32_t k = tb_node_find(t, n->parent_id);
        if (k == NONE) {
            *w = (struct walk){W_BREAK, 0, n->parent_id, NONE};
            return;
        }
        n = &t->nodes[k];
    }
    *w = (struct walk){W_ROOT, 0, 0, NONE};
}

/* A span's agent given its own name (agent, 0 = none) and its parent link. */
static void walk_parent(const struct trace *t, uint32_t agent, bool has_parent, uint64_t parent,
                        struct walk *w)
{
    if (agent != 0) {
        *w = (struct walk){W_FOUND, agent, 0, NONE};
        return;
    }
    if (!has_parent) {
        *w = (struct walk){W_ROOT, 0, 0, NONE};
        return;
    }
    uint32_t k = tb_node_find(t, parent);
    if (k == NONE) {
        *w = (struct walk){W_BREAK, 0, parent, NONE};
        return;
    }
    walk_up(t, k, w);
}

/* Node i's agent: its own name, else its nearest invoke_agent ancestor's.
 * An evaluation node takes the agent of the span it names. */
static void walk_from(const struct trace *t, uint32_t i, struct walk *w)
{
    const struct node *n = &t->nodes[i];
    if (n->op == OP_EVAL) {
        uint32_t j = tb_node_find(t, n->parent_id);
        if (j == NONE) {
            *w = (struct walk){W_BREAK, 0, n->parent_id, NONE};
            return;
        }
        n = &t->nodes[j];
    }
    walk_parent(t, n->agent, (n->flags & F_HAS_PARENT) != 0, n->parent_id, w);
}

/* Agent-level dimensions (SPEC.md 3): a value the span and its resource
 * lack is that of its invoke_agent span, when that one had it. */
void tb_inherit_dims(const struct shard *s, const struct trace *t, uint32_t agent_node,
                     struct am_span_facts *f)
{
    uint32_t k = 0;
    while (k < t->nad && t->adims[k].node != agent_node) {
        k++;
    }
    if (agent_node == NONE || k == t->nad) {
        return;
    }
    /* tuple: the set mask, then per set value a 4-byte length and its bytes */
    struct am_str tup = tb_istr_view(s, t->adims[k].tuple);
    const char *p = tup.ptr + 1;
    uint8_t set = (uint8_t)tup.ptr[0];
    for (unsigned j = 0; j < AM_MAX_DIMS; j++) {
        uint32_t len;
        if (!(set >> j & 1)) {
            continue;
        }
        memcpy(&len, p, 4);
        if (!(f->dims_set >> j & 1)) {
            f->dims[j] = (struct am_str){p + 4, len};
            f->dims_set |= (uint8_t)(1u << j);
        }
        p += 4 + len;
    }
}

/* Keep the dimension values of invoke_agent node i (trace assembly hands
 * them down to the spans below it, also after the trace is a tombstone). */
void tb_agent_dims(struct shard *s, struct trace *t, uint32_t node, const struct am_span_facts *f)
{
    char buf[1 + AM_MAX_DIMS * (4 + 256)];
    size_t n = 1;
    buf[0] = (char)f->dims_set;
    if (f->dims_set == 0) {
        return;
    }
    for (unsigned j = 0; j < AM_MAX_DIMS; j++) {
        if (f->dims_set >> j & 1) {
            uint32_t len = f->dims[j].len > 256 ? 256 : (uint32_t)f->dims[j].len;
            memcpy(buf + n, &len, 4);
            memcpy(buf + n + 4, f->dims[j].ptr, len);
            n += 4 + len;
        }
    }
    if (t->nad == t->adcap) {
        uint32_t cap = tb_grow_cap(t->adcap);
        t->adims = tb_arr_resize(s, t->adims, sizeof(*t->adims), t->adcap, cap);
        t->adcap = cap;
    }
    t->adims[t->nad++] = (struct adim){node, tb_intern(s, (struct am_str){buf, n})};
}

struct am_str tb_fallback_name(const struct shard *s, const struct held *h)
{
    return h->service != 0 ? tb_istr_view(s, h->service) : AM_STR("unknown");
}

void tb_emit_count(const struct am_obs_sink *sink, enum am_metric m, const char *reason, size_t n)
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
        uint32_t cap = tb_grow_cap(t->hcap);
        t->held = tb_arr_resize(s, t->held, sizeof(*t->held), t->hcap, cap);
        t->hcap = cap;
    }
    struct held *h = &t->held[t->nh];
    memset(h, 0, sizeof(*h));
    memcpy(h->tokens, f->tokens, sizeof(h->tokens));
    h->duration_ns = f->duration_ns;
    h->arrival_ns = now_ns;
    h->ttft_ns = f->ttft_ns;
    h->has_ttft = f->has_ttft;
    h->adjusted_count = f->adjusted_count;
    h->cost = f->cost;
    if (full) {
        h->operation = tb_intern(s, f->operation);
        h->provider = tb_intern(s, f->provider);
        h->request_model = tb_intern(s, f->request_model);
        h->response_model = tb_intern(s, f->response_model);
        h->tool = tb_intern(s, f->tool_name);
        h->error_type = tb_intern(s, f->error_type);
        h->service = tb_intern(s, f->service_name);
    }
    for (unsigned j = 0; j < AM_MAX_DIMS; j++) {
        h->dims[j] = (f->dims_set >> j & 1) ? tb_intern(s, f->dims[j]) : 0;
    }
    h->dims_set = f->dims_set;
    h->filtered = f->filtered;
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
void tb_held_facts(const struct shard *s, const struct held *h, struct am_span_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->op = (enum am_op)h->op;
    f->operation = tb_istr_view(s, h->operation);
    f->provider = tb_istr_view(s, h->provider);
    f->request_model = tb_istr_view(s, h->request_model);
    f->response_model = tb_istr_view(s, h->response_model);
    f->tool_name = tb_istr_view(s, h->tool);
    f->error_type = tb_istr_view(s, h->error_type);
    f->service_name = tb_istr_view(s, h->service);
    f->outcome = (enum am_outcome)h->outcome;
    f->duration_ns = h->duration_ns;
    memcpy(f->tokens, h->tokens, sizeof(f->tokens));
    f->tokens_present = h->tokens_present;
    f->cost = h->cost;
    f->has_cost = h->has_cost;
    f->ttft_ns = h->ttft_ns;
    f->has_ttft = h->has_ttft;
    for (unsigned j = 0; j < AM_MAX_DIMS; j++) {
        f->dims[j] = tb_istr_view(s, h->dims[j]);
    }
    f->dims_set = h->dims_set;
    f->adjusted_count = h->adjusted_count;
    f->filtered = h->filtered;
}

static void eval_hold(struct shard *s, struct trace *t, struct held *h, const struct am_eval *ev)
{
    if (t->ne == t->ecap) {
        uint32_t cap = tb_grow_cap(t->ecap);
        t->evals = tb_arr_resize(s, t->evals, sizeof(*t->evals), t->ecap, cap);
        t->ecap = cap;
    }
    struct heval *e = &t->evals[t->ne];
    e->score = ev->score;
    e->has_score = ev->has_score;
    e->name = tb_intern(s, ev->name);
    e->label = tb_intern(s, ev->label);
    e->next = h->first_eval;
    h->first_eval = t->ne++;
}

/* Put records [head..tail] (linked by next_wait) in the list waiting for
 * span id `missing`: the evaluations list when they wait for the span
 * they name, else the ancestors list. Returns false if the list cannot be
 * created (the caller resolves them now). */
static bool enqueue(struct shard *s, struct trace *t, uint32_t head, uint32_t tail,
                    uint64_t missing, bool named)
{
    uint32_t q = tb_waitq(s, t, missing, true);
    if (q == NONE) {
        return false;
    }
    struct waitq *w = &t->wq[q];
    if (named) {
        t->held[tail].next_wait = w->evals;
        w->evals = head;
    } else {
        t->held[tail].next_wait = w->head;
        w->head = head;
        w->tail = w->tail == NONE ? tail : w->tail;
    }
    return true;
}

static bool hold_waiting(struct shard *s, struct trace *t, uint32_t hi, uint64_t missing,
                         bool named)
{
    if (!enqueue(s, t, hi, hi, missing, named)) {
        return false;
    }
    t->held[hi].waiting = 1;
    t->waiting++;
    s->nwaiting++;
    return true;
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
        struct am_eval ev = {tb_istr_view(s, t->evals[e].name), tb_istr_view(s, t->evals[e].label),
                             t->evals[e].score, t->evals[e].has_score};
        am_quality_add(tb->quality, agent, &ev, t->id, sid, now_ns, sink);
    }
}

/* A waiting record's agent is known (or given up on): emit what it held. */
void tb_held_resolve(struct am_trace_buf *tb, struct shard *s, struct trace *t, uint32_t hi,
                     struct am_str agent, uint32_t agent_node, const struct am_derive_opts *d,
                     uint64_t now_ns, const struct am_obs_sink *sink)
{
    struct held *h = &t->held[hi];
    struct am_span_facts f;
    if (h->op != OP_EVAL) {
        tb_held_facts(s, h, &f);
        tb_inherit_dims(s, t, agent_node, &f);
        emit_span(t, &t->nodes[h->node], d, &f, agent, sink);
    }
    emit_held_evals(tb, s, t, h, agent, now_ns, sink);
    h->waiting = 0;
    t->waiting--;
    s->nwaiting--;
}

/* Resolve a waiting record with the walk's outcome, or move it (with the
 * records linked after it up to tail) to the list of the next missing span. */
static void settle(struct am_trace_buf *tb, struct shard *s, struct trace *t, uint32_t head,
                   uint32_t tail, const struct walk *w, const struct am_derive_opts *d,
                   uint64_t now_ns, const struct am_obs_sink *sink, size_t *roots)
{
    if (w->kind == W_BREAK && enqueue(s, t, head, tail, w->missing, false)) {
        return; /* the whole chain moves at once: no record is visited */
    }
    for (uint32_t h = head, next; h != NONE; h = next) {
        next = h == tail ? NONE : t->held[h].next_wait;
        struct am_str agent = tb_fallback_name(s, &t->held[h]);
        uint32_t agent_node = w->kind == W_FOUND ? w->node : NONE;
        if (w->kind == W_FOUND) {
            agent = tb_istr_view(s, w->agent);
        } else if (w->kind == W_ROOT) {
            (*roots)++;
        } else {
            tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "nomem", 1);
        }
        tb_held_resolve(tb, s, t, h, agent, agent_node, d, now_ns, sink);
    }
}

/* Node j just arrived: wake exactly the records waiting for its span id.
 * Those below it take the agent of its descendants; evaluations naming it
 * take its own agent. No other record is looked at. */
static void wake(struct am_trace_buf *tb, struct shard *s, struct trace *t, uint32_t j,
                 const struct am_derive_opts *d, uint64_t now_ns, const struct am_obs_sink *sink)
{
    size_t roots = 0;
    if (t->waiting == 0 || t->nodes[j].span_id == 0) {
        return;
    }
    uint32_t q = tb_waitq(s, t, t->nodes[j].span_id, false);
    if (q == NONE) {
        return;
    }
    struct waitq wq = t->wq[q];
    struct walk below, own;
    tb_waitq_take(s, t, q);
    walk_up(t, j, &below);
    walk_from(t, j, &own);
    for (uint32_t h = wq.evals, next; h != NONE; h = next) {
        next = t->held[h].next_wait;
        settle(tb, s, t, h, h, &own, d, now_ns, sink, &roots);
    }
    if (wq.head != NONE) {
        settle(tb, s, t, wq.head, wq.tail, &below, d, now_ns, sink, &roots);
    }
    tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "no_agent_ancestor", roots);
}

/* ---- the request path ---------------------------------------------------- */

static struct shard *shard_of(struct am_trace_buf *tb, uint64_t trace_hash)
{
    return &tb->shards[(trace_hash >> 40) % tb->nshards];
}

static uint64_t trace_hash(const uint8_t *trace_id)
{
    return am_map_hash(trace_id, 16); /* seeded: trace ids are peer data */
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

/* One span in the request, with what it carries. */
struct incoming {
    const struct am_span *span;
    const struct am_span_facts *f;
    struct am_eval evs[MAX_SPAN_EVALS];
    size_t nev;
    uint64_t sid;
};

/* Emit a span (and its evaluations) that is not held, with the agent a walk
 * found; a walk that found none falls back to service.name, counted by why. */
static void emit_now(struct am_trace_buf *tb, const struct shard *s, const struct trace *t,
                     const struct incoming *in, struct am_str agent, uint32_t agent_node,
                     const struct am_derive_opts *d, uint64_t now_ns,
                     const struct am_obs_sink *sink)
{
    struct am_obs out[AM_DERIVE_MAX_OBS];
    const struct am_span_facts *f = in->f;
    struct am_span_facts g;
    if (agent_node != NONE && d->dim_count > 0 && t->nn > agent_node) {
        g = *f; /* its agent's dimensions where it has none */
        tb_inherit_dims(s, t, agent_node, &g);
        f = &g;
    }
    if (f->op == AM_OP_INFERENCE || f->op == AM_OP_TOOL || f->op == AM_OP_AGENT) {
        size_t k = am_derive_facts(d, f, agent, t->id, (const uint8_t *)&in->sid, out);
        if (k > 0) {
            sink->fn(sink->ud, out, k);
        }
    }
    for (size_t e = 0; e < in->nev && tb->quality != NULL; e++) {
        am_quality_add(tb->quality, agent, &in->evs[e], t->id, (const uint8_t *)&in->sid, now_ns,
                       sink);
    }
}

static struct am_str walk_agent(const struct shard *s, const struct walk *w,
                                const struct am_span_facts *f, const char *why,
                                const struct am_obs_sink *sink)
{
    if (w->kind == W_FOUND) {
        return tb_istr_view(s, w->agent);
    }
    tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL,
                  w->kind == W_ROOT ? "no_agent_ancestor" : why, 1);
    return f->service_name.len > 0 ? f->service_name : AM_STR("unknown");
}

/* A span not kept in the skeleton (its trace is at max_spans_per_trace, or
 * the trace table could not grow): derived now with what is known. */
static void turn_away(struct am_trace_buf *tb, struct shard *s, const struct trace *t,
                      const struct incoming *in, const char *why, const struct am_derive_opts *d,
                      uint64_t now_ns, const struct am_obs_sink *sink)
{
    struct walk w = {W_BREAK, 0, 0, NONE};
    struct am_str own = in->f->op == AM_OP_AGENT ? am_derive_agent_name(in->f) : in->f->agent_name;
    static const struct trace none;
    tb_emit_count(sink, AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, why, 1);
    if (own.len > 0) {
        emit_now(tb, s, t ? t : &none, in, own, NONE, d, now_ns, sink);
        return;
    }
    if (t != NULL) {
        walk_parent(t, 0, in->span->has_parent, tb_id64(in->span->parent_span_id), &w);
    } else if (!in->span->has_parent) {
        w.kind = W_ROOT;
    }
    emit_now(tb, s, t ? t : &none, in, walk_agent(s, &w, in->f, why, sink),
             w.kind == W_FOUND ? w.node : NONE, d, now_ns, sink);
}

/* Attribute node i now, or make it wait: the span's own observations and
 * its evaluations. */
static void attribute(struct am_trace_buf *tb, struct shard *s, struct trace *t, uint32_t i,
                      const struct incoming *in, const struct am_derive_opts *d, uint64_t now_ns,
                      const struct am_obs_sink *sink)
{
    struct walk w;
    walk_from(t, i, &w);
    if (w.kind == W_BREAK) {
        /* never a skeleton-only record: those are AGENT spans, which have a name */
        uint32_t hi =
            t->nodes[i].held != NONE ? t->nodes[i].held : held_new(s, t, i, in->f, now_ns, true);
        for (size_t e = 0; e < in->nev; e++) {
            eval_hold(s, t, &t->held[hi], &in->evs[e]);
        }
        if (hold_waiting(s, t, hi, w.missing, false)) {
            return;
        }
        t->held[hi].first_eval = NONE; /* cannot wait: derived now, with the fallback */
    }
    emit_now(tb, s, t, in, walk_agent(s, &w, in->f, "nomem", sink),
             w.kind == W_FOUND ? w.node : NONE, d, now_ns, sink);
}

/* A span for a trace finished at once (a tombstone): a re-sent span is
 * ignored; a new one is late. It is derived now with the agent the
 * skeleton gives, and its ids kept so it is not counted twice either. */
static void add_late(struct am_trace_buf *tb, struct shard *s, struct trace *t,
                     const struct incoming *in, const struct am_derive_opts *d, uint64_t now_ns,
                     const struct am_obs_sink *sink)
{
    const struct am_span_facts *f = in->f;
    struct walk w;
    tb_emit_count(sink, AM_M_SELF_SPANS_LATE_TOTAL, NULL, 1);
    uint32_t i =
        tb_node_add(s, t, in->sid, in->span->has_parent ? tb_id64(in->span->parent_span_id) : 0,
                    in->span->has_parent, (uint8_t)f->op);
    t->nodes[i].agent =
        tb_intern_agent(s, t, f->op == AM_OP_AGENT ? am_derive_agent_name(f) : f->agent_name);
    if (f->op == AM_OP_AGENT && f->dims_set != 0) {
        tb_agent_dims(s, t, i, f);
    }
    if (f->op == AM_OP_INFERENCE || f->op == AM_OP_TOOL || f->op == AM_OP_AGENT || in->nev > 0) {
        walk_from(t, i, &w);
        emit_now(tb, s, t, in, walk_agent(s, &w, f, "late", sink),
                 w.kind == W_FOUND ? w.node : NONE, d, now_ns, sink);
    }
}

/* One span into its trace, under the shard lock. Returns the trace (for
 * the batch's finish-at-once check), or NULL. */
static struct trace *add_one(struct am_trace_buf *tb, struct shard *s, uint64_t th,
                             struct incoming *in, const struct am_derive_opts *d, uint64_t now_ns,
                             const struct am_obs_sink *sink)
{
    const struct am_span_facts *f = in->f;
    struct am_contrib c;
    struct trace *t = tb_trace_touch(s, in->span->trace_id, th, now_ns);
    if (t == NULL) {
        turn_away(tb, s, NULL, in, "nomem", d, now_ns, sink);
        return NULL;
    }
    if (in->sid != 0 && tb_node_find(t, in->sid) != NONE) {
        return t; /* a retried span: counted once */
    }
    if (tb->rules.max_per_trace > 0 && t->nn >= tb->rules.max_per_trace) {
        turn_away(tb, s, t, in, "max_spans_per_trace", d, now_ns, sink);
        return t;
    }
    if (t->state == T_TOMB) {
        add_late(tb, s, t, in, d, now_ns, sink);
        return t;
    }
    uint32_t i =
        tb_node_add(s, t, in->sid, in->span->has_parent ? tb_id64(in->span->parent_span_id) : 0,
                    in->span->has_parent, (uint8_t)f->op);
    struct node *n = &t->nodes[i];
    t->root_seen |= !in->span->has_parent;
    n->conv = tb_intern(s, f->conversation_id);
    n->flags |= !f->filtered && escalates(&tb->rules, in->span, f) ? F_ESCALATE : 0;
    n->flags |= f->filtered ? F_FILTERED : 0;
    n->agent =
        tb_intern_agent(s, t, f->op == AM_OP_AGENT ? am_derive_agent_name(f) : f->agent_name);
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
    if (f->op == AM_OP_AGENT && f->dims_set != 0) {
        tb_agent_dims(s, t, i, f);
    }
    if (f->op == AM_OP_INFERENCE || f->op == AM_OP_TOOL || f->op == AM_OP_AGENT || in->nev > 0) {
        attribute(tb, s, t, i, in, d, now_ns, sink);
    }
    wake(tb, s, t, i, d, now_ns, sink);
    return t;
}

static void incoming_init(struct am_trace_buf *tb, struct incoming *in, const struct am_span *span,
                          const struct am_span_facts *f)
{
    in->span = span;
    in->f = f;
    in->nev = tb->quality != NULL && !f->filtered ? span_evals(span, in->evs, MAX_SPAN_EVALS) : 0;
    in->sid = tb_id64(span->span_id);
}

/* ---- caps ------------------------------------------------------------------ */

static size_t shard_held(const struct shard *s)
{
    return s->nspans + s->ntomb_spans;
}

/* Publish this shard's change in held spans (under its lock); true if all
 * shards together now hold more than max_pending_spans. */
static bool shard_settle(struct am_trace_buf *tb, struct shard *s, size_t before)
{
    size_t delta = shard_held(s) - before; /* modular: a decrease wraps */
    size_t total = atomic_fetch_add(&tb->held_spans, delta) + delta;
    return tb->rules.max_total > 0 && total > tb->rules.max_total;
}

/* The quietest head of all shards (and the next quietest), one lock at a time. */
static struct shard *oldest_shard(struct am_trace_buf *tb, uint64_t *second_ns)
{
    struct shard *best = NULL;
    uint64_t best_ns = UINT64_MAX;
    *second_ns = UINT64_MAX;
    for (unsigned k = 0; k < tb->nshards; k++) {
        struct shard *s = &tb->shards[k];
        pthread_mutex_lock(&s->mu);
        uint64_t ns = s->head != NULL ? s->head->last_ns : UINT64_MAX;
        pthread_mutex_unlock(&s->mu);
        if (ns < best_ns) {
            *second_ns = best_ns;
            best_ns = ns;
            best = s;
        } else if (ns < *second_ns) {
            *second_ns = ns;
        }
    }
    return best;
}

/*
 * Over max_pending_spans: finish the quietest traces of all shards until
 * the total is back under the cap less a slack of min(cap/64, 64) spans (so
 * a flood at the cap scans the shard heads once per batch of evictions, not
 * per span). Never two shard
 * locks at once; called with none held. Which shard a trace hashes to does
 * not matter: the oldest anywhere goes first.
 */
static void evict_global(struct am_trace_buf *tb, const struct am_derive_opts *d, uint64_t now_ns,
                         const struct am_obs_sink *sink)
{
    size_t max = tb->rules.max_total;
    size_t target = max - (max / 64 < 64 ? max / 64 : 64);
    while (max > 0 && atomic_load(&tb->held_spans) > target) {
        uint64_t second_ns;
        struct shard *s = oldest_shard(tb, &second_ns);
        if (s == NULL) {
            return;
        }
        pthread_mutex_lock(&s->mu);
        size_t before = shard_held(s);
        bool first = true;
        while (s->head != NULL && (first || s->head->last_ns <= second_ns) &&
               atomic_load(&tb->held_spans) - (before - shard_held(s)) > target) {
            tb_evict_head(tb, s, d, now_ns, sink);
            first = false;
        }
        shard_settle(tb, s, before);
        pthread_mutex_unlock(&s->mu);
    }
}

void am_trace_buf_add(struct am_trace_buf *tb, const struct am_derive_opts *d,
                      const struct am_span *span, const struct am_span_facts *f, uint64_t now_ns,
                      const struct am_obs_sink *sink)
{
    uint64_t th = trace_hash(span->trace_id);
    struct shard *s = shard_of(tb, th);
    struct incoming in;
    incoming_init(tb, &in, span, f);
    pthread_mutex_lock(&s->mu);
    size_t before = shard_held(s);
    add_one(tb, s, th, &in, d, now_ns, sink);
    bool over = shard_settle(tb, s, before);
    pthread_mutex_unlock(&s->mu);
    if (over) {
        evict_global(tb, d, now_ns, sink);
    }
}

/* An evaluation that cannot be held (tombstone, capped trace, no memory):
 * its agent now, as far as the skeleton knows it. */
static void eval_now(struct am_trace_buf *tb, struct shard *s, const struct trace *t,
                     const uint8_t *span_id, struct am_str fallback, const struct am_eval *ev,
                     uint64_t now_ns, const struct am_obs_sink *sink)
{
    struct walk w = {W_BREAK, 0, 0, NONE};
    uint32_t named = t != NULL ? tb_node_find(t, tb_id64(span_id)) : NONE;
    const char *why = t == NULL ? "nomem" : t->state == T_TOMB ? "late" : "max_spans_per_trace";
    if (named != NONE) {
        const struct node *n = &t->nodes[named];
        walk_parent(t, n->agent, (n->flags & F_HAS_PARENT) != 0, n->parent_id, &w);
    }
    struct am_str agent = w.kind == W_FOUND ? tb_istr_view(s, w.agent) : fallback;
    if (w.kind != W_FOUND) {
        tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL,
                      w.kind == W_ROOT ? "no_agent_ancestor" : why, 1);
    }
    am_quality_add(tb->quality, agent, ev, t != NULL ? t->id : NULL, span_id, now_ns, sink);
}

static void eval_hold_or_emit(struct am_trace_buf *tb, struct shard *s, struct trace *t,
                              const uint8_t *span_id, struct am_str service_name,
                              struct am_str fallback, const struct am_eval *ev, uint64_t now_ns,
                              const struct am_obs_sink *sink)
{
    uint32_t i = tb_node_add(s, t, 0, tb_id64(span_id), true, OP_EVAL);
    struct walk w;
    walk_from(t, i, &w);
    if (w.kind == W_BREAK) {
        struct am_span_facts f;
        memset(&f, 0, sizeof(f));
        f.service_name = service_name;
        uint32_t hi = held_new(s, t, i, &f, now_ns, true);
        t->held[hi].op = OP_EVAL;
        eval_hold(s, t, &t->held[hi], ev);
        bool named = tb_node_find(t, tb_id64(span_id)) == NONE;
        if (hold_waiting(s, t, hi, w.missing, named)) {
            return;
        }
        tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "nomem", 1);
        am_quality_add(tb->quality, fallback, ev, t->id, span_id, now_ns, sink);
        return;
    }
    bool found = w.kind == W_FOUND;
    am_quality_add(tb->quality, found ? tb_istr_view(s, w.agent) : fallback, ev, t->id, span_id,
                   now_ns, sink);
    tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "no_agent_ancestor", found ? 0 : 1);
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
    uint64_t th = trace_hash(trace_id);
    struct shard *s = shard_of(tb, th);
    pthread_mutex_lock(&s->mu);
    size_t before = shard_held(s);
    struct trace *t = tb_trace_touch(s, trace_id, th, now_ns);
    if (t != NULL && t->state == T_LIVE &&
        (tb->rules.max_per_trace == 0 || t->nn < tb->rules.max_per_trace)) {
        eval_hold_or_emit(tb, s, t, span_id, service_name, fallback, ev, now_ns, sink);
    } else {
        eval_now(tb, s, t, span_id, fallback, ev, now_ns, sink);
    }
    shard_settle(tb, s, before); /* the next span added enforces the cap */
    pthread_mutex_unlock(&s->mu);
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

/* A trace whose root arrived and that waits for nothing is finished at
 * once: its per-interaction metrics now, a tombstone for trace_wait. */
static void finish_ready(struct am_trace_buf *tb, struct shard *s, struct trace *touched,
                         const struct am_derive_opts *d, uint64_t now_ns,
                         const struct am_obs_sink *sink)
{
    for (struct trace *t = touched, *next; t != NULL; t = next) {
        next = t->next_touched;
        t->next_touched = NULL;
        if (t->state == T_LIVE && t->root_seen && t->waiting == 0) {
            tb_finish_trace(tb, s, t, d, now_ns, "finished", true, sink);
        }
    }
}

struct classify {
    am_trace_buf_classify_cb fn;
    void *ud;
};

static void classify(const struct classify *c, const struct am_span *span, struct am_span_facts *f)
{
    if (c->fn != NULL) {
        c->fn(c->ud, span, f);
    } else {
        am_classify(span, f);
    }
}

/* The spans of one shard in a batch, under its lock, in request order. */
static void add_group(struct am_trace_buf *tb, struct shard *s, uint64_t batch,
                      const struct am_span *const *spans, const struct classify *cl,
                      const uint64_t *hash, const uint32_t *idx, size_t n,
                      const struct am_derive_opts *d, uint64_t now_ns,
                      const struct am_obs_sink *sink, bool *over)
{
    struct trace *touched = NULL;
    struct incoming in;
    struct am_span_facts f;
    pthread_mutex_lock(&s->mu);
    size_t before = shard_held(s);
    for (size_t k = 0; k < n; k++) {
        uint32_t i = idx[k];
        classify(cl, spans[i], &f);
        incoming_init(tb, &in, spans[i], &f);
        struct trace *t = add_one(tb, s, hash[i], &in, d, now_ns, sink);
        if (t != NULL && t->batch != batch) {
            t->batch = batch;
            t->next_touched = touched;
            touched = t;
        }
    }
    finish_ready(tb, s, touched, d, now_ns, sink);
    *over |= shard_settle(tb, s, before);
    pthread_mutex_unlock(&s->mu);
}

#define BATCH_STACK 1024

void am_trace_buf_add_batch(struct am_trace_buf *tb, const struct am_derive_opts *d,
                            const struct am_span *const *spans, size_t n,
                            am_trace_buf_classify_cb classify_fn, void *classify_ud,
                            uint64_t now_ns, const struct am_obs_sink *sink)
{
    const struct classify cl = {classify_fn, classify_ud};
    uint64_t hash_st[BATCH_STACK];
    uint32_t idx_st[BATCH_STACK], shard_st[BATCH_STACK];
    uint32_t *count = n > 0 ? am_try_calloc(tb->nshards + 1, sizeof(uint32_t)) : NULL;
    uint64_t *hash = hash_st;
    uint32_t *idx = idx_st, *sh = shard_st;
    void *heap = NULL;
    bool over = false;
    if (n == 0) {
        return;
    }
    if (n > BATCH_STACK) {
        heap = am_try_malloc(n * (sizeof(*hash) + 2 * sizeof(*idx)));
        hash = heap;
        idx = heap != NULL ? (uint32_t *)(void *)(hash + n) : NULL;
        sh = idx != NULL ? idx + n : NULL;
    }
    if (count == NULL || hash == NULL) { /* no memory to group: one span at a time */
        for (size_t i = 0; i < n; i++) {
            struct am_span_facts f;
            classify(&cl, spans[i], &f);
            am_trace_buf_add(tb, d, spans[i], &f, now_ns, sink);
        }
        am_free(count);
        return;
    }
    for (size_t i = 0; i < n; i++) { /* counting sort by shard, stable */
        hash[i] = trace_hash(spans[i]->trace_id);
        sh[i] = (uint32_t)(shard_of(tb, hash[i]) - tb->shards);
        count[sh[i] + 1]++;
    }
    for (unsigned k = 0; k < tb->nshards; k++) {
        count[k + 1] += count[k];
    }
    for (size_t i = 0; i < n; i++) {
        idx[count[sh[i]]++] = (uint32_t)i;
    }
    uint64_t batch = atomic_fetch_add(&tb->batches, 1) + 1;
    for (size_t k = 0; k < n;) { /* count[s] is now the end of shard s's run */
        uint32_t s = sh[idx[k]];
        add_group(tb, &tb->shards[s], batch, spans, &cl, hash, idx + k, count[s] - k, d, now_ns,
                  sink, &over);
        k = count[s];
    }
    if (over) {
        evict_global(tb, d, now_ns, sink);
    }
    am_free(heap);
    am_free(count);
}

/* Finish (or, for tombstones, drop) traces quiet for trace_wait; all of
 * them when `all`. Publishes the change in held spans. */
static void expire(struct am_trace_buf *tb, const struct am_derive_opts *d, uint64_t now_ns,
                   bool all, const struct am_obs_sink *sink)
{
    for (unsigned k = 0; k < tb->nshards; k++) {
        struct shard *s = &tb->shards[k];
        pthread_mutex_lock(&s->mu);
        size_t before = shard_held(s);
        while (s->head != NULL && (all || s->head->last_ns + tb->rules.wait_ns <= now_ns)) {
            tb_finish_trace(tb, s, s->head, d, now_ns, all ? "shutdown" : "trace_wait", false,
                            sink);
        }
        shard_settle(tb, s, before);
        pthread_mutex_unlock(&s->mu);
    }
    emit_gauges(tb, sink);
}

void am_trace_buf_tick(struct am_trace_buf *tb, const struct am_derive_opts *d, uint64_t now_ns,
                       const struct am_obs_sink *sink)
{
    expire(tb, d, now_ns, false, sink);
}

void am_trace_buf_flush(struct am_trace_buf *tb, const struct am_derive_opts *d, uint64_t now_ns,
                        const struct am_obs_sink *sink)
{
    expire(tb, d, now_ns, true, sink);
}
