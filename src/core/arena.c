/*
 * arena.c - request-lifetime bump allocator with a byte budget (am/arena.h).
 * Chunks form a singly linked list, newest first. Reset keeps the first
 * chunk (and any chunk up to RETAIN_BYTES in total) so a steady stream of
 * requests reuses memory; larger requests give theirs back, and
 * am_arena_trim gives back the rest when the owner goes idle.
 */
#include <stdint.h>
#include <string.h>

#include "am/alloc.h"
#include "am/arena.h"

#define ALIGN 16u
#define MIN_CHUNK (64u * 1024u)
#define RETAIN_BYTES (4u * 1024u * 1024u)

struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct am_arena {
    struct chunk *head;
    size_t budget;
    size_t used; /* bytes handed out since reset */
    void *last;  /* most recent allocation, for am_arena_grow */
};

struct am_arena *am_arena_create(size_t budget_bytes)
{
    struct am_arena *a = am_xcalloc(1, sizeof(*a));
    a->budget = budget_bytes;
    return a;
}

void am_arena_destroy(struct am_arena *a)
{
    if (a == NULL) {
        return;
    }
    struct chunk *c = a->head;
    while (c != NULL) {
        struct chunk *next = c->next;
        am_free(c);
        c = next;
    }
    am_free(a);
}

void am_arena_set_budget(struct am_arena *a, size_t budget_bytes)
{
    a->budget = budget_bytes;
}

static inline size_t align_up(size_t n)
{
    return (n + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
}

void *am_arena_alloc(struct am_arena *a, size_t n)
{
    size_t need = align_up(n ? n : 1);
    if (need < n || need > a->budget - a->used || a->used > a->budget) {
        return NULL;
    }
    struct chunk *c = a->head;
    if (c == NULL || c->size - c->used < need) {
        size_t size = need > MIN_CHUNK ? need : MIN_CHUNK;
        if (c != NULL && c->size * 2 > size && c->size * 2 <= 64u * MIN_CHUNK) {
            size = c->size * 2;
        }
        struct chunk *nc = am_try_malloc(sizeof(*nc) + size);
        if (nc == NULL) {
            return NULL;
        }
        nc->size = size;
        nc->used = 0;
        nc->next = c;
        a->head = nc;
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used += need;
    a->last = p;
    return p;
}

void *am_arena_calloc(struct am_arena *a, size_t count, size_t n)
{
    if (n != 0 && count > SIZE_MAX / n) {
        return NULL;
    }
    void *p = am_arena_alloc(a, count * n);
    if (p != NULL) {
        memset(p, 0, count * n);
    }
    return p;
}

void *am_arena_memdup(struct am_arena *a, const void *p, size_t n)
{
    void *q = am_arena_alloc(a, n);
    if (q != NULL && n > 0) {
        memcpy(q, p, n);
    }
    return q;
}

void *am_arena_grow(struct am_arena *a, void *p, size_t old_n, size_t new_n)
{
    if (p == NULL) {
        return am_arena_alloc(a, new_n);
    }
    struct chunk *c = a->head;
    if (p == a->last && c != NULL) {
        size_t old_a = align_up(old_n ? old_n : 1);
        size_t new_a = align_up(new_n ? new_n : 1);
        if (new_a <= old_a) {
            return p;
        }
        size_t extra = new_a - old_a;
        if ((unsigned char *)p + old_a == c->data + c->used && c->size - c->used >= extra &&
            extra <= a->budget - a->used) {
            c->used += extra;
            a->used += extra;
            return p;
        }
    }
    void *q = am_arena_alloc(a, new_n);
    if (q != NULL && old_n > 0) {
        memcpy(q, p, old_n < new_n ? old_n : new_n);
    }
    return q;
}

void am_arena_reset(struct am_arena *a)
{
    struct chunk *keep = NULL;
    size_t kept = 0;
    struct chunk *c = a->head;
    while (c != NULL) {
        struct chunk *next = c->next;
        if (kept + c->size <= RETAIN_BYTES && keep == NULL) {
            keep = c;
            kept += c->size;
            c->next = NULL;
            c->used = 0;
        } else {
            am_free(c);
        }
        c = next;
    }
    a->head = keep;
    a->used = 0;
    a->last = NULL;
}

void am_arena_trim(struct am_arena *a)
{
    struct chunk *c = a->head;
    while (c != NULL) {
        struct chunk *next = c->next;
        am_free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
    a->last = NULL;
}

size_t am_arena_used(const struct am_arena *a)
{
    return a->used;
}
