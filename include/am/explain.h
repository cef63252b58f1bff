#ifndef AM_EXPLAIN_H
#define AM_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "am/buf.h"
#include "am/classify.h"
#include "am/rules.h"
#include "am/span.h"

/*
 * explain: the last N spans and what classification made of each, for
 * GET /debug/spans (exporters.prometheus.debug, README). A ring of fixed-size
 * records allocated once (strings cut to fixed lengths), so its memory is
 * N x sizeof(record) whatever the spans hold; older records are overwritten
 * and counted. It shows attribute values: off unless configured.
 * Thread-safe (one mutex; add is called per request batch). Sans-I/O.
 */

struct am_explain;

/* A ring of `capacity` records (>= 1). */
struct am_explain *am_explain_create(size_t capacity);
/* NULL is a no-op. */
void am_explain_destroy(struct am_explain *e);

/* Record one span and its classification (hit from am_rules_apply;
 * agent_by_rule: the rule, not an attribute, set facts->agent_name). */
void am_explain_add(struct am_explain *e, const struct am_span *span,
                    const struct am_span_facts *facts, const struct am_rule_hit *hit,
                    bool agent_by_rule);

/* Append {"capacity":N,"recorded":N,"overwritten":N,"spans":[...]} (newest
 * last) to out. Returns AM_OK or AM_ETOOBIG (out's cap). */
int am_explain_json(struct am_explain *e, struct am_buf *out);

/* The dependency-free HTML page over the JSON (GET /debug/). */
extern const char am_explain_html[];

#endif
