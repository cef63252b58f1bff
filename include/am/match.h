#ifndef AM_MATCH_H
#define AM_MATCH_H

#include <stdbool.h>

#include "am/span.h"
#include "am/yaml.h"

/*
 * match: a span predicate compiled from a config mapping, shared by the
 * classification rules (processors.genai.rules, rules.h) and the span
 * filters. Every condition present must hold (AND); a list is any-of (OR).
 *
 *   span_name: "ai.generateText*"    glob or list of globs (* any run, ? one
 *                                    byte, \ escapes); no * or ? = exact
 *   scope: "openinference*"          instrumentation scope name, glob or list
 *   kind: [internal, client]         span kind (unspecified internal server
 *                                    client producer consumer), one or list
 *   root: true                       the span has no parent span id
 *   genai_ancestor: false            an ancestor is (not) a GenAI span (see
 *                                    am_match_view)
 *   attributes:                      span attributes, per key:
 *     openinference.span.kind: CHAIN   equals (glob for strings; ints,
 *                                      doubles and bools compare as values)
 *     llm.provider: [openai, azure]    in the list
 *     session.id: {present: true}      present (false: absent)
 *   resource_attributes: {...}       the same over resource attributes
 *
 * A compiled matcher is immutable and may be evaluated from any number of
 * threads at once. Compilation copies what it keeps; the YAML document may
 * be freed afterwards. Pure: no I/O, no globals.
 */

struct am_match;

/* Answers "is some ancestor of span a GenAI span (agent, inference, tool)?"
 * for the spans the caller can see (e.g. its export request). */
typedef bool (*am_match_ancestry_cb)(void *ud, const struct am_span *span);

/* What a matcher looks at. has_genai_ancestor NULL: no ancestor is known,
 * so genai_ancestor: false holds for every span and true for none. */
struct am_match_view {
    const struct am_span *span;
    am_match_ancestry_cb has_genai_ancestor;
    void *ud;
};

/* Compile mapping n; path is its display path for diagnostics
 * ("processors.genai.rules[0].match"). Unknown keys, wrong types, bad kinds
 * and an empty mapping are errors. On success *out is heap (am_match_destroy).
 * Returns AM_OK, or AM_ECONFIG with diag "FILE:LINE:COL: path.key: what". */
int am_match_compile(const struct am_ynode *n, const char *path, struct am_match **out,
                     struct am_diag *diag);
/* Free a matcher; NULL is a no-op. */
void am_match_destroy(struct am_match *m);

/* True when every condition of m holds for v. Cheap conditions are tested
 * first; the ancestry callback is called at most once, and only when every
 * other condition held. */
bool am_match_eval(const struct am_match *m, const struct am_match_view *v);

/* True when m has a genai_ancestor condition (the caller may then prepare
 * its ancestry lookup). */
bool am_match_uses_ancestry(const struct am_match *m);

/* Glob over byte strings: * any run, ? one byte, \ escapes the next byte. */
bool am_match_glob(struct am_str pattern, struct am_str s);

/* Shared by the rule and filter compilers: write "FILE:LINE:COL: path: what"
 * for node n into diag. Returns AM_ECONFIG. */
__attribute__((format(printf, 4, 5))) int am_match_fail(struct am_diag *diag,
                                                        const struct am_ynode *n, const char *path,
                                                        const char *fmt, ...);

#endif
