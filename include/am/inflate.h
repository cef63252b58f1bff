#ifndef AM_INFLATE_H
#define AM_INFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "am/arena.h"

/*
 * gzip inflation into the request arena, capped: output past max_out is
 * AM_ETOOBIG (SPEC.md 1: the size limit applies after inflation), never an
 * unbounded allocation. Concatenated gzip members are accepted.
 */

/* Returns AM_OK with *out and *out_len set (arena memory), AM_EINVAL for a
 * corrupt or truncated stream (*why says what), AM_ETOOBIG past max_out or
 * the arena budget. */
int am_inflate_gzip(const uint8_t *in, size_t in_len, size_t max_out, struct am_arena *arena,
                    const uint8_t **out, size_t *out_len, const char **why);

/* Deflate into a heap buffer as gzip (for responses and tests).
 * Returns AM_OK or AM_EINVAL. *out is am_xmalloc'd. */
int am_gzip_compress(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len);

#endif
