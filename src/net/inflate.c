/*
 * inflate.c - capped gzip inflation into the request arena (am/inflate.h).
 * Output never exceeds max_out bytes: the buffer grows by doubling up to
 * max_out, and one probe byte past it decides AM_ETOOBIG. Concatenated gzip
 * members (RFC 1952 2.2) are inflated back to back. SPEC.md 1.
 */
#include <stdbool.h>
#include <string.h>
#include <zlib.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/inflate.h"

#define INFLATE_MIN_OUT 4096u

struct sink {
    struct am_arena *arena;
    uint8_t *buf;
    size_t cap;
    size_t len;
    size_t max_out;
};

/* Make room in the output buffer (doubling, capped at max_out) and point
 * the stream at it. Returns AM_OK, AM_ETOOBIG when the buffer is already
 * max_out bytes, or AM_ENOMEM when the arena budget is exhausted. */
static int sink_grow(struct sink *s, z_stream *z)
{
    if (s->cap >= s->max_out) {
        return AM_ETOOBIG;
    }
    size_t want = s->cap < INFLATE_MIN_OUT / 2 ? INFLATE_MIN_OUT : s->cap * 2;
    if (want > s->max_out || want < s->cap) {
        want = s->max_out;
    }
    if (want - s->cap > UINT32_MAX) {
        want = s->cap + UINT32_MAX;
    }
    uint8_t *p = s->buf == NULL ? am_arena_alloc(s->arena, want)
                                : am_arena_grow(s->arena, s->buf, s->cap, want);
    if (p == NULL) {
        return AM_ENOMEM;
    }
    z->next_out = p + s->cap;
    z->avail_out = (uInt)(want - s->cap);
    s->buf = p;
    s->cap = want;
    return AM_OK;
}

/* Inflate every member. Once the buffer holds max_out bytes, output goes to
 * a one-byte probe: any byte landing there means the body is too large. */
static int run(z_stream *z, struct sink *s, const char **why)
{
    uint8_t probe;
    bool full = false;
    for (;;) {
        if (z->avail_out == 0) {
            int rc = sink_grow(s, z);
            if (rc == AM_ENOMEM) {
                *why = "inflated body over the request memory budget";
                return AM_ETOOBIG;
            }
            if (rc == AM_ETOOBIG) {
                full = true;
                z->next_out = &probe;
                z->avail_out = 1;
            }
        }
        int zrc = inflate(z, Z_NO_FLUSH);
        if (full && z->avail_out == 0) {
            *why = "inflated body too large";
            return AM_ETOOBIG;
        }
        if (zrc == Z_STREAM_END) {
            if (z->avail_in == 0) {
                s->len = full ? s->cap : (size_t)(z->next_out - s->buf);
                return AM_OK;
            }
            inflateReset(z); /* another member follows */
        } else if (zrc == Z_BUF_ERROR && z->avail_in == 0) {
            *why = z->total_in == 0 ? "gzip: empty body" : "gzip: truncated stream";
            return AM_EINVAL;
        } else if (zrc == Z_MEM_ERROR) {
            *why = "gzip: out of memory";
            return AM_ENOMEM;
        } else if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            *why = "gzip: corrupt stream";
            return AM_EINVAL;
        }
    }
}

int am_inflate_gzip(const uint8_t *in, size_t in_len, size_t max_out, struct am_arena *arena,
                    const uint8_t **out, size_t *out_len, const char **why)
{
    z_stream z;
    struct sink s = {arena, NULL, 0, 0, max_out};
    const char *sink_why;
    if (why == NULL) {
        why = &sink_why;
    }
    if (in_len > UINT32_MAX) {
        *why = "gzip: input too large";
        return AM_ETOOBIG;
    }
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        *why = "gzip: out of memory";
        return AM_ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)in_len;
    int rc = run(&z, &s, why);
    inflateEnd(&z);
    if (rc != AM_OK) {
        return rc;
    }
    *out = s.buf != NULL ? s.buf : (const uint8_t *)"";
    *out_len = s.len;
    return AM_OK;
}

int am_gzip_compress(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (in_len > UINT32_MAX / 2) {
        return AM_EINVAL;
    }
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return AM_EINVAL;
    }
    size_t bound = deflateBound(&z, (uLong)in_len) + 32;
    uint8_t *buf = am_xmalloc(bound);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)in_len;
    z.next_out = buf;
    z.avail_out = (uInt)bound;
    int zrc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (zrc != Z_STREAM_END) {
        am_free(buf);
        return AM_EINVAL;
    }
    *out = buf;
    *out_len = bound - z.avail_out;
    return AM_OK;
}
