#ifndef AM_RULES_H
#define AM_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "am/classify.h"
#include "am/match.h"
#include "am/quality.h"
#include "am/yaml.h"

/*
 * rules: user-defined classification (processors.genai.rules, SPEC.md 3.2),
 * applied after am_classify and winning over it. Each rule is a matcher
 * (match.h) and a set of facts; the first rule whose match holds sets its
 * facts and no later rule is tried.
 *
 *   - name: langgraph-agent                 required, unique
 *     match: {root: true, attributes: {openinference.span.kind: CHAIN}}
 *     set:
 *       operation: agent                    agent inference tool evaluation ignore
 *       agent_name: {span_name: true}       a value source, see below
 *       conversation_id: {attribute: session.id}
 *
 * Facts: operation, agent_name, tool_name, model, provider, conversation_id,
 * input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
 * reasoning_tokens, cost, and for operation evaluation: evaluation_name,
 * evaluation_score, evaluation_label. A value source is a literal scalar,
 * or one of {span_name: true}, {attribute: KEY}, {resource_attribute: KEY},
 * optionally with regex: "POSIX extended regex" (capture group 1 if the
 * regex has one, else the whole match). A source that is absent or does not
 * match leaves the fact as the built-in table found it.
 *
 * Compiled rules are immutable and shared by every worker. Views written
 * into facts point into the span (request arena) or into the rules, which
 * must outlive the facts' use. Pure: no I/O, no globals.
 */

struct am_rules;

/* What applying rules found, beyond the facts. */
struct am_rule_hit {
    int rule;         /* index of the rule that matched, -1 when none */
    const char *name; /* its name, NULL when none */
    bool ignore;      /* operation: ignore (facts cleared) */
    bool evaluation;  /* operation: evaluation, eval holds the result */
    struct am_eval eval;
};

/* Append the rules of sequence n (display path `path`, e.g.
 * "processors.genai.rules") to *rules, creating it when NULL. Names must be
 * unique over all appended rules. Returns AM_OK, or AM_ECONFIG with diag
 * "FILE:LINE:COL: path[i].key: what"; on error *rules keeps the rules it
 * had (those of n are not added). */
int am_rules_append(struct am_rules **rules, const struct am_ynode *n, const char *path,
                    struct am_diag *diag);
/* Free rules; NULL is a no-op. */
void am_rules_destroy(struct am_rules *rules);

/* Number of rules; 0 for NULL. */
size_t am_rules_count(const struct am_rules *rules);
/* The name of rule i (i < count). */
const char *am_rules_name(const struct am_rules *rules, size_t i);
/* True when some rule has a genai_ancestor condition. */
bool am_rules_uses_ancestry(const struct am_rules *rules);

/* Apply the first rule matching v to facts (already filled by am_classify
 * for v->span). rules may be NULL. Returns true when a rule matched. */
bool am_rules_apply(const struct am_rules *rules, const struct am_match_view *v,
                    struct am_span_facts *facts, struct am_rule_hit *hit);

#endif
