#ifndef AM_HTTP_H
#define AM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/arena.h"
#include "am/buf.h"
#include "am/str.h"

/*
 * The one request object and router every transport shares (STYLE.md 4):
 * HTTP/1.1 today, HTTP/2 and gRPC later, all fill an am_http_request and
 * call am_router_dispatch. The router maps method+path to a handler and is
 * the only place an am_err becomes an HTTP status.
 */

enum am_http_method {
    AM_HTTP_OTHER = 0,
    AM_HTTP_GET,
    AM_HTTP_HEAD,
    AM_HTTP_POST,
    AM_HTTP_PUT,
    AM_HTTP_DELETE,
};

struct am_http_request {
    enum am_http_method method;
    struct am_str method_str;
    struct am_str path;         /* without the query string */
    struct am_str content_type; /* media type only, parameters stripped, as sent */
    struct am_str content_encoding;
    struct am_str accept;
    struct am_str accept_encoding;
    struct am_str authorization;
    const uint8_t *body;
    size_t body_len;
    struct am_arena *arena; /* request lifetime; handlers allocate here */
    const char *protocol;   /* "http" (1.1 or h2) or "grpc", for self-metrics */
};

#define AM_HTTP_MAX_EXTRA_HEADERS 4

struct am_http_response {
    int status;
    const char *content_type;     /* static string */
    const char *content_encoding; /* NULL or static */
    struct am_buf body;
    struct {
        const char *name; /* static */
        char value[64];
    } extra[AM_HTTP_MAX_EXTRA_HEADERS];
    unsigned extra_count;
};

void am_http_response_init(struct am_http_response *r, size_t max_body);
void am_http_response_fini(struct am_http_response *r);
void am_http_response_reset(struct am_http_response *r);
void am_http_response_add_header(struct am_http_response *r, const char *name, const char *value);

typedef void (*am_http_handler_cb)(void *ud, const struct am_http_request *req,
                                   struct am_http_response *resp);

struct am_router;

struct am_router *am_router_create(void);
void am_router_destroy(struct am_router *r);
/* Route method+path (exact match) to cb. */
void am_router_add(struct am_router *r, enum am_http_method method, const char *path,
                   am_http_handler_cb cb, void *ud);
/* Dispatch: 404 for an unknown path, 405 (with Allow) for a known path
 * with another method; otherwise the handler fills resp. */
void am_router_dispatch(const struct am_router *r, const struct am_http_request *req,
                        struct am_http_response *resp);

/* Error bodies: the router formats every error response (its own 404/405
 * and the server's 400/413/431/503) through one callback, so the OTLP
 * listener answers with a google.rpc.Status in the request's encoding and
 * the Prometheus listener with plain text. Default: text/plain `why`. */
typedef void (*am_http_error_cb)(void *ud, const struct am_http_request *req, int status,
                                 const char *why, struct am_http_response *resp);
void am_router_set_error(struct am_router *r, am_http_error_cb cb, void *ud);
/* Reset resp and fill it with an error response through the formatter. */
void am_router_error(const struct am_router *r, const struct am_http_request *req, int status,
                     const char *why, struct am_http_response *resp);

/* Called by the transport after every response is produced (self-metrics:
 * requests by protocol and code). May be NULL. */
typedef void (*am_http_observe_cb)(void *ud, const struct am_http_request *req, int status);
void am_router_set_observer(struct am_router *r, am_http_observe_cb cb, void *ud);
void am_router_observe(const struct am_router *r, const struct am_http_request *req, int status);

/* The single am_err -> HTTP status mapping (AM_EINVAL 400, AM_ETOOBIG 413,
 * AM_EUNSUPPORTED 415, AM_ENOTFOUND 404, AM_EAGAIN 503, else 500). */
int am_http_status_for(int err);
/* The google.rpc.Code for an HTTP status (400 -> 3 INVALID_ARGUMENT, ...). */
int am_http_grpc_code_for(int status);
const char *am_http_reason(int status);
enum am_http_method am_http_method_parse(struct am_str m);
/* The media type of a Content-Type value: parameters and trailing blanks
 * dropped ("application/json; charset=utf-8" -> "application/json"). */
struct am_str am_http_media_type(struct am_str v);
/* The highest q-value, in thousandths (0..1000), that a comma-separated
 * Accept or Accept-Encoding value gives any of names (media ranges or
 * codings, compared case-insensitively, parameters other than q ignored);
 * -1 when no item names one. q is RFC 9110's qvalue ("0", "0.5", "1.000");
 * an item with a malformed q is skipped. Pure. */
int am_http_accept_q(struct am_str header, const char *const *names, size_t n);

#endif
