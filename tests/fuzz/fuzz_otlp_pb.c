/*
 * fuzz_otlp_pb.c - libFuzzer harness for am_otlp_pb_decode_traces
 * (STYLE.md 5.10): small arena budget, decode, check that every view lies
 * inside the input (protobuf strings are never copied) and counts are sane;
 * the wire walk runs on the same input. No globals beyond the arena, no logging.
 */
#include <stdint.h>
#include <stdlib.h>

#include "am/err.h"
#include "am/otlp.h"
#include "fuzz_otlp_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct am_arena *arena = am_arena_create(256u * 1024u);
    struct am_trace_batch b;
    const char *why = NULL;
    int rc = am_otlp_pb_decode_traces(data, size, arena, &b, &why);
    if (rc == AM_OK) {
        fz_check_batch(&b, data, size, false, size);
    } else if ((rc != AM_EINVAL && rc != AM_ETOOBIG) || why == NULL) {
        abort();
    }
    /* The walk recurses into fields the decoder skips unparsed (links, scope
     * attributes), so it may reject what the decoder accepts; it must only
     * never crash and never count more fields than there are bytes. */
    if (am_otlp_pb_wire_walk(data, size) > (long)size) {
        abort();
    }
    am_arena_reset(arena);
    am_arena_destroy(arena);
    return 0;
}
