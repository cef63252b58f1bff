#ifndef AM_STR_H
#define AM_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * String views. An am_str never owns its bytes and is not NUL-terminated;
 * whoever produced it says how long the bytes live (usually: the request
 * arena). Hashing is xxhash (XXH3 64-bit).
 */

struct am_str {
    const char *ptr;
    size_t len;
};

#define AM_STR(lit) ((struct am_str){(lit), sizeof(lit) - 1})
#define AM_STR_NULL ((struct am_str){NULL, 0})

static inline struct am_str am_str_from(const char *s)
{
    struct am_str r = {s, s ? strlen(s) : 0};
    return r;
}

static inline bool am_str_eq(struct am_str a, struct am_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool am_str_empty(struct am_str s)
{
    return s.len == 0;
}

/* ASCII case-insensitive equality / substring test. */
bool am_str_case_eq(struct am_str a, struct am_str b);
bool am_str_case_contains(struct am_str hay, struct am_str needle);
bool am_str_starts_with(struct am_str s, struct am_str prefix);
/* s without leading and trailing spaces and tabs (HTTP's OWS). */
struct am_str am_str_trim(struct am_str s);
/* Split *s at the first c: returns what comes before it and leaves *s after
 * it (empty when c is absent). For "a;b;c"-style lists. */
struct am_str am_str_cut(struct am_str *s, char c);

/* 64-bit hash of the bytes (XXH3), and with a seed for chaining. */
uint64_t am_hash(const void *p, size_t len);
uint64_t am_hash_seed(const void *p, size_t len, uint64_t seed);

/* Parse a decimal unsigned / signed integer occupying all of s.
 * Returns AM_OK, or AM_EINVAL if s is empty, has other bytes, or overflows. */
int am_str_to_u64(struct am_str s, uint64_t *out);
int am_str_to_i64(struct am_str s, int64_t *out);
/* Parse a double occupying all of s (strtod rules, no leading space).
 * Returns AM_OK or AM_EINVAL. */
int am_str_to_double(struct am_str s, double *out);

/* Copy into a fresh NUL-terminated heap string (am_xmalloc). */
char *am_str_dup(struct am_str s);

#endif
