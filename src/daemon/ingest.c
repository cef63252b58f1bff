/*
 * ingest.c - the OTLP/HTTP handlers (SPEC.md 1): content negotiation,
 * inflation, decoding, then classify -> derive -> series for every span,
 * and the ExportTraceServiceResponse / google.rpc.Status answers. A request
 * that fails at any step changes no derived metric: observations are only
 * applied after the whole body decoded.
 */
#include <stdio.h>
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

/* Spans whose end precedes their start cannot give a duration: they are
 * rejected (partial success) and every other span goes to trace assembly,
 * which derives it now or when its agent is known. */
static size_t derive_batch(struct am_worker *w, const struct am_trace_batch *batch,
                           const struct am_derive_opts *opts)
{
    size_t rejected = 0;
    size_t adjusted[AM_ADJ_ATTRIBUTE + 1] = {0};
    struct am_str mattr = am_str_from(w->d->cfg.sampling_multiplier_attribute);
    uint64_t now = am_clock_mono(am_loop_clock(w->loop));
    w->wall_ns = am_clock_wall(am_loop_clock(w->loop));
    for (size_t i = 0; i < batch->span_count; i++) {
        const struct am_span *span = &batch->spans[i];
        if (span->end_ns < span->start_ns) {
            rejected++;
            continue;
        }
        struct am_span_facts facts;
        am_classify(span, &facts);
        am_signals_stream(span, &facts);
        adjusted[am_signals_sampling(span, mattr, &facts)]++;
        am_trace_buf_add(w->d->trace_buf, opts, span, &facts, now, &w->sink);
    }
    for (int src = AM_ADJ_THRESHOLD; src <= AM_ADJ_ATTRIBUTE; src++) {
        if (adjusted[src] > 0) {
            count(w, AM_M_SELF_SPANS_ADJUSTED_TOTAL,
                  am_signals_source_name((enum am_adjust_source)src), (double)adjusted[src]);
        }
    }
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
    size_t rejected = derive_batch(w, &batch, &opts);
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
