/*
 * ingest.c - the OTLP/HTTP handlers (SPEC.md 1): content negotiation,
 * inflation, decoding, then classify -> derive -> series for every span,
 * and the ExportTraceServiceResponse / google.rpc.Status answers. A request
 * that fails at any step changes no derived metric: observations are only
 * applied after the whole body decoded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/classify.h"
#include "am/clock.h"
#include "am/trace_buf.h"
#include "am/derive.h"
#include "am/err.h"
#include "am/http.h"
#include "am/inflate.h"
#include "am/log.h"
#include "am/otlp.h"
#include "am/quality.h"
#include "am/explain.h"
#include "am/rules.h"
#include "am/arena.h"
#include "am/series.h"
#include "am/signals.h"

#include "daemon_int.h"

enum body_encoding {
    ENC_PROTOBUF,
    ENC_JSON,
};

void am_worker_flush(struct am_worker *w)
{
    if (w->obs_len > 0) {
        am_series_apply(w->d->series, w->index, w->obs, w->obs_len);
        w->obs_len = 0;
    }
}

void am_worker_obs(struct am_worker *w, const struct am_obs *o)
{
    if (w->obs_len == AM_WORKER_OBS_CAP) {
        am_worker_flush(w);
    }
    w->obs[w->obs_len++] = *o;
}

static void count(struct am_worker *w, enum am_metric m, struct am_str l0, double v)
{
    struct am_obs o;
    memset(&o, 0, sizeof(o));
    o.metric = m;
    o.kind = AM_OBS_INC;
    o.value = v;
    o.labels[0] = l0;
    am_worker_obs(w, &o);
}

static bool is_json(struct am_str content_type)
{
    return am_str_case_eq(content_type, AM_STR("application/json"));
}

/* The error formatter of the OTLP router: a google.rpc.Status in the
 * request's encoding (JSON for JSON requests, protobuf otherwise). */
static void otlp_error(void *ud, const struct am_http_request *req, int status, const char *why,
                       struct am_http_response *resp)
{
    (void)ud;
    int code = am_http_grpc_code_for(status);
    resp->status = status;
    am_buf_reset(&resp->body);
    if (req != NULL && is_json(req->content_type)) {
        resp->content_type = "application/json";
        am_otlp_json_encode_status(&resp->body, code, why);
    } else {
        resp->content_type = "application/x-protobuf";
        am_otlp_pb_encode_status(&resp->body, code, why);
    }
    if (status == 503) {
        am_http_response_add_header(resp, "Retry-After", "1");
    }
}

static void otlp_observe(void *ud, const struct am_http_request *req, int status)
{
    struct am_worker *w = ud;
    char code[16];
    int n = snprintf(code, sizeof(code), "%d", status);
    struct am_str proto =
        req != NULL && req->protocol != NULL ? am_str_from(req->protocol) : AM_STR("http");
    struct am_obs o;
    memset(&o, 0, sizeof(o));
    o.metric = AM_M_SELF_RECEIVER_REQUESTS_TOTAL;
    o.kind = AM_OBS_INC;
    o.value = 1;
    o.labels[0] = proto;
    o.labels[1] = (struct am_str){code, (size_t)n};
    am_worker_obs(w, &o);
    am_worker_flush(w);
}

/* Content negotiation and inflation shared by every OTLP route: picks the
 * body encoding from Content-Type, inflates gzip (capped at
 * max_request_body_size). On failure the error response is written and
 * false returned. */
static bool prepare_body(struct am_worker *w, const struct am_http_request *req,
                         struct am_http_response *resp, enum body_encoding *enc,
                         const uint8_t **body, size_t *len)
{
    const char *why = NULL;
    char msg[128];

    if (am_str_case_eq(req->content_type, AM_STR("application/x-protobuf"))) {
        *enc = ENC_PROTOBUF;
    } else if (is_json(req->content_type)) {
        *enc = ENC_JSON;
    } else {
        otlp_error(w, req, 415,
                   "unsupported Content-Type: use application/x-protobuf or application/json",
                   resp);
        return false;
    }
    *body = req->body;
    *len = req->body_len;
    if (req->content_encoding.len == 0 ||
        am_str_case_eq(req->content_encoding, AM_STR("identity"))) {
        return true;
    }
    if (!am_str_case_eq(req->content_encoding, AM_STR("gzip"))) {
        otlp_error(w, req, 415, "unsupported Content-Encoding: use gzip or none", resp);
        return false;
    }
    int rc = am_inflate_gzip(req->body, req->body_len, w->d->cfg.http.max_request_body_size,
                             req->arena, body, len, &why);
    if (rc == AM_OK) {
        return true;
    }
    if (rc == AM_ETOOBIG) {
        why = "inflated body exceeds max_request_body_size";
    }
    snprintf(msg, sizeof(msg), "gzip: %s", why != NULL ? why : am_strerror(rc));
    otlp_error(w, req, am_http_status_for(rc), msg, resp);
    return false;
}

/* A decoder's failure as the response: 400 with its why, 413 past a limit. */
static void decode_failed(struct am_worker *w, const struct am_http_request *req,
                          struct am_http_response *resp, int rc, const char *why)
{
    char msg[160];
    int status = am_http_status_for(rc);
    if (rc == AM_ENOMEM) {
        status = 413;
        why = "request needs more memory than its budget";
    }
    snprintf(msg, sizeof(msg), "%s", why != NULL ? why : am_strerror(rc));
    otlp_error(w, req, status, msg, resp);
}

static struct am_str accepted_protocol(const struct am_http_request *req, enum body_encoding enc)
{
    if (req->protocol != NULL && strcmp(req->protocol, "grpc") == 0) {
        return AM_STR("grpc");
    }
    return enc == ENC_JSON ? AM_STR("http/json") : AM_STR("http/protobuf");
}

/*
 * "Has a GenAI ancestor" for classification rules (match.h), answered over
 * the spans of the same export request: parents outside it are not seen.
 * Span ids are indexed once per request, sorted in the request arena, on
 * the first question; the walk up stops after MAX_ANCESTRY steps.
 */
#define MAX_ANCESTRY 64

struct ancestry {
    const struct am_trace_batch *batch;
    struct am_arena *arena;
    const struct am_span **sorted; /* by span id; NULL until first use */
    bool built;
};

static int span_id_cmp(const void *a, const void *b)
{
    const struct am_span *x = *(const struct am_span *const *)a;
    const struct am_span *y = *(const struct am_span *const *)b;
    int c = memcmp(x->span_id, y->span_id, 8);
    return c != 0 ? c : memcmp(x->trace_id, y->trace_id, 16);
}

static const struct am_span *find_parent(struct ancestry *an, const struct am_span *s)
{
    const struct am_trace_batch *b = an->batch;
    if (!an->built) {
        an->built = true;
        an->sorted = am_arena_alloc(an->arena, b->span_count * sizeof(*an->sorted));
        for (size_t i = 0; an->sorted != NULL && i < b->span_count; i++) {
            an->sorted[i] = &b->spans[i];
        }
        if (an->sorted != NULL) {
            qsort(an->sorted, b->span_count, sizeof(*an->sorted), span_id_cmp);
        }
    }
    struct am_span key;
    memcpy(key.span_id, s->parent_span_id, 8);
    memcpy(key.trace_id, s->trace_id, 16);
    if (an->sorted != NULL) {
        const struct am_span *kp = &key;
        const struct am_span **hit =
            bsearch(&kp, an->sorted, b->span_count, sizeof(*an->sorted), span_id_cmp);
        return hit != NULL ? *hit : NULL;
    }
    for (size_t i = 0; i < b->span_count; i++) { /* no memory for the index */
        if (span_id_cmp(&(const struct am_span *){&key}, &(const struct am_span *){&b->spans[i]}) ==
            0) {
            return &b->spans[i];
        }
    }
    return NULL;
}

static bool has_genai_ancestor(void *ud, const struct am_span *span)
{
    struct ancestry *an = ud;
    const struct am_span *s = span;
    for (int depth = 0; depth < MAX_ANCESTRY && s->has_parent; depth++) {
        s = find_parent(an, s);
        if (s == NULL) {
            return false;
        }
        struct am_span_facts f;
        am_classify(s, &f);
        if (f.op == AM_OP_AGENT || f.op == AM_OP_INFERENCE || f.op == AM_OP_TOOL ||
            f.op == AM_OP_WRAPPER) {
            return true;
        }
    }
    return false;
}

/* agentmeter_spans_classified_total{by, operation}, tallied per request. */
enum cop {
    COP_AGENT,
    COP_INFERENCE,
    COP_TOOL,
    COP_WRAPPER,
    COP_FETCH,
    COP_NONE,
    COP_IGNORED,
    COP_EVALUATION,
    COP_COUNT
};
static const struct am_str cop_names[COP_COUNT] = {
    AM_STR("agent"), AM_STR("inference"), AM_STR("tool"),    AM_STR("wrapper"),
    AM_STR("fetch"), AM_STR("none"),      AM_STR("ignored"), AM_STR("evaluation")};
#define TALLY_RULES 32 /* rules past this are counted one span at a time */

struct tally {
    uint32_t n[TALLY_RULES + 1][COP_COUNT]; /* [0]: built-in table, [1 + i]: rule i */
};

static enum cop cop_of(const struct am_span_facts *f, const struct am_rule_hit *hit)
{
    static const enum cop by_op[] = {
        [AM_OP_OTHER] = COP_NONE, [AM_OP_AGENT] = COP_AGENT,     [AM_OP_INFERENCE] = COP_INFERENCE,
        [AM_OP_TOOL] = COP_TOOL,  [AM_OP_WRAPPER] = COP_WRAPPER, [AM_OP_FETCH] = COP_FETCH,
    };
    if (hit->ignore) {
        return COP_IGNORED;
    }
    if (hit->evaluation) {
        return COP_EVALUATION;
    }
    return (unsigned)f->op < sizeof(by_op) / sizeof(by_op[0]) ? by_op[f->op] : COP_NONE;
}

static void count_classified(struct am_worker *w, const char *rule, enum cop op, double v)
{
    char by[160];
    int n =
        rule ? snprintf(by, sizeof(by), "rule:%.150s", rule) : snprintf(by, sizeof(by), "builtin");
    struct am_obs o;
    memset(&o, 0, sizeof(o));
    o.metric = AM_M_SELF_SPANS_CLASSIFIED_TOTAL;
    o.kind = AM_OBS_INC;
    o.value = v;
    o.labels[0] = (struct am_str){by, (size_t)n};
    o.labels[1] = cop_names[op];
    am_worker_obs(w, &o);
    am_worker_flush(w); /* `by` lives on this stack frame */
}

static void tally_add(struct am_worker *w, struct tally *t, const struct am_span_facts *f,
                      const struct am_rule_hit *hit)
{
    enum cop op = cop_of(f, hit);
    if (hit->rule >= TALLY_RULES) {
        count_classified(w, hit->name, op, 1);
        return;
    }
    t->n[hit->rule + 1][op]++;
}

static void tally_flush(struct am_worker *w, const struct tally *t, const struct am_rules *rules)
{
    size_t nr = am_rules_count(rules);
    for (size_t r = 0; r <= TALLY_RULES && r <= nr; r++) {
        for (int op = 0; op < COP_COUNT; op++) {
            if (t->n[r][op] != 0) {
                count_classified(w, r == 0 ? NULL : am_rules_name(rules, r - 1), (enum cop)op,
                                 t->n[r][op]);
            }
        }
    }
}

/* Built-in table, then the first matching rule (SPEC.md 3.1, 3.2). */
static void classify(struct am_worker *w, const struct am_rules *rules, struct ancestry *an,
                     const struct am_span *span, struct am_span_facts *facts,
                     struct am_rule_hit *hit)
{
    am_classify(span, facts);
    struct am_str builtin_agent = facts->agent_name;
    struct am_match_view v = {.span = span, .has_genai_ancestor = has_genai_ancestor, .ud = an};
    am_rules_apply(rules, &v, facts, hit);
    if (w->d->explain != NULL) {
        bool by_rule = facts->agent_name.ptr != builtin_agent.ptr ||
                       facts->agent_name.len != builtin_agent.len;
        am_explain_add(w->d->explain, span, facts, hit, by_rule);
    }
    if (hit->rule < 0 && facts->op == AM_OP_OTHER && !span->has_parent) {
        AM_LOG_RL(AM_LOG_LEVEL_DEBUG, "ingest",
                  "root span matched no built-in dialect and no rule service=\"%.*s\" "
                  "scope=\"%.*s\" name=\"%.*s\" kind=%d attributes=%zu",
                  (int)(facts->service_name.len > 128 ? 128 : facts->service_name.len),
                  facts->service_name.ptr ? facts->service_name.ptr : "",
                  (int)(span->scope_name.len > 128 ? 128 : span->scope_name.len),
                  span->scope_name.ptr ? span->scope_name.ptr : "",
                  (int)(span->name.len > 128 ? 128 : span->name.len),
                  span->name.ptr ? span->name.ptr : "", span->kind, span->attrs.count);
    }
}

/* What classification needs across a batch: the rules, the ancestry
 * index, the tallies, and the evaluations rules found (added after the
 * batch: the callback runs under a trace_buf shard lock). */
struct batch_ctx {
    struct am_worker *w;
    const struct am_rules *rules;
    struct ancestry an;
    struct tally tally;
    struct am_str mattr;
    size_t adjusted[AM_ADJ_ATTRIBUTE + 1];
    const struct am_filter *filters;
    size_t filtered[2]; /* exclude, include */
    struct pending_eval *evals;
    bool evals_lost; /* the arena could not hold one: a second pass finds them */
};

struct pending_eval {
    struct pending_eval *next;
    const struct am_span *span;
    struct am_str service;
    struct am_eval eval;
};

static void classify_span(void *ud, const struct am_span *span, struct am_span_facts *facts)
{
    struct batch_ctx *c = ud;
    struct am_rule_hit hit;
    classify(c->w, c->rules, &c->an, span, facts, &hit);
    tally_add(c->w, &c->tally, facts, &hit);
    if (c->filters != NULL) {
        struct am_match_view v = {
            .span = span, .has_genai_ancestor = has_genai_ancestor, .ud = &c->an};
        const char *why = am_filter_eval(c->filters, &v);
        facts->filtered = why != NULL;
        c->filtered[why != NULL && why[0] == 'i'] += why != NULL;
    }
    am_signals_stream(span, facts);
    am_signals_dimensions(span, c->w->d->dim_attrs, c->w->d->dim_count, facts);
    c->adjusted[am_signals_sampling(span, c->mattr, facts)]++;
    if (hit.evaluation && !c->evals_lost) {
        struct pending_eval *e = am_arena_alloc(c->an.arena, sizeof(*e));
        if (e == NULL) {
            c->evals_lost = true;
            return;
        }
        *e = (struct pending_eval){c->evals, span, facts->service_name, hit.eval};
        c->evals = e;
    }
}

static bool eval_recorded(const struct batch_ctx *c, const struct am_span *span)
{
    for (const struct pending_eval *e = c->evals; e != NULL; e = e->next) {
        if (e->span == span) {
            return true;
        }
    }
    return false;
}

/* Evaluations carried by spans (rules): each finds its agent through its span. */
static void add_rule_evals(struct batch_ctx *c, const struct am_span *const *spans, size_t n,
                           uint64_t now)
{
    struct am_trace_buf *tb = c->w->d->trace_buf;
    for (const struct pending_eval *e = c->evals; e != NULL; e = e->next) {
        am_trace_buf_add_eval(tb, e->span->trace_id, e->span->span_id, e->service, &e->eval, now,
                              &c->w->sink);
    }
    for (size_t i = 0; c->evals_lost && i < n; i++) {
        struct am_span_facts facts;
        struct am_rule_hit hit;
        am_classify(spans[i], &facts);
        struct am_match_view v = {
            .span = spans[i], .has_genai_ancestor = has_genai_ancestor, .ud = &c->an};
        am_rules_apply(c->rules, &v, &facts, &hit);
        if (hit.evaluation && !eval_recorded(c, spans[i])) {
            am_trace_buf_add_eval(tb, spans[i]->trace_id, spans[i]->span_id, facts.service_name,
                                  &hit.eval, now, &c->w->sink);
        }
    }
}

/* Spans whose end precedes their start cannot give a duration: they are
 * rejected (partial success) and every other span goes to trace assembly
 * as one batch (each trace_buf shard locked once; traces complete in the
 * request finished at once), classified by classify_span as it goes in,
 * derived now or when its agent is known. Without arena room for the span
 * list, span by span. */
static size_t derive_batch(struct am_worker *w, const struct am_trace_batch *batch,
                           struct am_arena *arena, const struct am_derive_opts *opts)
{
    size_t rejected = 0, n = 0;
    uint64_t now = am_clock_mono(am_loop_clock(w->loop));
    struct batch_ctx c = {
        .w = w,
        .rules = atomic_load_explicit(&w->d->rules, memory_order_acquire),
        .an = {.batch = batch, .arena = arena},
        .mattr = am_str_from(w->d->cfg.sampling_multiplier_attribute),
        .filters = atomic_load_explicit(&w->d->filters, memory_order_acquire),
    };
    const struct am_span **spans = am_arena_alloc(arena, batch->span_count * sizeof(*spans) + 1);
    w->wall_ns = am_clock_wall(am_loop_clock(w->loop));
    for (size_t i = 0; i < batch->span_count; i++) {
        const struct am_span *span = &batch->spans[i];
        if (span->end_ns < span->start_ns) {
            rejected++;
        } else if (spans != NULL) {
            spans[n++] = span;
        } else {
            struct am_span_facts facts;
            classify_span(&c, span, &facts);
            am_trace_buf_add(w->d->trace_buf, opts, span, &facts, now, &w->sink);
            add_rule_evals(&c, NULL, 0, now);
            c.evals = NULL;
        }
    }
    am_trace_buf_add_batch(w->d->trace_buf, opts, spans, n, classify_span, &c, now, &w->sink);
    add_rule_evals(&c, spans, n, now);
    for (int src = AM_ADJ_THRESHOLD; src <= AM_ADJ_ATTRIBUTE; src++) {
        if (c.adjusted[src] > 0) {
            count(w, AM_M_SELF_SPANS_ADJUSTED_TOTAL,
                  am_signals_source_name((enum am_adjust_source)src), (double)c.adjusted[src]);
        }
    }
    for (int k = 0; k < 2; k++) {
        if (c.filtered[k] > 0) {
            count(w, AM_M_SELF_SPANS_FILTERED_TOTAL, k == 0 ? AM_STR("exclude") : AM_STR("include"),
                  (double)c.filtered[k]);
        }
    }
    tally_flush(w, &c.tally, c.rules);
    am_worker_flush_deferred(w);
    w->wall_ns = 0;
    return rejected;
}

static void on_traces(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    struct am_worker *w = ud;
    enum body_encoding enc;
    const uint8_t *body;
    size_t len;
    struct am_trace_batch batch;
    const char *why = NULL;
    char msg[128];

    if (!prepare_body(w, req, resp, &enc, &body, &len)) {
        return;
    }
    memset(&batch, 0, sizeof(batch));
    int rc = enc == ENC_JSON ? am_otlp_json_decode_traces(body, len, req->arena, &batch, &why)
                             : am_otlp_pb_decode_traces(body, len, req->arena, &batch, &why);
    if (rc != AM_OK) {
        decode_failed(w, req, resp, rc, why);
        return;
    }

    struct am_derive_opts opts = am_daemon_derive_opts(w);
    size_t rejected = derive_batch(w, &batch, req->arena, &opts);
    count(w, AM_M_SELF_SPANS_ACCEPTED_TOTAL, accepted_protocol(req, enc),
          (double)(batch.span_count - rejected));
    if (rejected > 0) {
        count(w, AM_M_SELF_SPANS_REJECTED_TOTAL, AM_STR("invalid_timestamps"), (double)rejected);
        snprintf(msg, sizeof(msg),
                 "%zu span(s) rejected: end_time_unix_nano before start_time_unix_nano", rejected);
    }
    am_worker_flush(w);

    resp->status = 200;
    am_buf_reset(&resp->body);
    if (enc == ENC_JSON) {
        resp->content_type = "application/json";
        am_otlp_json_encode_trace_response(&resp->body, (int64_t)rejected,
                                           rejected > 0 ? msg : NULL);
    } else {
        resp->content_type = "application/x-protobuf";
        am_otlp_pb_encode_trace_response(&resp->body, (int64_t)rejected, rejected > 0 ? msg : NULL);
    }
}

/* Log records matter only when they are evaluation events (SPEC.md 3,
 * Quality): each finds its agent through its span, waiting for it like a
 * span would. Other records are accepted and ignored. */
static size_t evaluate_logs(struct am_worker *w, const struct am_log_batch *batch)
{
    size_t evaluations = 0;
    uint64_t now = am_clock_mono(am_loop_clock(w->loop));
    w->wall_ns = am_clock_wall(am_loop_clock(w->loop));
    for (size_t i = 0; i < batch->record_count; i++) {
        const struct am_log_record *r = &batch->records[i];
        struct am_eval ev;
        if (!am_str_eq(r->event_name, AM_STR(AM_EVAL_EVENT_NAME)) ||
            !am_eval_parse(&r->attrs, &ev)) {
            continue;
        }
        struct am_str service = r->resource != NULL ? r->resource->service_name : AM_STR_NULL;
        bool linked = r->has_trace && r->has_span;
        am_trace_buf_add_eval(w->d->trace_buf, linked ? r->trace_id : NULL,
                              linked ? r->span_id : NULL, service, &ev, now, &w->sink);
        evaluations++;
    }
    am_worker_flush_deferred(w);
    w->wall_ns = 0;
    return evaluations;
}

static void on_logs(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    struct am_worker *w = ud;
    enum body_encoding enc;
    const uint8_t *body;
    size_t len;
    struct am_log_batch batch;
    const char *why = NULL;

    if (!prepare_body(w, req, resp, &enc, &body, &len)) {
        return;
    }
    memset(&batch, 0, sizeof(batch));
    int rc = enc == ENC_JSON ? am_otlp_json_decode_logs(body, len, req->arena, &batch, &why)
                             : am_otlp_pb_decode_logs(body, len, req->arena, &batch, &why);
    if (rc != AM_OK) {
        decode_failed(w, req, resp, rc, why);
        return;
    }
    size_t evaluations = evaluate_logs(w, &batch);
    count(w, AM_M_SELF_LOG_RECORDS_ACCEPTED_TOTAL, accepted_protocol(req, enc),
          (double)batch.record_count);
    count(w, AM_M_SELF_EVALUATIONS_ACCEPTED_TOTAL, AM_STR("log"), (double)evaluations);
    am_worker_flush(w);

    resp->status = 200;
    am_buf_reset(&resp->body);
    if (enc == ENC_JSON) {
        resp->content_type = "application/json";
        am_otlp_json_encode_logs_response(&resp->body, 0, NULL);
    } else {
        resp->content_type = "application/x-protobuf";
        am_otlp_pb_encode_logs_response(&resp->body, 0, NULL);
    }
}

void am_ingest_routes(struct am_worker *w, struct am_router *r)
{
    am_router_add(r, AM_HTTP_POST, "/v1/traces", on_traces, w);
    am_router_add(r, AM_HTTP_POST, "/v1/logs", on_logs, w);
    am_router_set_error(r, otlp_error, w);
    am_router_set_observer(r, otlp_observe, w);
}
