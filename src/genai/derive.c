/*
 * derive.c - span facts to observations (SPEC.md 3): agent requests, model
 * inference (calls, tokens, cost), tool calls, and the OTel GenAI semconv
 * histograms. Pure: the output's label views point into the facts (the
 * request arena) or at static strings. Durations are integer nanoseconds
 * converted to seconds once; every observation carries its span as exemplar.
 */
#include <string.h>

#include "am/derive.h"

struct emitter {
    struct am_obs *out;
    size_t n;
    const uint8_t *trace_id;
    const uint8_t *span_id;
    double scale;    /* counters: the span's adjusted count (1 when not sampled) */
    uint32_t weight; /* histograms: the same, rounded to a count >= 1 */
    struct am_str dims[AM_MAX_DIMS];
};

/* Sampling (SPEC.md 3): counters grow by the adjusted count as given;
 * histogram buckets count whole observations, so it is rounded there.
 * Dimensions: the span's value (or its agent's, put there by trace
 * assembly), else the configured default. */
static void emitter_init(struct emitter *em, const struct am_derive_opts *opts,
                         const struct am_span_facts *f, struct am_obs *out, const uint8_t *trace_id,
                         const uint8_t *span_id)
{
    double adjusted_count = f != NULL ? f->adjusted_count : 0;
    em->out = out;
    em->n = 0;
    em->trace_id = trace_id;
    em->span_id = span_id;
    for (unsigned j = 0; j < AM_MAX_DIMS; j++) {
        bool set = f != NULL && (f->dims_set >> j & 1);
        em->dims[j] =
            set ? f->dims[j]
                : (opts != NULL && j < opts->dim_count ? opts->dim_defaults[j] : AM_STR_NULL);
    }
    em->scale = adjusted_count > 0 ? adjusted_count : 1;
    em->weight = 1;
    if (em->scale > 1) {
        double r = em->scale + 0.5; /* to the nearest count */
        em->weight = r >= 4294967295.0 ? UINT32_MAX : (uint32_t)r;
    }
}

static struct am_obs *emit(struct emitter *em, enum am_metric m, enum am_obs_kind kind,
                           double value)
{
    struct am_obs *o = &em->out[em->n++];
    /* Field by field: the callers set the labels they use; no whole-struct memset. */
    o->metric = m;
    o->kind = kind;
    o->value = kind == AM_OBS_INC && em->scale != 1 ? value * em->scale : value;
    o->weight = kind == AM_OBS_OBSERVE ? em->weight : 0;
    for (size_t i = 0; i < AM_MAX_LABELS; i++) {
        o->labels[i] = (struct am_str){NULL, 0};
    }
    const struct am_family *fam = am_family_get(m);
    unsigned k = fam->base_label_count;
    for (unsigned j = 0; fam->dims != 0 && j < AM_MAX_DIMS; j++) {
        if (fam->dims >> j & 1) {
            o->labels[k++] = em->dims[j];
        }
    }
    memcpy(o->trace_id, em->trace_id, sizeof(o->trace_id));
    memcpy(o->span_id, em->span_id, sizeof(o->span_id));
    o->has_exemplar = 1;
    return o;
}

static double seconds(uint64_t ns)
{
    return (double)ns / 1e9;
}

static bool has_tok(const struct am_span_facts *f, enum am_tok t)
{
    return (f->tokens_present & (1u << t)) != 0;
}

static struct am_str status_label(enum am_outcome o)
{
    switch (o) {
    case AM_OUTCOME_ERROR:
        return AM_STR("error");
    case AM_OUTCOME_TIMEOUT:
        return AM_STR("timeout");
    case AM_OUTCOME_SUCCESS:
        break;
    }
    return AM_STR("success");
}

struct am_str am_derive_agent_name(const struct am_span_facts *f)
{
    if (f->agent_name.len > 0) {
        return f->agent_name;
    }
    if (f->service_name.len > 0) {
        return f->service_name;
    }
    return AM_STR("unknown");
}

static void derive_agent(struct emitter *em, const struct am_span_facts *f, struct am_str agent)
{
    struct am_obs *o = emit(em, AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1);
    o->labels[0] = agent;
    o->labels[1] = status_label(f->outcome);
    o = emit(em, AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, seconds(f->duration_ns));
    o->labels[0] = agent;
}

/* One agent_graph_calls_total edge: caller -> callee of a kind. */
static void emit_edge(struct emitter *em, struct am_str caller, struct am_str callee,
                      const char *kind, enum am_outcome outcome)
{
    struct am_obs *o = emit(em, AM_M_AGENT_GRAPH_CALLS_TOTAL, AM_OBS_INC, 1);
    o->labels[0] = caller;
    o->labels[1] = callee;
    o->labels[2] = am_str_from(kind);
    o->labels[3] = status_label(outcome);
}

static void derive_tool(struct emitter *em, const struct am_span_facts *f, struct am_str agent)
{
    struct am_str tool = f->tool_name.len > 0 ? f->tool_name : AM_STR("unknown");
    struct am_obs *o = emit(em, AM_M_AGENT_TOOL_CALLS_TOTAL, AM_OBS_INC, 1);
    o->labels[0] = agent;
    o->labels[1] = tool;
    o->labels[2] = status_label(f->outcome);
    emit_edge(em, agent, tool, "tool", f->outcome);
    o = emit(em, AM_M_AGENT_TOOL_CALL_DURATION, AM_OBS_OBSERVE, seconds(f->duration_ns));
    o->labels[0] = agent;
    o->labels[1] = tool;
}

static void emit_tokens(struct emitter *em, enum am_metric m, const struct am_span_facts *f,
                        enum am_tok t, struct am_str type, struct am_str agent, struct am_str model)
{
    if (!has_tok(f, t)) {
        return;
    }
    struct am_obs *o = emit(em, m, AM_OBS_INC, (double)f->tokens[t]);
    o->labels[0] = agent;
    o->labels[1] = model;
    o->labels[2] = type;
}

/* The price of the response model, else of the request model. */
static const struct am_price *find_price(const struct am_derive_opts *opts,
                                         const struct am_span_facts *f, struct am_str model)
{
    if (opts->pricing == NULL) {
        return NULL;
    }
    const struct am_price *price =
        am_pricing_lookup_cached(opts->pricing, opts->price_cache, model);
    if (price == NULL && f->request_model.len > 0 && !am_str_eq(f->request_model, model)) {
        price = am_pricing_lookup_cached(opts->pricing, opts->price_cache, f->request_model);
    }
    return price;
}

/*
 * A carried cost is taken at its word. Otherwise a priced model always adds
 * its cost (0 included, so the series exists); an unpriced one adds nothing
 * and counts its tokens in agentmeter_unpriced_tokens_total instead.
 */
static void emit_cost(struct emitter *em, const struct am_derive_opts *opts,
                      const struct am_span_facts *f, struct am_str agent, struct am_str model)
{
    double cost = f->cost;
    struct am_obs *o;
    if (!f->has_cost) {
        const struct am_price *price = find_price(opts, f, model);
        if (price == NULL) {
            if (has_tok(f, AM_TOK_INPUT) || has_tok(f, AM_TOK_OUTPUT)) {
                o = emit(em, AM_M_SELF_UNPRICED_TOKENS_TOTAL, AM_OBS_INC,
                         (double)f->tokens[AM_TOK_INPUT] + (double)f->tokens[AM_TOK_OUTPUT]);
                o->labels[0] = model;
            }
            return;
        }
        cost = am_pricing_cost(price, f->tokens);
    }
    o = emit(em, AM_M_AGENT_ESTIMATED_COST_TOTAL, AM_OBS_INC, cost);
    o->labels[0] = agent;
    o->labels[1] = model;
}

/* Tokens, token detail and cost of one span, labelled agent x model. */
static void emit_usage(struct emitter *em, const struct am_derive_opts *opts,
                       const struct am_span_facts *f, struct am_str agent, struct am_str model)
{
    enum am_metric use = AM_M_AGENT_TOKEN_USAGE_TOTAL;
    enum am_metric detail = AM_M_AGENT_TOKEN_USAGE_DETAIL_TOTAL;
    emit_tokens(em, use, f, AM_TOK_INPUT, AM_STR("input"), agent, model);
    emit_tokens(em, use, f, AM_TOK_OUTPUT, AM_STR("output"), agent, model);
    emit_tokens(em, detail, f, AM_TOK_CACHE_READ, AM_STR("cache_read"), agent, model);
    emit_tokens(em, detail, f, AM_TOK_CACHE_WRITE, AM_STR("cache_write"), agent, model);
    emit_tokens(em, detail, f, AM_TOK_REASONING, AM_STR("reasoning"), agent, model);
    emit_cost(em, opts, f, agent, model);
}

/*
 * Streaming latency: time to first token as the span gave it; time per
 * output token after the first = (duration - TTFT) / (output tokens - 1),
 * subtracted in integer ns, only for a successful call with at least two
 * output tokens that ended after its first chunk.
 */
static void derive_stream(struct emitter *em, const struct am_span_facts *f, struct am_str agent,
                          struct am_str model)
{
    if (!f->has_ttft) {
        return;
    }
    struct am_obs *o =
        emit(em, AM_M_GENAI_TIME_TO_FIRST_TOKEN, AM_OBS_OBSERVE, seconds(f->ttft_ns));
    o->labels[0] = agent;
    o->labels[1] = model;
    uint64_t out = f->tokens[AM_TOK_OUTPUT];
    if (f->outcome != AM_OUTCOME_SUCCESS || !has_tok(f, AM_TOK_OUTPUT) || out < 2 ||
        f->duration_ns < f->ttft_ns) {
        return;
    }
    double per = (double)(f->duration_ns - f->ttft_ns) / (double)(out - 1) / 1e9;
    o = emit(em, AM_M_GENAI_TIME_PER_OUTPUT_TOKEN, AM_OBS_OBSERVE, per);
    o->labels[0] = agent;
    o->labels[1] = model;
}

static void derive_inference(struct emitter *em, const struct am_derive_opts *opts,
                             const struct am_span_facts *f, struct am_str agent)
{
    struct am_str model = am_facts_model_id(f);
    struct am_obs *o = emit(em, AM_M_MODEL_INFERENCE_CALLS_TOTAL, AM_OBS_INC, 1);
    o->labels[0] = agent;
    o->labels[1] = model;
    o = emit(em, AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, seconds(f->duration_ns));
    o->labels[0] = agent;
    o->labels[1] = model;
    emit_edge(em, agent, model, "model", f->outcome);
    derive_stream(em, f, agent, model);
    emit_usage(em, opts, f, agent, model);
}

/* The four label values both semconv families start with. */
static struct am_obs *emit_semconv(struct emitter *em, enum am_metric m, double value,
                                   const struct am_span_facts *f)
{
    struct am_obs *o = emit(em, m, AM_OBS_OBSERVE, value);
    o->labels[0] = f->operation;
    o->labels[1] = f->provider;
    o->labels[2] = f->request_model;
    o->labels[3] = f->response_model;
    return o;
}

static void derive_semconv(struct emitter *em, const struct am_span_facts *f)
{
    struct am_obs *o = emit_semconv(em, AM_M_GENAI_OPERATION_DURATION, seconds(f->duration_ns), f);
    if (f->error_type.len > 0) {
        o->labels[4] = f->error_type;
    } else if (f->outcome != AM_OUTCOME_SUCCESS) {
        o->labels[4] = AM_STR("_OTHER");
    }
    if (f->op != AM_OP_INFERENCE) {
        return;
    }
    if (has_tok(f, AM_TOK_INPUT)) {
        o = emit_semconv(em, AM_M_GENAI_TOKEN_USAGE, (double)f->tokens[AM_TOK_INPUT], f);
        o->labels[4] = AM_STR("input");
    }
    if (has_tok(f, AM_TOK_OUTPUT)) {
        o = emit_semconv(em, AM_M_GENAI_TOKEN_USAGE, (double)f->tokens[AM_TOK_OUTPUT], f);
        o->labels[4] = AM_STR("output");
    }
}

size_t am_derive_facts(const struct am_derive_opts *opts, const struct am_span_facts *facts,
                       struct am_str agent, const uint8_t *trace_id, const uint8_t *span_id,
                       struct am_obs *out)
{
    struct emitter em;
    if (facts->filtered) {
        return 0;
    }
    emitter_init(&em, opts, facts, out, trace_id, span_id);

    switch (facts->op) {
    case AM_OP_AGENT:
        derive_agent(&em, facts, agent);
        break;
    case AM_OP_INFERENCE:
        derive_inference(&em, opts, facts, agent);
        break;
    case AM_OP_TOOL:
        derive_tool(&em, facts, agent);
        break;
    case AM_OP_WRAPPER:
    case AM_OP_FETCH:
    case AM_OP_OTHER:
        return 0;
    }
    if (opts->semconv_metrics) {
        derive_semconv(&em, facts);
    }
    return em.n;
}

size_t am_derive_span(const struct am_derive_opts *opts, const struct am_span *span,
                      const struct am_span_facts *facts, struct am_obs *out)
{
    return am_derive_facts(opts, facts, am_derive_agent_name(facts), span->trace_id, span->span_id,
                           out);
}

size_t am_derive_usage(const struct am_derive_opts *opts, const struct am_span_facts *facts,
                       struct am_str agent, const uint8_t *trace_id, const uint8_t *span_id,
                       struct am_obs *out)
{
    struct emitter em;
    emitter_init(&em, opts, facts, out, trace_id, span_id);
    if (facts->filtered) {
        return 0;
    }
    if (!has_tok(facts, AM_TOK_INPUT) && !has_tok(facts, AM_TOK_OUTPUT) && !facts->has_cost) {
        return 0;
    }
    emit_usage(&em, opts, facts, agent, am_facts_model_id(facts));
    return em.n;
}

void am_derive_contrib(const struct am_derive_opts *opts, const struct am_span_facts *facts,
                       struct am_contrib *out)
{
    if (facts->filtered) {
        memset(out, 0, sizeof(*out));
        return;
    }
    out->has_usage = has_tok(facts, AM_TOK_INPUT) || has_tok(facts, AM_TOK_OUTPUT);
    out->tokens = facts->tokens[AM_TOK_INPUT] + facts->tokens[AM_TOK_OUTPUT];
    out->cost = 0;
    if (facts->has_cost) {
        out->cost = facts->cost;
        return;
    }
    const struct am_price *price = find_price(opts, facts, am_facts_model_id(facts));
    if (price != NULL) {
        out->cost = am_pricing_cost(price, facts->tokens);
    }
}

size_t am_derive_request(const struct am_derive_opts *opts, struct am_str agent,
                         const struct am_request_sums *sums, const uint8_t *trace_id,
                         const uint8_t *span_id, struct am_obs *out)
{
    struct emitter em;
    emitter_init(&em, opts, sums->agent_facts, out, trace_id, span_id);
    emit(&em, AM_M_AGENT_REQUEST_COST, AM_OBS_OBSERVE, sums->cost)->labels[0] = agent;
    emit(&em, AM_M_AGENT_REQUEST_TOKENS, AM_OBS_OBSERVE, (double)sums->tokens)->labels[0] = agent;
    emit(&em, AM_M_AGENT_REQUEST_INFERENCE_CALLS, AM_OBS_OBSERVE, (double)sums->inference_calls)
        ->labels[0] = agent;
    emit(&em, AM_M_AGENT_REQUEST_TOOL_CALLS, AM_OBS_OBSERVE, (double)sums->tool_calls)->labels[0] =
        agent;
    return em.n;
}

size_t am_derive_agent_edge(const struct am_derive_opts *opts, struct am_str caller,
                            struct am_str callee, const struct am_span_facts *facts,
                            const uint8_t *trace_id, const uint8_t *span_id, struct am_obs *out)
{
    struct emitter em;
    emitter_init(&em, opts, facts, out, trace_id, span_id);
    emit_edge(&em, caller, callee, "agent", facts->outcome);
    struct am_obs *o =
        emit(&em, AM_M_AGENT_GRAPH_CALL_DURATION, AM_OBS_OBSERVE, seconds(facts->duration_ns));
    o->labels[0] = caller;
    o->labels[1] = callee;
    return em.n;
}
