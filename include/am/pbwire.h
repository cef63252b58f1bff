#ifndef AM_PBWIRE_H
#define AM_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "am/err.h"

/*
 * pbwire: the protobuf wire primitives, the one reader shared by the OTLP
 * decoders (otlp) and the gRPC status parser (net): varints, tags, length-
 * delimited payloads, fixed64 and skipping. Every function is bounded by
 * `end` and never reads past it; a bad input returns AM_EINVAL with a
 * static *why. Header-only (inlined on the decoders' hot paths). Pure.
 */

enum am_pbwire_type {
    AM_PBWIRE_VARINT = 0,
    AM_PBWIRE_I64 = 1,
    AM_PBWIRE_LEN = 2,
    AM_PBWIRE_I32 = 5,
};

/* Read a varint. Returns AM_OK or AM_EINVAL (*why set). */
static inline int am_pbwire_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out,
                                   const char **why)
{
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *out = *p;
        *pp = p + 1;
        return AM_OK;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (p >= end) {
            *why = "wire: truncated varint";
            return AM_EINVAL;
        }
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            *pp = p;
            return AM_OK;
        }
    }
    *why = "wire: varint longer than 10 bytes";
    return AM_EINVAL;
}

/* Read a tag: field number and wire type. Rejects field 0 and groups. */
static inline int am_pbwire_tag(const uint8_t **pp, const uint8_t *end, uint32_t *field,
                                unsigned *wt, const char **why)
{
    uint64_t t;
    if (am_pbwire_varint(pp, end, &t, why) != AM_OK) {
        return AM_EINVAL;
    }
    if (t >> 3 == 0 || t >> 3 > 0x1fffffff) {
        *why = "wire: bad field number";
        return AM_EINVAL;
    }
    *field = (uint32_t)(t >> 3);
    *wt = (unsigned)(t & 7);
    if (*wt != AM_PBWIRE_VARINT && *wt != AM_PBWIRE_I64 && *wt != AM_PBWIRE_LEN &&
        *wt != AM_PBWIRE_I32) {
        *why = "wire: group or invalid wire type";
        return AM_EINVAL;
    }
    return AM_OK;
}

/* Length-delimited payload: [*q, *q + *n) lies inside [*pp, end). */
static inline int am_pbwire_len(const uint8_t **pp, const uint8_t *end, const uint8_t **q,
                                size_t *n, const char **why)
{
    uint64_t len;
    if (am_pbwire_varint(pp, end, &len, why) != AM_OK) {
        return AM_EINVAL;
    }
    if (len > (uint64_t)(end - *pp)) {
        *why = "wire: length past end of message";
        return AM_EINVAL;
    }
    *q = *pp;
    *n = (size_t)len;
    *pp += len;
    return AM_OK;
}

static inline uint64_t am_pbwire_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Skip the value of a field with wire type wt (already validated). */
static inline int am_pbwire_skip(const uint8_t **pp, const uint8_t *end, unsigned wt,
                                 const char **why)
{
    uint64_t v;
    const uint8_t *q = NULL;
    size_t n;
    size_t need = 0;
    switch (wt) {
    case AM_PBWIRE_VARINT:
        return am_pbwire_varint(pp, end, &v, why);
    case AM_PBWIRE_LEN:
        return am_pbwire_len(pp, end, &q, &n, why);
    case AM_PBWIRE_I64:
        need = 8;
        break;
    default:
        need = 4;
        break;
    }
    if ((size_t)(end - *pp) < need) {
        *why = "wire: truncated fixed-width field";
        return AM_EINVAL;
    }
    *pp += need;
    return AM_OK;
}

#endif
