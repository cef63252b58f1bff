/*
 * fuzz_otlp_json.c - libFuzzer harness for am_otlp_json_decode_traces
 * (STYLE.md 5.10): small arena budget, decode, check every view (strings
 * without escapes must be inside the input; escaped ones are readable arena
 * copies no longer than the input) and counts, then reset.
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
    int rc = am_otlp_json_decode_traces(data, size, arena, &b, &why);
    if (rc == AM_OK) {
        fz_check_batch(&b, data, size, true, size);
    } else if ((rc != AM_EINVAL && rc != AM_ETOOBIG) || why == NULL) {
        abort();
    }
    am_arena_reset(arena);
    am_arena_destroy(arena);
    return 0;
}
