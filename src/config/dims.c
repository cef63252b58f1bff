/*
 * dims.c - processors.genai.dimensions (SPEC.md 3 "Dimensions", 4): a list
 * of {attribute, label, default, metrics} items. The label defaults to the
 * attribute; either way it is sanitized to a Prometheus label name (invalid
 * bytes become _, a leading digit gets a _ prefix). A label starting with
 * __, equal to le, to another dimension's label or to a built-in label of a
 * family it applies to is a config error at file:line:col, as is a metric
 * that is not a span-derived family or more than AM_MAX_DIMS items.
 */
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/config.h"
#include "am/err.h"
#include "am/obs.h"

#include "config_int.h"

#define D(f) offsetof(struct am_dimension_config, f)

static const struct am_binding dim_rows[] = {
    {.path = "attribute",
     .type = AM_CT_STRING,
     .off = D(attribute),
     .flags = AM_CF_REQUIRED,
     .help = "span attribute, else resource attribute, giving the value"},
    {.path = "label", .type = AM_CT_STRING, .off = D(label), .help = "label name"},
    {.path = "default",
     .type = AM_CT_STRING,
     .off = D(def),
     .help = "value when neither the span, its resource nor its agent has it"},
    {.path = "metrics",
     .type = AM_CT_STRLIST,
     .off = D(metrics),
     .count_off = D(metric_count),
     .help = "the families to label; default every span-derived family"},
};

const struct am_btable am_dim_table = {dim_rows, sizeof(dim_rows) / sizeof(dim_rows[0])};

/* A Prometheus label name from any text; heap. */
static char *sanitize(const char *s)
{
    size_t n = strlen(s);
    bool digit = s[0] >= '0' && s[0] <= '9';
    char *out = am_xmalloc(n + 2);
    size_t k = 0;
    if (digit) {
        out[k++] = '_';
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        out[k++] = ok ? ch : '_';
    }
    out[k] = '\0';
    return out;
}

static int resolve_metrics(struct am_bctx *c, const struct am_ynode *item, const char *path,
                           struct am_dimension_config *d)
{
    char p[400];
    const struct am_ynode *list = am_ynode_get(item, "metrics");
    d->metric_mask = 0;
    if (d->metric_count == 0) {
        for (int m = 0; m < AM_M_COUNT && m < 64; m++) {
            d->metric_mask |= am_family_dimensionable((enum am_metric)m) ? UINT64_C(1) << m : 0;
        }
        return AM_OK;
    }
    for (size_t i = 0; i < d->metric_count; i++) {
        int m = am_family_find(d->metrics[i]);
        snprintf(p, sizeof(p), "%.360s.metrics[%zu]", path, i);
        if (m < 0 || m >= 64 || !am_family_dimensionable((enum am_metric)m)) {
            return am_bind_fail(c, list->items[i], p,
                                "\"%s\" is not a span-derived metric (agent_*, model_*, gen_ai_*; "
                                "not conversation or evaluation metrics)",
                                d->metrics[i]);
        }
        d->metric_mask |= UINT64_C(1) << m;
    }
    return AM_OK;
}

/* The label may not shadow a built-in label of a family it applies to. */
static const char *builtin_clash(const struct am_dimension_config *d)
{
    for (int m = 0; m < AM_M_COUNT && m < 64; m++) {
        const struct am_family *f = am_family_get((enum am_metric)m);
        unsigned base = f->base_label_count ? f->base_label_count : f->label_count;
        for (unsigned i = 0; (d->metric_mask >> m & 1) && i < base; i++) {
            if (strcmp(f->labels[i], d->label) == 0) {
                return f->name;
            }
        }
    }
    return NULL;
}

static int check_label(struct am_bctx *c, const struct am_ynode *item, const char *path,
                       struct am_dimension_config *dims, size_t i)
{
    struct am_dimension_config *d = &dims[i];
    const struct am_ynode *at = am_ynode_get(item, "label");
    at = at != NULL ? at : am_ynode_get(item, "attribute");
    char *label = sanitize(d->label != NULL ? d->label : d->attribute);
    am_free(d->label);
    d->label = label;
    char p[400];
    snprintf(p, sizeof(p), "%.380s.label", path);
    if (label[0] == '\0' || strncmp(label, "__", 2) == 0 || strcmp(label, "le") == 0) {
        return am_bind_fail(c, at, p, "\"%s\" is reserved or empty", label);
    }
    for (size_t k = 0; k < i; k++) {
        if (strcmp(dims[k].label, label) == 0) {
            return am_bind_fail(c, at, p, "\"%s\" is already the label of dimension %zu", label, k);
        }
    }
    const char *fam = builtin_clash(d);
    if (fam != NULL) {
        return am_bind_fail(c, at, p, "\"%s\" collides with a built-in label of %s", label, fam);
    }
    return AM_OK;
}

int am_bind_dim_list(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                     const char *path, void *base)
{
    char p[384];
    struct am_dimension_config **arr = (void *)((char *)base + r->off);
    size_t *count = (void *)((char *)base + r->count_off);
    if (v->type != AM_YNODE_SEQUENCE) {
        return am_bind_fail(c, v, path, "expected a sequence of mappings, got %s",
                            am_ynode_type_name(v->type));
    }
    if (v->count > AM_MAX_DIMS) {
        return am_bind_fail(c, v->items[AM_MAX_DIMS], path, "at most %d dimensions", AM_MAX_DIMS);
    }
    am_dims_free(r, base);
    *arr = am_xcalloc(v->count ? v->count : 1, sizeof(**arr));
    *count = v->count;
    for (size_t i = 0; i < v->count; i++) {
        snprintf(p, sizeof(p), "%.340s[%zu]", path, i);
        am_bind_defaults(&am_dim_table, &(*arr)[i]);
        int rc = am_bind_mapping(c, &am_dim_table, v->items[i], p, &(*arr)[i]);
        if (rc == AM_OK) {
            rc = resolve_metrics(c, v->items[i], p, &(*arr)[i]);
        }
        if (rc == AM_OK) {
            rc = check_label(c, v->items[i], p, *arr, i);
        }
        if (rc != AM_OK) {
            return rc;
        }
        if ((*arr)[i].def == NULL) {
            (*arr)[i].def = am_xstrdup("");
        }
    }
    return AM_OK;
}

void am_dims_free(const struct am_binding *r, void *base)
{
    struct am_dimension_config **arr = (void *)((char *)base + r->off);
    size_t *count = (void *)((char *)base + r->count_off);
    for (size_t i = 0; *arr != NULL && i < *count; i++) {
        am_bind_free(&am_dim_table, &(*arr)[i]);
    }
    am_free(*arr);
    *arr = NULL;
    *count = 0;
}
