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
            tb_trace_free(s, s->head);
        }
        tb_itab_fini(s);
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

/* Node i's agent: its own name, else its nearest invoke_agent ancestor's,
 * found through every intermediate span held. An evaluation node takes the
 * agent of the span it names. */
static void walk_from(const struct trace *t, uint32_t i, struct walk *w)
{
    const struct node *n = &t->nodes[i];
    if (n->op == OP_EVAL) {
        uint32_t j = tb_node_find(t, n->parent_id);
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
        uint32_t j = tb_node_find(t, n->parent_id);
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
    f->adjusted_count = h->adjusted_count;
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
        struct am_eval ev = {tb_istr_view(s, t->evals[e].name), tb_istr_view(s, t->evals[e].label),
                             t->evals[e].score, t->evals[e].has_score};
        am_quality_add(tb->quality, agent, &ev, t->id, sid, now_ns, sink);
    }
}

/* A waiting record's agent is known (or given up on): emit what it held. */
void tb_held_resolve(struct am_trace_buf *tb, struct shard *s, struct trace *t, uint32_t hi,
                     struct am_str agent, const struct am_derive_opts *d, uint64_t now_ns,
                     const struct am_obs_sink *sink)
{
    struct held *h = &t->held[hi];
    struct am_span_facts f;
    if (h->op != OP_EVAL) {
        tb_held_facts(s, h, &f);
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
            tb_held_resolve(tb, s, t, hi, tb_istr_view(s, w.agent), d, now_ns, sink);
        } else if (w.kind == W_ROOT) {
            tb_held_resolve(tb, s, t, hi, tb_fallback_name(s, h), d, now_ns, sink);
            roots++;
        } else {
            h->wait_on = w.missing;
        }
    }
    tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "no_agent_ancestor", roots);
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
        agent = tb_istr_view(s, w.agent);
    } else {
        agent = f->service_name.len > 0 ? f->service_name : AM_STR("unknown");
        tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "no_agent_ancestor", 1);
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
    uint64_t sid = tb_id64(span->span_id);
    struct am_contrib c;

    pthread_mutex_lock(&s->mu);
    struct trace *t = tb_trace_touch(s, span->trace_id, th, now_ns);
    if (sid != 0 && tb_node_find(t, sid) != NONE) {
        pthread_mutex_unlock(&s->mu); /* a retried span: counted once */
        return;
    }
    uint32_t i = tb_node_add(s, t, sid, span->has_parent ? tb_id64(span->parent_span_id) : 0,
                             span->has_parent, (uint8_t)f->op);
    struct node *n = &t->nodes[i];
    n->conv = tb_intern(s, f->conversation_id);
    n->flags |= escalates(&tb->rules, span, f) ? F_ESCALATE : 0;
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
    if (f->op == AM_OP_INFERENCE || f->op == AM_OP_TOOL || f->op == AM_OP_AGENT || nev > 0) {
        attribute(tb, s, t, i, f, evs, nev, d, now_ns, sink);
    }
    wake(tb, s, t, sid, d, now_ns, sink);
    tb_evict_over_cap(tb, s, d, now_ns, sink);
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
    struct trace *t = tb_trace_touch(s, trace_id, th, now_ns);
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
        hold_waiting(s, t, hi, w.missing);
    } else {
        bool found = w.kind == W_FOUND;
        am_quality_add(tb->quality, found ? tb_istr_view(s, w.agent) : fallback, ev, trace_id,
                       span_id, now_ns, sink);
        tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, "no_agent_ancestor", found ? 0 : 1);
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
            tb_finish_trace(tb, s, s->head, d, now_ns, "trace_wait", sink);
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
            tb_finish_trace(tb, s, s->head, d, now_ns, "shutdown", sink);
        }
        pthread_mutex_unlock(&s->mu);
    }
    emit_gauges(tb, sink);
}
