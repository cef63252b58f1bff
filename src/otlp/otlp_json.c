/*
 * otlp_json.c - OTLP/JSON ExportTraceServiceRequest decoder and the JSON
 * response encoders. A small strict RFC 8259 pull parser (no library):
 * strings without escapes are views into the body, escaped ones are decoded
 * into the arena; numbers are validated against the RFC grammar; nesting is
 * capped. The OTLP/JSON mapping: lowerCamelCase (or proto snake_case) keys,
 * hex trace/span ids, 64-bit integers as strings or numbers, enums as
 * integers (or their names), unknown keys skipped structurally, null = default.
 * Raw UTF-8 in strings is passed through without validation. Also the
 * ExportLogsServiceRequest decoder. Over 1,000 lines because the parser
 * primitives are static and shared by both request types; split the
 * parser out (json_int.h) before this grows further.
 */
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "am/otlp.h"
#include "otlp_int.h"

struct jp {
    const uint8_t *p;
    const uint8_t *end;
    struct am_arena *arena;
    const char *why;
    int depth;
    struct am_span *spans;
    size_t span_count;
    size_t span_cap;
    struct am_log_record *logs;
    size_t log_count;
    size_t log_cap;
    size_t resource_count;
};

static const char *const OOM = "arena: request budget exhausted";

static int jfail(struct jp *j, const char *why)
{
    j->why = why;
    return AM_EINVAL;
}

static int joom(struct jp *j)
{
    j->why = OOM;
    return AM_ETOOBIG;
}

static void ws(struct jp *j)
{
    const uint8_t *p = j->p; /* a local: stores through uint8_t may alias j */
    while (p < j->end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
    }
    j->p = p;
}

/* Next significant byte, or -1 at the end of the body. */
static int peek(struct jp *j)
{
    ws(j);
    return j->p < j->end ? *j->p : -1;
}

static int expect(struct jp *j, char c, const char *why)
{
    if (peek(j) != c) {
        return jfail(j, why);
    }
    j->p++;
    return AM_OK;
}

static int literal(struct jp *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0) {
        return jfail(j, "json: invalid literal");
    }
    j->p += n;
    return AM_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int hex4(const uint8_t *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) {
            return AM_EINVAL;
        }
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return AM_OK;
}

static size_t utf8_put(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* \uXXXX at p (after the backslash-u), with a following low surrogate when
 * the first is high. Advances *pp past what it used. */
static int unicode_escape(struct jp *j, const uint8_t **pp, const uint8_t *end, uint32_t *cp)
{
    const uint8_t *p = *pp;
    uint32_t hi;
    uint32_t lo;
    if (end - p < 4 || hex4(p, &hi) != AM_OK) {
        return jfail(j, "json: bad \\u escape");
    }
    p += 4;
    if (hi >= 0xdc00 && hi <= 0xdfff) {
        return jfail(j, "json: lone low surrogate");
    }
    if (hi >= 0xd800 && hi <= 0xdbff) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) != AM_OK ||
            lo < 0xdc00 || lo > 0xdfff) {
            return jfail(j, "json: high surrogate without low surrogate");
        }
        p += 6;
        hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    }
    *cp = hi;
    *pp = p;
    return AM_OK;
}

/* Decode the escaped string [p, end) (between the quotes) into the arena. */
static int unescape(struct jp *j, const uint8_t *p, const uint8_t *end, struct am_str *out)
{
    uint8_t *o = am_arena_alloc(j->arena, (size_t)(end - p));
    if (o == NULL) {
        return joom(j);
    }
    size_t n = 0;
    while (p < end) {
        if (*p != '\\') {
            o[n++] = *p++;
            continue;
        }
        p++; /* the scanner guaranteed a byte after every backslash */
        uint8_t c = *p++;
        static const char from[] = "\"\\/bfnrt";
        static const char to[] = "\"\\/\b\f\n\r\t";
        const char *hit = c != 0 ? memchr(from, c, sizeof(from) - 1) : NULL;
        if (hit != NULL) {
            o[n++] = (uint8_t)to[hit - from];
            continue;
        }
        uint32_t cp;
        if (c != 'u' || unicode_escape(j, &p, end, &cp) != AM_OK) {
            return jfail(j, c != 'u' ? "json: bad escape" : j->why);
        }
        n += utf8_put(o + n, cp);
    }
    out->ptr = (const char *)o;
    out->len = n;
    return AM_OK;
}

/* A string value; a view into the body unless it has escapes. */
/*
 * How many of the PLAIN_WORD bytes at p are plain string bytes before the
 * first quote, backslash or control character (PLAIN_WORD: none of them
 * is). SSE2 (every x86-64) compares 16 bytes at once; elsewhere 8 bytes in
 * a register, where ZERO(v) sets a byte's high bit iff that byte of v is 0
 * (exactly: no borrow crosses bytes), applied to the word XORed with '"'
 * and with '\\' and to its top three bits (a control character has none).
 */
#if defined(__SSE2__)
#define PLAIN_WORD 16
static inline unsigned plain_bytes(const uint8_t *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i q = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
    __m128i b = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
    __m128i c = _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(q, b), c));
    return m == 0 ? PLAIN_WORD : (unsigned)__builtin_ctz(m);
}
#else
#define PLAIN_WORD 8
static inline unsigned plain_bytes(const uint8_t *p)
{
    const uint64_t ones = 0x0101010101010101u;
    const uint64_t low7 = ones * 0x7f;
    uint64_t x = am_pbwire_le64(p);
    uint64_t q = x ^ (ones * '"');
    uint64_t b = x ^ (ones * '\\');
    uint64_t c = x & (ones * 0xe0);
#define ZERO(v) (~((((v)&low7) + low7) | (v) | low7))
    uint64_t m = ZERO(q) | ZERO(b) | ZERO(c);
#undef ZERO
    return m == 0 ? PLAIN_WORD : (unsigned)__builtin_ctzll(m) >> 3;
}
#endif

static int jstring(struct jp *j, struct am_str *out)
{
    if (peek(j) != '"') {
        return jfail(j, "json: expected a string");
    }
    const uint8_t *s = ++j->p;
    const uint8_t *p = s;
    bool esc = false;
    for (;;) {
        while (j->end - p >= PLAIN_WORD) { /* plain bytes, a word at a time */
            unsigned k = plain_bytes(p);
            p += k;
            if (k < PLAIN_WORD) {
                break;
            }
        }
        if (p >= j->end || *p == '"') {
            break;
        }
        if (*p < 0x20) {
            return jfail(j, "json: control character in string");
        }
        if (*p == '\\') {
            esc = true;
            if (++p == j->end) {
                break;
            }
        }
        p++;
    }
    if (p >= j->end) {
        return jfail(j, "json: unterminated string");
    }
    j->p = p + 1;
    if (!esc) {
        out->ptr = (const char *)s;
        out->len = (size_t)(p - s);
        return AM_OK;
    }
    return unescape(j, s, p, out);
}

static bool isdig(const uint8_t *p, const uint8_t *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* A number token, validated against the RFC 8259 grammar. */
static int jnumber(struct jp *j, struct am_str *tok)
{
    ws(j);
    const uint8_t *s = j->p;
    const uint8_t *p = s;
    const uint8_t *e = j->end;
    p += p < e && *p == '-';
    if (p < e && *p == '0') {
        p++;
    } else if (isdig(p, e)) {
        while (isdig(p, e)) {
            p++;
        }
    } else {
        return jfail(j, "json: invalid number");
    }
    if (p < e && *p == '.') {
        if (!isdig(++p, e)) {
            return jfail(j, "json: invalid number");
        }
        while (isdig(p, e)) {
            p++;
        }
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        p += p < e && (*p == '+' || *p == '-');
        if (!isdig(p, e)) {
            return jfail(j, "json: invalid number");
        }
        while (isdig(p, e)) {
            p++;
        }
    }
    tok->ptr = (const char *)s;
    tok->len = (size_t)(p - s);
    j->p = p;
    return AM_OK;
}

static int enter(struct jp *j, char open)
{
    if (expect(j, open, open == '{' ? "json: expected an object" : "json: expected an array") !=
        AM_OK) {
        return AM_EINVAL;
    }
    if (++j->depth > AM_OTLP_JSON_MAX_DEPTH) {
        return jfail(j, "json: nested deeper than AM_OTLP_JSON_MAX_DEPTH");
    }
    return AM_OK;
}

/* Next member of an object entered with enter('{'). Returns 1 with *key set
 * and the parser at a non-null value, 0 at the closing brace, or an error.
 * Members whose value is null are skipped (null means the default). */
static int obj_next(struct jp *j, bool *first, struct am_str *key)
{
    for (;;) {
        int c = peek(j);
        if (c == '}' && *first) {
            j->p++;
            j->depth--;
            return 0;
        }
        if (!*first) {
            if (c == '}') {
                j->p++;
                j->depth--;
                return 0;
            }
            if (expect(j, ',', "json: expected ',' or '}'") != AM_OK) {
                return AM_EINVAL;
            }
        }
        *first = false;
        if (jstring(j, key) != AM_OK || expect(j, ':', "json: expected ':'") != AM_OK) {
            return j->why == OOM ? AM_ETOOBIG : AM_EINVAL;
        }
        if (peek(j) != 'n') {
            return 1;
        }
        if (literal(j, "null") != AM_OK) {
            return AM_EINVAL;
        }
    }
}

/* Next element of an array entered with enter('['): 1, 0 at ']', or error. */
static int arr_next(struct jp *j, bool *first)
{
    int c = peek(j);
    if (c == ']') {
        j->p++;
        j->depth--;
        return 0;
    }
    if (!*first && expect(j, ',', "json: expected ',' or ']'") != AM_OK) {
        return AM_EINVAL;
    }
    *first = false;
    return 1;
}

static int skip_value(struct jp *j);

/* Parse an object, handing each non-null member to fn, which must consume
 * the value. */
static int jobject(struct jp *j, int (*fn)(struct jp *, struct am_str, void *), void *ctx)
{
    int rc = enter(j, '{');
    bool first = true;
    struct am_str key;
    while (rc == AM_OK) {
        int more = obj_next(j, &first, &key);
        if (more <= 0) {
            return more;
        }
        rc = fn(j, key, ctx);
    }
    return rc;
}

/* Parse an array, calling fn once per element (fn consumes it). */
static int jarray(struct jp *j, int (*fn)(struct jp *, void *), void *ctx)
{
    int rc = enter(j, '[');
    bool first = true;
    while (rc == AM_OK) {
        int more = arr_next(j, &first);
        if (more <= 0) {
            return more;
        }
        rc = fn(j, ctx);
    }
    return rc;
}

static int skip_member(struct jp *j, struct am_str key, void *ctx)
{
    (void)key;
    (void)ctx;
    return skip_value(j);
}

static int skip_elem(struct jp *j, void *ctx)
{
    (void)ctx;
    return skip_value(j);
}

/* Validate and skip any JSON value (unknown keys). */
static int skip_value(struct jp *j)
{
    struct am_str s;
    switch (peek(j)) {
    case '"':
        return jstring(j, &s);
    case '{':
        return jobject(j, skip_member, NULL);
    case '[':
        return jarray(j, skip_elem, NULL);
    case 't':
        return literal(j, "true");
    case 'f':
        return literal(j, "false");
    case 'n':
        return literal(j, "null");
    default:
        return jnumber(j, &s);
    }
}

static bool key_is(struct am_str k, const char *camel, const char *snake)
{
    size_t n = strlen(camel);
    if (k.len == n && memcmp(k.ptr, camel, n) == 0) {
        return true;
    }
    n = strlen(snake);
    return k.len == n && memcmp(k.ptr, snake, n) == 0;
}

/* 64-bit integer as a JSON string or an integral number token. */
static int jint_token(struct jp *j, struct am_str *tok)
{
    if (peek(j) == '"') {
        return jstring(j, tok);
    }
    return jnumber(j, tok);
}

static int ju64(struct jp *j, uint64_t *out, const char *why)
{
    struct am_str t;
    int rc = jint_token(j, &t);
    if (rc != AM_OK) {
        return rc;
    }
    return am_str_to_u64(t, out) == AM_OK ? AM_OK : jfail(j, why);
}

static int ji64(struct jp *j, int64_t *out, const char *why)
{
    struct am_str t;
    int rc = jint_token(j, &t);
    if (rc != AM_OK) {
        return rc;
    }
    return am_str_to_i64(t, out) == AM_OK ? AM_OK : jfail(j, why);
}

/* An enum: its integer, or its proto name from names[] (index = value). */
static int jenum(struct jp *j, const char *const *names, size_t n, int64_t *out, const char *why)
{
    if (peek(j) != '"') {
        return ji64(j, out, why);
    }
    struct am_str s;
    int rc = jstring(j, &s);
    if (rc != AM_OK) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (am_str_eq(s, am_str_from(names[i]))) {
            *out = (int64_t)i;
            return AM_OK;
        }
    }
    return am_str_to_i64(s, out) == AM_OK ? AM_OK : jfail(j, why);
}

static int jbool(struct jp *j, bool *out)
{
    int c = peek(j);
    if (c == 't' || c == 'f') {
        *out = c == 't';
        return literal(j, c == 't' ? "true" : "false");
    }
    return jfail(j, "anyvalue.boolValue: want true or false");
}

/* Hex id of exactly n bytes. An empty string gives *len 0 (callers decide). */
static int jhex(struct jp *j, uint8_t *out, size_t n, size_t *got, const char *why)
{
    struct am_str s;
    int rc = jstring(j, &s);
    if (rc != AM_OK) {
        return rc;
    }
    *got = 0;
    if (s.len == 0) {
        return AM_OK;
    }
    if (s.len != 2 * n) {
        return jfail(j, why);
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((unsigned char)s.ptr[2 * i]);
        int lo = hexval((unsigned char)s.ptr[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return jfail(j, why);
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *got = n;
    return AM_OK;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+' || c == '-') {
        return 62;
    }
    return c == '/' || c == '_' ? 63 : -1;
}

/* bytesValue: base64 (standard or URL-safe, padding optional) into the arena. */
static int jbase64(struct jp *j, struct am_str *out)
{
    struct am_str s;
    int rc = jstring(j, &s);
    if (rc != AM_OK) {
        return rc;
    }
    size_t n = s.len;
    while (n > 0 && s.ptr[n - 1] == '=' && s.len - n < 2) {
        n--;
    }
    if (n % 4 == 1 || (n != s.len && (s.len % 4) != 0)) {
        return jfail(j, "anyvalue.bytesValue: bad base64");
    }
    uint8_t *o = am_arena_alloc(j->arena, n / 4 * 3 + 3);
    if (o == NULL) {
        return joom(j);
    }
    size_t len = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s.ptr[i]);
        if (v < 0) {
            return jfail(j, "anyvalue.bytesValue: bad base64");
        }
        acc = (acc << 6) | (uint32_t)v;
        if (i % 4 == 3) {
            o[len++] = (uint8_t)(acc >> 16);
            o[len++] = (uint8_t)(acc >> 8);
            o[len++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (n % 4 == 2) {
        o[len++] = (uint8_t)(acc >> 4);
    } else if (n % 4 == 3) {
        o[len++] = (uint8_t)(acc >> 10);
        o[len++] = (uint8_t)(acc >> 2);
    }
    out->ptr = (const char *)o;
    out->len = len;
    return AM_OK;
}

/* Append one zeroed slot to an arena vector (grown by doubling). */
static void *vec_push(struct jp *j, void **items, size_t *count, size_t *cap, size_t size)
{
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        void *n = am_arena_grow(j->arena, *items, *cap * size, ncap * size);
        if (n == NULL) {
            return NULL;
        }
        *items = n;
        *cap = ncap;
    }
    void *slot = (char *)*items + *count * size;
    memset(slot, 0, size);
    (*count)++;
    return slot;
}

struct kvvec {
    struct am_kv *items;
    size_t count;
    size_t cap;
    unsigned depth;
};

struct anyvec {
    struct am_anyval *items;
    size_t count;
    size_t cap;
    unsigned depth;
};

struct anyctx {
    struct am_anyval *v;
    unsigned depth;
};

struct kvctx {
    struct am_kv *kv;
    unsigned depth;
};

static int jany(struct jp *j, struct am_anyval *v, unsigned depth);

static int kv_member(struct jp *j, struct am_str key, void *ctx)
{
    struct kvctx *c = ctx;
    if (key_is(key, "key", "key")) {
        return jstring(j, &c->kv->key);
    }
    if (key_is(key, "value", "value")) {
        return jany(j, &c->kv->val, c->depth + 1);
    }
    return skip_value(j);
}

static int kv_elem(struct jp *j, void *ctx)
{
    struct kvvec *vec = ctx;
    struct am_kv *kv = vec_push(j, (void **)&vec->items, &vec->count, &vec->cap, sizeof(*kv));
    if (kv == NULL) {
        return joom(j);
    }
    struct kvctx c = {kv, vec->depth};
    return jobject(j, kv_member, &c);
}

/* A JSON array of KeyValue objects into *out. */
static int jkvs(struct jp *j, struct am_attrs *out, unsigned depth)
{
    struct kvvec vec = {NULL, 0, 0, depth};
    int rc = jarray(j, kv_elem, &vec);
    out->items = vec.items;
    out->count = vec.count;
    return rc;
}

static int any_elem(struct jp *j, void *ctx)
{
    struct anyvec *vec = ctx;
    struct am_anyval *v = vec_push(j, (void **)&vec->items, &vec->count, &vec->cap, sizeof(*v));
    if (v == NULL) {
        return joom(j);
    }
    return jany(j, v, vec->depth + 1);
}

/* {"values": [...]} of arrayValue (AnyValue items) or kvlistValue (KeyValues). */
static int values_member(struct jp *j, struct am_str key, void *ctx)
{
    struct anyctx *c = ctx;
    if (!key_is(key, "values", "values")) {
        return skip_value(j);
    }
    if (c->v->type == AM_VAL_KVLIST) {
        struct am_attrs kvs = {NULL, 0};
        int rc = jkvs(j, &kvs, c->depth);
        c->v->u.kvlist.items = kvs.items;
        c->v->u.kvlist.count = kvs.count;
        return rc;
    }
    struct anyvec vec = {NULL, 0, 0, c->depth};
    int rc = jarray(j, any_elem, &vec);
    c->v->u.arr.items = vec.items;
    c->v->u.arr.count = vec.count;
    return rc;
}

static int jdouble(struct jp *j, double *out)
{
    struct am_str t;
    int rc = peek(j) == '"' ? jstring(j, &t) : jnumber(j, &t);
    if (rc != AM_OK) {
        return rc;
    }
    return am_str_to_double(t, out) == AM_OK ? AM_OK
                                             : jfail(j, "anyvalue.doubleValue: not a number");
}

static int any_member(struct jp *j, struct am_str key, void *ctx)
{
    struct anyctx *c = ctx;
    struct am_anyval *v = c->v;
    if (key_is(key, "stringValue", "string_value")) {
        v->type = AM_VAL_STRING;
        return jstring(j, &v->u.s);
    }
    if (key_is(key, "boolValue", "bool_value")) {
        v->type = AM_VAL_BOOL;
        return jbool(j, &v->u.b);
    }
    if (key_is(key, "intValue", "int_value")) {
        v->type = AM_VAL_INT;
        return ji64(j, &v->u.i, "anyvalue.intValue: not a 64-bit integer");
    }
    if (key_is(key, "doubleValue", "double_value")) {
        v->type = AM_VAL_DOUBLE;
        return jdouble(j, &v->u.d);
    }
    if (key_is(key, "bytesValue", "bytes_value")) {
        v->type = AM_VAL_BYTES;
        return jbase64(j, &v->u.s);
    }
    bool arr = key_is(key, "arrayValue", "array_value");
    if (arr || key_is(key, "kvlistValue", "kvlist_value")) {
        memset(&v->u, 0, sizeof(v->u));
        v->type = arr ? AM_VAL_ARRAY : AM_VAL_KVLIST;
        return jobject(j, values_member, c);
    }
    return skip_value(j);
}

static int jany(struct jp *j, struct am_anyval *v, unsigned depth)
{
    v->type = AM_VAL_NONE;
    if (depth > AM_OTLP_MAX_ANY_DEPTH) {
        return jfail(j, "anyvalue: nested deeper than AM_OTLP_MAX_ANY_DEPTH");
    }
    struct anyctx c = {v, depth};
    return jobject(j, any_member, &c);
}

static int event_member(struct jp *j, struct am_str key, void *ctx)
{
    struct am_span_event *ev = ctx;
    if (key_is(key, "timeUnixNano", "time_unix_nano")) {
        return ju64(j, &ev->time_ns, "event.timeUnixNano: not a 64-bit unsigned integer");
    }
    if (key_is(key, "name", "name")) {
        return jstring(j, &ev->name);
    }
    if (key_is(key, "attributes", "attributes")) {
        return jkvs(j, &ev->attrs, 0);
    }
    return skip_value(j);
}

struct evvec {
    struct am_span_event *items;
    size_t count;
    size_t cap;
};

static int event_elem(struct jp *j, void *ctx)
{
    struct evvec *vec = ctx;
    struct am_span_event *ev =
        vec_push(j, (void **)&vec->items, &vec->count, &vec->cap, sizeof(*ev));
    if (ev == NULL) {
        return joom(j);
    }
    return jobject(j, event_member, ev);
}

static int status_member(struct jp *j, struct am_str key, void *ctx)
{
    static const char *const names[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};
    struct am_span *s = ctx;
    if (key_is(key, "message", "message")) {
        return jstring(j, &s->status_message);
    }
    if (key_is(key, "code", "code")) {
        int64_t code = 0;
        int rc = jenum(j, names, 3, &code, "status.code: not an integer");
        s->status_code = code == 1 ? AM_STATUS_OK : code == 2 ? AM_STATUS_ERROR : AM_STATUS_UNSET;
        return rc;
    }
    return skip_value(j);
}

struct spanctx {
    struct am_span *s;
    unsigned seen; /* 1: traceId, 2: spanId */
    struct evvec events;
};

static int span_ids(struct jp *j, struct am_str key, struct spanctx *c)
{
    size_t got = 0;
    int rc;
    if (key_is(key, "traceId", "trace_id")) {
        rc = jhex(j, c->s->trace_id, 16, &got, "span.traceId: want 32 hex digits");
        c->seen |= got == 16 ? 1u : 0u;
        return rc;
    }
    if (key_is(key, "spanId", "span_id")) {
        rc = jhex(j, c->s->span_id, 8, &got, "span.spanId: want 16 hex digits");
        c->seen |= got == 8 ? 2u : 0u;
        return rc;
    }
    memset(c->s->parent_span_id, 0, 8);
    rc = jhex(j, c->s->parent_span_id, 8, &got, "span.parentSpanId: want 16 hex digits or \"\"");
    uint8_t acc = 0;
    for (int i = 0; i < 8; i++) {
        acc |= c->s->parent_span_id[i];
    }
    c->s->has_parent = got == 8 && acc != 0;
    return rc;
}

static int span_member(struct jp *j, struct am_str key, void *ctx)
{
    static const char *const kinds[] = {
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
    };
    struct spanctx *c = ctx;
    struct am_span *s = c->s;
    if (key_is(key, "traceId", "trace_id") || key_is(key, "spanId", "span_id") ||
        key_is(key, "parentSpanId", "parent_span_id")) {
        return span_ids(j, key, c);
    }
    if (key_is(key, "name", "name")) {
        return jstring(j, &s->name);
    }
    if (key_is(key, "traceState", "trace_state")) {
        return jstring(j, &s->trace_state);
    }
    if (key_is(key, "kind", "kind")) {
        int64_t k = 0;
        int rc = jenum(j, kinds, 6, &k, "span.kind: not an integer");
        s->kind = (int)(int32_t)k;
        return rc;
    }
    if (key_is(key, "startTimeUnixNano", "start_time_unix_nano")) {
        return ju64(j, &s->start_ns, "span.startTimeUnixNano: not a 64-bit unsigned integer");
    }
    if (key_is(key, "endTimeUnixNano", "end_time_unix_nano")) {
        return ju64(j, &s->end_ns, "span.endTimeUnixNano: not a 64-bit unsigned integer");
    }
    if (key_is(key, "attributes", "attributes")) {
        return jkvs(j, &s->attrs, 0);
    }
    if (key_is(key, "events", "events")) {
        c->events.count = 0;
        return jarray(j, event_elem, &c->events);
    }
    if (key_is(key, "status", "status")) {
        return jobject(j, status_member, s);
    }
    return skip_value(j);
}

struct scopectx {
    struct am_resource *res;
    struct am_str scope_name;
};

static int span_elem(struct jp *j, void *ctx)
{
    struct scopectx *sc = ctx;
    size_t idx = j->span_count;
    if (vec_push(j, (void **)&j->spans, &j->span_count, &j->span_cap, sizeof(struct am_span)) ==
        NULL) {
        return joom(j);
    }
    struct spanctx c = {&j->spans[idx], 0, {NULL, 0, 0}};
    c.s->resource = sc->res;
    int rc = jobject(j, span_member, &c);
    if (rc != AM_OK) {
        return rc;
    }
    c.s->events = c.events.items;
    c.s->event_count = c.events.count;
    if (!(c.seen & 1) || !memcmp(c.s->trace_id, (const uint8_t[16]){0}, 16)) {
        return jfail(j, "span.traceId: want 32 hex digits, not all zero");
    }
    if (!(c.seen & 2) || !memcmp(c.s->span_id, (const uint8_t[8]){0}, 8)) {
        return jfail(j, "span.spanId: want 16 hex digits, not all zero");
    }
    return AM_OK;
}

static int scope_member(struct jp *j, struct am_str key, void *ctx)
{
    if (key_is(key, "name", "name")) {
        return jstring(j, ctx);
    }
    return skip_value(j);
}

static int ss_member(struct jp *j, struct am_str key, void *ctx)
{
    struct scopectx *c = ctx;
    if (key_is(key, "scope", "scope")) {
        return jobject(j, scope_member, &c->scope_name);
    }
    if (key_is(key, "spans", "spans")) {
        return jarray(j, span_elem, c);
    }
    return skip_value(j);
}

static int ss_elem(struct jp *j, void *ctx)
{
    struct scopectx c = {ctx, AM_STR_NULL};
    size_t first = j->span_count;
    int rc = jobject(j, ss_member, &c);
    for (size_t i = first; i < j->span_count; i++) {
        j->spans[i].scope_name = c.scope_name;
    }
    return rc;
}

static int resource_member(struct jp *j, struct am_str key, void *ctx)
{
    struct am_resource *res = ctx;
    if (key_is(key, "attributes", "attributes")) {
        return jkvs(j, &res->attrs, 0);
    }
    return skip_value(j);
}

static int rs_member(struct jp *j, struct am_str key, void *ctx)
{
    if (key_is(key, "resource", "resource")) {
        return jobject(j, resource_member, ctx);
    }
    if (key_is(key, "scopeSpans", "scope_spans")) {
        return jarray(j, ss_elem, ctx);
    }
    return skip_value(j);
}

/* A ResourceSpans or ResourceLogs object: the resource, then rs_member. */
static int resource_elem(struct jp *j, int (*member)(struct jp *, struct am_str, void *))
{
    struct am_resource *res = am_arena_calloc(j->arena, 1, sizeof(*res));
    if (res == NULL) {
        return joom(j);
    }
    int rc = jobject(j, member, res);
    res->service_name = am_otlp_service_name(&res->attrs);
    j->resource_count++;
    return rc;
}

static int rs_elem(struct jp *j, void *ctx)
{
    (void)ctx;
    return resource_elem(j, rs_member);
}

static int request_member(struct jp *j, struct am_str key, void *ctx)
{
    if (key_is(key, "resourceSpans", "resource_spans")) {
        return jarray(j, rs_elem, ctx);
    }
    return skip_value(j);
}

/* LogRecord traceId / spanId: "" (absent) or 32 / 16 hex digits. */
static int log_ids(struct jp *j, bool trace, struct am_log_record *r)
{
    size_t got = 0;
    size_t n = trace ? 16 : 8;
    uint8_t *dst = trace ? r->trace_id : r->span_id;
    memset(dst, 0, n);
    int rc = jhex(j, dst, n, &got,
                  trace ? "log_record.traceId: want 32 hex digits or \"\""
                        : "log_record.spanId: want 16 hex digits or \"\"");
    bool nonzero = got == n && memcmp(dst, (const uint8_t[16]){0}, n) != 0;
    *(trace ? &r->has_trace : &r->has_span) = nonzero;
    return rc;
}

static int log_member(struct jp *j, struct am_str key, void *ctx)
{
    struct am_log_record *r = ctx;
    struct am_anyval body;
    int64_t sev = 0;
    int rc;
    if (key_is(key, "timeUnixNano", "time_unix_nano")) {
        return ju64(j, &r->time_ns, "log_record.timeUnixNano: not a 64-bit unsigned integer");
    }
    if (key_is(key, "observedTimeUnixNano", "observed_time_unix_nano")) {
        return ju64(j, &r->observed_time_ns,
                    "log_record.observedTimeUnixNano: not a 64-bit unsigned integer");
    }
    if (key_is(key, "severityNumber", "severity_number")) {
        static const char *const sevs[] = {
            "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE",  "SEVERITY_NUMBER_TRACE2",
            "SEVERITY_NUMBER_TRACE3",      "SEVERITY_NUMBER_TRACE4", "SEVERITY_NUMBER_DEBUG",
            "SEVERITY_NUMBER_DEBUG2",      "SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4",
            "SEVERITY_NUMBER_INFO",        "SEVERITY_NUMBER_INFO2",  "SEVERITY_NUMBER_INFO3",
            "SEVERITY_NUMBER_INFO4",       "SEVERITY_NUMBER_WARN",   "SEVERITY_NUMBER_WARN2",
            "SEVERITY_NUMBER_WARN3",       "SEVERITY_NUMBER_WARN4",  "SEVERITY_NUMBER_ERROR",
            "SEVERITY_NUMBER_ERROR2",      "SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4",
            "SEVERITY_NUMBER_FATAL",       "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3",
            "SEVERITY_NUMBER_FATAL4"};
        rc = jenum(j, sevs, 25, &sev, "log_record.severityNumber: not an integer");
        r->severity_number = (int)(int32_t)sev;
        return rc;
    }
    if (key_is(key, "eventName", "event_name")) {
        return jstring(j, &r->event_name);
    }
    if (key_is(key, "attributes", "attributes")) {
        return jkvs(j, &r->attrs, 0);
    }
    if (key_is(key, "traceId", "trace_id") || key_is(key, "spanId", "span_id")) {
        return log_ids(j, key.ptr[0] == 't', r);
    }
    if (key_is(key, "body", "body")) {
        return jany(j, &body, 0); /* validated, not kept */
    }
    return skip_value(j);
}

static int log_elem(struct jp *j, void *ctx)
{
    size_t idx = j->log_count;
    if (vec_push(j, (void **)&j->logs, &j->log_count, &j->log_cap, sizeof(struct am_log_record)) ==
        NULL) {
        return joom(j);
    }
    struct am_log_record *r = &j->logs[idx];
    r->resource = ctx;
    int rc = jobject(j, log_member, r);
    am_otlp_log_finish(r);
    return rc;
}

static int sl_member(struct jp *j, struct am_str key, void *ctx)
{
    if (key_is(key, "logRecords", "log_records")) {
        return jarray(j, log_elem, ctx);
    }
    return skip_value(j); /* scope, schemaUrl */
}

static int sl_elem(struct jp *j, void *ctx)
{
    return jobject(j, sl_member, ctx);
}

static int rl_member(struct jp *j, struct am_str key, void *ctx)
{
    if (key_is(key, "resource", "resource")) {
        return jobject(j, resource_member, ctx);
    }
    if (key_is(key, "scopeLogs", "scope_logs")) {
        return jarray(j, sl_elem, ctx);
    }
    return skip_value(j);
}

static int rl_elem(struct jp *j, void *ctx)
{
    (void)ctx;
    return resource_elem(j, rl_member);
}

static int logs_request_member(struct jp *j, struct am_str key, void *ctx)
{
    if (key_is(key, "resourceLogs", "resource_logs")) {
        return jarray(j, rl_elem, ctx);
    }
    return skip_value(j);
}

/* Parse the whole body as one request object with member parser fn. */
static int decode_request(struct jp *j, int (*fn)(struct jp *, struct am_str, void *),
                          const char **why)
{
    int rc = jobject(j, fn, NULL);
    if (rc == AM_OK && peek(j) != -1) {
        rc = jfail(j, "json: trailing data after the request object");
    }
    if (rc != AM_OK) {
        *why = j->why;
        return j->why == OOM ? AM_ETOOBIG : AM_EINVAL;
    }
    return AM_OK;
}

int am_otlp_json_decode_logs(const uint8_t *body, size_t len, struct am_arena *arena,
                             struct am_log_batch *out, const char **why)
{
    static const uint8_t empty[1];
    struct jp j = {.p = body ? body : empty, .arena = arena};
    j.end = j.p + len;
    memset(out, 0, sizeof(*out));
    int rc = decode_request(&j, logs_request_member, why);
    if (rc != AM_OK) {
        return rc;
    }
    out->records = j.logs;
    out->record_count = j.log_count;
    out->resource_count = j.resource_count;
    return AM_OK;
}

int am_otlp_json_decode_traces(const uint8_t *body, size_t len, struct am_arena *arena,
                               struct am_trace_batch *out, const char **why)
{
    static const uint8_t empty[1];
    struct jp j = {.p = body ? body : empty, .arena = arena};
    j.end = j.p + len;
    memset(out, 0, sizeof(*out));
    int rc = decode_request(&j, request_member, why);
    if (rc != AM_OK) {
        return rc;
    }
    out->spans = j.spans;
    out->span_count = j.span_count;
    out->resource_count = j.resource_count;
    return AM_OK;
}

/* Append s as a JSON string literal (quotes included). */
static int json_quote(struct am_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = am_buf_append_byte(b, '"');
    const char *run = s;
    for (; rc == AM_OK && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        rc = am_buf_append(b, run, (size_t)(s - run));
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t n = 2;
        const char *named = c == '\n'   ? "n"
                            : c == '\r' ? "r"
                            : c == '\t' ? "t"
                            : c == '\b' ? "b"
                            : c == '\f' ? "f"
                                        : NULL;
        if (named != NULL) {
            esc[1] = named[0];
        } else if (c < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (rc == AM_OK) {
            rc = am_buf_append(b, esc, n);
        }
        run = s + 1;
    }
    if (rc == AM_OK) {
        rc = am_buf_append(b, run, (size_t)(s - run));
    }
    return rc == AM_OK ? am_buf_append_byte(b, '"') : rc;
}

/* {"partialSuccess":{"<count_key>":"n","errorMessage":"..."}} or {}. */
static int encode_response(struct am_buf *out, const char *count_key, int64_t rejected,
                           const char *message)
{
    size_t start = out->len;
    int rc;
    if (rejected <= 0 && message == NULL) {
        rc = am_buf_append_str(out, "{}");
    } else {
        rc = am_buf_append_str(out, "{\"partialSuccess\":{");
        if (rc == AM_OK && rejected != 0) {
            /* int64 is a JSON string in the proto3 mapping */
            rc = am_buf_printf(out, "\"%s\":\"%lld\"", count_key, (long long)rejected);
        }
        if (rc == AM_OK && message != NULL && message[0] != '\0') {
            rc = am_buf_append_str(out, rejected != 0 ? ",\"errorMessage\":" : "\"errorMessage\":");
            rc = rc == AM_OK ? json_quote(out, message) : rc;
        }
        rc = rc == AM_OK ? am_buf_append_str(out, "}}") : rc;
    }
    if (rc != AM_OK) {
        out->len = start;
        return AM_ETOOBIG;
    }
    return AM_OK;
}

int am_otlp_json_encode_trace_response(struct am_buf *out, int64_t rejected, const char *message)
{
    return encode_response(out, "rejectedSpans", rejected, message);
}

int am_otlp_json_encode_logs_response(struct am_buf *out, int64_t rejected, const char *message)
{
    return encode_response(out, "rejectedLogRecords", rejected, message);
}

int am_otlp_json_encode_status(struct am_buf *out, int32_t code, const char *message)
{
    size_t start = out->len;
    int rc = am_buf_printf(out, "{\"code\":%d,\"message\":", (int)code);
    rc = rc == AM_OK ? json_quote(out, message != NULL ? message : "") : rc;
    rc = rc == AM_OK ? am_buf_append_byte(out, '}') : rc;
    if (rc != AM_OK) {
        out->len = start;
        return AM_ETOOBIG;
    }
    return AM_OK;
}
