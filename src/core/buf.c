/* buf.c - capped growable buffers (am/buf.h). */
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/buf.h"
#include "am/err.h"

void am_buf_init(struct am_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void am_buf_fini(struct am_buf *b)
{
    am_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void am_buf_reset(struct am_buf *b)
{
    b->len = 0;
}

int am_buf_reserve(struct am_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n) {
        return AM_ETOOBIG;
    }
    size_t need = b->len + n;
    if (need <= b->cap && b->data != NULL) {
        return AM_OK; /* never NULL after a successful reserve, even of 0 bytes */
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    if (cap > b->max) {
        cap = b->max;
    }
    b->data = am_xrealloc(b->data, cap + 1);
    b->cap = cap;
    return AM_OK;
}

int am_buf_append(struct am_buf *b, const void *p, size_t n)
{
    int rc = am_buf_reserve(b, n);
    if (rc != AM_OK) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    return AM_OK;
}

int am_buf_append_str(struct am_buf *b, const char *s)
{
    return am_buf_append(b, s, strlen(s));
}

int am_buf_append_byte(struct am_buf *b, char c)
{
    if (b->len < b->cap) {
        b->data[b->len++] = c;
        return AM_OK;
    }
    return am_buf_append(b, &c, 1);
}

int am_buf_vprintf(struct am_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    char small[256];
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return AM_EINVAL;
    }
    if ((size_t)n < sizeof(small)) {
        return am_buf_append(b, small, (size_t)n);
    }
    int rc = am_buf_reserve(b, (size_t)n); /* data has cap + 1 bytes */
    if (rc != AM_OK) {
        return rc;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return AM_OK;
}

int am_buf_printf(struct am_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = am_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void am_buf_consume(struct am_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
