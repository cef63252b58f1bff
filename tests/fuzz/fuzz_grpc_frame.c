/*
 * fuzz_grpc_frame.c - gRPC unframing (first byte picks the grpc-encoding),
 * grpc-timeout parsing and google.rpc.Status message extraction on
 * arbitrary bytes. Invariants: a message view lies in the input or the
 * arena and within the cap; the arena is reset per input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "am/arena.h"
#include "am/err.h"
#include "am/grpc.h"

#define FUZZ_MAX_MSG 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const encodings[] = {"", "gzip", "identity", "br"};
    if (size == 0) {
        return 0;
    }
    struct am_arena *a = am_arena_create(64 * 1024);
    const uint8_t *msg = NULL;
    size_t len = 0;
    const char *why = NULL;
    int rc = am_grpc_unframe(data + 1, size - 1, am_str_from(encodings[data[0] & 3]), FUZZ_MAX_MSG,
                             a, &msg, &len, &why);
    if (rc == AM_OK) {
        bool in_input = msg >= data + 1 && msg + len <= data + size;
        if (len > FUZZ_MAX_MSG || (!in_input && (data[0] & 3) != 1)) {
            abort();
        }
    } else if (why == NULL) {
        abort();
    }
    uint64_t ns;
    am_grpc_parse_timeout((struct am_str){(const char *)data, size < 12 ? size : 12}, &ns);
    struct am_str m = am_grpc_status_message(data, size);
    if (m.len > 0 &&
        ((const uint8_t *)m.ptr < data || (const uint8_t *)m.ptr + m.len > data + size)) {
        abort();
    }
    char out[64];
    am_grpc_message_encode(out, sizeof(out), m);
    am_arena_destroy(a);
    return 0;
}
