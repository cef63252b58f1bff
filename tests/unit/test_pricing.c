/*
 * test_pricing.c - model price lookup (exact, route prefix, Bedrock vendor
 * prefix, longest configured prefix) and the cache-aware cost rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "am/classify.h"
#include "am/pricing.h"

/* Test prices: each model's input price is its row number, so a lookup
 * result names the row it came from. */
static const char *const models[] = {
    "gpt-4o",                /* 1 */
    "gpt-4o-mini",           /* 2 */
    "gpt-4",                 /* 3 */
    "gpt-4.1",               /* 4 */
    "claude-3-5-sonnet",     /* 5 */
    "claude-sonnet-4",       /* 6 */
    "claude-sonnet-4-5",     /* 7 */
    "gemini-2.5-flash",      /* 8 */
    "gemini-2.5-flash-lite", /* 9 */
    "ft/custom",             /* 10 */
    "o1",                    /* 11 */
};
#define NMODELS (sizeof(models) / sizeof(models[0]))

static struct am_pricing *build(bool reverse)
{
    struct am_pricing *p = am_pricing_create();
    for (size_t k = 0; k < NMODELS; k++) {
        size_t i = reverse ? NMODELS - 1 - k : k;
        struct am_price price = {.input = (double)(i + 1), .output = 100};
        am_pricing_set(p, am_str_from(models[i]), &price);
    }
    am_pricing_freeze(p);
    return p;
}

static int setup(void **state)
{
    *state = build(false);
    return 0;
}

static int setup_reverse(void **state)
{
    *state = build(true);
    return 0;
}

static int teardown(void **state)
{
    am_pricing_destroy(*state);
    return 0;
}

static void test_lookup_model_ids_find_their_entry(void **state)
{
    static const struct {
        const char *model;
        int want; /* row number, 0 = no price */
    } cases[] = {
        {"gpt-4o", 1},
        {"gpt-4o-2024-08-06", 1},
        {"gpt-4o-mini", 2},
        {"gpt-4o-mini-2024-07-18", 2},
        {"gpt-4", 3},
        {"gpt-4-turbo", 3},
        {"gpt-4.1-nano-2025-04-14", 4},
        {"gpt-3.5-turbo", 0},
        {"GPT-4o", 0},
        {"", 0},
        {"g", 0},
        {"openai/gpt-4o", 1},
        {"openai/gpt-4o-mini", 2},
        {"openrouter/anthropic/claude-3-5-sonnet", 5},
        {"publishers/google/models/gemini-2.5-flash-lite", 9},
        {"anthropic.claude-3-5-sonnet-20241022-v2:0", 5},
        {"us.anthropic.claude-3-5-sonnet-20241022-v2:0", 5},
        {"global.anthropic.claude-sonnet-4-5-20250929-v1:0", 7},
        {"us.gpt-4o", 0},
        {"anthropic.", 0},
        {"claude-sonnet-4-20250514", 6},
        {"claude-sonnet-4-5-20250929", 7},
        {"gemini-2.5-flash-preview-05-20", 8},
        {"gemini-2.5-flash-lite", 9},
        {"ft/custom", 10},
        {"ft/custom-2", 0},
        {"o1-2024-12-17", 11},
        {"o", 0},
        {"zzz", 0},
        /* same length as an entry, different bytes: not an exact match */
        {"gpt-4o-mino", 1},
        {"llama-3-70b", 0},
    };
    const struct am_pricing *p = *state;
    struct am_price_cache cache = {0}; /* zero-initialized, as required */
    assert_int_equal(am_pricing_count(p), NMODELS);
    /* Twice through the cache (misses, then hits and collisions), and
     * directly: all three agree with the table. */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            struct am_str id = am_str_from(cases[i].model);
            const struct am_price *got =
                round < 2 ? am_pricing_lookup_cached(p, &cache, id) : am_pricing_lookup(p, id);
            int row = got ? (int)got->input : 0;
            print_message("case %s (round %d)\n", cases[i].model, round);
            assert_int_equal(row, cases[i].want);
        }
    }
}

/* A cache filled from one table is emptied when used with another. */
static void test_lookup_cache_follows_the_table(void **state)
{
    (void)state;
    struct am_price_cache cache = {0};
    struct am_price a = {.input = 1, .output = 1};
    struct am_price b = {.input = 2, .output = 2};
    struct am_pricing *t1 = am_pricing_create();
    struct am_pricing *t2 = am_pricing_create();
    am_pricing_set(t1, AM_STR("m"), &a);
    am_pricing_set(t2, AM_STR("m"), &b);
    am_pricing_freeze(t1);
    am_pricing_freeze(t2);
    assert_true(am_pricing_lookup_cached(t1, &cache, AM_STR("m"))->input == 1);
    assert_null(am_pricing_lookup_cached(t1, &cache, AM_STR("other")));
    assert_true(am_pricing_lookup_cached(t2, &cache, AM_STR("m"))->input == 2);
    char longid[AM_PRICE_CACHE_KEY + 9];
    memset(longid, 'z', sizeof(longid)); /* matches no entry, not even by prefix */
    assert_null(am_pricing_lookup_cached(t2, &cache, (struct am_str){longid, sizeof(longid)}));
    assert_true(am_pricing_lookup_cached(t2, NULL, AM_STR("m"))->input == 2);
    am_pricing_destroy(t1);
    am_pricing_destroy(t2);
}

static void test_lookup_empty_or_null_table_finds_nothing(void **state)
{
    struct am_pricing *p = am_pricing_create();
    am_pricing_freeze(p);
    assert_null(am_pricing_lookup(p, AM_STR("gpt-4o")));
    assert_null(am_pricing_lookup(NULL, AM_STR("gpt-4o")));
    assert_int_equal(am_pricing_count(p), 0);
    am_pricing_destroy(p);
    am_pricing_destroy(NULL);
}

static void test_set_same_model_replaces_price(void **state)
{
    struct am_pricing *p = am_pricing_create();
    struct am_price a = {.input = 1, .output = 2};
    struct am_price b = {.input = 3, .output = 4, .cached_input = 0.5, .has_cached_input = true};
    am_pricing_set(p, AM_STR("m"), &a);
    am_pricing_set(p, AM_STR("m"), &b);
    am_pricing_freeze(p);
    assert_int_equal(am_pricing_count(p), 1);
    const struct am_price *got = am_pricing_lookup(p, AM_STR("m-1"));
    assert_non_null(got);
    assert_true(got->input == 3 && got->output == 4 && got->has_cached_input);
    am_pricing_destroy(p);
}

/* Token counts indexed by enum am_tok. */
struct cost_case {
    const char *name;
    struct am_price price;
    uint64_t tok[AM_TOK_COUNT]; /* input, output, cache_read, cache_write, reasoning */
    double want;
};

#define GPT4O                                                                                      \
    {                                                                                              \
        .input = 2.5, .output = 10, .cached_input = 1.25, .has_cached_input = true                 \
    }
#define SONNET                                                                                     \
    {                                                                                              \
        .input = 3, .output = 15, .cached_input = 0.3, .cache_write = 3.75,                        \
        .has_cached_input = true, .has_cache_write = true                                          \
    }
#define NOCACHE                                                                                    \
    {                                                                                              \
        .input = 2.5, .output = 10                                                                 \
    }

static void test_cost_follows_cache_aware_rule(void **state)
{
    static const struct cost_case cases[] = {
        {"plain", GPT4O, {1000, 500, 0, 0, 0}, 0.0075},
        {"cache read", GPT4O, {1000, 500, 400, 0, 0}, 0.007},
        {"cache write falls back to input price", GPT4O, {1000, 500, 400, 100, 0}, 0.007},
        {"no cache prices", NOCACHE, {1000, 500, 400, 100, 0}, 0.0075},
        {"all four prices", SONNET, {10000, 1000, 6000, 2000, 0}, 0.0303},
        {"reasoning is inside output", SONNET, {0, 1000, 0, 0, 999}, 0.015},
        {"cache above input never negative", GPT4O, {100, 0, 300, 0, 0}, 0.000375},
        {"cache sum overflow never negative",
         NOCACHE,
         {100, 0, UINT64_MAX, 2, 0},
         ((double)UINT64_MAX * 2.5 + 2 * 2.5) / 1e6},
        {"zero tokens", SONNET, {0, 0, 0, 0, 0}, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = am_pricing_cost(&cases[i].price, cases[i].tok);
        print_message("case %s: %.17g\n", cases[i].name, got);
        assert_true(fabs(got - cases[i].want) < 1e-12 * (1 + fabs(cases[i].want)));
    }
}

/* Where the arithmetic is exact the result is exact. */
static void test_cost_exact_values_are_exact(void **state)
{
    struct am_price price = GPT4O;
    uint64_t million_in[AM_TOK_COUNT] = {1000000, 0, 0, 0, 0};
    uint64_t two_million_out[AM_TOK_COUNT] = {0, 2000000, 0, 0, 0};
    uint64_t half_cached[AM_TOK_COUNT] = {2000000, 0, 1000000, 0, 0};
    assert_true(am_pricing_cost(&price, million_in) == 2.5);
    assert_true(am_pricing_cost(&price, two_million_out) == 20.0);
    assert_true(am_pricing_cost(&price, half_cached) == 3.75);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_cache_follows_the_table),
        cmocka_unit_test_setup_teardown(test_lookup_model_ids_find_their_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_model_ids_find_their_entry, setup_reverse,
                                        teardown),
        cmocka_unit_test(test_lookup_empty_or_null_table_finds_nothing),
        cmocka_unit_test(test_set_same_model_replaces_price),
        cmocka_unit_test(test_cost_follows_cache_aware_rule),
        cmocka_unit_test(test_cost_exact_values_are_exact),
    };
    return cmocka_run_group_tests_name("pricing", tests, NULL, NULL);
}
