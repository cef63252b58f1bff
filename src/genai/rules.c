/*
 * rules.c - user-defined classification rules (rules.h, SPEC.md 3.2): a
 * list of {name, match, set} compiled from config, applied after the
 * built-in table. A fact's value comes from a literal, the span name or an
 * attribute, optionally cut by a POSIX regex (regexec is thread-safe on a
 * shared compiled regex). Values longer than MAX_REGEX_SUBJECT (64 KiB)
 * never match a regex; a regex subject over 4 KiB is the only allocation.
 */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/rules.h"

#define MAX_REGEX_SUBJECT 65536

enum fset {
    FS_AGENT,
    FS_TOOL,
    FS_MODEL,
    FS_PROVIDER,
    FS_CONV,
    FS_TOK_INPUT, /* FS_TOK_INPUT + enum am_tok */
    FS_TOK_OUTPUT,
    FS_TOK_CACHE_READ,
    FS_TOK_CACHE_WRITE,
    FS_TOK_REASONING,
    FS_COST,
    FS_EVAL_NAME,
    FS_EVAL_SCORE,
    FS_EVAL_LABEL,
    FS_COUNT
};

static const char *const fset_names[FS_COUNT] = {
    "agent_name",         "tool_name",        "model",         "provider",
    "conversation_id",    "input_tokens",     "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost",          "evaluation_name",
    "evaluation_score",   "evaluation_label",
};

enum rop {
    OP_KEEP = 0,
    OP_AGENT,
    OP_INFERENCE,
    OP_TOOL,
    OP_EVALUATION,
    OP_IGNORE,
};

static const char *const op_names[] = {"", "agent", "inference", "tool", "evaluation", "ignore"};

enum vkind {
    V_NONE = 0,
    V_LITERAL,
    V_NAME,
    V_ATTR,
    V_RES_ATTR,
};

struct vsrc {
    enum vkind kind;
    char *text; /* literal or attribute key */
    size_t len;
    bool has_re;
    bool re_group; /* the regex has a capture group: take group 1 */
    regex_t re;
};

struct rule {
    char *name;
    struct am_match *match;
    enum rop op;
    struct vsrc set[FS_COUNT];
};

struct am_rules {
    struct rule *v;
    size_t n;
    bool ancestry;
};

/* ---- evaluation ---- */

/* The value of a source for span, as an anyval (strings point into the
 * span or the rule). False when absent. */
static bool resolve(const struct vsrc *s, const struct am_span *span, struct am_anyval *out)
{
    const struct am_anyval *v = NULL;
    switch (s->kind) {
    case V_LITERAL:
        out->type = AM_VAL_STRING;
        out->u.s = (struct am_str){s->text, s->len};
        return true;
    case V_NAME:
        out->type = AM_VAL_STRING;
        out->u.s = span->name;
        return span->name.len > 0;
    case V_ATTR:
        v = am_attrs_get(&span->attrs, (struct am_str){s->text, s->len});
        break;
    case V_RES_ATTR:
        v = span->resource ? am_attrs_get(&span->resource->attrs, (struct am_str){s->text, s->len})
                           : NULL;
        break;
    case V_NONE:
        return false;
    }
    if (v == NULL) {
        return false;
    }
    *out = *v;
    return true;
}

/* Cut a string value by the source's regex. False when it does not match.
 * regexec needs a NUL-terminated subject (sanitizers' interceptors read it
 * to the NUL even with REG_STARTEND), so the value is copied: on the stack
 * up to REGEX_STACK bytes, else to the heap. */
#define REGEX_STACK 4096

static bool cut(const struct vsrc *s, struct am_anyval *val)
{
    regmatch_t m[2];
    char stack[REGEX_STACK];
    size_t len = val->u.s.len;
    if (val->type != AM_VAL_STRING || len > MAX_REGEX_SUBJECT) {
        return false;
    }
    char *buf = len < sizeof(stack) ? stack : am_xmalloc(len + 1);
    if (len > 0) {
        memcpy(buf, val->u.s.ptr, len);
    }
    buf[len] = '\0';
    int rc = regexec(&s->re, buf, 2, m, 0);
    if (buf != stack) {
        am_free(buf);
    }
    if (rc != 0) {
        return false;
    }
    regmatch_t g = s->re_group ? m[1] : m[0];
    if (g.rm_so < 0 || (size_t)g.rm_eo > len) {
        return false; /* the group did not take part in the match (or a NUL cut it) */
    }
    val->u.s.ptr += g.rm_so;
    val->u.s.len = (size_t)(g.rm_eo - g.rm_so);
    return true;
}

static bool get(const struct vsrc *s, const struct am_span *span, struct am_anyval *out)
{
    return s->kind != V_NONE && resolve(s, span, out) && (!s->has_re || cut(s, out));
}

static bool as_str(const struct am_anyval *v, struct am_str *out)
{
    if (v->type != AM_VAL_STRING || v->u.s.len == 0) {
        return false;
    }
    *out = v->u.s;
    return true;
}

static bool as_double(const struct am_anyval *v, double *out)
{
    if (v->type == AM_VAL_INT) {
        *out = (double)v->u.i;
        return true;
    }
    if (v->type == AM_VAL_DOUBLE) {
        *out = v->u.d;
        return v->u.d == v->u.d;
    }
    return v->type == AM_VAL_STRING && am_str_to_double(v->u.s, out) == AM_OK && *out == *out;
}

static bool as_tokens(const struct am_anyval *v, uint64_t *out)
{
    double d;
    if (v->type == AM_VAL_INT) {
        *out = (uint64_t)v->u.i;
        return v->u.i >= 0;
    }
    if (v->type == AM_VAL_STRING && am_str_to_u64(v->u.s, out) == AM_OK) {
        return true;
    }
    if (!as_double(v, &d) || d < 0 || d >= 18446744073709551616.0) {
        return false;
    }
    *out = (uint64_t)d;
    return true;
}

static void set_op(enum rop op, struct am_span_facts *f)
{
    switch (op) {
    case OP_AGENT:
        f->op = AM_OP_AGENT;
        f->operation = AM_STR("invoke_agent");
        break;
    case OP_INFERENCE:
        if (f->op != AM_OP_INFERENCE) {
            f->op = AM_OP_INFERENCE;
            f->operation = AM_STR("chat");
        }
        break;
    case OP_TOOL:
        f->op = AM_OP_TOOL;
        f->operation = AM_STR("execute_tool");
        break;
    case OP_EVALUATION:
        f->op = AM_OP_OTHER;
        f->operation = AM_STR("evaluation");
        break;
    case OP_KEEP:
    case OP_IGNORE:
        break;
    }
}

/* Counted nothing, attributed to nothing; the span still links its
 * children to its ancestors in trace assembly. */
static void clear(struct am_span_facts *f)
{
    struct am_span_facts keep = *f;
    memset(f, 0, sizeof(*f));
    f->service_name = keep.service_name;
    f->outcome = keep.outcome;
    f->error_type = keep.error_type;
    f->duration_ns = keep.duration_ns;
}

static void set_str(const struct rule *r, enum fset k, const struct am_span *span,
                    struct am_str *dst)
{
    struct am_anyval v;
    struct am_str s;
    if (get(&r->set[k], span, &v) && as_str(&v, &s)) {
        *dst = s;
    }
}

static void set_facts(const struct rule *r, const struct am_span *span, struct am_span_facts *f)
{
    struct am_anyval v;
    struct am_str model = AM_STR_NULL;
    set_str(r, FS_AGENT, span, &f->agent_name);
    set_str(r, FS_TOOL, span, &f->tool_name);
    set_str(r, FS_PROVIDER, span, &f->provider);
    set_str(r, FS_CONV, span, &f->conversation_id);
    set_str(r, FS_MODEL, span, &model);
    if (model.len > 0) {
        f->response_model = model;
        if (f->request_model.len == 0) {
            f->request_model = model;
        }
    }
    for (int t = 0; t < AM_TOK_COUNT; t++) {
        if (get(&r->set[FS_TOK_INPUT + t], span, &v) && as_tokens(&v, &f->tokens[t])) {
            f->tokens_present |= 1u << t;
        }
    }
    double d;
    if (get(&r->set[FS_COST], span, &v) && as_double(&v, &d) && d >= 0) {
        f->cost = d;
        f->has_cost = true;
    }
}

static bool set_eval(const struct rule *r, const struct am_span *span, struct am_eval *ev)
{
    struct am_anyval v;
    memset(ev, 0, sizeof(*ev));
    if (!get(&r->set[FS_EVAL_NAME], span, &v) || !as_str(&v, &ev->name)) {
        return false;
    }
    if (get(&r->set[FS_EVAL_SCORE], span, &v) && as_double(&v, &ev->score)) {
        ev->has_score = true;
    }
    if (get(&r->set[FS_EVAL_LABEL], span, &v)) {
        as_str(&v, &ev->label);
    }
    return ev->has_score || ev->label.len > 0;
}

bool am_rules_apply(const struct am_rules *rules, const struct am_match_view *v,
                    struct am_span_facts *facts, struct am_rule_hit *hit)
{
    memset(hit, 0, sizeof(*hit));
    hit->rule = -1;
    if (rules == NULL) {
        return false;
    }
    for (size_t i = 0; i < rules->n; i++) {
        const struct rule *r = &rules->v[i];
        if (!am_match_eval(r->match, v)) {
            continue;
        }
        hit->rule = (int)i;
        hit->name = r->name;
        if (r->op == OP_IGNORE) {
            clear(facts);
            hit->ignore = true;
            return true;
        }
        set_op(r->op, facts);
        set_facts(r, v->span, facts);
        if (r->op == OP_EVALUATION) {
            hit->evaluation = set_eval(r, v->span, &hit->eval);
        }
        return true;
    }
    return false;
}

size_t am_rules_count(const struct am_rules *rules)
{
    return rules ? rules->n : 0;
}

const char *am_rules_name(const struct am_rules *rules, size_t i)
{
    return rules->v[i].name;
}

bool am_rules_uses_ancestry(const struct am_rules *rules)
{
    return rules != NULL && rules->ancestry;
}

/* ---- compilation ---- */

static char *dup_text(const struct am_ynode *n)
{
    char *t = am_xmalloc(n->len + 1);
    memcpy(t, n->text, n->len);
    t[n->len] = '\0';
    return t;
}

static bool plain_is(const struct am_ynode *n, const char *word)
{
    return n->type == AM_YNODE_SCALAR && n->plain && strcmp(n->text, word) == 0;
}

static void sub_path(char *out, size_t cap, const char *path, const char *key)
{
    snprintf(out, cap, "%.190s.%.190s", path, key);
}

static int compile_regex(struct vsrc *s, const struct am_ynode *n, const char *path,
                         struct am_diag *diag)
{
    if (n->type != AM_YNODE_SCALAR || n->len == 0 || memchr(n->text, '\0', n->len)) {
        return am_match_fail(diag, n, path, "expected a POSIX extended regular expression");
    }
    int rc = regcomp(&s->re, n->text, REG_EXTENDED);
    if (rc != 0) {
        char why[128];
        regerror(rc, &s->re, why, sizeof(why));
        return am_match_fail(diag, n, path, "bad regular expression: %s", why);
    }
    s->has_re = true;
    s->re_group = s->re.re_nsub > 0;
    return AM_OK;
}

/* {span_name: true} | {attribute: K} | {resource_attribute: K}, + regex. */
static int compile_source_map(struct vsrc *s, const struct am_ynode *n, const char *path,
                              struct am_diag *diag)
{
    const struct am_ynode *re = NULL;
    char sub[400];
    for (size_t i = 0; i < n->count; i++) {
        const struct am_ynode *k = n->pairs[i].key, *v = n->pairs[i].value;
        sub_path(sub, sizeof(sub), path, k->text);
        if (strcmp(k->text, "regex") == 0) {
            re = v;
            continue;
        }
        bool name = strcmp(k->text, "span_name") == 0;
        bool attr = strcmp(k->text, "attribute") == 0;
        bool res = strcmp(k->text, "resource_attribute") == 0;
        if (!name && !attr && !res) {
            return am_match_fail(diag, k, sub,
                                 "unknown key (span_name, attribute, resource_attribute or regex)");
        }
        if (s->kind != V_NONE) {
            return am_match_fail(diag, k, sub, "a value has one source");
        }
        if (name && !plain_is(v, "true")) {
            return am_match_fail(diag, v, sub, "expected true");
        }
        if (!name && (v->type != AM_YNODE_SCALAR || v->len == 0)) {
            return am_match_fail(diag, v, sub, "expected an attribute name");
        }
        s->kind = name ? V_NAME : attr ? V_ATTR : V_RES_ATTR;
        if (!name) {
            s->text = dup_text(v);
            s->len = v->len;
        }
    }
    if (s->kind == V_NONE) {
        return am_match_fail(diag, n, path,
                             "expected span_name: true, attribute: NAME or resource_attribute: "
                             "NAME");
    }
    if (re != NULL) {
        sub_path(sub, sizeof(sub), path, "regex");
        return compile_regex(s, re, sub, diag);
    }
    return AM_OK;
}

/* Literal values of numeric facts are checked here, once. */
static int check_literal(enum fset k, const struct am_ynode *n, const char *path,
                         struct am_diag *diag)
{
    struct am_str t = {n->text, n->len};
    uint64_t u;
    double d;
    if (k >= FS_TOK_INPUT && k <= FS_TOK_REASONING && am_str_to_u64(t, &u) != AM_OK) {
        return am_match_fail(diag, n, path, "expected a non-negative integer");
    }
    if ((k == FS_COST || k == FS_EVAL_SCORE) &&
        (am_str_to_double(t, &d) != AM_OK || d != d || (k == FS_COST && d < 0))) {
        return am_match_fail(diag, n, path, "expected a number");
    }
    if (n->len == 0) {
        return am_match_fail(diag, n, path, "expected a non-empty value");
    }
    return AM_OK;
}

static int compile_source(enum fset k, struct vsrc *s, const struct am_ynode *n, const char *path,
                          struct am_diag *diag)
{
    if (n->type == AM_YNODE_MAPPING) {
        return compile_source_map(s, n, path, diag);
    }
    if (n->type != AM_YNODE_SCALAR) {
        return am_match_fail(diag, n, path,
                             "expected a literal or {span_name|attribute|resource_attribute, "
                             "regex}");
    }
    int rc = check_literal(k, n, path, diag);
    if (rc == AM_OK) {
        s->kind = V_LITERAL;
        s->text = dup_text(n);
        s->len = n->len;
    }
    return rc;
}

static int compile_op(struct rule *r, const struct am_ynode *n, const char *path,
                      struct am_diag *diag)
{
    for (unsigned i = 1; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
        if (n->type == AM_YNODE_SCALAR && strcmp(n->text, op_names[i]) == 0) {
            r->op = (enum rop)i;
            return AM_OK;
        }
    }
    return am_match_fail(diag, n, path, "expected agent, inference, tool, evaluation or ignore");
}

static int compile_set_key(struct rule *r, const struct am_ynode *k, const struct am_ynode *v,
                           const char *sub, struct am_diag *diag)
{
    if (strcmp(k->text, "operation") == 0) {
        return compile_op(r, v, sub, diag);
    }
    for (unsigned f = 0; f < FS_COUNT; f++) {
        if (strcmp(k->text, fset_names[f]) == 0) {
            return compile_source((enum fset)f, &r->set[f], v, sub, diag);
        }
    }
    return am_match_fail(diag, k, sub,
                         "unknown fact (operation, agent_name, tool_name, model, provider, "
                         "conversation_id, *_tokens, cost, evaluation_*)");
}

/* The cross-key checks of one set mapping. */
static int check_set(const struct rule *r, const struct am_ynode *n, const char *path,
                     struct am_diag *diag)
{
    bool evalkeys =
        r->set[FS_EVAL_NAME].kind || r->set[FS_EVAL_SCORE].kind || r->set[FS_EVAL_LABEL].kind;
    if (r->op == OP_IGNORE && n->count != 1) {
        return am_match_fail(diag, n, path, "operation: ignore takes no other facts");
    }
    if (r->op == OP_EVALUATION && (!r->set[FS_EVAL_NAME].kind ||
                                   (!r->set[FS_EVAL_SCORE].kind && !r->set[FS_EVAL_LABEL].kind))) {
        return am_match_fail(diag, n, path,
                             "operation: evaluation needs evaluation_name and evaluation_score "
                             "or evaluation_label");
    }
    if (r->op != OP_EVALUATION && evalkeys) {
        return am_match_fail(diag, n, path, "evaluation_* facts need operation: evaluation");
    }
    return AM_OK;
}

static int compile_set(struct rule *r, const struct am_ynode *n, const char *path,
                       struct am_diag *diag)
{
    if (n->type != AM_YNODE_MAPPING || n->count == 0) {
        return am_match_fail(diag, n, path, "expected a non-empty mapping of facts");
    }
    for (size_t i = 0; i < n->count; i++) {
        char sub[400];
        sub_path(sub, sizeof(sub), path, n->pairs[i].key->text);
        int rc = compile_set_key(r, n->pairs[i].key, n->pairs[i].value, sub, diag);
        if (rc != AM_OK) {
            return rc;
        }
    }
    return check_set(r, n, path, diag);
}

static void rule_fini(struct rule *r)
{
    am_free(r->name);
    am_match_destroy(r->match);
    for (unsigned f = 0; f < FS_COUNT; f++) {
        am_free(r->set[f].text);
        if (r->set[f].has_re) {
            regfree(&r->set[f].re);
        }
    }
}

static bool name_taken(const struct am_rules *rs, size_t upto, const char *name)
{
    for (size_t i = 0; i < upto; i++) {
        if (strcmp(rs->v[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

static int compile_rule_key(struct am_rules *rs, struct rule *r, const struct am_ypair *p,
                            const char *sub, struct am_diag *diag)
{
    const struct am_ynode *v = p->value;
    if (strcmp(p->key->text, "name") == 0) {
        if (v->type != AM_YNODE_SCALAR || v->len == 0 || memchr(v->text, '\0', v->len)) {
            return am_match_fail(diag, v, sub, "expected a non-empty string");
        }
        if (name_taken(rs, rs->n, v->text)) {
            return am_match_fail(diag, v, sub, "duplicate rule name \"%.64s\"", v->text);
        }
        r->name = dup_text(v);
        return AM_OK;
    }
    if (strcmp(p->key->text, "match") == 0) {
        return am_match_compile(v, sub, &r->match, diag);
    }
    if (strcmp(p->key->text, "set") == 0) {
        return compile_set(r, v, sub, diag);
    }
    if (strcmp(p->key->text, "description") == 0 && v->type == AM_YNODE_SCALAR) {
        return AM_OK;
    }
    return am_match_fail(diag, p->key, sub, "unknown key (name, match, set or description)");
}

static bool has_any_set(const struct rule *r)
{
    for (unsigned f = 0; f < FS_COUNT; f++) {
        if (r->set[f].kind != V_NONE) {
            return true;
        }
    }
    return false;
}

static int compile_rule(struct am_rules *rs, struct rule *r, const struct am_ynode *n,
                        const char *path, struct am_diag *diag)
{
    if (n->type != AM_YNODE_MAPPING) {
        return am_match_fail(diag, n, path, "expected a mapping {name, match, set}");
    }
    for (size_t i = 0; i < n->count; i++) {
        char sub[400];
        sub_path(sub, sizeof(sub), path, n->pairs[i].key->text);
        int rc = compile_rule_key(rs, r, &n->pairs[i], sub, diag);
        if (rc != AM_OK) {
            return rc;
        }
    }
    const char *missing = r->name == NULL ? "name" : r->match == NULL ? "match" : "set";
    if (r->name == NULL || r->match == NULL || (r->op == OP_KEEP && !has_any_set(r))) {
        return am_match_fail(diag, n, path, "missing %s", missing);
    }
    return AM_OK;
}

int am_rules_append(struct am_rules **rules, const struct am_ynode *n, const char *path,
                    struct am_diag *diag)
{
    if (n->type != AM_YNODE_SEQUENCE) {
        return am_match_fail(diag, n, path, "expected a list of rules");
    }
    struct am_rules *rs = *rules != NULL ? *rules : am_xcalloc(1, sizeof(*rs));
    size_t base = rs->n;
    rs->v = am_xrealloc(rs->v, (base + n->count + 1) * sizeof(*rs->v));
    int rc = AM_OK;
    for (size_t i = 0; i < n->count && rc == AM_OK; i++) {
        char sub[400];
        snprintf(sub, sizeof(sub), "%.360s[%zu]", path, i);
        struct rule *r = &rs->v[rs->n];
        memset(r, 0, sizeof(*r));
        rc = compile_rule(rs, r, n->items[i], sub, diag);
        if (rc != AM_OK) {
            rule_fini(r);
            break;
        }
        rs->n++;
    }
    if (rc != AM_OK) {
        while (rs->n > base) {
            rule_fini(&rs->v[--rs->n]);
        }
    }
    rs->ancestry = false;
    for (size_t i = 0; i < rs->n; i++) {
        rs->ancestry |= am_match_uses_ancestry(rs->v[i].match);
    }
    if (rc != AM_OK && *rules == NULL) {
        am_rules_destroy(rs);
        return rc;
    }
    *rules = rs;
    return rc;
}

void am_rules_destroy(struct am_rules *rules)
{
    if (rules == NULL) {
        return;
    }
    for (size_t i = 0; i < rules->n; i++) {
        rule_fini(&rules->v[i]);
    }
    am_free(rules->v);
    am_free(rules);
}
