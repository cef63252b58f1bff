/*
 * fuzz_otlp_logs_json.c - libFuzzer harness for am_otlp_json_decode_logs
 * (STYLE.md 5.10): small arena budget, decode, check that every view lies
 * inside the input (or is a readable arena copy where the decoder may copy)
 * (JSON escapes) and counts are bounded by the input, then reset.
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
    struct am_log_batch b;
    const char *why = NULL;
    int rc = am_otlp_json_decode_logs(data, size, arena, &b, &why);
    if (rc == AM_OK) {
        fz_check_logs(&b, data, size, true);
    } else if ((rc != AM_EINVAL && rc != AM_ETOOBIG) || why == NULL) {
        abort();
    }
    am_arena_reset(arena);
    am_arena_destroy(arena);
    return 0;
}
