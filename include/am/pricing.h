#ifndef AM_PRICING_H
#define AM_PRICING_H

#include <stdbool.h>
#include <stdint.h>

#include "am/str.h"

/*
 * Model price table (USD per 1M tokens) and the cost rule of SPEC.md 3:
 * exact id, then the longest configured prefix, after stripping a provider
 * route prefix ("openai/gpt-4o" -> "gpt-4o"). Built once at load/reload and
 * then read-only, so lookups from many workers need no lock. Owns copies of
 * every model name.
 */

struct am_price {
    double input;
    double output;
    double cached_input; /* valid when has_cached_input */
    double cache_write;  /* valid when has_cache_write */
    bool has_cached_input;
    bool has_cache_write;
};

struct am_pricing;

struct am_pricing *am_pricing_create(void);
void am_pricing_destroy(struct am_pricing *p);

/* Add or replace the price of one model id (copied). */
void am_pricing_set(struct am_pricing *p, struct am_str model, const struct am_price *price);
/* Finish building: after this only lookups are allowed. */
void am_pricing_freeze(struct am_pricing *p);
size_t am_pricing_count(const struct am_pricing *p);

/* The price for a model id, or NULL when none matches. */
const struct am_price *am_pricing_lookup(const struct am_pricing *p, struct am_str model);

/* A small cache of lookups for one thread (direct-mapped by model id,
 * negative results included). It serves one table: a lookup against
 * another table (after a reload) empties it first, so a table must not be
 * freed while a cache may still name it (the daemon retires old tables
 * until exit). Zero-initialize it. */
#define AM_PRICE_CACHE_SLOTS 16
#define AM_PRICE_CACHE_KEY 63

struct am_price_cache {
    const struct am_pricing *table;
    struct {
        uint8_t len; /* 0: empty */
        char key[AM_PRICE_CACHE_KEY];
        const struct am_price *price;
    } slot[AM_PRICE_CACHE_SLOTS];
};

/* am_pricing_lookup through cache c (NULL: no cache). Model ids longer
 * than AM_PRICE_CACHE_KEY bytes are looked up directly. */
const struct am_price *am_pricing_lookup_cached(const struct am_pricing *p,
                                                struct am_price_cache *c, struct am_str model);

/* Cost in USD of the given token counts (indexed by enum am_tok, see
 * classify.h): (input - cache_read - cache_write) x input + cache_read x
 * cached_input + cache_write x cache_write + output x output, per 1M; a
 * missing cache price falls back to the input price. */
double am_pricing_cost(const struct am_price *price, const uint64_t *tokens);

#endif
