/*
 * inflate.c - capped gzip inflation into the request arena (am/inflate.h).
 * The common body, one gzip member, is inflated by libdeflate in one call
 * into an arena buffer of the size its trailer states (about 2.5 times
 * fewer instructions than zlib, CRC included). Anything else, and any
 * body libdeflate does not inflate to exactly that size, goes through
 * zlib: output never exceeds max_out bytes (the buffer grows by doubling up
 * to max_out, and one probe byte past it decides AM_ETOOBIG), concatenated
 * members (RFC 1952 2.2) are inflated back to back, and every error and its
 * why comes from there. SPEC.md 1.
 */
#include <libdeflate.h>
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

/*
 * One member whose trailer (ISIZE) names a size within max_out, with no
 * header CRC and no reserved flag (libdeflate skips the first and zlib
 * checks both: such bodies go to zlib so the verdict stays zlib's), into an
 * arena buffer of exactly that size. True when it inflated to exactly ISIZE
 * bytes and used the whole input. Otherwise *s holds the buffer, if one was
 * allocated, for zlib to start in.
 */
static bool inflate_whole(const uint8_t *in, size_t in_len, struct sink *s)
{
    if (in_len < 18 || in[0] != 0x1f || in[1] != 0x8b || in[2] != 8 || (in[3] & 0xe2) != 0) {
        return false;
    }
    const uint8_t *t = in + in_len - 4;
    size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
    if (isize == 0 || isize > s->max_out || isize / 1032 > in_len) {
        return false; /* deflate cannot expand more than 1032:1: not this trailer */
    }
    uint8_t *buf = am_arena_alloc(s->arena, isize);
    if (buf == NULL) {
        return false;
    }
    s->buf = buf;
    s->cap = isize;
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    if (d == NULL) {
        return false;
    }
    size_t in_used = 0;
    size_t out_used = 0;
    enum libdeflate_result r =
        libdeflate_gzip_decompress_ex(d, in, in_len, buf, isize, &in_used, &out_used);
    libdeflate_free_decompressor(d);
    if (r != LIBDEFLATE_SUCCESS || in_used != in_len || out_used != isize) {
        return false;
    }
    s->len = isize;
    return true;
}

int am_inflate_gzip(const uint8_t *in, size_t in_len, size_t max_out, struct am_arena *arena,
                    const uint8_t **out, size_t *out_len, const char **why)
{
    z_stream z;
    struct sink s = {arena, NULL, 0, 0, max_out};
    if (inflate_whole(in, in_len, &s)) {
        *out = s.buf;
        *out_len = s.len;
        return AM_OK;
    }
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
    z.next_out = s.buf; /* inflate_whole's buffer, if any: zlib starts there */
    z.avail_out = (uInt)s.cap;
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
