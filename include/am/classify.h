#ifndef AM_CLASSIFY_H
#define AM_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "am/obs.h"
#include "am/span.h"
#include "am/str.h"

/*
 * classify: one span's attributes, in whatever dialect (SPEC.md 3.1), mapped
 * to the facts derive needs. The mapping is one table of attribute names in
 * src/genai/classify.c, not scattered ifs. Views in the facts point where
 * the span's point (the request arena). Pure: no I/O, no clock, no globals
 * written.
 */

enum am_op {
    AM_OP_OTHER = 0,
    AM_OP_AGENT,     /* invoke_agent */
    AM_OP_INFERENCE, /* chat, text_completion, generate_content, embeddings */
    AM_OP_TOOL,      /* execute_tool */
    AM_OP_WRAPPER,   /* spans that carry aggregate usage (e.g. ai.generateText) */
    AM_OP_FETCH,     /* fetch_response: never counts tokens */
};

enum am_outcome {
    AM_OUTCOME_SUCCESS = 0,
    AM_OUTCOME_ERROR,
    AM_OUTCOME_TIMEOUT,
};

enum am_tok {
    AM_TOK_INPUT = 0,
    AM_TOK_OUTPUT,
    AM_TOK_CACHE_READ,
    AM_TOK_CACHE_WRITE,
    AM_TOK_REASONING,
    AM_TOK_COUNT
};

struct am_span_facts {
    enum am_op op;
    struct am_str operation;    /* gen_ai.operation.name or the dialect's mapped name */
    struct am_str agent_name;   /* the span's own agent name; empty if none */
    struct am_str service_name; /* resource service.name; empty if none */
    struct am_str request_model;
    struct am_str response_model;
    struct am_str provider;
    struct am_str tool_name;
    struct am_str conversation_id;
    struct am_str error_type;
    enum am_outcome outcome; /* from status + error.type */
    uint64_t duration_ns;    /* end - start, 0 if end < start */
    uint64_t tokens[AM_TOK_COUNT];
    uint32_t tokens_present; /* bit (1u << enum am_tok) */
    double cost;             /* carried on the span (llm.cost.total, ...) */
    bool has_cost;
    /* Set by am_signals_* after am_classify (zero from am_classify). */
    bool has_ttft;
    uint64_t ttft_ns;      /* streaming: time to the first chunk */
    double adjusted_count; /* sampling: spans this one stands for; 0 = 1 (not sampled) */
    /* processors.genai.dimensions: value j from the span, else its resource
     * (bit j of dims_set); unset ones take their agent's, else the default. */
    struct am_str dims[AM_MAX_DIMS];
    uint8_t dims_set;
    bool filtered; /* processors.genai.filters excluded it: no observation, no contribution */
    char dim_text[AM_MAX_DIMS][24]; /* numbers and bools as text (dims points here) */
};

/* Fill *out from span. Never fails; unknown dialects give AM_OP_OTHER. */
void am_classify(const struct am_span *span, struct am_span_facts *out);

/* The model id the seed metrics use: response model, else request model,
 * else "unknown". */
struct am_str am_facts_model_id(const struct am_span_facts *f);

#endif
