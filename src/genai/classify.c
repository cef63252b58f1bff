/*
 * classify.c - one span's attributes, in any dialect of SPEC.md 3.1, mapped
 * to struct am_span_facts. The mapping is data: `rows` lists, per fact, the
 * attribute keys to try in precedence order (current semconv first), and
 * `op_values` maps each dialect's operation values. One pass over the span's
 * attributes finds every known key through a small core/map index built once.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "am/classify.h"
#include "am/err.h"
#include "am/log.h"
#include "am/map.h"

enum fact {
    F_OP,
    F_PROVIDER,
    F_REQUEST_MODEL,
    F_RESPONSE_MODEL,
    F_TOK_INPUT,
    F_TOK_OUTPUT,
    F_TOK_CACHE_READ,
    F_TOK_CACHE_WRITE,
    F_TOK_REASONING,
    F_AGENT_NAME,
    F_TOOL_NAME,
    F_CONVERSATION,
    F_ERROR_TYPE,
    F_COST,
    F_COUNT
};

/* Row qualifiers: where an operation value comes from, or when a row applies. */
enum qual {
    Q_NONE,
    Q_OP_SEMCONV,   /* gen_ai.operation.name: every value is taken */
    Q_OP_VERCEL,    /* ai.operationId */
    Q_OP_OPENINF,   /* openinference.span.kind */
    Q_OP_LLM_TYPE,  /* llm.request.type (OpenLLMetry legacy) */
    Q_OP_TRACELOOP, /* traceloop.span.kind */
    Q_TL_AGENT,     /* only when traceloop.span.kind is "agent" */
    Q_TL_TOOL,      /* only when traceloop.span.kind is "tool" */
    Q_CUT_DOT,      /* keep the part before the first '.' ("openai.chat" -> "openai") */
};

struct row {
    const char *key;
    unsigned char fact;
    unsigned char qual;
};

#define ROW(k, f, q)                                                                               \
    {                                                                                              \
        k, f, q                                                                                    \
    }

/* Per fact, first present wins; rows of one fact are contiguous and ordered. */
static const struct row rows[] = {
    ROW("gen_ai.operation.name", F_OP, Q_OP_SEMCONV),
    ROW("ai.operationId", F_OP, Q_OP_VERCEL),
    ROW("openinference.span.kind", F_OP, Q_OP_OPENINF),
    ROW("llm.request.type", F_OP, Q_OP_LLM_TYPE),
    ROW("traceloop.span.kind", F_OP, Q_OP_TRACELOOP),

    ROW("gen_ai.provider.name", F_PROVIDER, Q_NONE),
    ROW("gen_ai.system", F_PROVIDER, Q_NONE),
    ROW("llm.provider", F_PROVIDER, Q_NONE),
    ROW("llm.system", F_PROVIDER, Q_NONE),
    ROW("ai.model.provider", F_PROVIDER, Q_CUT_DOT),

    ROW("gen_ai.request.model", F_REQUEST_MODEL, Q_NONE),
    ROW("llm.model_name", F_REQUEST_MODEL, Q_NONE),
    ROW("embedding.model_name", F_REQUEST_MODEL, Q_NONE), /* OpenInference EMBEDDING spans */
    ROW("ai.model.id", F_REQUEST_MODEL, Q_NONE),

    ROW("gen_ai.response.model", F_RESPONSE_MODEL, Q_NONE),
    ROW("llm.response.model_name", F_RESPONSE_MODEL, Q_NONE),
    ROW("ai.response.model", F_RESPONSE_MODEL, Q_NONE),

    ROW("gen_ai.usage.input_tokens", F_TOK_INPUT, Q_NONE),
    ROW("gen_ai.usage.prompt_tokens", F_TOK_INPUT, Q_NONE),
    ROW("llm.token_count.prompt", F_TOK_INPUT, Q_NONE),
    ROW("ai.usage.inputTokens", F_TOK_INPUT, Q_NONE),
    ROW("ai.usage.promptTokens", F_TOK_INPUT, Q_NONE),

    ROW("gen_ai.usage.output_tokens", F_TOK_OUTPUT, Q_NONE),
    ROW("gen_ai.usage.completion_tokens", F_TOK_OUTPUT, Q_NONE),
    ROW("llm.token_count.completion", F_TOK_OUTPUT, Q_NONE),
    ROW("ai.usage.outputTokens", F_TOK_OUTPUT, Q_NONE),
    ROW("ai.usage.completionTokens", F_TOK_OUTPUT, Q_NONE),

    ROW("gen_ai.usage.cache_read.input_tokens", F_TOK_CACHE_READ, Q_NONE),
    ROW("gen_ai.usage.cache_read_input_tokens", F_TOK_CACHE_READ, Q_NONE),
    ROW("llm.token_count.prompt_details.cache_read", F_TOK_CACHE_READ, Q_NONE),
    ROW("ai.usage.cachedInputTokens", F_TOK_CACHE_READ, Q_NONE),

    ROW("gen_ai.usage.cache_write.input_tokens", F_TOK_CACHE_WRITE, Q_NONE),
    ROW("gen_ai.usage.cache_creation.input_tokens", F_TOK_CACHE_WRITE, Q_NONE),
    ROW("gen_ai.usage.cache_creation_input_tokens", F_TOK_CACHE_WRITE, Q_NONE),
    ROW("llm.token_count.prompt_details.cache_write", F_TOK_CACHE_WRITE, Q_NONE),

    ROW("gen_ai.usage.reasoning.output_tokens", F_TOK_REASONING, Q_NONE),
    ROW("gen_ai.usage.reasoning_tokens", F_TOK_REASONING, Q_NONE),
    ROW("llm.token_count.completion_details.reasoning", F_TOK_REASONING, Q_NONE),
    ROW("ai.usage.reasoningTokens", F_TOK_REASONING, Q_NONE),

    ROW("gen_ai.agent.name", F_AGENT_NAME, Q_NONE),
    ROW("traceloop.entity.name", F_AGENT_NAME, Q_TL_AGENT),
    ROW("agent.name", F_AGENT_NAME, Q_NONE),
    ROW("ai.telemetry.functionId", F_AGENT_NAME, Q_NONE),

    ROW("gen_ai.tool.name", F_TOOL_NAME, Q_NONE),
    ROW("traceloop.entity.name", F_TOOL_NAME, Q_TL_TOOL),
    ROW("tool.name", F_TOOL_NAME, Q_NONE),
    ROW("ai.toolCall.name", F_TOOL_NAME, Q_NONE),

    ROW("gen_ai.conversation.id", F_CONVERSATION, Q_NONE),
    ROW("traceloop.association.properties.session_id", F_CONVERSATION, Q_NONE),
    ROW("session.id", F_CONVERSATION, Q_NONE),

    ROW("error.type", F_ERROR_TYPE, Q_NONE),

    ROW("llm.cost.total", F_COST, Q_NONE),
    ROW("gen_ai.usage.cost", F_COST, Q_NONE),
    ROW("operation.cost", F_COST, Q_NONE),
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))
_Static_assert(NROWS <= 64, "the presence mask is one uint64_t");

/*
 * Operation values per dialect. name NULL keeps the attribute's own value.
 * Dialect values not listed here are not recognized and the next operation
 * row is tried; gen_ai.operation.name values are always taken.
 */
struct op_value {
    unsigned char qual;
    struct am_str value; /* compared ASCII case-insensitively */
    enum am_op op;
    const char *name;
};

static const struct op_value op_values[] = {
    {Q_OP_SEMCONV, AM_STR("invoke_agent"), AM_OP_AGENT, NULL},
    {Q_OP_SEMCONV, AM_STR("chat"), AM_OP_INFERENCE, NULL},
    {Q_OP_SEMCONV, AM_STR("text_completion"), AM_OP_INFERENCE, NULL},
    {Q_OP_SEMCONV, AM_STR("generate_content"), AM_OP_INFERENCE, NULL},
    {Q_OP_SEMCONV, AM_STR("embeddings"), AM_OP_INFERENCE, NULL},
    {Q_OP_SEMCONV, AM_STR("execute_tool"), AM_OP_TOOL, NULL},
    {Q_OP_SEMCONV, AM_STR("fetch_response"), AM_OP_FETCH, NULL},

    {Q_OP_VERCEL, AM_STR("ai.generateText"), AM_OP_WRAPPER, NULL},
    {Q_OP_VERCEL, AM_STR("ai.streamText"), AM_OP_WRAPPER, NULL},
    {Q_OP_VERCEL, AM_STR("ai.generateObject"), AM_OP_WRAPPER, NULL},
    {Q_OP_VERCEL, AM_STR("ai.streamObject"), AM_OP_WRAPPER, NULL},
    {Q_OP_VERCEL, AM_STR("ai.embed"), AM_OP_WRAPPER, NULL},
    {Q_OP_VERCEL, AM_STR("ai.embedMany"), AM_OP_WRAPPER, NULL},
    {Q_OP_VERCEL, AM_STR("ai.generateText.doGenerate"), AM_OP_INFERENCE, "chat"},
    {Q_OP_VERCEL, AM_STR("ai.streamText.doStream"), AM_OP_INFERENCE, "chat"},
    {Q_OP_VERCEL, AM_STR("ai.generateObject.doGenerate"), AM_OP_INFERENCE, "chat"},
    {Q_OP_VERCEL, AM_STR("ai.streamObject.doStream"), AM_OP_INFERENCE, "chat"},
    {Q_OP_VERCEL, AM_STR("ai.embed.doEmbed"), AM_OP_INFERENCE, "embeddings"},
    {Q_OP_VERCEL, AM_STR("ai.embedMany.doEmbed"), AM_OP_INFERENCE, "embeddings"},
    {Q_OP_VERCEL, AM_STR("ai.toolCall"), AM_OP_TOOL, "execute_tool"},

    {Q_OP_OPENINF, AM_STR("LLM"), AM_OP_INFERENCE, "chat"},
    {Q_OP_OPENINF, AM_STR("EMBEDDING"), AM_OP_INFERENCE, "embeddings"},
    {Q_OP_OPENINF, AM_STR("AGENT"), AM_OP_AGENT, "invoke_agent"},
    {Q_OP_OPENINF, AM_STR("TOOL"), AM_OP_TOOL, "execute_tool"},
    {Q_OP_OPENINF, AM_STR("CHAIN"), AM_OP_OTHER, ""},
    {Q_OP_OPENINF, AM_STR("RETRIEVER"), AM_OP_OTHER, ""},
    {Q_OP_OPENINF, AM_STR("RERANKER"), AM_OP_OTHER, ""},
    {Q_OP_OPENINF, AM_STR("GUARDRAIL"), AM_OP_OTHER, ""},
    {Q_OP_OPENINF, AM_STR("EVALUATOR"), AM_OP_OTHER, ""},

    {Q_OP_LLM_TYPE, AM_STR("chat"), AM_OP_INFERENCE, "chat"},
    {Q_OP_LLM_TYPE, AM_STR("completion"), AM_OP_INFERENCE, "text_completion"},
    {Q_OP_LLM_TYPE, AM_STR("embedding"), AM_OP_INFERENCE, "embeddings"},
    {Q_OP_LLM_TYPE, AM_STR("rerank"), AM_OP_OTHER, ""},

    {Q_OP_TRACELOOP, AM_STR("agent"), AM_OP_AGENT, "invoke_agent"},
    {Q_OP_TRACELOOP, AM_STR("tool"), AM_OP_TOOL, "execute_tool"},
    {Q_OP_TRACELOOP, AM_STR("workflow"), AM_OP_OTHER, ""},
    {Q_OP_TRACELOOP, AM_STR("task"), AM_OP_OTHER, ""},
};

/*
 * The key index: a core/map from each key of `rows` to a kslot holding the
 * key's length and its first, last and second 8 bytes, so a lookup of a key
 * of up to 24 bytes compares them without touching the key text; longer
 * keys compare their other middle words against `rows`. A kslot's `rows`
 * has a bit for every row with its key (traceloop.entity.name serves two
 * facts); `alt` is the second such row, or EMPTY. Built once, at first use,
 * and read-only afterwards; this is the only state classify has.
 *
 * Its hash is a fixed mix of the length and the first and last words, not
 * the seeded am_map_hash: the index holds only our own keys and never
 * grows, so a peer choosing attribute keys can only pick which of its fixed
 * probe runs a lookup walks, and idx_build asserts the longest is at most
 * KEY_MAX_PROBE slots. A gperf perfect hash generated at build time was
 * tried and is slower here (gperf 3.1's lookup hashes chosen bytes, then
 * memcmp()s the text: 110 M instructions in am_classify for 102,400
 * bench_trace_buf spans against 95 M with this index), besides needing a
 * generator, a build dependency and the keys kept outside `rows`.
 */
#define EMPTY 0xff
#define MIN_KEY 8
#define KEY_MAX_PROBE 8

struct kslot {
    uint64_t first;
    uint64_t last;
    uint64_t mid; /* bytes 8..16, when len > 16 */
    uint64_t rows;
    const char *key;
    uint32_t len;
    unsigned char row;
    unsigned char alt;
};

static struct {
    struct am_map map; /* key -> kslot */
    struct kslot ks[NROWS];
    unsigned char tl_kind_row;                          /* the traceloop.span.kind row */
    unsigned char openinf_row;                          /* the openinference.span.kind row */
    unsigned char op_lo[Q_TL_AGENT], op_hi[Q_TL_AGENT]; /* op_values range per qual */
} idx;
static pthread_mutex_t idx_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool idx_ready;

static inline uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t key_hash(uint64_t first, uint64_t last, size_t len)
{
    uint64_t h = (first ^ (last * 0xc2b2ae3d27d4eb4fu) ^ len) * 0x9e3779b97f4a7c15u;
    return h ^ (h >> 32); /* core/map indexes by the low bits */
}

/* A key being looked up, with its words loaded once. */
struct kprobe {
    const char *p;
    size_t len;
    uint64_t first;
    uint64_t last;
};

/* Length first, then the words held in the kslot, then the rest of the text. */
static inline bool kslot_eq(const void *value, const void *key)
{
    const struct kslot *ks = value;
    const struct kprobe *k = key;
    if (ks->len != k->len || ks->first != k->first || ks->last != k->last ||
        (k->len > 16 && ks->mid != load8(k->p + 8))) {
        return false;
    }
    size_t i = 16;
    while (i + 8 < k->len && load8(ks->key + i) == load8(k->p + i)) {
        i += 8;
    }
    return i + 8 >= k->len;
}

static void kslot_key(const void *value, const void **key, size_t *key_len)
{
    const struct kslot *ks = value;
    *key = ks->key;
    *key_len = ks->len;
}

static const struct am_map_ops kslot_ops = {.key = kslot_key};

/* The kslot of key, or NULL. */
static inline const struct kslot *key_find(const char *p, size_t len)
{
    if (len < MIN_KEY) {
        return NULL;
    }
    struct kprobe k = {p, len, load8(p), load8(p + len - 8)};
    return am_map_find(&idx.map, key_hash(k.first, k.last, len), kslot_eq, &k);
}

/* Slots a lookup of an absent key may walk at most: the longest run of
 * occupied slots (the map keeps at least one slot empty). */
static size_t longest_run(const struct am_map *m)
{
    size_t longest = 0;
    size_t run = 0;
    for (size_t i = 0; i < 2 * m->cap; i++) {
        run = m->slots[i & (m->cap - 1)].value != NULL ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    return longest;
}

/* Fill the index from `rows`. Returns AM_OK, or AM_ENOMEM (nothing kept). */
static int idx_build(void)
{
    am_map_init(&idx.map, &kslot_ops, NULL);
    /* at most 0.35 full: runs stay short (5 slots with the current keys) */
    if (am_map_reserve(&idx.map, 2 * NROWS) != AM_OK) {
        return AM_ENOMEM;
    }
    unsigned n = 0;
    for (unsigned r = 0; r < NROWS; r++) {
        const char *k = rows[r].key;
        size_t len = strlen(k);
        struct kslot *ks = (struct kslot *)key_find(k, len);
        if (ks != NULL) {
            ks->rows |= UINT64_C(1) << r;
            ks->alt = (unsigned char)r;
            continue;
        }
        if (rows[r].qual == Q_OP_TRACELOOP) {
            idx.tl_kind_row = (unsigned char)r;
        }
        if (rows[r].qual == Q_OP_OPENINF) {
            idx.openinf_row = (unsigned char)r;
        }
        ks = &idx.ks[n++];
        *ks = (struct kslot){.first = load8(k),
                             .last = load8(k + len - 8),
                             .mid = len > 16 ? load8(k + 8) : 0,
                             .rows = UINT64_C(1) << r,
                             .key = k,
                             .len = (uint32_t)len,
                             .row = (unsigned char)r,
                             .alt = EMPTY};
        (void)am_map_insert(&idx.map, key_hash(ks->first, ks->last, len), ks); /* reserved */
    }
    AM_ASSERT(longest_run(&idx.map) <= KEY_MAX_PROBE); /* else change key_hash */
    for (unsigned i = 0; i < sizeof(op_values) / sizeof(op_values[0]); i++) {
        unsigned q = op_values[i].qual;
        if (idx.op_hi[q] == 0) {
            idx.op_lo[q] = (unsigned char)i;
        }
        idx.op_hi[q] = (unsigned char)(i + 1);
    }
    return AM_OK;
}

/* Build the index on first use. Its one allocation may fail (tests make
 * it): then this span is classified with no keys and the next call retries. */
static void idx_once(void)
{
    if (atomic_load_explicit(&idx_ready, memory_order_acquire)) {
        return;
    }
    pthread_mutex_lock(&idx_mu);
    if (!atomic_load_explicit(&idx_ready, memory_order_relaxed) && idx_build() == AM_OK) {
        atomic_store_explicit(&idx_ready, true, memory_order_release);
    }
    pthread_mutex_unlock(&idx_mu);
}

/* What one pass over the attributes found: the value of each present key. */
struct seen {
    uint64_t mask; /* bit r: row r's key is present */
    const struct am_anyval *val[NROWS];
};

static void scan(const struct am_attrs *attrs, struct seen *sn)
{
    sn->mask = 0;
    for (size_t i = 0; i < attrs->count; i++) {
        const struct am_kv *kv = &attrs->items[i];
        const struct kslot *sl = key_find(kv->key.ptr, kv->key.len);
        if (sl == NULL || (sn->mask & sl->rows) != 0) {
            continue; /* unknown key, or a repeated one: the first wins */
        }
        sn->val[sl->row] = &kv->val;
        if (sl->alt != EMPTY) {
            sn->val[sl->alt] = &kv->val;
        }
        sn->mask |= sl->rows;
    }
}

static const struct am_anyval *row_val(const struct seen *sn, unsigned r)
{
    return (sn->mask & (UINT64_C(1) << r)) ? sn->val[r] : NULL;
}

static bool val_str(const struct am_anyval *v, struct am_str *out)
{
    if (v->type != AM_VAL_STRING || v->u.s.len == 0) {
        return false;
    }
    *out = v->u.s;
    return true;
}

/* A number as int, double or decimal string. */
static bool val_double(const struct am_anyval *v, double *out)
{
    switch (v->type) {
    case AM_VAL_INT:
        *out = (double)v->u.i;
        return true;
    case AM_VAL_DOUBLE:
        *out = v->u.d;
        return isfinite(*out);
    case AM_VAL_STRING:
        return am_str_to_double(v->u.s, out) == AM_OK && isfinite(*out);
    default:
        return false;
    }
}

/* A token count: a non-negative integer as int, double or decimal string. */
static bool val_tokens(const struct am_anyval *v, uint64_t *out)
{
    double d;
    if (v->type == AM_VAL_INT) {
        if (v->u.i < 0) {
            return false;
        }
        *out = (uint64_t)v->u.i;
        return true;
    }
    if (v->type == AM_VAL_STRING && am_str_to_u64(v->u.s, out) == AM_OK) {
        return true;
    }
    if (!val_double(v, &d) || d < 0 || d >= 18446744073709551616.0) {
        return false;
    }
    *out = (uint64_t)d;
    return true;
}

static bool cstr_case_eq(struct am_str s, const char *c)
{
    return am_str_case_eq(s, am_str_from(c));
}

/*
 * The op_values entry of qual matching s ASCII case-insensitively, or NULL.
 * Values within one qual differ case-insensitively, so the exact spelling,
 * tried first, finds the same entry.
 */
static const struct op_value *op_find(unsigned qual, struct am_str s)
{
    for (unsigned i = idx.op_lo[qual]; i < idx.op_hi[qual]; i++) {
        const struct op_value *ov = &op_values[i];
        if (ov->value.len == s.len && memcmp(ov->value.ptr, s.ptr, s.len) == 0) {
            return ov;
        }
    }
    for (unsigned i = idx.op_lo[qual]; i < idx.op_hi[qual]; i++) {
        if (am_str_case_eq(s, op_values[i].value)) {
            return &op_values[i];
        }
    }
    return NULL;
}

/* Map one operation row's value; false when the dialect value is unknown. */
static bool take_op(unsigned qual, const struct am_anyval *v, struct am_span_facts *out)
{
    struct am_str s;
    if (!val_str(v, &s)) {
        return false;
    }
    const struct op_value *ov = op_find(qual, s);
    if (ov != NULL) {
        out->op = ov->op;
        out->operation = ov->name ? am_str_from(ov->name) : s;
        return true;
    }
    if (qual != Q_OP_SEMCONV) {
        return false;
    }
    out->op = AM_OP_OTHER;
    out->operation = s;
    return true;
}

static bool tl_kind_is(const struct seen *sn, const char *kind)
{
    const struct am_anyval *v = row_val(sn, idx.tl_kind_row);
    struct am_str s;
    return v && val_str(v, &s) && cstr_case_eq(s, kind);
}

/* A qualified string row's condition and cut; false when it does not apply. */
static bool str_qual(unsigned qual, const struct seen *sn, struct am_str *s)
{
    if ((qual == Q_TL_AGENT && !tl_kind_is(sn, "agent")) ||
        (qual == Q_TL_TOOL && !tl_kind_is(sn, "tool"))) {
        return false;
    }
    if (qual == Q_CUT_DOT) {
        const char *dot = memchr(s->ptr, '.', s->len);
        if (dot && dot != s->ptr) {
            s->len = (size_t)(dot - s->ptr);
        }
    }
    return true;
}

static inline bool take_str(const struct row *rw, const struct seen *sn, const struct am_anyval *v,
                            struct am_str *dst)
{
    struct am_str s;
    if (!val_str(v, &s) || (rw->qual != Q_NONE && !str_qual(rw->qual, sn, &s))) {
        return false;
    }
    *dst = s;
    return true;
}

static bool take_tokens(struct am_span_facts *out, enum am_tok t, const struct am_anyval *v)
{
    if (!val_tokens(v, &out->tokens[t])) {
        return false;
    }
    out->tokens_present |= 1u << t;
    return true;
}

static bool take_cost(struct am_span_facts *out, const struct am_anyval *v)
{
    double d;
    if (!val_double(v, &d) || d < 0) {
        return false;
    }
    out->cost = d;
    out->has_cost = true;
    return true;
}

/* Try one row's value for its fact; true when the fact is now decided. */
static bool take(const struct row *rw, const struct seen *sn, const struct am_anyval *v,
                 struct am_span_facts *out)
{
    switch ((enum fact)rw->fact) {
    case F_OP:
        return take_op(rw->qual, v, out);
    case F_PROVIDER:
        return take_str(rw, sn, v, &out->provider);
    case F_REQUEST_MODEL:
        return take_str(rw, sn, v, &out->request_model);
    case F_RESPONSE_MODEL:
        return take_str(rw, sn, v, &out->response_model);
    case F_TOK_INPUT:
        return take_tokens(out, AM_TOK_INPUT, v);
    case F_TOK_OUTPUT:
        return take_tokens(out, AM_TOK_OUTPUT, v);
    case F_TOK_CACHE_READ:
        return take_tokens(out, AM_TOK_CACHE_READ, v);
    case F_TOK_CACHE_WRITE:
        return take_tokens(out, AM_TOK_CACHE_WRITE, v);
    case F_TOK_REASONING:
        return take_tokens(out, AM_TOK_REASONING, v);
    case F_AGENT_NAME:
        return take_str(rw, sn, v, &out->agent_name);
    case F_TOOL_NAME:
        return take_str(rw, sn, v, &out->tool_name);
    case F_CONVERSATION:
        return take_str(rw, sn, v, &out->conversation_id);
    case F_ERROR_TYPE:
        return take_str(rw, sn, v, &out->error_type);
    case F_COST:
        return take_cost(out, v);
    case F_COUNT:
        break;
    }
    return false;
}

/*
 * Two agent invocations no attribute names as such:
 * - The Vercel AI SDK 6 ai.generateText / ai.streamText span wraps a whole
 *   multi-step call; with ai.telemetry.functionId it is the invocation of
 *   that agent (SDK 7 names the same span invoke_agent). Without one it
 *   stays a wrapper whose usage is an aggregate.
 * - LangGraph through OpenInference's LangChain instrumentation: the graph's
 *   root CHAIN span, named after createReactAgent({ name }), carries
 *   LangGraph's metadata marker and no agent attribute.
 */

static bool langgraph_root(const struct am_span *span, const struct seen *sn)
{
    const struct am_anyval *kind = row_val(sn, idx.openinf_row);
    struct am_str s;
    if (span->has_parent || kind == NULL || !val_str(kind, &s) || !cstr_case_eq(s, "CHAIN")) {
        return false;
    }
    const struct am_anyval *meta = am_attrs_get(&span->attrs, AM_STR("metadata"));
    return meta != NULL && meta->type == AM_VAL_STRING &&
           am_str_case_contains(meta->u.s, AM_STR("\"ls_integration\"")) &&
           am_str_case_contains(meta->u.s, AM_STR("\"langgraph\""));
}

static void agent_invocations(const struct am_span *span, const struct seen *sn,
                              struct am_span_facts *out)
{
    if (out->op == AM_OP_WRAPPER && out->agent_name.len > 0 &&
        (am_str_eq(out->operation, AM_STR("ai.generateText")) ||
         am_str_eq(out->operation, AM_STR("ai.streamText")))) {
        out->op = AM_OP_AGENT;
        out->operation = AM_STR("invoke_agent");
    } else if (out->op == AM_OP_OTHER && langgraph_root(span, sn)) {
        out->op = AM_OP_AGENT;
        out->operation = AM_STR("invoke_agent");
        if (out->agent_name.len == 0) {
            out->agent_name = span->name;
        }
    }
}

void am_classify(const struct am_span *span, struct am_span_facts *out)
{
    struct seen sn;
    uint32_t decided = 0; /* bit per enum fact */

    idx_once();
    memset(out, 0, sizeof(*out));
    scan(&span->attrs, &sn);
    /* Present rows in table order, which is precedence order within a fact. */
    for (uint64_t m = sn.mask; m != 0; m &= m - 1) {
        unsigned r = (unsigned)__builtin_ctzll(m);
        if ((decided & (1u << rows[r].fact)) == 0 && take(&rows[r], &sn, sn.val[r], out)) {
            decided |= 1u << rows[r].fact;
        }
    }
    agent_invocations(span, &sn, out);
    if (span->resource) {
        out->service_name = span->resource->service_name;
    }
    if (span->status_code == AM_STATUS_ERROR) {
        bool timeout = am_str_case_contains(out->error_type, AM_STR("timeout"));
        out->outcome = timeout ? AM_OUTCOME_TIMEOUT : AM_OUTCOME_ERROR;
    }
    out->duration_ns = span->end_ns >= span->start_ns ? span->end_ns - span->start_ns : 0;
}
