/*
 * trace_buf_int.h - what the trace_buf files share: the shard (traces,
 * intern table, accounting), trace skeletons and held records, and the
 * functions one file calls in another. Everything here runs under the
 * shard's lock. Not a public interface.
 */
#ifndef AM_TRACE_BUF_INT_H
#define AM_TRACE_BUF_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "am/map.h"
#include "am/trace_buf.h"

#define NONE UINT32_MAX
#define ALLOC_OVERHEAD 16  /* what malloc spends per block, for the accounting */
#define MAX_DEPTH 256      /* parent walks stop here (cycles, absurd nesting) */
#define OP_EVAL 0xff       /* a log-record evaluation waiting for its span */
#define SMALL_TRACE 16     /* up to this many spans, no index: node_find scans */
#define SMALL_WAITS 4      /* up to this many waiter lists, no map: scanned */
#define WQ_LIVE (NONE - 1) /* waitq.next_free of a list in use */

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

/* ---- skeletons ----------------------------------------------------------- */

enum {
    F_HAS_PARENT = 1,
    F_ESCALATE = 2,
    F_USAGE = 4,    /* inference with usage, or an aggregate with usage or cost */
    F_FILTERED = 8, /* processors.genai.filters excluded it: in the skeleton, counted nowhere */
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

/* What a span needs to be derived later. A waiting record sits in the
 * waiter list of the span id it waits for (struct waitq, next_wait). */
struct held {
    uint64_t tokens[AM_TOK_COUNT];
    uint64_t duration_ns;
    uint64_t arrival_ns;
    uint64_t ttft_ns;
    double adjusted_count;      /* sampling; 0 = 1 */
    uint32_t dims[AM_MAX_DIMS]; /* intern ids of the span's own dimension values */
    double cost;
    uint32_t operation, provider, request_model, response_model, tool, error_type, service;
    uint32_t tokens_present;
    uint32_t first_eval; /* NONE */
    uint32_t node;
    uint32_t next_wait; /* next record waiting for the same span id, NONE */
    uint8_t op, outcome, has_cost, waiting, has_ttft, dims_set, filtered;
};

struct heval {
    double score;
    uint32_t name, label;
    uint32_t next;
    uint8_t has_score;
};

/* The records waiting for one span id that has not arrived: spans (and
 * evaluations already past the span they name) wait for an ancestor in
 * [head..tail]; evaluations wait for the span they name in `evals`. */
struct waitq {
    uint64_t span_id;
    uint32_t head, tail, evals; /* held indexes, NONE */
    uint32_t next_free;
};

enum trace_state { T_LIVE, T_TOMB };

/* The dimension values of one invoke_agent node, for the spans below it
 * (processors.genai.dimensions): an intern id of the encoded tuple. */
struct adim {
    uint32_t node;
    uint32_t tuple;
};

struct trace {
    uint8_t id[16];
    uint64_t hash;
    struct trace *prev, *next; /* by last arrival */
    uint64_t last_ns;
    uint64_t batch; /* the add_batch call that last touched it */
    struct node *nodes;
    struct held *held;
    struct heval *evals;
    struct waitq *wq; /* &wq1 or heap */
    struct waitq wq1;
    struct am_map *idx;   /* span id -> node index + 1, past SMALL_TRACE spans */
    struct am_map *waits; /* waited-for span id -> waitq index + 1, past SMALL_WAITS */
    struct adim *adims;   /* dimensions of its invoke_agent spans (kept in a tombstone) */
    uint32_t nad, adcap;
    uint32_t nn, ncap, nh, hcap, ne, ecap, nwq, wqcap, wq_free, waiting;
    uint8_t state;                      /* enum trace_state */
    uint8_t root_seen;                  /* a span without a parent arrived */
    uint8_t index_failed, waits_failed; /* a map could not be had: scans instead */
    struct trace *next_touched;         /* during one add_batch shard group */
};

struct shard {
    pthread_mutex_t mu;
    struct am_map traces; /* by seeded trace id hash */
    size_t ntraces, nspans, nwaiting, ntombs, ntomb_spans, bytes;
    struct trace *head, *tail;
    struct itab strs;
};

struct rules {
    uint64_t wait_ns;
    size_t max_total;     /* max_pending_spans, all shards; 0 = none */
    size_t max_per_trace; /* max_spans_per_trace; 0 = none */
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
    _Atomic size_t held_spans; /* live + tombstone spans, all shards */
    _Atomic uint64_t batches;
    _Atomic unsigned evict_from; /* where global eviction starts */
};

enum walk_kind { W_FOUND, W_ROOT, W_BREAK };

struct walk {
    enum walk_kind kind;
    uint32_t agent;   /* W_FOUND: intern id of the agent name */
    uint64_t missing; /* W_BREAK: the span id not held yet */
    uint32_t node;    /* W_FOUND: the invoke_agent node, NONE for a span's own name */
};

/* ---- store: accounting, intern table, traces (trace_buf_store.c) ------- */

void tb_acct(struct shard *s, size_t old_bytes, size_t new_bytes);
void *tb_arr_resize(struct shard *s, void *p, size_t elt, uint32_t ocap, uint32_t ncap);
uint32_t tb_grow_cap(uint32_t cap);
uint32_t tb_intern(struct shard *s, struct am_str str);
void tb_release(struct shard *s, uint32_t id);
void tb_itab_fini(struct shard *s);
struct trace *tb_trace_touch(struct shard *s, const uint8_t *id, uint64_t hash, uint64_t now_ns);
void tb_trace_free(struct shard *s, struct trace *t);
void tb_trace_strip(struct shard *s, struct trace *t);
void tb_shard_init(struct shard *s);
void tb_shard_fini(struct shard *s);
uint32_t tb_waitq(struct shard *s, struct trace *t, uint64_t sid, bool create);
void tb_waitq_take(struct shard *s, struct trace *t, uint32_t q);
uint32_t tb_node_add(struct shard *s, struct trace *t, uint64_t sid, uint64_t parent,
                     bool has_parent, uint8_t op);
uint32_t tb_intern_agent(struct shard *s, const struct trace *t, struct am_str name);

/* ---- intern table (per shard, under its lock) ---------------------------- */

static inline struct istr *tb_istr_get(const struct shard *s, uint32_t id)
{
    return s->strs.ent[id];
}

static inline struct am_str tb_istr_view(const struct shard *s, uint32_t id)
{
    if (id == 0) {
        return AM_STR_NULL;
    }
    const struct istr *e = tb_istr_get(s, id);
    return (struct am_str){e->s, e->len};
}

/* ---- traces and their span index ----------------------------------------- */

static inline uint64_t tb_id64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Span ids are peer data: the seeded hash (core/map). */
static inline uint64_t tb_span_hash(uint64_t span_id)
{
    return am_map_hash(&span_id, sizeof(span_id));
}

static inline uint32_t tb_node_find(const struct trace *t, uint64_t span_id)
{
    if (span_id == 0) {
        return NONE;
    }
    if (t->idx == NULL) { /* small trace (or no index): a scan beats hashing */
        for (uint32_t i = 0; i < t->nn; i++) {
            if (t->nodes[i].span_id == span_id) {
                return i;
            }
        }
        return NONE;
    }
    void *v = am_map_get(t->idx, tb_span_hash(span_id), &span_id, sizeof(span_id));
    return v != NULL ? (uint32_t)((uintptr_t)v - 1) : NONE;
}

/* ---- attribution (trace_buf.c) and finishing (trace_buf_finish.c) ------ */

void tb_finish_trace(struct am_trace_buf *tb, struct shard *s, struct trace *t,
                     const struct am_derive_opts *d, uint64_t now_ns, const char *why, bool tomb,
                     const struct am_obs_sink *sink);
void tb_evict_head(struct am_trace_buf *tb, struct shard *s, const struct am_derive_opts *d,
                   uint64_t now_ns, const struct am_obs_sink *sink);
void tb_held_resolve(struct am_trace_buf *tb, struct shard *s, struct trace *t, uint32_t hi,
                     struct am_str agent, uint32_t agent_node, const struct am_derive_opts *d,
                     uint64_t now_ns, const struct am_obs_sink *sink);
void tb_inherit_dims(const struct shard *s, const struct trace *t, uint32_t agent_node,
                     struct am_span_facts *f);
void tb_agent_dims(struct shard *s, struct trace *t, uint32_t node, const struct am_span_facts *f);
struct am_str tb_fallback_name(const struct shard *s, const struct held *h);
void tb_held_facts(const struct shard *s, const struct held *h, struct am_span_facts *f);
void tb_emit_count(const struct am_obs_sink *sink, enum am_metric m, const char *reason, size_t n);

#endif
