#ifndef AM_FILTER_H
#define AM_FILTER_H

#include "am/match.h"
#include "am/yaml.h"

/*
 * filter: processors.genai.filters (SPEC.md 3 "Filters"). `include` and
 * `exclude` are lists of span matchers (am/match.h, the same as the
 * classification rules). A span is excluded when include is non-empty and
 * none of it matches, or when any exclude matcher does. An excluded span
 * changes no metric but still passes through trace assembly. Compiled once,
 * immutable, evaluated from any thread.
 */

struct am_filter;

/* Compile the filters mapping n (keys include, exclude; each a sequence of
 * matcher mappings); path is its display path. NULL n: *out = NULL (no
 * filters). Returns AM_OK, or AM_ECONFIG with diag "FILE:LINE:COL: ...". */
int am_filter_compile(const struct am_ynode *n, const char *path, struct am_filter **out,
                      struct am_diag *diag);
/* NULL is a no-op. */
void am_filter_destroy(struct am_filter *f);

/* NULL when the span passes (or f is NULL); else why it is excluded:
 * "exclude" (an exclude matcher held) or "include" (no include matcher did). */
const char *am_filter_eval(const struct am_filter *f, const struct am_match_view *v);

#endif
