/*
 * scrape.c - the Prometheus listener (SPEC.md 1): GET /metrics in text
 * format 0.0.4 or OpenMetrics, gzip when accepted, GET /-/healthy and
 * GET /-/ready. Before each exposition the self-metric collectors run
 * (am/self.h, the list in self.c).
 */
#include <stdio.h>
#include <string.h>

#include "am/err.h"
#include "am/explain.h"
#include "am/expo.h"
#include "am/alloc.h"
#include "am/inflate.h"
#include "am/log.h"
#include "am/series.h"

#include "daemon_int.h"

/* OpenMetrics when application/openmetrics-text (any version) has a q above
 * 0 and above every range that covers text/plain; text 0.0.4 otherwise,
 * including an empty Accept. */
static bool wants_openmetrics(struct am_str accept)
{
    static const char *const om[] = {"application/openmetrics-text"};
    static const char *const text[] = {"text/plain", "text/*", "*/*"};
    int q_om = am_http_accept_q(accept, om, 1);
    int q_text = am_http_accept_q(accept, text, 3);
    return q_om > 0 && q_om > q_text;
}

/* gzip when Accept-Encoding gives it a q above 0, or does not name it and
 * gives * one ("gzip;q=0" refuses it whatever * says). */
static bool accepts_gzip(struct am_str ae)
{
    static const char *const gzip[] = {"gzip"};
    static const char *const any[] = {"*"};
    int q = am_http_accept_q(ae, gzip, 1);
    return (q >= 0 ? q : am_http_accept_q(ae, any, 1)) > 0;
}

static void on_metrics(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    struct am_worker *w = ud;
    am_self_collect(w->d->self, w->index);
    am_buf_reset(&resp->body);
    bool om = wants_openmetrics(req->accept);
    int rc = om ? am_expo_openmetrics(w->d->series, &resp->body)
                : am_expo_text(w->d->series, &resp->body);
    if (rc != 0) {
        AM_LOG_RL(AM_LOG_LEVEL_ERROR, "scrape", "exposition failed: %s", am_strerror(rc));
        resp->status = 500;
        resp->content_type = "text/plain; charset=utf-8";
        am_buf_reset(&resp->body);
        am_buf_append_str(&resp->body, "exposition exceeded its buffer\n");
        return;
    }
    resp->status = 200;
    resp->content_type = om ? AM_EXPO_OPENMETRICS_CONTENT_TYPE : AM_EXPO_TEXT_CONTENT_TYPE;
    uint8_t *z = NULL;
    size_t zlen = 0;
    if (accepts_gzip(req->accept_encoding) &&
        am_gzip_compress((const uint8_t *)resp->body.data, resp->body.len, &z, &zlen) == 0) {
        am_buf_reset(&resp->body);
        if (am_buf_append(&resp->body, z, zlen) == 0) {
            resp->content_encoding = "gzip";
        }
        am_free(z);
    }
}

static void text(struct am_http_response *resp, int status, const char *msg)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    am_buf_reset(&resp->body);
    am_buf_append_str(&resp->body, msg);
}

static void on_healthy(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    (void)ud;
    (void)req;
    text(resp, 200, "agentmeter is healthy.\n");
}

static void on_ready(void *ud, const struct am_http_request *req, struct am_http_response *resp)
{
    struct am_worker *w = ud;
    (void)req;
    if (atomic_load(&w->d->ready) && !atomic_load(&w->d->stopping)) {
        text(resp, 200, "agentmeter is ready.\n");
    } else {
        text(resp, 503, "agentmeter is not ready.\n");
    }
}

/* exporters.prometheus.debug (README): the recent classifications. */
static void on_debug_spans(void *ud, const struct am_http_request *req,
                           struct am_http_response *resp)
{
    struct am_worker *w = ud;
    (void)req;
    am_buf_reset(&resp->body);
    if (am_explain_json(w->d->explain, &resp->body) != AM_OK) {
        text(resp, 500, "debug spans exceeded the response buffer\n");
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
}

static void on_debug_page(void *ud, const struct am_http_request *req,
                          struct am_http_response *resp)
{
    (void)ud;
    (void)req;
    am_buf_reset(&resp->body);
    am_buf_append_str(&resp->body, am_explain_html);
    resp->status = 200;
    resp->content_type = "text/html; charset=utf-8";
}

void am_scrape_routes(struct am_worker *w, struct am_router *r)
{
    am_router_add(r, AM_HTTP_GET, "/metrics", on_metrics, w);
    am_router_add(r, AM_HTTP_GET, "/-/healthy", on_healthy, w);
    am_router_add(r, AM_HTTP_GET, "/-/ready", on_ready, w);
    if (w->d->explain != NULL) {
        am_router_add(r, AM_HTTP_GET, "/debug/spans", on_debug_spans, w);
        am_router_add(r, AM_HTTP_GET, "/debug/", on_debug_page, w);
    }
}
