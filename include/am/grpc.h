#ifndef AM_GRPC_H
#define AM_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/arena.h"
#include "am/buf.h"
#include "am/str.h"

/*
 * gRPC over HTTP/2 (the wire side of PROTOCOL-HTTP2.md): 5-byte
 * length-prefixed messages, grpc-encoding gzip, grpc-timeout, and the one
 * mapping from an HTTP status to a grpc-status (SPEC.md 1, STYLE.md 5.6).
 * Sans-I/O: no syscalls, no clock, no globals. A unary call carries exactly
 * one message; the transport collects the stream's DATA and unframes it.
 */

#define AM_GRPC_PREFIX_BYTES 5

enum am_grpc_code {
    AM_GRPC_OK = 0,
    AM_GRPC_CANCELLED = 1,
    AM_GRPC_UNKNOWN = 2,
    AM_GRPC_INVALID_ARGUMENT = 3,
    AM_GRPC_DEADLINE_EXCEEDED = 4,
    AM_GRPC_PERMISSION_DENIED = 7,
    AM_GRPC_RESOURCE_EXHAUSTED = 8,
    AM_GRPC_UNIMPLEMENTED = 12,
    AM_GRPC_INTERNAL = 13,
    AM_GRPC_UNAVAILABLE = 14,
    AM_GRPC_UNAUTHENTICATED = 16,
};

/* The single HTTP status -> grpc-status mapping: 200 OK, 400 INVALID_ARGUMENT,
 * 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404/405/415 UNIMPLEMENTED,
 * 413/429/431 RESOURCE_EXHAUSTED, 408 DEADLINE_EXCEEDED, 503 UNAVAILABLE,
 * else INTERNAL. */
int am_grpc_code_for_status(int http_status);

/* Unframe the one message of a unary request body (prefix + message).
 * A compressed message is inflated into arena (capped at max_msg) when
 * encoding is "gzip"; *msg then points into the arena, else into data.
 * Returns AM_OK, or with *why set (static): AM_EINVAL (empty body, short
 * prefix, length prefix longer or shorter than the body, bad flag,
 * compressed flag with no/identity encoding, bad gzip), AM_ETOOBIG (the
 * prefix or the inflated message over max_msg), AM_EUNSUPPORTED (an
 * encoding other than identity/gzip), AM_ENOMEM (arena budget). */
int am_grpc_unframe(const uint8_t *data, size_t len, struct am_str encoding, size_t max_msg,
                    struct am_arena *arena, const uint8_t **msg, size_t *msg_len, const char **why);

/* Append one uncompressed length-prefixed message to out. Returns AM_OK or
 * AM_ETOOBIG (out's cap). */
int am_grpc_frame(struct am_buf *out, const uint8_t *msg, size_t len);

/* Parse a grpc-timeout value ("1S", "250m", up to 8 digits + H M S m u n)
 * into nanoseconds (saturating). Returns AM_OK or AM_EINVAL. */
int am_grpc_parse_timeout(struct am_str v, uint64_t *ns);

/* Percent-encode msg for grpc-message (bytes outside 0x20-0x7e and '%'),
 * NUL-terminated, truncated to fit cap (never inside an escape). Returns
 * the length written. */
size_t am_grpc_message_encode(char *out, size_t cap, struct am_str msg);

/* The message (field 2) of a google.rpc.Status in protobuf; empty view
 * when absent or the bytes are not a Status. Points into data. */
struct am_str am_grpc_status_message(const uint8_t *data, size_t len);

#endif
