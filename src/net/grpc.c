/*
 * grpc.c - gRPC message framing, grpc-timeout, grpc-message escaping and the
 * one HTTP status -> grpc-status mapping (SPEC.md 1, STYLE.md 5.6). A unary
 * request body is exactly one length-prefixed message; anything else is
 * INVALID_ARGUMENT. Sans-I/O: bytes in, codes and views out.
 */
#include <string.h>

#include "am/err.h"
#include "am/grpc.h"
#include "am/inflate.h"
#include "am/pbwire.h"

int am_grpc_code_for_status(int http_status)
{
    switch (http_status) {
    case 200:
        return AM_GRPC_OK;
    case 400:
        return AM_GRPC_INVALID_ARGUMENT;
    case 401:
        return AM_GRPC_UNAUTHENTICATED;
    case 403:
        return AM_GRPC_PERMISSION_DENIED;
    case 404:
    case 405:
    case 415:
        return AM_GRPC_UNIMPLEMENTED;
    case 408:
        return AM_GRPC_DEADLINE_EXCEEDED;
    case 413:
    case 429:
    case 431:
        return AM_GRPC_RESOURCE_EXHAUSTED;
    case 503:
        return AM_GRPC_UNAVAILABLE;
    default:
        return AM_GRPC_INTERNAL;
    }
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int check_encoding(struct am_str enc, bool compressed, bool *gzip, const char **why)
{
    *gzip = false;
    if (enc.len == 0 || am_str_case_eq(enc, AM_STR("identity"))) {
        if (compressed) {
            *why = "compressed message without grpc-encoding";
            return AM_EINVAL;
        }
        return AM_OK;
    }
    if (!am_str_case_eq(enc, AM_STR("gzip"))) {
        *why = "unsupported grpc-encoding: use gzip or identity";
        return AM_EUNSUPPORTED;
    }
    *gzip = compressed;
    return AM_OK;
}

int am_grpc_unframe(const uint8_t *data, size_t len, struct am_str encoding, size_t max_msg,
                    struct am_arena *arena, const uint8_t **msg, size_t *msg_len, const char **why)
{
    bool gzip;
    if (len < AM_GRPC_PREFIX_BYTES) {
        *why = len == 0 ? "empty request: want one message" : "truncated message prefix";
        return AM_EINVAL;
    }
    if (data[0] > 1) {
        *why = "bad message flag";
        return AM_EINVAL;
    }
    uint32_t n = be32(data + 1);
    if (n > max_msg) {
        *why = "message exceeds max_request_body_size";
        return AM_ETOOBIG;
    }
    if ((size_t)n != len - AM_GRPC_PREFIX_BYTES) {
        *why = n > len - AM_GRPC_PREFIX_BYTES ? "message shorter than its length prefix"
                                              : "data after the message: want one message";
        return AM_EINVAL;
    }
    int rc = check_encoding(encoding, data[0] == 1, &gzip, why);
    if (rc != AM_OK) {
        return rc;
    }
    *msg = data + AM_GRPC_PREFIX_BYTES;
    *msg_len = n;
    if (!gzip) {
        return AM_OK;
    }
    rc = am_inflate_gzip(data + AM_GRPC_PREFIX_BYTES, n, max_msg, arena, msg, msg_len, why);
    if (rc == AM_ETOOBIG) {
        *why = "inflated message exceeds max_request_body_size";
    }
    return rc;
}

int am_grpc_frame(struct am_buf *out, const uint8_t *msg, size_t len)
{
    uint8_t p[AM_GRPC_PREFIX_BYTES];
    if (len > UINT32_MAX) {
        return AM_ETOOBIG;
    }
    p[0] = 0;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
    if (am_buf_append(out, p, sizeof(p)) != AM_OK || am_buf_append(out, msg, len) != AM_OK) {
        return AM_ETOOBIG;
    }
    return AM_OK;
}

static uint64_t unit_ns(char u)
{
    switch (u) {
    case 'H':
        return 3600ull * 1000000000ull;
    case 'M':
        return 60ull * 1000000000ull;
    case 'S':
        return 1000000000ull;
    case 'm':
        return 1000000ull;
    case 'u':
        return 1000ull;
    case 'n':
        return 1;
    default:
        return 0;
    }
}

int am_grpc_parse_timeout(struct am_str v, uint64_t *ns)
{
    if (v.len < 2 || v.len > 9) {
        return AM_EINVAL;
    }
    uint64_t unit = unit_ns(v.ptr[v.len - 1]);
    uint64_t n = 0;
    if (unit == 0) {
        return AM_EINVAL;
    }
    for (size_t i = 0; i + 1 < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9') {
            return AM_EINVAL;
        }
        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
    }
    /* 8 digits of hours is 3.6e15 s: saturate rather than wrap. */
    *ns = n > UINT64_MAX / unit ? UINT64_MAX : n * unit;
    return AM_OK;
}

size_t am_grpc_message_encode(char *out, size_t cap, struct am_str msg)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (cap == 0) {
        return 0;
    }
    for (size_t i = 0; i < msg.len; i++) {
        unsigned char ch = (unsigned char)msg.ptr[i];
        bool plain = ch >= 0x20 && ch <= 0x7e && ch != '%';
        size_t need = plain ? 1 : 3;
        if (o + need >= cap) {
            break;
        }
        if (plain) {
            out[o++] = (char)ch;
            continue;
        }
        out[o++] = '%';
        out[o++] = hex[ch >> 4];
        out[o++] = hex[ch & 15];
    }
    out[o] = '\0';
    return o;
}

struct am_str am_grpc_status_message(const uint8_t *data, size_t len)
{
    const uint8_t *p = data;
    const uint8_t *end = data + len;
    while (p < end) {
        uint32_t field;
        unsigned wt;
        const char *why;
        if (am_pbwire_tag(&p, end, &field, &wt, &why) != AM_OK) {
            break;
        }
        if (field == 2 && wt == AM_PBWIRE_LEN) { /* google.rpc.Status.message */
            const uint8_t *q;
            size_t n;
            if (am_pbwire_len(&p, end, &q, &n, &why) != AM_OK) {
                break;
            }
            return (struct am_str){(const char *)q, n};
        }
        if (am_pbwire_skip(&p, end, wt, &why) != AM_OK) {
            break;
        }
    }
    return AM_STR_NULL;
}
