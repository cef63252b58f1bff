/*
 * explain.c - the ring of recent classifications behind GET /debug/spans
 * (explain.h). Records are fixed-size; strings longer than their field are
 * cut (marked with a trailing "..."), so the ring's memory is fixed at
 * creation. The JSON is written under the lock, newest last.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/explain.h"

#define S_SHORT 64
#define S_LONG 160

struct rec {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    bool has_parent;
    int kind;
    int op;
    bool ignored;
    bool evaluation;
    bool agent_by_rule;
    uint32_t tokens_present;
    uint64_t tokens[AM_TOK_COUNT];
    uint64_t duration_ns;
    double cost;
    bool has_cost;
    char service[S_SHORT];
    char scope[S_LONG];
    char name[S_LONG];
    char operation[S_SHORT];
    char agent[S_LONG];
    char rule[S_SHORT];
    char model[S_SHORT];
    char provider[S_SHORT];
    char tool[S_LONG];
    char conversation[S_LONG];
};

struct am_explain {
    pthread_mutex_t mu;
    struct rec *ring;
    size_t cap;
    uint64_t recorded; /* ever; ring index = recorded % cap */
};

struct am_explain *am_explain_create(size_t capacity)
{
    struct am_explain *e = am_xcalloc(1, sizeof(*e));
    e->cap = capacity ? capacity : 1;
    e->ring = am_xcalloc(e->cap, sizeof(*e->ring));
    pthread_mutex_init(&e->mu, NULL);
    return e;
}

void am_explain_destroy(struct am_explain *e)
{
    if (e == NULL) {
        return;
    }
    pthread_mutex_destroy(&e->mu);
    am_free(e->ring);
    am_free(e);
}

static void put(char *dst, size_t cap, struct am_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n > 0) {
        memcpy(dst, s.ptr, n);
    }
    dst[n] = '\0';
    if (s.len > cap - 1 && cap > 4) {
        memcpy(dst + cap - 4, "...", 4);
    }
}

void am_explain_add(struct am_explain *e, const struct am_span *span, const struct am_span_facts *f,
                    const struct am_rule_hit *hit, bool agent_by_rule)
{
    struct rec r;
    memset(&r, 0, sizeof(r));
    memcpy(r.trace_id, span->trace_id, 16);
    memcpy(r.span_id, span->span_id, 8);
    memcpy(r.parent_id, span->parent_span_id, 8);
    r.has_parent = span->has_parent;
    r.kind = span->kind;
    r.op = (int)f->op;
    r.ignored = hit->ignore;
    r.evaluation = hit->evaluation;
    r.agent_by_rule = agent_by_rule;
    r.tokens_present = f->tokens_present;
    memcpy(r.tokens, f->tokens, sizeof(r.tokens));
    r.duration_ns = f->duration_ns;
    r.cost = f->cost;
    r.has_cost = f->has_cost;
    put(r.service, sizeof(r.service), f->service_name);
    put(r.scope, sizeof(r.scope), span->scope_name);
    put(r.name, sizeof(r.name), span->name);
    put(r.operation, sizeof(r.operation), f->operation);
    put(r.agent, sizeof(r.agent), f->agent_name);
    put(r.rule, sizeof(r.rule), am_str_from(hit->name));
    put(r.model, sizeof(r.model), am_facts_model_id(f));
    put(r.provider, sizeof(r.provider), f->provider);
    put(r.tool, sizeof(r.tool), f->tool_name);
    put(r.conversation, sizeof(r.conversation), f->conversation_id);
    pthread_mutex_lock(&e->mu);
    e->ring[e->recorded % e->cap] = r;
    e->recorded++;
    pthread_mutex_unlock(&e->mu);
}

static void json_chars(struct am_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            am_buf_append_byte(b, '\\');
            am_buf_append_byte(b, (char)c);
        } else if (c < 0x20 || c == 0x7f) {
            am_buf_printf(b, "\\u%04x", c);
        } else {
            am_buf_append_byte(b, (char)c);
        }
    }
}

/* A JSON string of prefix then s (both escaped). */
static void json_str2(struct am_buf *b, const char *prefix, const char *s)
{
    am_buf_append_byte(b, '"');
    json_chars(b, prefix);
    json_chars(b, s);
    am_buf_append_byte(b, '"');
}

static void json_str(struct am_buf *b, const char *s)
{
    json_str2(b, "", s);
}

static void json_hex(struct am_buf *b, const uint8_t *p, size_t n)
{
    am_buf_append_byte(b, '"');
    for (size_t i = 0; i < n; i++) {
        am_buf_printf(b, "%02x", p[i]);
    }
    am_buf_append_byte(b, '"');
}

static const char *const op_names[] = {"none", "agent", "inference", "tool", "wrapper", "fetch"};

/* Where the agent label will come from, as far as classification knows:
 * trace assembly later resolves the rest through the invoke_agent
 * ancestor, else service.name. */
static void agent_from(struct am_buf *b, const struct rec *r)
{
    if (r->agent[0] == '\0') {
        json_str(b, "ancestor_or_service");
    } else if (r->agent_by_rule) {
        json_str2(b, "rule:", r->rule);
    } else {
        json_str(b, "attribute");
    }
}

static void json_rec(struct am_buf *b, const struct rec *r)
{
    const char *op = r->ignored            ? "ignored"
                     : r->evaluation       ? "evaluation"
                     : (unsigned)r->op < 6 ? op_names[r->op]
                                           : "none";
    am_buf_append_str(b, "{\"trace_id\":");
    json_hex(b, r->trace_id, 16);
    am_buf_append_str(b, ",\"span_id\":");
    json_hex(b, r->span_id, 8);
    am_buf_append_str(b, ",\"parent_span_id\":");
    if (r->has_parent) {
        json_hex(b, r->parent_id, 8);
    } else {
        am_buf_append_str(b, "null");
    }
    am_buf_printf(b, ",\"kind\":%d,\"service\":", r->kind);
    json_str(b, r->service);
    am_buf_append_str(b, ",\"scope\":");
    json_str(b, r->scope);
    am_buf_append_str(b, ",\"name\":");
    json_str(b, r->name);
    am_buf_append_str(b, ",\"classified_by\":");
    json_str2(b, r->rule[0] != '\0' ? "rule:" : "builtin", r->rule);
    am_buf_printf(b, ",\"operation\":\"%s\",\"operation_name\":", op);
    json_str(b, r->operation);
    am_buf_append_str(b, ",\"agent_name\":");
    json_str(b, r->agent);
    am_buf_append_str(b, ",\"agent_from\":");
    agent_from(b, r);
    am_buf_append_str(b, ",\"model_id\":");
    json_str(b, r->model);
    am_buf_append_str(b, ",\"provider\":");
    json_str(b, r->provider);
    am_buf_append_str(b, ",\"tool_name\":");
    json_str(b, r->tool);
    am_buf_append_str(b, ",\"conversation_id\":");
    json_str(b, r->conversation);
    am_buf_append_str(b, ",\"tokens\":{");
    static const char *const tok[] = {"input", "output", "cache_read", "cache_write", "reasoning"};
    bool first = true;
    for (int t = 0; t < AM_TOK_COUNT; t++) {
        if (r->tokens_present & (1u << t)) {
            am_buf_printf(b, "%s\"%s\":%llu", first ? "" : ",", tok[t],
                          (unsigned long long)r->tokens[t]);
            first = false;
        }
    }
    am_buf_printf(b, "},\"duration_ns\":%llu", (unsigned long long)r->duration_ns);
    if (r->has_cost) {
        am_buf_printf(b, ",\"carried_cost\":%.17g", r->cost);
    }
    am_buf_append_byte(b, '}');
}

int am_explain_json(struct am_explain *e, struct am_buf *out)
{
    pthread_mutex_lock(&e->mu);
    uint64_t n = e->recorded < e->cap ? e->recorded : e->cap;
    am_buf_printf(out, "{\"capacity\":%zu,\"recorded\":%llu,\"overwritten\":%llu,\"spans\":[",
                  e->cap, (unsigned long long)e->recorded, (unsigned long long)(e->recorded - n));
    for (uint64_t i = 0; i < n; i++) {
        const struct rec *r = &e->ring[(e->recorded - n + i) % e->cap];
        if (i > 0) {
            am_buf_append_byte(out, ',');
        }
        json_rec(out, r);
    }
    int rc = am_buf_append_str(out, "]}\n");
    pthread_mutex_unlock(&e->mu);
    return rc;
}
