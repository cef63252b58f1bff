/*
 * bind.c - applies a binding table (config_int.h) to a YAML mapping: unknown
 * keys, wrong node types, bad values and out-of-range numbers become one
 * "FILE:LINE:COL: key.path: what" diagnostic. `${env:NAME}` is expanded in
 * every value scalar first. Collections are allocated zeroed at full size and
 * hung on the struct before they are filled, so am_bind_free cleans up after
 * any failure (SPEC.md 4, STYLE.md 5.7).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/alloc.h"
#include "am/config.h"
#include "am/err.h"
#include "am/log.h"
#include "am/obs.h"
#include "am/str.h"
#include "config_int.h"

#define FIELD(base, off, type) ((type *)(void *)((char *)(base) + (off)))
#define MAX_ROWS 128

int am_bind_fail(struct am_bctx *c, const struct am_ynode *n, const char *path, const char *fmt,
                 ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (path != NULL && path[0] != '\0') {
        snprintf(c->diag->msg, sizeof(c->diag->msg), "%s:%u:%u: %.200s: %.250s", n->file, n->line,
                 n->col, path, what);
    } else {
        snprintf(c->diag->msg, sizeof(c->diag->msg), "%s:%u:%u: %.250s", n->file, n->line, n->col,
                 what);
    }
    return AM_ECONFIG;
}

/* a.b into out (at least 384 bytes); each part is cut short rather than
 * overflow, which only shortens a diagnostic or makes a key unknown. */
static void join(char *out, size_t cap, const char *a, const char *b)
{
    if (a == NULL || a[0] == '\0') {
        snprintf(out, cap, "%.380s", b);
    } else {
        snprintf(out, cap, "%.190s.%.189s", a, b);
    }
}

static void put(char **o, size_t *len, size_t *cap, const char *p, size_t n)
{
    while (*len + n + 1 > *cap) {
        *cap *= 2;
        *o = am_xrealloc(*o, *cap);
    }
    memcpy(*o + *len, p, n);
    *len += n;
    (*o)[*len] = '\0';
}

/* Length of a valid `NAME}` tail after "${env:", or 0. */
static size_t env_name_len(const char *p, const char *end)
{
    size_t n = 0;
    while (p + n < end && (p[n] == '_' || (p[n] >= 'A' && p[n] <= 'Z') ||
                           (p[n] >= 'a' && p[n] <= 'z') || (n > 0 && p[n] >= '0' && p[n] <= '9'))) {
        n++;
    }
    return p + n < end && p[n] == '}' && n < 128 ? n : 0;
}

/* `${env:NAME}` -> the variable's value; `$${` -> a literal `${`. */
static int expand(struct am_bctx *c, const struct am_ynode *n, const char *path, char **out)
{
    const char *s = n->text;
    const char *end = s + n->len;
    size_t len = 0;
    size_t cap = n->len + 16;
    char *o = am_xmalloc(cap);
    o[0] = '\0';
    while (s < end) {
        if (end - s >= 3 && memcmp(s, "$${", 3) == 0) {
            put(&o, &len, &cap, "${", 2);
            s += 3;
            continue;
        }
        if (end - s < 2 || memcmp(s, "${", 2) != 0) {
            put(&o, &len, &cap, s, 1);
            s++;
            continue;
        }
        size_t nl = end - s > 6 && memcmp(s + 2, "env:", 4) == 0 ? env_name_len(s + 6, end) : 0;
        if (nl == 0) {
            am_free(o);
            return am_bind_fail(c, n, path,
                                "invalid ${...} reference (use ${env:NAME}, or $${ for a "
                                "literal ${)");
        }
        char name[128];
        memcpy(name, s + 6, nl);
        name[nl] = '\0';
        const char *val = getenv(name);
        if (val == NULL) {
            am_free(o);
            return am_bind_fail(c, n, path, "environment variable %s is not set", name);
        }
        put(&o, &len, &cap, val, strlen(val));
        s += 6 + nl + 1;
    }
    *out = o;
    return AM_OK;
}

/* The expanded text of a scalar node; any other node is a type error. */
static int scalar_text(struct am_bctx *c, const struct am_ynode *n, const char *path,
                       const char *expect, char **out)
{
    if (n->type != AM_YNODE_SCALAR) {
        return am_bind_fail(c, n, path, "expected %s, got %s", expect, am_ynode_type_name(n->type));
    }
    if (memchr(n->text, '\0', n->len) != NULL) {
        return am_bind_fail(c, n, path, "value contains a NUL byte");
    }
    return expand(c, n, path, out);
}

static const char *expect_of(const struct am_binding *r)
{
    switch (r->type) {
    case AM_CT_ENDPOINT:
        return "host:port";
    case AM_CT_URL:
        return "a URL";
    case AM_CT_BOOL:
        return "true or false";
    case AM_CT_U32:
    case AM_CT_U64:
        return "an integer";
    case AM_CT_DURATION:
        return "a duration";
    case AM_CT_SIZE:
        return "a size";
    case AM_CT_ENUM:
        return "one of its values";
    case AM_CT_PRICE:
        return "a number";
    default:
        return "a string";
    }
}

static void fmt_duration(uint64_t ns, char *out, size_t cap)
{
    static const struct {
        uint64_t ns;
        const char *unit;
    } u[] = {{3600000000000ull, "h"}, {60000000000ull, "m"}, {1000000000ull, "s"}, {1000000, "ms"}};
    for (size_t i = 0; ns != 0 && i < sizeof(u) / sizeof(u[0]); i++) {
        if (ns % u[i].ns == 0) {
            snprintf(out, cap, "%llu%s", (unsigned long long)(ns / u[i].ns), u[i].unit);
            return;
        }
    }
    if (ns == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    snprintf(out, cap, "%lluns", (unsigned long long)ns);
}

static void fmt_size(uint64_t b, char *out, size_t cap)
{
    static const struct {
        uint64_t mul;
        const char *unit;
    } u[] = {{1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
    for (size_t i = 0; b != 0 && i < sizeof(u) / sizeof(u[0]); i++) {
        if (b % u[i].mul == 0) {
            snprintf(out, cap, "%llu%s", (unsigned long long)(b / u[i].mul), u[i].unit);
            return;
        }
    }
    snprintf(out, cap, "%llu", (unsigned long long)b);
}

static bool endpoint_ok(const char *s)
{
    char host[256];
    uint16_t port;
    return am_listener_parse_endpoint(s, host, sizeof(host), &port) == AM_OK;
}

static bool url_ok(const char *s)
{
    size_t skip = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    if (skip == 0 || s[skip] == '\0' || s[skip] == '/') {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

static int set_number(const struct am_binding *r, const char *text, void *base, char *why,
                      size_t cap)
{
    uint64_t v = 0;
    char lo[32];
    char hi[32];
    int rc = r->type == AM_CT_DURATION ? am_config_parse_duration(text, &v)
             : r->type == AM_CT_SIZE   ? am_config_parse_size(text, &v)
                                       : am_str_to_u64(am_str_from(text), &v);
    if (rc != AM_OK) {
        snprintf(why, cap, "invalid %s \"%.80s\"%s",
                 r->type == AM_CT_DURATION ? "duration"
                 : r->type == AM_CT_SIZE   ? "size"
                                           : "integer",
                 text,
                 r->type == AM_CT_DURATION ? " (use ms, s, m or h)"
                 : r->type == AM_CT_SIZE   ? " (use bytes, KiB, MiB or GiB)"
                                           : "");
        return AM_EINVAL;
    }
    if (v < r->min || v > r->max) {
        if (r->type == AM_CT_DURATION) {
            fmt_duration(r->min, lo, sizeof(lo));
            fmt_duration(r->max, hi, sizeof(hi));
        } else if (r->type == AM_CT_SIZE) {
            fmt_size(r->min, lo, sizeof(lo));
            fmt_size(r->max, hi, sizeof(hi));
        } else {
            snprintf(lo, sizeof(lo), "%llu", (unsigned long long)r->min);
            snprintf(hi, sizeof(hi), "%llu", (unsigned long long)r->max);
        }
        snprintf(why, cap, "\"%.80s\" is out of range (%s..%s)", text, lo, hi);
        return AM_EINVAL;
    }
    if (r->type == AM_CT_U32) {
        *FIELD(base, r->off, uint32_t) = (uint32_t)v;
    } else {
        *FIELD(base, r->off, uint64_t) = v;
    }
    return AM_OK;
}

static int set_enum(const struct am_binding *r, const char *text, void *base, char *why, size_t cap)
{
    size_t n = 0;
    size_t len = 0;
    while (r->choices[n] != NULL) {
        if (strcmp(text, r->choices[n]) == 0) {
            *FIELD(base, r->off, int) = (int)n;
            return AM_OK;
        }
        n++;
    }
    len = (size_t)snprintf(why, cap, "invalid value \"%.80s\" (use ", text);
    for (size_t i = 0; i < n && len < cap; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        len += (size_t)snprintf(why + len, cap - len, "%s%s", sep, r->choices[i]);
    }
    if (len < cap) {
        snprintf(why + len, cap - len, ")");
    }
    return AM_EINVAL;
}

static int set_string(const struct am_binding *r, const char *text, void *base, char *why,
                      size_t cap)
{
    char **f = FIELD(base, r->off, char *);
    if (r->type == AM_CT_ENDPOINT && !endpoint_ok(text)) {
        snprintf(why, cap, "invalid endpoint \"%.80s\" (want host:port, port 0-65535)", text);
        return AM_EINVAL;
    }
    if (r->type == AM_CT_URL && !url_ok(text)) {
        snprintf(why, cap, "invalid URL \"%.80s\" (want http://host/... or https://host/...)",
                 text);
        return AM_EINVAL;
    }
    if (text[0] == '\0' && r->def != NULL) {
        snprintf(why, cap, "must not be empty");
        return AM_EINVAL;
    }
    am_free(*f);
    *f = text[0] == '\0' ? NULL : am_xstrdup(text);
    return AM_OK;
}

/* Parse text into the scalar field r describes. */
static int set_text(const struct am_binding *r, const char *text, void *base, char *why, size_t cap)
{
    double d;
    switch (r->type) {
    case AM_CT_BOOL:
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
            snprintf(why, cap, "invalid boolean \"%.80s\" (use true or false)", text);
            return AM_EINVAL;
        }
        *FIELD(base, r->off, bool) = text[0] == 't';
        return AM_OK;
    case AM_CT_U32:
    case AM_CT_U64:
    case AM_CT_DURATION:
    case AM_CT_SIZE:
        return set_number(r, text, base, why, cap);
    case AM_CT_ENUM:
        return set_enum(r, text, base, why, cap);
    case AM_CT_PRICE:
        if (am_str_to_double(am_str_from(text), &d) != AM_OK || !isfinite(d) || d < 0) {
            snprintf(why, cap, "invalid price \"%.80s\" (want a number >= 0)", text);
            return AM_EINVAL;
        }
        *FIELD(base, r->off, double) = d;
        if (r->count_off != 0) {
            *FIELD(base, r->count_off, bool) = true;
        }
        return AM_OK;
    default:
        return set_string(r, text, base, why, cap);
    }
}

static int bind_scalar(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                       const char *path, void *base)
{
    char why[256];
    char *text = NULL;
    if (am_ynode_is_null(v)) {
        if (r->type == AM_CT_STRING && r->def == NULL) {
            char **f = FIELD(base, r->off, char *);
            am_free(*f);
            *f = NULL;
            return AM_OK;
        }
        return am_bind_fail(c, v, path, "missing value (expected %s)", expect_of(r));
    }
    int rc = scalar_text(c, v, path, expect_of(r), &text);
    if (rc == AM_OK && set_text(r, text, base, why, sizeof(why)) != AM_OK) {
        rc = am_bind_fail(c, v, path, "%s", why);
    }
    am_free(text);
    return rc;
}

static int bind_strlist(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                        const char *path, void *base)
{
    char p[384];
    char ***list = FIELD(base, r->off, char **);
    size_t *count = FIELD(base, r->count_off, size_t);
    if (v->type != AM_YNODE_SEQUENCE) {
        return am_bind_fail(c, v, path, "expected a sequence of strings, got %s",
                            am_ynode_type_name(v->type));
    }
    am_bind_free(&(struct am_btable){r, 1}, base);
    *list = am_xcalloc(v->count ? v->count : 1, sizeof(char *));
    *count = v->count;
    for (size_t i = 0; i < v->count; i++) {
        snprintf(p, sizeof(p), "%.340s[%zu]", path, i);
        int rc = scalar_text(c, v->items[i], p, "a string", &(*list)[i]);
        if (rc != AM_OK) {
            return rc;
        }
        if ((*list)[i][0] == '\0') {
            return am_bind_fail(c, v->items[i], p, "must not be empty");
        }
    }
    return AM_OK;
}

static bool label_name_ok(const char *s)
{
    if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
        return false;
    }
    for (const char *p = s + 1; *p; p++) {
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9'))) {
            return false;
        }
    }
    return strncmp(s, "__", 2) != 0;
}

static bool header_name_ok(const char *s)
{
    if (s[0] == '\0') {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              (*p != '\0' && strchr("!#$%&'*+-.^_`|~", *p) != NULL))) {
            return false;
        }
    }
    return true;
}

/* Name checks of a LABELS / HEADERS key; NULL when it is fine. */
static const char *kv_key_problem(enum am_ctype type, const char *k)
{
    if (type == AM_CT_LABELS) {
        return label_name_ok(k) ? NULL
                                : "invalid label name (want [a-zA-Z_][a-zA-Z0-9_]*, not "
                                  "starting with __)";
    }
    if (!header_name_ok(k)) {
        return "invalid header name";
    }
    if (am_rw_header_reserved(k)) {
        return "header is set by agentmeter and cannot be configured";
    }
    return NULL;
}

static int bind_kv(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                   const char *path, void *base)
{
    char p[384];
    struct am_header_kv **arr = FIELD(base, r->off, struct am_header_kv *);
    size_t *count = FIELD(base, r->count_off, size_t);
    if (v->type != AM_YNODE_MAPPING) {
        return am_bind_fail(c, v, path, "expected a mapping, got %s", am_ynode_type_name(v->type));
    }
    am_bind_free(&(struct am_btable){r, 1}, base);
    *arr = am_xcalloc(v->count ? v->count : 1, sizeof(**arr));
    *count = v->count;
    for (size_t i = 0; i < v->count; i++) {
        const struct am_ynode *k = v->pairs[i].key;
        const struct am_ynode *val = v->pairs[i].value;
        join(p, sizeof(p), path, k->text);
        const char *problem = kv_key_problem(r->type, k->text);
        if (problem != NULL || memchr(k->text, '\0', k->len) != NULL) {
            return am_bind_fail(c, k, p, "%s", problem ? problem : "key contains a NUL byte");
        }
        (*arr)[i].name = am_xstrdup(k->text);
        int rc = scalar_text(c, val, p, "a string", &(*arr)[i].value);
        if (rc != AM_OK) {
            return rc;
        }
        const char *s = (*arr)[i].value;
        if (r->type == AM_CT_LABELS && s[0] == '\0') {
            return am_bind_fail(c, val, p, "label value must not be empty");
        }
        if (r->type == AM_CT_HEADERS && strpbrk(s, "\r\n") != NULL) {
            return am_bind_fail(c, val, p, "header value must not contain CR or LF");
        }
    }
    return AM_OK;
}

static int bind_bounds(struct am_bctx *c, const struct am_ynode *v, const char *path,
                       struct am_bucket_override *o)
{
    char p[384];
    if (v->type != AM_YNODE_SEQUENCE) {
        return am_bind_fail(c, v, path, "expected a sequence of numbers, got %s",
                            am_ynode_type_name(v->type));
    }
    if (v->count < 1 || v->count > AM_MAX_BUCKETS) {
        return am_bind_fail(c, v, path, "needs 1 to %d bucket bounds, got %zu", AM_MAX_BUCKETS,
                            v->count);
    }
    for (size_t i = 0; i < v->count; i++) {
        char *text = NULL;
        double d = 0;
        snprintf(p, sizeof(p), "%.340s[%zu]", path, i);
        int rc = scalar_text(c, v->items[i], p, "a number", &text);
        if (rc == AM_OK && (am_str_to_double(am_str_from(text), &d) != AM_OK || !isfinite(d))) {
            rc = am_bind_fail(c, v->items[i], p,
                              "invalid bucket bound \"%.80s\" (want a finite "
                              "number)",
                              text);
        }
        if (rc == AM_OK && i > 0 && d <= o->bounds[i - 1]) {
            rc = am_bind_fail(c, v->items[i], p, "bucket bounds must be strictly increasing");
        }
        am_free(text);
        if (rc != AM_OK) {
            return rc;
        }
        o->bounds[i] = d;
    }
    o->count = (unsigned)v->count;
    return AM_OK;
}

static int bind_buckets(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                        const char *path, void *base)
{
    char p[384];
    struct am_bucket_override **arr = FIELD(base, r->off, struct am_bucket_override *);
    size_t *count = FIELD(base, r->count_off, size_t);
    if (v->type != AM_YNODE_MAPPING) {
        return am_bind_fail(c, v, path, "expected a mapping, got %s", am_ynode_type_name(v->type));
    }
    am_bind_free(&(struct am_btable){r, 1}, base);
    *arr = am_xcalloc(v->count ? v->count : 1, sizeof(**arr));
    for (size_t i = 0; i < v->count; i++) {
        const struct am_ynode *k = v->pairs[i].key;
        join(p, sizeof(p), path, k->text);
        int m = am_family_find(k->text);
        if (m < 0) {
            return am_bind_fail(c, k, p, "unknown metric");
        }
        if (am_family_get((enum am_metric)m)->type != AM_TYPE_HISTOGRAM) {
            return am_bind_fail(c, k, p, "not a histogram metric");
        }
        (*arr)[i].metric = (enum am_metric)m;
        int rc = bind_bounds(c, v->pairs[i].value, p, &(*arr)[i]);
        if (rc != AM_OK) {
            return rc;
        }
        *count = i + 1;
    }
    return AM_OK;
}

static int bind_prices(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                       const char *path, void *base)
{
    char p[384];
    struct am_price_entry **arr = FIELD(base, r->off, struct am_price_entry *);
    size_t *count = FIELD(base, r->count_off, size_t);
    if (v->type != AM_YNODE_MAPPING) {
        return am_bind_fail(c, v, path, "expected a mapping, got %s", am_ynode_type_name(v->type));
    }
    am_bind_free(&(struct am_btable){r, 1}, base);
    *arr = am_xcalloc(v->count ? v->count : 1, sizeof(**arr));
    *count = v->count;
    for (size_t i = 0; i < v->count; i++) {
        const struct am_ynode *k = v->pairs[i].key;
        join(p, sizeof(p), path, k->text);
        if (k->len == 0 || memchr(k->text, '\0', k->len) != NULL) {
            return am_bind_fail(c, k, p, "invalid model name");
        }
        (*arr)[i].model = am_xstrdup(k->text);
        int rc = am_bind_mapping(c, &am_price_table, v->pairs[i].value, p, &(*arr)[i].price);
        if (rc != AM_OK) {
            return rc;
        }
    }
    return AM_OK;
}

static int bind_rw_list(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                        const char *path, void *base)
{
    char p[384];
    struct am_rw_opts **arr = FIELD(base, r->off, struct am_rw_opts *);
    size_t *count = FIELD(base, r->count_off, size_t);
    if (v->type != AM_YNODE_SEQUENCE) {
        return am_bind_fail(c, v, path, "expected a sequence of mappings, got %s",
                            am_ynode_type_name(v->type));
    }
    am_bind_free(&(struct am_btable){r, 1}, base);
    *arr = am_xcalloc(v->count ? v->count : 1, sizeof(**arr));
    *count = v->count;
    for (size_t i = 0; i < v->count; i++) {
        snprintf(p, sizeof(p), "%.340s[%zu]", path, i);
        am_bind_defaults(&am_rw_table, &(*arr)[i]);
        int rc = am_bind_mapping(c, &am_rw_table, v->items[i], p, &(*arr)[i]);
        if (rc == AM_OK && r->validate != NULL) {
            rc = r->validate(c, v->items[i], p, &(*arr)[i]);
        }
        if (rc != AM_OK) {
            return rc;
        }
    }
    return AM_OK;
}

static int bind_rules(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                      const char *path, void *base)
{
    (void)c;
    (void)path;
    am_bind_free(&(struct am_btable){r, 1}, base);
    *FIELD(base, r->off, struct am_ydoc *) = am_yaml_clone(v);
    return AM_OK;
}

static int bind_leaf(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                     const char *path, void *base)
{
    if (r->type >= AM_CT_STRLIST && am_ynode_is_null(v)) {
        am_bind_free(&(struct am_btable){r, 1}, base);
        return AM_OK; /* an empty collection */
    }
    switch (r->type) {
    case AM_CT_STRLIST:
        return bind_strlist(c, r, v, path, base);
    case AM_CT_LABELS:
    case AM_CT_HEADERS:
        return bind_kv(c, r, v, path, base);
    case AM_CT_BUCKETS:
        return bind_buckets(c, r, v, path, base);
    case AM_CT_PRICES:
        return bind_prices(c, r, v, path, base);
    case AM_CT_RW_LIST:
        return bind_rw_list(c, r, v, path, base);
    case AM_CT_RULES:
        return bind_rules(c, r, v, path, base);
    case AM_CT_DIM_LIST:
        return am_bind_dim_list(c, r, v, path, base);
    default:
        return bind_scalar(c, r, v, path, base);
    }
}

static const struct am_binding *find_row(const struct am_btable *t, const char *rel)
{
    for (size_t i = 0; i < t->count; i++) {
        if (strcmp(t->rows[i].path, rel) == 0) {
            return &t->rows[i];
        }
    }
    return NULL;
}

/* Bind every pair of map; rel is map's path inside the table ("" at its root). */
static int walk(struct am_bctx *c, const struct am_btable *t, const struct am_ynode *map,
                const char *disp, const char *rel, void *base, bool *seen)
{
    for (size_t i = 0; i < map->count; i++) {
        const struct am_ynode *k = map->pairs[i].key;
        const struct am_ynode *v = map->pairs[i].value;
        char krel[384];
        char path[384];
        join(krel, sizeof(krel), rel, k->text);
        join(path, sizeof(path), disp, krel);
        const struct am_binding *r = find_row(t, krel);
        if (r == NULL || memchr(k->text, '\0', k->len) != NULL) {
            return am_bind_fail(c, k, path, "unknown key");
        }
        seen[r - t->rows] = true;
        if (r->type != AM_CT_SECTION) {
            int rc = bind_leaf(c, r, v, path, base);
            if (rc != AM_OK) {
                return rc;
            }
            continue;
        }
        if (am_ynode_is_null(v)) {
            continue;
        }
        if (v->type != AM_YNODE_MAPPING) {
            return am_bind_fail(c, v, path, "expected a mapping, got %s",
                                am_ynode_type_name(v->type));
        }
        int rc = walk(c, t, v, disp, krel, base, seen);
        if (rc == AM_OK && r->validate != NULL) {
            rc = r->validate(c, v, path, (const char *)base + r->off);
        }
        if (rc != AM_OK) {
            return rc;
        }
    }
    return AM_OK;
}

int am_bind_mapping(struct am_bctx *c, const struct am_btable *t, const struct am_ynode *n,
                    const char *disp, void *base)
{
    bool seen[MAX_ROWS] = {false};
    AM_ASSERT(t->count <= MAX_ROWS);
    if (n->type != AM_YNODE_MAPPING && !am_ynode_is_null(n)) {
        return am_bind_fail(c, n, disp, "expected a mapping, got %s", am_ynode_type_name(n->type));
    }
    int rc = walk(c, t, n, disp, "", base, seen);
    for (size_t i = 0; rc == AM_OK && i < t->count; i++) {
        if ((t->rows[i].flags & AM_CF_REQUIRED) && !seen[i]) {
            rc = am_bind_fail(c, n, disp, "%s is required", t->rows[i].path);
        }
    }
    return rc;
}

static void defaults_list(const struct am_binding *r, void *base)
{
    char ***list = FIELD(base, r->off, char **);
    size_t *count = FIELD(base, r->count_off, size_t);
    size_t n = 1;
    for (const char *p = r->def; *p; p++) {
        n += *p == ',';
    }
    *list = am_xcalloc(n, sizeof(char *));
    *count = n;
    const char *s = r->def;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(s, ",");
        (*list)[i] = am_xstrndup(s, len);
        s += len + (s[len] == ',');
    }
}

void am_bind_defaults(const struct am_btable *t, void *base)
{
    char why[256];
    for (size_t i = 0; i < t->count; i++) {
        const struct am_binding *r = &t->rows[i];
        if (r->def == NULL || r->type == AM_CT_SECTION) {
            continue;
        }
        if (r->type == AM_CT_STRLIST) {
            defaults_list(r, base);
            continue;
        }
        int rc = set_text(r, r->def, base, why, sizeof(why));
        AM_ASSERT(rc == AM_OK);
        (void)rc;
    }
}

static void free_row(const struct am_binding *r, void *base)
{
    size_t *count = FIELD(base, r->count_off, size_t);
    if (r->type == AM_CT_STRING || r->type == AM_CT_ENDPOINT || r->type == AM_CT_URL) {
        char **s = FIELD(base, r->off, char *);
        am_free(*s);
        *s = NULL;
    } else if (r->type == AM_CT_STRLIST) {
        char ***list = FIELD(base, r->off, char **);
        for (size_t i = 0; *list != NULL && i < *count; i++) {
            am_free((*list)[i]);
        }
        am_free(*list);
        *list = NULL;
        *count = 0;
    } else if (r->type == AM_CT_LABELS || r->type == AM_CT_HEADERS) {
        struct am_header_kv **kv = FIELD(base, r->off, struct am_header_kv *);
        for (size_t i = 0; *kv != NULL && i < *count; i++) {
            am_free((*kv)[i].name);
            am_free((*kv)[i].value);
        }
        am_free(*kv);
        *kv = NULL;
        *count = 0;
    } else if (r->type == AM_CT_PRICES) {
        struct am_price_entry **e = FIELD(base, r->off, struct am_price_entry *);
        for (size_t i = 0; *e != NULL && i < *count; i++) {
            am_free((*e)[i].model);
        }
        am_free(*e);
        *e = NULL;
        *count = 0;
    } else if (r->type == AM_CT_RW_LIST) {
        struct am_rw_opts **rw = FIELD(base, r->off, struct am_rw_opts *);
        for (size_t i = 0; *rw != NULL && i < *count; i++) {
            am_bind_free(&am_rw_table, &(*rw)[i]);
        }
        am_free(*rw);
        *rw = NULL;
        *count = 0;
    } else if (r->type == AM_CT_RULES) {
        struct am_ydoc **doc = FIELD(base, r->off, struct am_ydoc *);
        am_yaml_destroy(*doc);
        *doc = NULL;
    } else if (r->type == AM_CT_DIM_LIST) {
        am_dims_free(r, base);
    } else if (r->type == AM_CT_BUCKETS) {
        struct am_bucket_override **b = FIELD(base, r->off, struct am_bucket_override *);
        am_free(*b);
        *b = NULL;
        *count = 0;
    }
}

void am_bind_free(const struct am_btable *t, void *base)
{
    for (size_t i = 0; i < t->count; i++) {
        free_row(&t->rows[i], base);
    }
}
