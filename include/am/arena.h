#ifndef AM_ARENA_H
#define AM_ARENA_H

#include <stddef.h>

/*
 * Request-lifetime pool. Everything decoded from one OTLP request (the
 * inflated body, string views, attribute arrays, spans) lives here and dies
 * together at am_arena_reset(). The arena has a byte budget: past it
 * am_arena_alloc returns NULL, which the caller turns into AM_ETOOBIG (HTTP
 * 413), never an abort. Chunks are kept across resets up to a small retained
 * size so a steady request stream allocates nothing. Not thread-safe: one
 * arena per worker (requests are decoded synchronously on it) or request.
 */

struct am_arena;

/* Create an arena that will hand out at most budget_bytes in total. */
struct am_arena *am_arena_create(size_t budget_bytes);
void am_arena_destroy(struct am_arena *a);

/* 16-byte aligned block of n bytes; NULL when the budget is exhausted. */
void *am_arena_alloc(struct am_arena *a, size_t n);
/* Same, zero-filled. */
void *am_arena_calloc(struct am_arena *a, size_t count, size_t n);
/* Copy of n bytes (not NUL-terminated); NULL when the budget is exhausted. */
void *am_arena_memdup(struct am_arena *a, const void *p, size_t n);
/* Grow the most recent allocation p (old_n bytes) to new_n bytes, in place
 * when possible; otherwise copy. NULL on budget exhaustion (p stays valid). */
void *am_arena_grow(struct am_arena *a, void *p, size_t old_n, size_t new_n);

/* Drop every allocation; keep up to the retained chunk capacity. */
void am_arena_reset(struct am_arena *a);
/* Drop every allocation and free every chunk (an idle owner's memory goes
 * back to the heap). */
void am_arena_trim(struct am_arena *a);
/* Bytes handed out since the last reset. */
size_t am_arena_used(const struct am_arena *a);
void am_arena_set_budget(struct am_arena *a, size_t budget_bytes);

#endif
