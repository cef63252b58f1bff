#ifndef AM_HTTP1_H
#define AM_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "am/buf.h"
#include "am/str.h"

/*
 * Sans-I/O HTTP/1.1 request parser (RFC 9112): request line, headers,
 * Content-Length or chunked bodies (extensions ignored, trailers skipped),
 * keep-alive. Strict: bare LF, obs-fold, both Content-Length and
 * Transfer-Encoding, conflicting lengths, codings other than chunked and
 * bad chunk sizes are AM_EINVAL. The head (plus any trailers) is capped at
 * max_head and the decoded body at max_body; past a cap: AM_ETOOBIG.
 * A request with neither Content-Length nor chunked has an empty body.
 * No I/O, no globals; one parser per connection.
 */

#define AM_HTTP1_MAX_HEADERS 64
/* Longest chunk-size line (size, extensions, CRLF) accepted. A reader's
 * buffer of max_head + AM_HTTP1_MAX_CHUNK_LINE bytes always makes progress. */
#define AM_HTTP1_MAX_CHUNK_LINE 1024

struct am_http_header {
    struct am_str name;
    struct am_str value;
};

enum am_http1_state {
    AM_HTTP1_HEAD = 0,
    AM_HTTP1_BODY_LENGTH,
    AM_HTTP1_CHUNK_SIZE,
    AM_HTTP1_CHUNK_DATA,
    AM_HTTP1_CHUNK_DATA_END,
    AM_HTTP1_TRAILERS,
    AM_HTTP1_DONE,
};

struct am_http1_request {
    struct am_str method;
    struct am_str target;
    int minor_version;              /* HTTP/1.x */
    struct am_http_header *headers; /* AM_HTTP1_MAX_HEADERS, allocated once a head is
                                     * complete and freed by reset: an idle connection
                                     * holds none */
    size_t header_count;
    bool keep_alive;
    bool expect_continue;
    struct am_buf body; /* decoded (de-chunked) body, capped at max_body */
};

struct am_http1_parser {
    enum am_http1_state state;
    size_t max_head;
    size_t max_body;
    uint64_t remaining; /* bytes left in the body or current chunk */
    size_t head_bytes;  /* head + trailer bytes consumed, against max_head */
    size_t scan;        /* bytes of the pending head already searched */
    struct am_http1_request req;
};

void am_http1_parser_init(struct am_http1_parser *p, size_t max_head, size_t max_body);
void am_http1_parser_fini(struct am_http1_parser *p);
/* Ready for the next request on the same connection; a body buffer grown
 * past 4 KiB is freed (an idle keep-alive connection pins no body). */
void am_http1_parser_reset(struct am_http1_parser *p);

/* Feed bytes. Returns the number consumed (>= 0), or AM_EINVAL (malformed)
 * or AM_ETOOBIG (head, header count or body over its cap), *why saying
 * what (static). *done is set when a whole request is parsed; the parser
 * then consumes nothing more until am_http1_parser_reset.
 * Buffer contract:
 *  - Bytes not consumed must be fed again, unchanged, at the start of the
 *    next call, followed by any new bytes. Lines (head, chunk size,
 *    trailers) are only consumed once complete, so `data` may be split at
 *    any byte.
 *  - The call that completes the head returns right after it (state leaves
 *    AM_HTTP1_HEAD; done only if there is no body), so the bytes it
 *    consumed are exactly the head. method, target and headers[] point
 *    into them: keep those bytes, unmoved, until the request is handled.
 *    Body bytes are copied into req.body and may be dropped once consumed.
 *  - On an error with p->state != AM_HTTP1_HEAD (body too big, declared
 *    Content-Length over max_body, bad chunk) the head fields are valid,
 *    so the caller can answer in kind. After any error, reset or fini. */
ssize_t am_http1_feed(struct am_http1_parser *p, const uint8_t *data, size_t len, bool *done,
                      const char **why);

/* Case-insensitive header lookup; empty view when absent. */
struct am_str am_http1_header(const struct am_http1_request *r, struct am_str name);

#endif
