/*
 * match.c - span predicates compiled from config (match.h): span name and
 * scope globs, kind, root, GenAI ancestry, span and resource attribute
 * conditions. Compiled once at config load into heap arrays; evaluation
 * reads them only. Conditions are tested cheapest first and the ancestry
 * callback last. Glob matching is iterative (one backtrack point), so it is
 * O(pattern x subject) at worst, never exponential.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/match.h"

/* A glob or a literal. */
struct pat {
    char *text;
    size_t len;
    bool glob; /* has an unescaped * or ?, or an escape */
};

enum aop {
    A_PRESENT,
    A_ABSENT,
    A_IN, /* the value equals one of vals */
};

struct acond {
    char *key;
    size_t key_len;
    bool resource;
    enum aop op;
    struct pat *vals;
    size_t nvals;
};

struct am_match {
    struct pat *names;
    size_t nnames;
    struct pat *scopes;
    size_t nscopes;
    unsigned kinds;     /* bit per OTLP SpanKind; 0 = any */
    int root;           /* -1 any, 0 has a parent, 1 no parent */
    int genai_ancestor; /* -1 any, 0 none, 1 some */
    struct acond *attrs;
    size_t nattrs;
};

static const char *const kind_names[] = {"unspecified", "internal", "server",
                                         "client",      "producer", "consumer"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

int am_match_fail(struct am_diag *diag, const struct am_ynode *n, const char *path, const char *fmt,
                  ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(diag->msg, sizeof(diag->msg), "%s:%u:%u: %.200s: %.250s", n->file, n->line, n->col,
             path, what);
    return AM_ECONFIG;
}

bool am_match_glob(struct am_str p, struct am_str s)
{
    size_t pi = 0, si = 0;
    size_t star_p = SIZE_MAX, star_s = 0;
    while (si < s.len) {
        if (pi < p.len && p.ptr[pi] == '*') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < p.len && p.ptr[pi] == '\\' && pi + 1 < p.len) {
            if (p.ptr[pi + 1] == s.ptr[si]) {
                pi += 2;
                si++;
                continue;
            }
        } else if (pi < p.len && (p.ptr[pi] == '?' || p.ptr[pi] == s.ptr[si])) {
            pi++;
            si++;
            continue;
        }
        if (star_p == SIZE_MAX) {
            return false;
        }
        pi = star_p;
        si = ++star_s;
    }
    while (pi < p.len && p.ptr[pi] == '*') {
        pi++;
    }
    return pi == p.len;
}

static bool pat_match(const struct pat *p, struct am_str s)
{
    if (!p->glob) {
        return p->len == s.len && (s.len == 0 || memcmp(p->text, s.ptr, s.len) == 0);
    }
    return am_match_glob((struct am_str){p->text, p->len}, s);
}

static bool pats_match(const struct pat *ps, size_t n, struct am_str s)
{
    for (size_t i = 0; i < n; i++) {
        if (pat_match(&ps[i], s)) {
            return true;
        }
    }
    return false;
}

/* An attribute value against one configured value: strings as globs,
 * numbers and booleans by value (the config text parsed as the attribute's
 * type). Arrays and maps never equal a scalar. */
static bool val_match(const struct pat *p, const struct am_anyval *v)
{
    struct am_str t = {p->text, p->len};
    int64_t i;
    double d;
    switch (v->type) {
    case AM_VAL_STRING:
        return pat_match(p, v->u.s);
    case AM_VAL_INT:
        return am_str_to_i64(t, &i) == AM_OK && i == v->u.i;
    case AM_VAL_DOUBLE:
        return am_str_to_double(t, &d) == AM_OK && d == v->u.d;
    case AM_VAL_BOOL:
        return am_str_eq(t, v->u.b ? AM_STR("true") : AM_STR("false"));
    default:
        return false;
    }
}

static bool acond_holds(const struct acond *c, const struct am_span *span)
{
    const struct am_attrs *attrs = &span->attrs;
    if (c->resource) {
        if (span->resource == NULL) {
            return c->op == A_ABSENT;
        }
        attrs = &span->resource->attrs;
    }
    const struct am_anyval *v = am_attrs_get(attrs, (struct am_str){c->key, c->key_len});
    switch (c->op) {
    case A_PRESENT:
        return v != NULL;
    case A_ABSENT:
        return v == NULL;
    case A_IN:
        break;
    }
    if (v == NULL) {
        return false;
    }
    for (size_t i = 0; i < c->nvals; i++) {
        if (val_match(&c->vals[i], v)) {
            return true;
        }
    }
    return false;
}

bool am_match_eval(const struct am_match *m, const struct am_match_view *v)
{
    const struct am_span *span = v->span;
    if (m->root >= 0 && (m->root == 1) == span->has_parent) {
        return false;
    }
    if (m->kinds != 0 &&
        (span->kind < 0 || (unsigned)span->kind >= NKINDS || !(m->kinds & (1u << span->kind)))) {
        return false;
    }
    if (m->nnames > 0 && !pats_match(m->names, m->nnames, span->name)) {
        return false;
    }
    if (m->nscopes > 0 && !pats_match(m->scopes, m->nscopes, span->scope_name)) {
        return false;
    }
    for (size_t i = 0; i < m->nattrs; i++) {
        if (!acond_holds(&m->attrs[i], span)) {
            return false;
        }
    }
    if (m->genai_ancestor >= 0) {
        bool has =
            span->has_parent && v->has_genai_ancestor != NULL && v->has_genai_ancestor(v->ud, span);
        return has == (m->genai_ancestor == 1);
    }
    return true;
}

bool am_match_uses_ancestry(const struct am_match *m)
{
    return m->genai_ancestor >= 0;
}

/* ---- compilation ---- */

/* yaml.c lives in the config library, which genai does not link. */
static const char *type_name(enum am_ynode_type t)
{
    return t == AM_YNODE_SCALAR ? "a scalar" : t == AM_YNODE_SEQUENCE ? "a sequence" : "a mapping";
}

static bool is_scalar(const struct am_ynode *n)
{
    return n->type == AM_YNODE_SCALAR;
}

static bool pat_init(struct pat *p, const struct am_ynode *n)
{
    p->text = am_xmalloc(n->len + 1);
    memcpy(p->text, n->text, n->len);
    p->text[n->len] = '\0';
    p->len = n->len;
    p->glob = memchr(n->text, '*', n->len) || memchr(n->text, '?', n->len) ||
              memchr(n->text, '\\', n->len);
    return true;
}

/* A scalar or a non-empty sequence of scalars into an array of patterns. */
static int compile_pats(const struct am_ynode *n, const char *path, struct pat **out, size_t *count,
                        struct am_diag *diag)
{
    if (is_scalar(n)) {
        *out = am_xcalloc(1, sizeof(**out));
        *count = 1;
        pat_init(&(*out)[0], n);
        return AM_OK;
    }
    if (n->type != AM_YNODE_SEQUENCE || n->count == 0) {
        return am_match_fail(diag, n, path, "expected a string or a non-empty list of strings");
    }
    for (size_t i = 0; i < n->count; i++) {
        if (!is_scalar(n->items[i])) {
            return am_match_fail(diag, n->items[i], path, "expected a string, got %s",
                                 type_name(n->items[i]->type));
        }
    }
    *out = am_xcalloc(n->count, sizeof(**out));
    *count = n->count;
    for (size_t i = 0; i < n->count; i++) {
        pat_init(&(*out)[i], n->items[i]);
    }
    return AM_OK;
}

static int compile_bool(const struct am_ynode *n, const char *path, int *out, struct am_diag *diag)
{
    if (is_scalar(n) && n->plain && strcmp(n->text, "true") == 0) {
        *out = 1;
        return AM_OK;
    }
    if (is_scalar(n) && n->plain && strcmp(n->text, "false") == 0) {
        *out = 0;
        return AM_OK;
    }
    return am_match_fail(diag, n, path, "expected true or false");
}

static int kind_bit(const struct am_ynode *n, const char *path, unsigned *bits,
                    struct am_diag *diag)
{
    if (!is_scalar(n)) {
        return am_match_fail(diag, n, path, "expected a span kind, got %s", type_name(n->type));
    }
    for (unsigned k = 0; k < NKINDS; k++) {
        if (strcmp(n->text, kind_names[k]) == 0) {
            *bits |= 1u << k;
            return AM_OK;
        }
    }
    return am_match_fail(diag, n, path,
                         "unknown span kind \"%.64s\" (unspecified, internal, server, client, "
                         "producer or consumer)",
                         n->text);
}

static int compile_kinds(const struct am_ynode *n, const char *path, unsigned *bits,
                         struct am_diag *diag)
{
    if (n->type != AM_YNODE_SEQUENCE) {
        return kind_bit(n, path, bits, diag);
    }
    if (n->count == 0) {
        return am_match_fail(diag, n, path, "expected at least one span kind");
    }
    for (size_t i = 0; i < n->count; i++) {
        int rc = kind_bit(n->items[i], path, bits, diag);
        if (rc != AM_OK) {
            return rc;
        }
    }
    return AM_OK;
}

/* One attribute condition: a value, a list of values, or {present: bool}. */
static int compile_acond(const struct am_ynode *n, const char *path, struct acond *c,
                         struct am_diag *diag)
{
    if (n->type != AM_YNODE_MAPPING) {
        c->op = A_IN;
        return compile_pats(n, path, &c->vals, &c->nvals, diag);
    }
    if (n->count != 1 || strcmp(n->pairs[0].key->text, "present") != 0) {
        return am_match_fail(diag, n, path,
                             "expected a value, a list of values, or {present: true|false}");
    }
    int present = 0;
    char sub[400];
    snprintf(sub, sizeof(sub), "%.380s.present", path);
    int rc = compile_bool(n->pairs[0].value, sub, &present, diag);
    c->op = present ? A_PRESENT : A_ABSENT;
    return rc;
}

static int compile_attrs(struct am_match *m, const struct am_ynode *n, const char *path,
                         bool resource, struct am_diag *diag)
{
    if (n->type != AM_YNODE_MAPPING || n->count == 0) {
        return am_match_fail(diag, n, path, "expected a non-empty mapping of attribute conditions");
    }
    m->attrs = am_xrealloc(m->attrs, (m->nattrs + n->count) * sizeof(*m->attrs));
    for (size_t i = 0; i < n->count; i++) {
        const struct am_ynode *k = n->pairs[i].key;
        struct acond *c = &m->attrs[m->nattrs++];
        memset(c, 0, sizeof(*c));
        c->key = am_xmalloc(k->len + 1);
        memcpy(c->key, k->text, k->len + 1);
        c->key_len = k->len;
        c->resource = resource;
        char sub[400];
        snprintf(sub, sizeof(sub), "%.190s.%.190s", path, k->text);
        int rc = compile_acond(n->pairs[i].value, sub, c, diag);
        if (rc != AM_OK) {
            return rc;
        }
    }
    return AM_OK;
}

static int compile_key(struct am_match *m, const char *key, const struct am_ynode *v,
                       const struct am_ynode *kn, const char *sub, struct am_diag *diag)
{
    if (strcmp(key, "span_name") == 0) {
        return compile_pats(v, sub, &m->names, &m->nnames, diag);
    }
    if (strcmp(key, "scope") == 0) {
        return compile_pats(v, sub, &m->scopes, &m->nscopes, diag);
    }
    if (strcmp(key, "kind") == 0) {
        return compile_kinds(v, sub, &m->kinds, diag);
    }
    if (strcmp(key, "root") == 0) {
        return compile_bool(v, sub, &m->root, diag);
    }
    if (strcmp(key, "genai_ancestor") == 0) {
        return compile_bool(v, sub, &m->genai_ancestor, diag);
    }
    if (strcmp(key, "attributes") == 0) {
        return compile_attrs(m, v, sub, false, diag);
    }
    if (strcmp(key, "resource_attributes") == 0) {
        return compile_attrs(m, v, sub, true, diag);
    }
    return am_match_fail(diag, kn, sub,
                         "unknown key (span_name, scope, kind, root, genai_ancestor, attributes "
                         "or resource_attributes)");
}

int am_match_compile(const struct am_ynode *n, const char *path, struct am_match **out,
                     struct am_diag *diag)
{
    *out = NULL;
    if (n->type != AM_YNODE_MAPPING || n->count == 0) {
        return am_match_fail(diag, n, path, "expected a non-empty mapping of conditions");
    }
    struct am_match *m = am_xcalloc(1, sizeof(*m));
    m->root = -1;
    m->genai_ancestor = -1;
    for (size_t i = 0; i < n->count; i++) {
        const struct am_ynode *k = n->pairs[i].key;
        char sub[400];
        snprintf(sub, sizeof(sub), "%.190s.%.190s", path, k->text);
        int rc = compile_key(m, k->text, n->pairs[i].value, k, sub, diag);
        if (rc != AM_OK) {
            am_match_destroy(m);
            return rc;
        }
    }
    *out = m;
    return AM_OK;
}

static void pats_free(struct pat *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        am_free(p[i].text);
    }
    am_free(p);
}

void am_match_destroy(struct am_match *m)
{
    if (m == NULL) {
        return;
    }
    pats_free(m->names, m->nnames);
    pats_free(m->scopes, m->nscopes);
    for (size_t i = 0; i < m->nattrs; i++) {
        am_free(m->attrs[i].key);
        pats_free(m->attrs[i].vals, m->attrs[i].nvals);
    }
    am_free(m->attrs);
    am_free(m);
}
