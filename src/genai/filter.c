/*
 * filter.c - processors.genai.filters: include / exclude lists of span
 * matchers compiled with am_match_compile (the matcher the classification
 * rules use). Exclude wins over include; an empty include list lets every
 * span in. Pure and immutable once compiled.
 */
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/filter.h"

struct am_filter {
    struct am_match **include;
    size_t ninclude;
    struct am_match **exclude;
    size_t nexclude;
};

static int compile_list(const struct am_ynode *seq, const char *path, struct am_match ***out,
                        size_t *n, struct am_diag *diag)
{
    char p[256];
    if (seq == NULL || am_ynode_is_null(seq)) {
        return AM_OK;
    }
    if (seq->type != AM_YNODE_SEQUENCE) {
        return am_match_fail(diag, seq, path, "expected a sequence of matchers, got %s",
                             am_ynode_type_name(seq->type));
    }
    *out = am_xcalloc(seq->count ? seq->count : 1, sizeof(**out));
    for (size_t i = 0; i < seq->count; i++) {
        snprintf(p, sizeof(p), "%.230s[%zu]", path, i);
        int rc = am_match_compile(seq->items[i], p, &(*out)[i], diag);
        if (rc != AM_OK) {
            return rc;
        }
        (*n)++;
    }
    return AM_OK;
}

int am_filter_compile(const struct am_ynode *n, const char *path, struct am_filter **out,
                      struct am_diag *diag)
{
    char p[256];
    *out = NULL;
    if (n == NULL || am_ynode_is_null(n)) {
        return AM_OK;
    }
    if (n->type != AM_YNODE_MAPPING) {
        return am_match_fail(diag, n, path, "expected a mapping with include and/or exclude");
    }
    for (size_t i = 0; i < n->count; i++) {
        const char *k = n->pairs[i].key->text;
        if (strcmp(k, "include") != 0 && strcmp(k, "exclude") != 0) {
            snprintf(p, sizeof(p), "%.200s.%.50s", path, k);
            return am_match_fail(diag, n->pairs[i].key, p, "unknown key (want include, exclude)");
        }
    }
    struct am_filter *f = am_xcalloc(1, sizeof(*f));
    snprintf(p, sizeof(p), "%.240s.include", path);
    int rc = compile_list(am_ynode_get(n, "include"), p, &f->include, &f->ninclude, diag);
    if (rc == AM_OK) {
        snprintf(p, sizeof(p), "%.240s.exclude", path);
        rc = compile_list(am_ynode_get(n, "exclude"), p, &f->exclude, &f->nexclude, diag);
    }
    if (rc != AM_OK) {
        am_filter_destroy(f);
        return rc;
    }
    *out = f;
    return AM_OK;
}

void am_filter_destroy(struct am_filter *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < f->ninclude; i++) {
        am_match_destroy(f->include[i]);
    }
    for (size_t i = 0; i < f->nexclude; i++) {
        am_match_destroy(f->exclude[i]);
    }
    am_free(f->include);
    am_free(f->exclude);
    am_free(f);
}

const char *am_filter_eval(const struct am_filter *f, const struct am_match_view *v)
{
    if (f == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < f->nexclude; i++) {
        if (am_match_eval(f->exclude[i], v)) {
            return "exclude";
        }
    }
    for (size_t i = 0; i < f->ninclude; i++) {
        if (am_match_eval(f->include[i], v)) {
            return NULL;
        }
    }
    return f->ninclude > 0 ? "include" : NULL;
}
