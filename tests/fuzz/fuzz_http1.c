/*
 * fuzz_http1.c - the HTTP/1.1 parser on arbitrary bytes, fed in two pieces
 * split at a byte taken from the input, then pipelined requests until the
 * input ends. Invariants: consumption never exceeds the input, views lie in
 * the input, counts and the body stay within their caps.
 */
#include <stdint.h>
#include <stdlib.h>

#include "am/err.h"
#include "am/http1.h"

#define FUZZ_MAX_HEAD 2048
#define FUZZ_MAX_BODY 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_view(struct am_str v, const uint8_t *lo, size_t len)
{
    const char *b = (const char *)lo;
    if (v.len > 0 && (v.ptr < b || v.ptr + v.len > b + len)) {
        abort();
    }
}

static void check(const struct am_http1_parser *p, const uint8_t *in, size_t len)
{
    const struct am_http1_request *r = &p->req;
    if (r->header_count > AM_HTTP1_MAX_HEADERS || r->body.len > FUZZ_MAX_BODY ||
        p->head_bytes > FUZZ_MAX_HEAD) {
        abort();
    }
    if (p->state == AM_HTTP1_HEAD) {
        return;
    }
    check_view(r->method, in, len);
    check_view(r->target, in, len);
    for (size_t i = 0; i < r->header_count; i++) {
        check_view(r->headers[i].name, in, len);
        check_view(r->headers[i].value, in, len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct am_http1_parser p;
    if (size == 0) {
        return 0;
    }
    size_t split = data[0] % size;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    if (split > len) {
        split = len;
    }
    am_http1_parser_init(&p, FUZZ_MAX_HEAD, FUZZ_MAX_BODY);
    size_t off = 0;
    size_t limit = split; /* first piece, then everything */
    for (int rounds = 0; rounds < 64; rounds++) {
        bool done = false;
        const char *why = NULL;
        ssize_t n = am_http1_feed(&p, in + off, limit - off, &done, &why);
        if (n < 0) {
            if (why == NULL) {
                abort();
            }
            break;
        }
        if ((size_t)n > limit - off) {
            abort();
        }
        off += (size_t)n;
        check(&p, in, len);
        if (done) {
            am_http1_parser_reset(&p);
        } else if (n == 0 && limit == len) {
            break;
        }
        limit = len;
    }
    am_http1_parser_fini(&p);
    return 0;
}
