/*
 * trace_buf_finish.c - finishing a quiet (or evicted, or flushed) trace:
 * waiting spans fall back to service.name, usage is counted bottom-up with
 * the aggregate rule, per-request sums of every invoke_agent span are
 * emitted, and turns and escalations go to conv. Then the trace is freed.
 */
#include "am/alloc.h"
#include "trace_buf_int.h"

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
        x->parent[i] = linked ? tb_node_find(t, nd->parent_id) : NONE;
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
        return tb_istr_view(s, n->agent);
    }
    if (x->agent_of[i] != NONE) {
        return tb_istr_view(s, t->nodes[x->agent_of[i]].agent);
    }
    return n->held != NONE ? tb_fallback_name(s, &t->held[n->held]) : AM_STR("unknown");
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
        if (n->flags & F_FILTERED) {
            /* excluded: only a link in the chain (no usage: contrib was 0) */
        } else if (n->op == AM_OP_INFERENCE) {
            counted = (n->flags & F_USAGE) != 0;
            if (owner != NONE) {
                x->sums[owner].inference_calls++;
            }
        } else if (n->op == AM_OP_TOOL && owner != NONE) {
            x->sums[owner].tool_calls++;
        } else if ((n->op == AM_OP_AGENT || n->op == AM_OP_WRAPPER) && (n->flags & F_USAGE) &&
                   !x->below[i] && n->held != NONE) {
            struct am_span_facts f;
            tb_held_facts(s, &t->held[n->held], &f);
            tb_inherit_dims(s, t, n->op == AM_OP_AGENT ? NONE : x->agent_of[i], &f);
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

/* An invoke_agent span under another agent is an agent -> agent edge of
 * the agent graph (sub-agent or hand-off). */
static void finish_edge(const struct shard *s, const struct trace *t, const struct scratch *x,
                        uint32_t i, struct am_str callee, const struct am_derive_opts *d,
                        const struct am_obs_sink *sink)
{
    const struct node *n = &t->nodes[i];
    struct am_obs out[2];
    struct am_span_facts f;
    if (x->agent_of[i] == NONE || n->held == NONE) {
        return;
    }
    tb_held_facts(s, &t->held[n->held], &f);
    struct am_str caller = tb_istr_view(s, t->nodes[x->agent_of[i]].agent);
    size_t m =
        am_derive_agent_edge(d, caller, callee, &f, t->id, (const uint8_t *)&n->span_id, out);
    sink->fn(sink->ud, out, m);
}

static void finish_agents(struct am_trace_buf *tb, struct shard *s, struct trace *t,
                          struct scratch *x, const struct am_derive_opts *d,
                          const struct am_obs_sink *sink)
{
    struct am_obs out[4];
    struct am_span_facts f;
    for (uint32_t i = 0; i < t->nn; i++) {
        const struct node *n = &t->nodes[i];
        if (n->op != AM_OP_AGENT || (n->flags & F_FILTERED)) {
            continue;
        }
        struct am_str agent = tb_istr_view(s, n->agent);
        x->sums[i].agent_facts = NULL;
        if (n->held != NONE) {
            tb_held_facts(s, &t->held[n->held], &f);
            x->sums[i].agent_facts = &f;
        }
        size_t m =
            am_derive_request(d, agent, &x->sums[i], t->id, (const uint8_t *)&n->span_id, out);
        sink->fn(sink->ud, out, m);
        finish_edge(s, t, x, i, agent, d, sink);
        uint32_t conv = x->agent_of[i] == NONE ? conv_of(t, x, i) : 0;
        if (conv != 0 && tb->conv != NULL) {
            am_conv_turn(tb->conv, tb_istr_view(s, conv), agent, t->held[n->held].arrival_ns, sink);
        }
    }
    for (uint32_t i = 0; i < t->nn && tb->conv != NULL; i++) {
        uint32_t conv = (t->nodes[i].flags & F_ESCALATE) ? conv_of(t, x, i) : 0;
        if (conv != 0) {
            am_conv_escalate(tb->conv, tb_istr_view(s, conv));
        }
    }
}

/* The trace is finished at once (tomb), or quiet, evicted or shut down:
 * resolve its waiting spans with the fallback, emit its per-request
 * metrics and conversation facts; then keep its skeleton as a tombstone
 * (ids, parents and agents only) or free it. A tombstone is only freed. */
void tb_finish_trace(struct am_trace_buf *tb, struct shard *s, struct trace *t,
                     const struct am_derive_opts *d, uint64_t now_ns, const char *why, bool tomb,
                     const struct am_obs_sink *sink)
{
    size_t fell_back = 0;
    struct scratch x;
    if (t->state == T_TOMB) {
        tb_trace_free(s, t);
        return;
    }
    for (uint32_t hi = 0; hi < t->nh && t->waiting > 0; hi++) {
        if (t->held[hi].waiting) {
            tb_held_resolve(tb, s, t, hi, tb_fallback_name(s, &t->held[hi]), NONE, d, now_ns, sink);
            fell_back++;
        }
    }
    tb_emit_count(sink, AM_M_SELF_AGENT_FALLBACK_TOTAL, why, fell_back);
    scratch_init(&x, t);
    finish_usage(s, t, &x, d, sink);
    finish_agents(tb, s, t, &x, d, sink);
    scratch_fini(&x);
    if (!tomb) {
        tb_trace_free(s, t);
        return;
    }
    tb_trace_strip(s, t);
    t->state = T_TOMB;
    s->nspans -= t->nn;
    s->ntomb_spans += t->nn;
    s->ntombs++;
}

/* Over max_pending_spans: the quietest trace goes first. A tombstone is
 * dropped; a live trace is finished early and its spans counted. */
void tb_evict_head(struct am_trace_buf *tb, struct shard *s, const struct am_derive_opts *d,
                   uint64_t now_ns, const struct am_obs_sink *sink)
{
    struct trace *t = s->head;
    if (t->state == T_LIVE) {
        tb_emit_count(sink, AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, "max_pending_spans", t->nn);
    }
    tb_finish_trace(tb, s, t, d, now_ns, "max_pending_spans", false, sink);
}
