/*
 * http1.c - strict sans-I/O HTTP/1.1 request parser (am/http1.h, RFC 9112).
 * Invariants: the head is parsed only once complete (so views point into one
 * contiguous caller buffer); every line must end in CRLF; body bytes are
 * copied into req.body, which never grows past max_body. Lines are consumed
 * whole, bodies byte-wise, so any split of the input parses the same.
 */
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/http1.h"

#define BODY_RESERVE_MAX (1u << 20) /* upfront reservation for a declared length */
#define BODY_KEEP (4u * 1024)       /* body capacity kept across requests */

static bool is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_field_vchar(uint8_t c)
{
    return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static struct am_str trim_ows(const char *s, size_t n)
{
    while (n > 0 && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    return (struct am_str){s, n};
}

void am_http1_parser_init(struct am_http1_parser *p, size_t max_head, size_t max_body)
{
    memset(p, 0, sizeof(*p));
    p->max_head = max_head;
    p->max_body = max_body;
    am_buf_init(&p->req.body, max_body);
}

void am_http1_parser_fini(struct am_http1_parser *p)
{
    am_buf_fini(&p->req.body);
    am_free(p->req.headers);
    p->req.headers = NULL;
}

void am_http1_parser_reset(struct am_http1_parser *p)
{
    struct am_buf body = p->req.body;
    am_buf_reset(&body);
    if (body.cap > BODY_KEEP) {
        am_buf_fini(&body); /* an idle keep-alive connection keeps no body */
    }
    am_free(p->req.headers);
    memset(&p->req, 0, sizeof(p->req));
    p->req.body = body;
    p->state = AM_HTTP1_HEAD;
    p->remaining = 0;
    p->head_bytes = 0;
    p->scan = 0;
}

struct am_str am_http1_header(const struct am_http1_request *r, struct am_str name)
{
    for (size_t i = 0; i < r->header_count; i++) {
        if (am_str_case_eq(r->headers[i].name, name)) {
            return r->headers[i].value;
        }
    }
    return AM_STR_NULL;
}

/* Find the end of a line ("\r\n") within the first `limit` bytes. Returns
 * the length including CRLF, 0 if more input is needed, or AM_EINVAL for a
 * bare CR or LF. *full is set when `limit` bytes were searched in vain. */
static ssize_t find_line(const uint8_t *d, size_t len, size_t limit, bool *full, const char **why)
{
    size_t n = len < limit ? len : limit;
    *full = false;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n') {
            if (i == 0 || d[i - 1] != '\r') {
                *why = "bare LF line ending";
                return AM_EINVAL;
            }
            return (ssize_t)(i + 1);
        }
        if (i > 0 && d[i - 1] == '\r') {
            *why = "bare CR in line";
            return AM_EINVAL;
        }
    }
    *full = len >= limit;
    return 0;
}

/* Parse "method SP target SP HTTP/1.x" (line without CRLF). */
static int parse_request_line(struct am_http1_request *r, const char *s, size_t n, const char **why)
{
    size_t i = 0;
    while (i < n && is_tchar((uint8_t)s[i])) {
        i++;
    }
    if (i == 0 || i >= n || s[i] != ' ') {
        *why = "bad request method";
        return AM_EINVAL;
    }
    r->method = (struct am_str){s, i};
    size_t t = ++i;
    while (i < n && (uint8_t)s[i] > 0x20 && (uint8_t)s[i] < 0x7f) {
        i++;
    }
    if (i == t || i >= n || s[i] != ' ') {
        *why = "bad request target";
        return AM_EINVAL;
    }
    r->target = (struct am_str){s + t, i - t};
    i++;
    if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) != 0 || (s[i + 7] != '0' && s[i + 7] != '1')) {
        *why = "unsupported HTTP version";
        return AM_EINVAL;
    }
    r->minor_version = s[i + 7] - '0';
    return AM_OK;
}

/* Parse "name: value" (line without CRLF) into *h. */
static int parse_field_line(struct am_http_header *h, const char *s, size_t n, const char **why)
{
    size_t i = 0;
    if (n > 0 && (s[0] == ' ' || s[0] == '\t')) {
        *why = "obs-fold header continuation";
        return AM_EINVAL;
    }
    while (i < n && is_tchar((uint8_t)s[i])) {
        i++;
    }
    if (i == 0 || i >= n || s[i] != ':') {
        *why = "bad header name";
        return AM_EINVAL;
    }
    for (size_t j = i + 1; j < n; j++) {
        if (!is_field_vchar((uint8_t)s[j])) {
            *why = "bad byte in header value";
            return AM_EINVAL;
        }
    }
    h->name = (struct am_str){s, i};
    h->value = trim_ows(s + i + 1, n - i - 1);
    return AM_OK;
}

/* Split the complete head [d, d+n) (ending in CRLFCRLF) into fields. */
static int parse_head_lines(struct am_http1_request *r, const char *d, size_t n, const char **why)
{
    const char *end = d + n - 2; /* the final empty line */
    const char *eol = memchr(d, '\r', n);
    int rc = parse_request_line(r, d, (size_t)(eol - d), why);
    const char *line = eol + 2;
    if (r->headers == NULL && line < end) {
        r->headers = am_xmalloc(AM_HTTP1_MAX_HEADERS * sizeof(*r->headers));
    }
    while (rc == AM_OK && line < end) {
        eol = memchr(line, '\r', (size_t)(end - line));
        if (r->header_count == AM_HTTP1_MAX_HEADERS) {
            *why = "too many header fields";
            return AM_ETOOBIG;
        }
        rc = parse_field_line(&r->headers[r->header_count], line, (size_t)(eol - line), why);
        r->header_count++;
        line = eol + 2;
    }
    return rc;
}

static int note_content_length(struct am_str v, bool *seen, uint64_t *cl, const char **why)
{
    uint64_t n;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9') {
            *why = "bad Content-Length";
            return AM_EINVAL;
        }
    }
    if (am_str_to_u64(v, &n) != AM_OK) {
        *why = v.len == 0 ? "bad Content-Length" : "Content-Length overflow";
        return AM_EINVAL;
    }
    if (*seen && n != *cl) {
        *why = "conflicting Content-Length values";
        return AM_EINVAL;
    }
    *seen = true;
    *cl = n;
    return AM_OK;
}

static void note_connection(struct am_str v, bool *close, bool *keep)
{
    while (v.len > 0) {
        const char *comma = memchr(v.ptr, ',', v.len);
        size_t n = comma ? (size_t)(comma - v.ptr) : v.len;
        struct am_str tok = trim_ows(v.ptr, n);
        if (am_str_case_eq(tok, AM_STR("close"))) {
            *close = true;
        } else if (am_str_case_eq(tok, AM_STR("keep-alive"))) {
            *keep = true;
        }
        v.ptr += comma ? n + 1 : n;
        v.len -= comma ? n + 1 : n;
    }
}

struct head_facts {
    bool has_cl;
    bool chunked;
    bool conn_close;
    bool conn_keep;
    unsigned hosts;
    uint64_t cl;
};

static int collect_facts(struct am_http1_request *r, struct head_facts *f, const char **why)
{
    for (size_t i = 0; i < r->header_count; i++) {
        struct am_str name = r->headers[i].name;
        struct am_str v = r->headers[i].value;
        if (am_str_case_eq(name, AM_STR("content-length"))) {
            int rc = note_content_length(v, &f->has_cl, &f->cl, why);
            if (rc != AM_OK) {
                return rc;
            }
        } else if (am_str_case_eq(name, AM_STR("transfer-encoding"))) {
            if (f->chunked || !am_str_case_eq(v, AM_STR("chunked"))) {
                *why = "unsupported Transfer-Encoding";
                return AM_EINVAL;
            }
            f->chunked = true;
        } else if (am_str_case_eq(name, AM_STR("connection"))) {
            note_connection(v, &f->conn_close, &f->conn_keep);
        } else if (am_str_case_eq(name, AM_STR("host"))) {
            f->hosts++;
        } else if (am_str_case_eq(name, AM_STR("expect"))) {
            r->expect_continue = am_str_case_eq(v, AM_STR("100-continue"));
        }
    }
    return AM_OK;
}

/* The head is parsed: decide keep-alive and how the body is framed. */
static int head_semantics(struct am_http1_parser *p, const char **why)
{
    struct am_http1_request *r = &p->req;
    struct head_facts f = {0};
    int rc = collect_facts(r, &f, why);
    if (rc != AM_OK) {
        return rc;
    }
    if (f.hosts > 1) { /* RFC 9112 3.2: any request */
        *why = "more than one Host header";
        return AM_EINVAL;
    }
    if (f.hosts == 0 && r->minor_version == 1) {
        *why = "missing Host header (required in HTTP/1.1)";
        return AM_EINVAL;
    }
    if (f.has_cl && f.chunked) {
        *why = "both Content-Length and Transfer-Encoding";
        return AM_EINVAL;
    }
    if (f.chunked && r->minor_version == 0) {
        *why = "Transfer-Encoding in HTTP/1.0";
        return AM_EINVAL;
    }
    r->keep_alive = !f.conn_close && (r->minor_version == 1 || f.conn_keep);
    if (f.chunked) {
        p->state = AM_HTTP1_CHUNK_SIZE;
        return AM_OK;
    }
    if (!f.has_cl || f.cl == 0) {
        p->state = AM_HTTP1_DONE;
        return AM_OK;
    }
    p->state = AM_HTTP1_BODY_LENGTH;
    p->remaining = f.cl;
    if (f.cl > p->max_body) {
        *why = "request body too large";
        return AM_ETOOBIG;
    }
    return am_buf_reserve(&r->body, f.cl < BODY_RESERVE_MAX ? (size_t)f.cl : BODY_RESERVE_MAX);
}

/* Search for the end of the head, resuming where the last call stopped. */
static ssize_t head_end(struct am_http1_parser *p, const uint8_t *d, size_t len, const char **why)
{
    size_t limit = p->max_head - p->head_bytes;
    size_t n = len < limit ? len : limit;
    size_t i = p->scan;
    for (; i < n; i++) {
        if (d[i] == '\n') {
            if (i == 0 || d[i - 1] != '\r') {
                *why = "bare LF line ending";
                return AM_EINVAL;
            }
            if (i >= 3 && d[i - 2] == '\n' && d[i - 3] == '\r') {
                return (ssize_t)(i + 1);
            }
        } else if (i > 0 && d[i - 1] == '\r') {
            *why = "bare CR in head";
            return AM_EINVAL;
        }
    }
    p->scan = i;
    if (len >= limit) {
        *why = "request head too large";
        return AM_ETOOBIG;
    }
    return 0;
}

static ssize_t step_head(struct am_http1_parser *p, const uint8_t *d, size_t len, const char **why)
{
    if (p->scan == 0 && len > 0 && d[0] == '\r') {
        /* RFC 9112 2.2: ignore empty lines before the request line. */
        if (len < 2) {
            return 0;
        }
        if (d[1] != '\n') {
            *why = "bare CR in head";
            return AM_EINVAL;
        }
        if (p->head_bytes + 2 > p->max_head) {
            *why = "request head too large";
            return AM_ETOOBIG;
        }
        p->head_bytes += 2;
        return 2;
    }
    ssize_t n = head_end(p, d, len, why);
    if (n <= 0) {
        return n;
    }
    p->head_bytes += (size_t)n;
    p->scan = 0;
    int rc = parse_head_lines(&p->req, (const char *)d, (size_t)n, why);
    if (rc == AM_OK) {
        rc = head_semantics(p, why);
    }
    return rc == AM_OK ? n : rc;
}

static int parse_chunk_size(struct am_http1_parser *p, const uint8_t *d, size_t n, const char **why)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && hexval(d[i]) >= 0; i++) {
        if (v > (UINT64_MAX >> 4)) {
            *why = "chunk size overflow";
            return AM_EINVAL;
        }
        v = (v << 4) | (uint64_t)hexval(d[i]);
    }
    if (i == 0) {
        *why = "bad chunk size";
        return AM_EINVAL;
    }
    while (i < n && (d[i] == ' ' || d[i] == '\t')) {
        i++;
    }
    if (i < n && d[i] != ';') {
        *why = "bad chunk size";
        return AM_EINVAL;
    }
    for (; i < n; i++) {
        if (d[i] == 0 || d[i] == 0x7f) {
            *why = "bad byte in chunk extension";
            return AM_EINVAL;
        }
    }
    if (v == 0) {
        p->state = AM_HTTP1_TRAILERS;
        return AM_OK;
    }
    if (v > p->max_body - p->req.body.len) {
        *why = "request body too large";
        return AM_ETOOBIG;
    }
    p->remaining = v;
    p->state = AM_HTTP1_CHUNK_DATA;
    return AM_OK;
}

static ssize_t step_chunk_size(struct am_http1_parser *p, const uint8_t *d, size_t len,
                               const char **why)
{
    bool full;
    ssize_t n = find_line(d, len, AM_HTTP1_MAX_CHUNK_LINE, &full, why);
    if (n == 0 && full) {
        *why = "chunk size line too long";
        return AM_EINVAL;
    }
    if (n <= 0) {
        return n;
    }
    int rc = parse_chunk_size(p, d, (size_t)n - 2, why);
    return rc == AM_OK ? n : rc;
}

static ssize_t step_trailer(struct am_http1_parser *p, const uint8_t *d, size_t len,
                            const char **why)
{
    bool full;
    struct am_http_header h;
    ssize_t n = find_line(d, len, p->max_head - p->head_bytes, &full, why);
    if (n == 0 && full) {
        *why = "trailer section too large";
        return AM_ETOOBIG;
    }
    if (n <= 0) {
        return n;
    }
    p->head_bytes += (size_t)n;
    if (n == 2) {
        p->state = AM_HTTP1_DONE;
        return n;
    }
    int rc = parse_field_line(&h, (const char *)d, (size_t)n - 2, why);
    return rc == AM_OK ? n : rc;
}

static ssize_t step_data(struct am_http1_parser *p, const uint8_t *d, size_t len, const char **why)
{
    size_t take = len;
    if ((uint64_t)take > p->remaining) {
        take = (size_t)p->remaining;
    }
    if (am_buf_append(&p->req.body, d, take) != AM_OK) {
        *why = "request body too large";
        return AM_ETOOBIG;
    }
    p->remaining -= take;
    if (p->remaining == 0) {
        p->state = p->state == AM_HTTP1_BODY_LENGTH ? AM_HTTP1_DONE : AM_HTTP1_CHUNK_DATA_END;
    }
    return (ssize_t)take;
}

static ssize_t step_data_end(struct am_http1_parser *p, const uint8_t *d, size_t len,
                             const char **why)
{
    if (len < 2) {
        if (len == 1 && d[0] != '\r') {
            *why = "missing CRLF after chunk data";
            return AM_EINVAL;
        }
        return 0;
    }
    if (d[0] != '\r' || d[1] != '\n') {
        *why = "missing CRLF after chunk data";
        return AM_EINVAL;
    }
    p->state = AM_HTTP1_CHUNK_SIZE;
    return 2;
}

static ssize_t step(struct am_http1_parser *p, const uint8_t *d, size_t len, const char **why)
{
    switch (p->state) {
    case AM_HTTP1_HEAD:
        return step_head(p, d, len, why);
    case AM_HTTP1_BODY_LENGTH:
    case AM_HTTP1_CHUNK_DATA:
        return len == 0 ? 0 : step_data(p, d, len, why);
    case AM_HTTP1_CHUNK_SIZE:
        return step_chunk_size(p, d, len, why);
    case AM_HTTP1_CHUNK_DATA_END:
        return step_data_end(p, d, len, why);
    case AM_HTTP1_TRAILERS:
        return step_trailer(p, d, len, why);
    case AM_HTTP1_DONE:
    default:
        return 0;
    }
}

ssize_t am_http1_feed(struct am_http1_parser *p, const uint8_t *data, size_t len, bool *done,
                      const char **why)
{
    size_t off = 0;
    const char *sink;
    if (why == NULL) {
        why = &sink;
    }
    while (p->state != AM_HTTP1_DONE) {
        bool in_head = p->state == AM_HTTP1_HEAD;
        ssize_t n = step(p, data + off, len - off, why);
        if (n < 0) {
            *done = false;
            return n;
        }
        off += (size_t)n;
        if (n == 0 || (in_head && p->state != AM_HTTP1_HEAD)) {
            break;
        }
    }
    *done = p->state == AM_HTTP1_DONE;
    return (ssize_t)off;
}
