#ifndef AM_OTLP_H
#define AM_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "am/arena.h"
#include "am/buf.h"
#include "am/span.h"

/*
 * OTLP trace and log decoding (protobuf via nanopb, and the OTLP/JSON mapping) into
 * span views, and encoding of the responses. Sans-I/O: bytes in, views out.
 * Views point into `body` (which the caller keeps alive, normally inside the
 * arena) or into `arena`. On error *why is set to a static string naming the
 * problem ("span.trace_id: want 16 bytes") and nothing in `out` may be used.
 *
 * Limits: a decode that would exceed the arena budget returns AM_ETOOBIG;
 * AnyValue nesting (array/kvlist inside array/kvlist) deeper than
 * AM_OTLP_MAX_ANY_DEPTH, or JSON nesting deeper than AM_OTLP_JSON_MAX_DEPTH,
 * is AM_EINVAL. Links, trace_state, flags and dropped counts are not kept.
 */

#define AM_OTLP_MAX_ANY_DEPTH 16
#define AM_OTLP_JSON_MAX_DEPTH 64

/* Decode an ExportTraceServiceRequest in protobuf wire format.
 * Returns AM_OK, AM_EINVAL (malformed; *why says where), or AM_ETOOBIG. */
int am_otlp_pb_decode_traces(const uint8_t *body, size_t len, struct am_arena *arena,
                             struct am_trace_batch *out, const char **why);

/* Decode an ExportTraceServiceRequest in OTLP/JSON (hex ids, lowerCamelCase
 * or snake_case keys, 64-bit ints as strings or numbers, enums as integers).
 * Returns AM_OK, AM_EINVAL, or AM_ETOOBIG. */
int am_otlp_json_decode_traces(const uint8_t *body, size_t len, struct am_arena *arena,
                               struct am_trace_batch *out, const char **why);

/* ExportTraceServiceResponse. rejected == 0 and message == NULL gives the
 * empty message. Appends to out. Returns AM_OK or AM_ETOOBIG. */
int am_otlp_pb_encode_trace_response(struct am_buf *out, int64_t rejected, const char *message);
int am_otlp_json_encode_trace_response(struct am_buf *out, int64_t rejected, const char *message);

/* Decode an ExportLogsServiceRequest (ResourceLogs/ScopeLogs/LogRecord)
 * with the same rules: trace_id empty or 16 bytes, span_id empty or 8
 * (JSON: "" or 32/16 hex digits); the body is skipped (JSON: validated).
 * Returns AM_OK, AM_EINVAL (malformed; *why says where), or AM_ETOOBIG. */
int am_otlp_pb_decode_logs(const uint8_t *body, size_t len, struct am_arena *arena,
                           struct am_log_batch *out, const char **why);
int am_otlp_json_decode_logs(const uint8_t *body, size_t len, struct am_arena *arena,
                             struct am_log_batch *out, const char **why);

/* ExportLogsServiceResponse (partial_success.rejected_log_records, error_message).
 * Appends to out. Returns AM_OK or AM_ETOOBIG. */
int am_otlp_pb_encode_logs_response(struct am_buf *out, int64_t rejected, const char *message);
int am_otlp_json_encode_logs_response(struct am_buf *out, int64_t rejected, const char *message);

/* google.rpc.Status {code, message}. Appends to out. Returns AM_OK or AM_ETOOBIG. */
int am_otlp_pb_encode_status(struct am_buf *out, int32_t code, const char *message);
int am_otlp_json_encode_status(struct am_buf *out, int32_t code, const char *message);

/* The performance ceiling (DESIGN.md 5): walk every field of a protobuf
 * message recursively without allocating or interpreting anything. Returns
 * the number of fields seen, or AM_EINVAL. For the benchmark only. */
long am_otlp_pb_wire_walk(const uint8_t *body, size_t len);

#endif
