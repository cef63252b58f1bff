#ifndef AM_H2_H
#define AM_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "am/buf.h"
#include "am/http.h"
#include "am/str.h"

/*
 * Sans-I/O HTTP/2 server session (RFC 9113) on nghttp2: the connection feeds
 * received bytes with am_h2_feed and pulls bytes to send with am_h2_send.
 * Each stream's headers and body are assembled into an am_http_request
 * (body capped at max_body_bytes; header list at max_header_bytes) and
 * handed to on_request once complete, or at once when a limit already
 * decides the answer (error_status). The owner answers with am_h2_respond,
 * inside the callback or later. Time is passed in. One session per
 * connection, one thread; no syscalls, no logging, no globals.
 */

struct am_h2;

enum am_h2_limit {
    AM_H2_LIMIT_STREAMS,        /* over max_concurrent_streams: RST_STREAM(REFUSED) */
    AM_H2_LIMIT_HEADER_BYTES,   /* header list over max_header_bytes: 431 */
    AM_H2_LIMIT_BODY_BYTES,     /* body over max_body_bytes: 413 */
    AM_H2_LIMIT_INFLIGHT_BYTES, /* reserve() refused: 503 */
    AM_H2_LIMIT_READ_TIMEOUT,   /* request not complete in time: RST_STREAM(CANCEL) */
    AM_H2_LIMIT_PROTOCOL,       /* malformed frames: GOAWAY / RST_STREAM */
};

struct am_h2_request {
    int32_t stream_id;
    struct am_http_request http; /* views valid during the callback; arena NULL */
    struct am_str authority;
    struct am_str te;
    struct am_str grpc_encoding;
    struct am_str grpc_timeout;
    bool grpc;             /* content-type application/grpc[+proto|;...] */
    int error_status;      /* != 0: answer this status (431, 413, 503, 408) */
    const char *error_why; /* static, with error_status */
    uint64_t opened_ns;
};

typedef void (*am_h2_request_cb)(void *ud, struct am_h2 *h, const struct am_h2_request *req);
/* Body bytes about to be buffered (n > 0, may refuse: return false) or
 * released (n < 0). For a listener-wide in-flight cap. */
typedef bool (*am_h2_reserve_cb)(void *ud, int64_t n);
typedef void (*am_h2_limit_cb)(void *ud, enum am_h2_limit what);

struct am_h2_opts {
    uint32_t max_concurrent_streams; /* 0: 100 */
    size_t max_header_bytes;         /* header list: sum of name + value + 32 */
    size_t max_body_bytes;           /* per stream DATA */
    uint32_t window_bytes;           /* per-stream receive window; 0: 1 MiB */
    am_h2_request_cb on_request;
    am_h2_reserve_cb reserve; /* may be NULL */
    am_h2_limit_cb on_limit;  /* may be NULL */
    void *ud;
};

struct am_h2_field {
    struct am_str name; /* lower case */
    struct am_str value;
};

/* A server session that has queued its SETTINGS. NULL on allocation failure. */
struct am_h2 *am_h2_create(const struct am_h2_opts *opts);
void am_h2_destroy(struct am_h2 *h);

/* Feed received bytes (the client preface first). Returns bytes consumed
 * (all of len) or AM_EINVAL when the peer broke the protocol: a GOAWAY is
 * queued; send it, then close. */
ssize_t am_h2_feed(struct am_h2 *h, const uint8_t *data, size_t len, uint64_t now_ns);
/* Append bytes to send to out until out->len reaches limit or nothing is
 * left. Returns AM_OK or AM_EINVAL (session broken: close). */
int am_h2_send(struct am_h2 *h, struct am_buf *out, size_t limit);
/* False once the session is done (GOAWAY exchanged, nothing to send). */
bool am_h2_alive(const struct am_h2 *h);
/* Streams open (not closed) on the session. */
size_t am_h2_stream_count(const struct am_h2 *h);

/* Answer stream_id: status, header fields, body (copied), and trailers
 * (copied; sent after the body, e.g. grpc-status). Returns AM_OK, AM_EINVAL
 * (unknown or already answered stream) or AM_ENOMEM. */
int am_h2_respond(struct am_h2 *h, int32_t stream_id, int status, const struct am_h2_field *fields,
                  size_t nfields, const uint8_t *body, size_t body_len,
                  const struct am_h2_field *trailers, size_t ntrailers);

/* Streams still incomplete after timeout_ns are reset (CANCEL, counted as
 * AM_H2_LIMIT_READ_TIMEOUT); a stream past its grpc-timeout gets
 * on_request with error_status 408. Returns how many streams still wait
 * for request bytes. */
size_t am_h2_expire(struct am_h2 *h, uint64_t now_ns, uint64_t timeout_ns);
/* Graceful GOAWAY: no new streams; open ones finish. */
void am_h2_shutdown(struct am_h2 *h);

#endif
