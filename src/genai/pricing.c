/*
 * pricing.c - the model price table and cost rule of SPEC.md 3 (Cost).
 * Built with am_pricing_set, then frozen: freeze sorts the entries by name
 * and links each to its longest proper prefix in the table, so a lookup is
 * a binary search plus a short walk up that chain. Frozen tables are never
 * written again, so any number of threads may look up concurrently.
 */
#include <stdlib.h>
#include <string.h>

#include "am/alloc.h"
#include "am/classify.h"
#include "am/log.h"
#include "am/pricing.h"

#define NO_PARENT ((size_t)-1)

struct entry {
    char *name; /* owned, NUL-terminated */
    size_t len;
    size_t parent; /* longest entry that is a proper prefix of this one, or NO_PARENT */
    struct am_price price;
};

struct am_pricing {
    struct entry *entries;
    size_t count;
    size_t cap;
    bool frozen;
};

struct am_pricing *am_pricing_create(void)
{
    return am_xcalloc(1, sizeof(struct am_pricing));
}

void am_pricing_destroy(struct am_pricing *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->count; i++) {
        am_free(p->entries[i].name);
    }
    am_free(p->entries);
    am_free(p);
}

static int str_cmp(struct am_str a, struct am_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0) {
        return c;
    }
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

static struct am_str entry_str(const struct entry *e)
{
    struct am_str s = {e->name, e->len};
    return s;
}

void am_pricing_set(struct am_pricing *p, struct am_str model, const struct am_price *price)
{
    AM_ASSERT(!p->frozen);
    for (size_t i = 0; i < p->count; i++) {
        if (am_str_eq(entry_str(&p->entries[i]), model)) {
            p->entries[i].price = *price;
            return;
        }
    }
    if (p->count == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->entries = am_xrealloc(p->entries, p->cap * sizeof(*p->entries));
    }
    struct entry *e = &p->entries[p->count++];
    e->name = am_xstrndup(model.ptr ? model.ptr : "", model.len);
    e->len = model.len;
    e->parent = NO_PARENT;
    e->price = *price;
}

static int entry_cmp(const void *a, const void *b)
{
    return str_cmp(entry_str(a), entry_str(b));
}

void am_pricing_freeze(struct am_pricing *p)
{
    if (p->frozen) {
        return;
    }
    if (p->count > 1) {
        qsort(p->entries, p->count, sizeof(*p->entries), entry_cmp);
    }
    /* In sorted order every prefix of an entry comes before it, and the
     * entries between a prefix and its extension all share that prefix; so
     * the parent of i is found by walking back from i - 1 along parents. */
    for (size_t i = 0; i < p->count; i++) {
        struct am_str s = entry_str(&p->entries[i]);
        size_t j = i == 0 ? NO_PARENT : i - 1;
        while (j != NO_PARENT && !am_str_starts_with(s, entry_str(&p->entries[j]))) {
            j = p->entries[j].parent;
        }
        p->entries[i].parent = j;
    }
    p->frozen = true;
}

size_t am_pricing_count(const struct am_pricing *p)
{
    return p->count;
}

/* Index of the last entry <= key, or NO_PARENT when key sorts first. */
static size_t floor_index(const struct am_pricing *p, struct am_str key)
{
    size_t lo = 0;
    size_t hi = p->count; /* answer in [lo - 1, hi - 1] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (str_cmp(entry_str(&p->entries[mid]), key) <= 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo == 0 ? NO_PARENT : lo - 1;
}

/* Exact match, else the longest entry that is a prefix of key. */
static const struct entry *match(const struct am_pricing *p, struct am_str key)
{
    size_t j = floor_index(p, key);
    while (j != NO_PARENT && !am_str_starts_with(key, entry_str(&p->entries[j]))) {
        j = p->entries[j].parent;
    }
    return j == NO_PARENT ? NULL : &p->entries[j];
}

static const struct entry *exact(const struct am_pricing *p, struct am_str key)
{
    size_t j = floor_index(p, key);
    return j != NO_PARENT && am_str_eq(entry_str(&p->entries[j]), key) ? &p->entries[j] : NULL;
}

/*
 * Bedrock model ids carry "<vendor>." and optionally "<region>." in front of
 * the vendor's own id ("us.anthropic.claude-3-5-haiku-20241022-v1:0"). Only
 * these known words are stripped: model ids themselves contain dots
 * ("gpt-4.1", "gemini-2.5-pro").
 */
static const char *const bedrock_regions[] = {"us.",     "eu.", "apac.", "us-gov.",
                                              "global.", "jp.", "au.",   "ca."};
static const char *const bedrock_vendors[] = {"anthropic.", "meta.",   "mistral.", "amazon.",
                                              "cohere.",    "ai21.",   "openai.",  "deepseek.",
                                              "qwen.",      "writer.", "google."};

static bool strip_word(struct am_str *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct am_str w = am_str_from(words[i]);
        if (s->len > w.len && am_str_starts_with(*s, w)) {
            s->ptr += w.len;
            s->len -= w.len;
            return true;
        }
    }
    return false;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The vendor's own model id inside a routed one. */
static struct am_str strip_route(struct am_str id)
{
    for (size_t i = id.len; i > 0; i--) {
        if (id.ptr[i - 1] == '/') {
            id.ptr += i;
            id.len -= i;
            break;
        }
    }
    struct am_str s = id;
    strip_word(&s, bedrock_regions, NELEM(bedrock_regions));
    if (strip_word(&s, bedrock_vendors, NELEM(bedrock_vendors))) {
        return s;
    }
    return id;
}

const struct am_price *am_pricing_lookup(const struct am_pricing *p, struct am_str model)
{
    if (p == NULL || p->count == 0 || model.len == 0) {
        return NULL;
    }
    AM_ASSERT(p->frozen);
    const struct entry *e = exact(p, model);
    if (e == NULL) {
        e = match(p, strip_route(model));
    }
    return e ? &e->price : NULL;
}

double am_pricing_cost(const struct am_price *price, const uint64_t *tokens)
{
    uint64_t input = tokens[AM_TOK_INPUT];
    uint64_t cache_read = tokens[AM_TOK_CACHE_READ];
    uint64_t cache_write = tokens[AM_TOK_CACHE_WRITE];
    uint64_t cached = cache_read + cache_write;
    uint64_t uncached = input > cached && cached >= cache_read ? input - cached : 0;
    double cr_price = price->has_cached_input ? price->cached_input : price->input;
    double cw_price = price->has_cache_write ? price->cache_write : price->input;

    double sum = (double)uncached * price->input + (double)cache_read * cr_price +
                 (double)cache_write * cw_price + (double)tokens[AM_TOK_OUTPUT] * price->output;
    return sum / 1e6;
}

const struct am_price *am_pricing_lookup_cached(const struct am_pricing *p,
                                                struct am_price_cache *c, struct am_str model)
{
    if (c == NULL || p == NULL || model.len == 0 || model.len > AM_PRICE_CACHE_KEY) {
        return am_pricing_lookup(p, model);
    }
    if (c->table != p) {
        memset(c, 0, sizeof(*c));
        c->table = p;
    }
    unsigned h = ((unsigned char)model.ptr[0] * 31u + (unsigned char)model.ptr[model.len - 1] +
                  (unsigned)model.len * 7u) %
                 AM_PRICE_CACHE_SLOTS;
    if (c->slot[h].len == model.len && memcmp(c->slot[h].key, model.ptr, model.len) == 0) {
        return c->slot[h].price;
    }
    const struct am_price *price = am_pricing_lookup(p, model);
    c->slot[h].len = (uint8_t)model.len;
    memcpy(c->slot[h].key, model.ptr, model.len);
    c->slot[h].price = price;
    return price;
}
