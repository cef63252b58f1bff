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
 * Content-Length or chunked bodies (with trailers skipped), keep-alive.
 * Strict: bare LF, obs-fold, both Content-Length and Transfer-Encoding,
 * conflicting lengths and bad chunk sizes are AM_EINVAL. Header block and
 * body sizes are capped; past a cap the result is AM_ETOOBIG.
 */

#define AM_HTTP1_MAX_HEADERS 64

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
    int minor_version; /* HTTP/1.x */
    struct am_http_header headers[AM_HTTP1_MAX_HEADERS];
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
    struct am_http1_request req;
};

void am_http1_parser_init(struct am_http1_parser *p, size_t max_head, size_t max_body);
void am_http1_parser_fini(struct am_http1_parser *p);
/* Ready for the next request on the same connection. */
void am_http1_parser_reset(struct am_http1_parser *p);

/* Feed bytes. Returns the number consumed (>= 0) and sets *done when a
 * whole request is parsed (the views in p->req point into `data` for the
 * head, so the caller keeps the head bytes until it has handled the
 * request); or AM_EINVAL (malformed, *why says what), or AM_ETOOBIG (head
 * or body over its cap, *why says which). When *done is false and the
 * return is >= 0, feed more. */
ssize_t am_http1_feed(struct am_http1_parser *p, const uint8_t *data, size_t len, bool *done,
                      const char **why);

/* Case-insensitive header lookup; empty view when absent. */
struct am_str am_http1_header(const struct am_http1_request *r, struct am_str name);

#endif
