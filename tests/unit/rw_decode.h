/*
 * rw_decode.h - test-only decoder for remote_write bodies: snappy block ->
 * prometheus.WriteRequest -> one text line per sample
 * `name="value",... value timestamp`. Checks what a receiver would check:
 * labels strictly sorted by name, no empty values, one sample per series.
 * Written independently of rw_enc.c so the two cannot share a mistake.
 */
#ifndef RW_DECODE_H
#define RW_DECODE_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <snappy-c.h>

#include "am/alloc.h"
#include "am/buf.h"
#include "am/err.h"

struct rwd_cur {
    const uint8_t *p;
    const uint8_t *end;
};

static inline int rwd_varint(struct rwd_cur *c, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end) {
            return -1;
        }
        uint8_t b = *c->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return 0;
        }
    }
    return -1;
}

/* Next field: tag and, for LEN fields, the sub-slice. */
static inline int rwd_field(struct rwd_cur *c, uint64_t *tag, struct rwd_cur *sub, uint64_t *num)
{
    if (rwd_varint(c, tag) != 0) {
        return -1;
    }
    switch (*tag & 7) {
    case 0:
        return rwd_varint(c, num);
    case 1:
        if (c->end - c->p < 8) {
            return -1;
        }
        *num = 0;
        for (int i = 0; i < 8; i++) {
            *num |= (uint64_t)c->p[i] << (8 * i);
        }
        c->p += 8;
        return 0;
    case 2: {
        uint64_t n;
        if (rwd_varint(c, &n) != 0 || n > (uint64_t)(c->end - c->p)) {
            return -1;
        }
        sub->p = c->p;
        sub->end = c->p + n;
        c->p += n;
        return 0;
    }
    default:
        return -1;
    }
}

static inline int rwd_label(struct rwd_cur l, struct am_buf *out, char *prev, size_t prev_cap)
{
    struct rwd_cur name = {0};
    struct rwd_cur value = {0};
    while (l.p < l.end) {
        uint64_t tag = 0;
        uint64_t num = 0;
        struct rwd_cur sub = {0};
        if (rwd_field(&l, &tag, &sub, &num) != 0) {
            return -1;
        }
        if (tag == 0x0a) {
            name = sub;
        } else if (tag == 0x12) {
            value = sub;
        }
    }
    size_t nl = (size_t)(name.end - name.p);
    size_t vl = (size_t)(value.end - value.p);
    if (nl == 0 || vl == 0 || nl >= prev_cap) {
        return -1; /* empty name or value */
    }
    char cur[256];
    memcpy(cur, name.p, nl);
    cur[nl] = '\0';
    if (prev[0] != '\0' && strcmp(prev, cur) >= 0) {
        return -1; /* not strictly sorted */
    }
    memcpy(prev, cur, nl + 1);
    am_buf_printf(out, "%s%.*s=\"%.*s\"", out->len && out->data[out->len - 1] != '\n' ? "," : "",
                  (int)nl, (const char *)name.p, (int)vl, (const char *)value.p);
    return 0;
}

static inline int rwd_sample(struct rwd_cur s, struct am_buf *out)
{
    uint64_t bits = 0;
    uint64_t ts = 0;
    while (s.p < s.end) {
        uint64_t tag = 0;
        uint64_t num = 0;
        struct rwd_cur sub = {0};
        if (rwd_field(&s, &tag, &sub, &num) != 0) {
            return -1;
        }
        if (tag == 0x09) {
            bits = num;
        } else if (tag == 0x10) {
            ts = num;
        }
    }
    double v;
    memcpy(&v, &bits, sizeof(v));
    if (isnan(v)) {
        am_buf_printf(out, " NaN(0x%016" PRIx64 ") %" PRId64 "\n", bits, (int64_t)ts);
    } else {
        am_buf_printf(out, " %.17g %" PRId64 "\n", v, (int64_t)ts);
    }
    return 0;
}

/* An Exemplar as its own line: "  exemplar {k="v",...} value ts". Its
 * labels are written in wire order (sorted by the encoder) on the line. */
static inline int rwd_exemplar(struct rwd_cur x, struct am_buf *out)
{
    char prev[256] = "";
    uint64_t bits = 0;
    uint64_t ts = 0;
    am_buf_append_str(out, "  exemplar {");
    while (x.p < x.end) {
        uint64_t tag = 0;
        uint64_t num = 0;
        struct rwd_cur sub = {0};
        if (rwd_field(&x, &tag, &sub, &num) != 0) {
            return -1;
        }
        if (tag == 0x0a) {
            if (out->data[out->len - 1] != '{') {
                am_buf_append_byte(out, ',');
            }
            size_t before = out->len;
            am_buf_append_byte(out, '\n'); /* so rwd_label writes no comma */
            if (rwd_label(sub, out, prev, sizeof(prev)) != 0) {
                return -1;
            }
            memmove(out->data + before, out->data + before + 1, out->len - before - 1);
            out->len--;
        } else if (tag == 0x11) {
            bits = num;
        } else if (tag == 0x18) {
            ts = num;
        }
    }
    double v;
    memcpy(&v, &bits, sizeof(v));
    am_buf_printf(out, "} %.17g %" PRId64 "\n", v, (int64_t)ts);
    return 0;
}

static inline int rwd_series(struct rwd_cur t, struct am_buf *out, size_t *samples)
{
    char prev[256] = "";
    int n_samples = 0;
    size_t line_start = out->len;
    while (t.p < t.end) {
        uint64_t tag = 0;
        uint64_t num = 0;
        struct rwd_cur sub = {0};
        if (rwd_field(&t, &tag, &sub, &num) != 0) {
            return -1;
        }
        if (tag == 0x0a) {
            if (n_samples > 0 || rwd_label(sub, out, prev, sizeof(prev)) != 0) {
                return -1;
            }
        } else if (tag == 0x12) {
            if (n_samples++ > 0 || rwd_sample(sub, out) != 0) {
                return -1;
            }
        } else if (tag == 0x1a) {
            if (n_samples == 0 || rwd_exemplar(sub, out) != 0) {
                return -1;
            }
        }
    }
    (*samples)++;
    return n_samples == 1 && out->len > line_start ? 0 : -1;
}

/* Decode a snappy-compressed WriteRequest, appending lines to out.
 * Returns the sample count, or -1 if anything is malformed. */
static inline long rwd_decode(const void *data, size_t len, struct am_buf *out)
{
    size_t raw_len;
    if (snappy_uncompressed_length(data, len, &raw_len) != SNAPPY_OK) {
        return -1;
    }
    char *raw = am_xmalloc(raw_len + 1);
    long rc = -1;
    size_t samples = 0;
    if (snappy_uncompress(data, len, raw, &raw_len) != SNAPPY_OK) {
        goto out;
    }
    struct rwd_cur c = {(const uint8_t *)raw, (const uint8_t *)raw + raw_len};
    while (c.p < c.end) {
        uint64_t tag = 0;
        uint64_t num = 0;
        struct rwd_cur sub = {0};
        if (rwd_field(&c, &tag, &sub, &num) != 0 || tag != 0x0a) {
            goto out;
        }
        if (rwd_series(sub, out, &samples) != 0) {
            goto out;
        }
    }
    rc = (long)samples;
    if (am_buf_append_byte(out, '\0') == AM_OK) {
        out->len--; /* keep it a C string for strstr */
    }
out:
    am_free(raw);
    return rc;
}

#endif
