#ifndef AM_BUF_H
#define AM_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Growable byte buffer with a mandatory cap (STYLE.md 5.5). Anything a peer
 * can grow is an am_buf; appending past `max` fails with AM_ETOOBIG and leaves
 * the contents unchanged. Memory comes from am_x* (heap).
 */

struct am_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void am_buf_init(struct am_buf *b, size_t max);
void am_buf_fini(struct am_buf *b);
/* len = 0, capacity kept. */
void am_buf_reset(struct am_buf *b);
/* Ensure room for n more bytes. Returns AM_OK or AM_ETOOBIG. */
int am_buf_reserve(struct am_buf *b, size_t n);
/* Returns AM_OK or AM_ETOOBIG. */
int am_buf_append(struct am_buf *b, const void *p, size_t n);
int am_buf_append_str(struct am_buf *b, const char *s);
int am_buf_append_byte(struct am_buf *b, char c);
__attribute__((format(printf, 2, 3))) int am_buf_printf(struct am_buf *b, const char *fmt, ...);
__attribute__((format(printf, 2, 0))) int am_buf_vprintf(struct am_buf *b, const char *fmt,
                                                         va_list ap);
/* Remove the first n bytes (n <= len). */
void am_buf_consume(struct am_buf *b, size_t n);

#endif
