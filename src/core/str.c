/* str.c - string-view helpers and hashing (am/str.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/str.h"

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool am_str_case_eq(struct am_str a, struct am_str b)
{
    if (a.len != b.len) {
        return false;
    }
    for (size_t i = 0; i < a.len; i++) {
        if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)b.ptr[i])) {
            return false;
        }
    }
    return true;
}

bool am_str_case_contains(struct am_str hay, struct am_str needle)
{
    if (needle.len == 0) {
        return true;
    }
    for (size_t i = 0; i + needle.len <= hay.len; i++) {
        struct am_str w = {hay.ptr + i, needle.len};
        if (am_str_case_eq(w, needle)) {
            return true;
        }
    }
    return false;
}

bool am_str_starts_with(struct am_str s, struct am_str prefix)
{
    return s.len >= prefix.len && memcmp(s.ptr, prefix.ptr, prefix.len) == 0;
}

uint64_t am_hash(const void *p, size_t len)
{
    return XXH3_64bits(p, len);
}

uint64_t am_hash_seed(const void *p, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, len, seed);
}

int am_str_to_u64(struct am_str s, uint64_t *out)
{
    uint64_t v = 0;
    if (s.len == 0) {
        return AM_EINVAL;
    }
    if (s.len <= 19) { /* 10^19 - 1 < 2^64: no overflow to check (ids, times) */
        for (size_t i = 0; i < s.len; i++) {
            unsigned d = (unsigned char)s.ptr[i] - '0';
            if (d > 9) {
                return AM_EINVAL;
            }
            v = v * 10 + d;
        }
        *out = v;
        return AM_OK;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.ptr[i] - '0';
        if (d > 9) {
            return AM_EINVAL;
        }
        if (v > (UINT64_MAX - d) / 10) {
            return AM_EINVAL;
        }
        v = v * 10 + d;
    }
    *out = v;
    return AM_OK;
}

int am_str_to_i64(struct am_str s, int64_t *out)
{
    uint64_t v;
    bool neg = s.len > 0 && s.ptr[0] == '-';
    struct am_str digits = s;
    if (neg || (s.len > 0 && s.ptr[0] == '+')) {
        digits.ptr++;
        digits.len--;
    }
    if (am_str_to_u64(digits, &v) != AM_OK) {
        return AM_EINVAL;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) {
            return AM_EINVAL;
        }
        *out = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX) {
            return AM_EINVAL;
        }
        *out = (int64_t)v;
    }
    return AM_OK;
}

int am_str_to_double(struct am_str s, double *out)
{
    char tmp[64];
    char *end;
    if (s.len == 0 || s.len >= sizeof(tmp) || s.ptr[0] == ' ' || s.ptr[0] == '\t') {
        return AM_EINVAL;
    }
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + s.len || (errno == ERANGE && (v > 1.0 || v < -1.0))) {
        return AM_EINVAL;
    }
    *out = v;
    return AM_OK;
}

char *am_str_dup(struct am_str s)
{
    return am_xstrndup(s.ptr ? s.ptr : "", s.len);
}

struct am_str am_str_trim(struct am_str s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t')) {
        s.len--;
    }
    return s;
}

struct am_str am_str_cut(struct am_str *s, char c)
{
    const char *p = s->len > 0 ? memchr(s->ptr, c, s->len) : NULL;
    struct am_str head = *s;
    if (p == NULL) {
        if (s->len > 0) { /* never offset a NULL view (UB even by 0) */
            s->ptr += s->len;
        }
        s->len = 0;
        return head;
    }
    head.len = (size_t)(p - s->ptr);
    s->ptr = p + 1;
    s->len -= head.len + 1;
    return head;
}
