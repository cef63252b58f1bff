/*
 * fuzz_inflate.c - capped gzip inflation on arbitrary bytes. The first byte
 * picks the output cap; the rest is the stream (and its two halves, split at
 * a byte from the input, are inflated too). Invariants: output within the
 * cap and inside the arena's budget; errors always say why.
 */
#include <stdint.h>
#include <stdlib.h>

#include "am/arena.h"
#include "am/err.h"
#include "am/inflate.h"

#define FUZZ_ARENA (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(struct am_arena *a, const uint8_t *in, size_t len, size_t max_out)
{
    const uint8_t *out = NULL;
    size_t out_len = 0;
    const char *why = NULL;
    int rc = am_inflate_gzip(in, len, max_out, a, &out, &out_len, &why);
    if (rc == AM_OK) {
        if (out == NULL || out_len > max_out || am_arena_used(a) > FUZZ_ARENA) {
            abort();
        }
        for (size_t i = 0; i < out_len; i++) {
            (void)*(volatile const uint8_t *)(out + i);
        }
    } else if (why == NULL || (rc != AM_EINVAL && rc != AM_ETOOBIG && rc != AM_ENOMEM)) {
        abort();
    }
    am_arena_reset(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    struct am_arena *a = am_arena_create(FUZZ_ARENA);
    size_t max_out = (size_t)data[0] * 1024 + data[1];
    size_t split = data[1] % (size - 1);
    one(a, data + 2, size - 2, max_out);
    one(a, data + 2, split, max_out);
    am_arena_destroy(a);
    return 0;
}
