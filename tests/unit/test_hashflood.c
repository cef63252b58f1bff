/*
 * test_hashflood.c - hash flooding against the tables a peer keys (issue 9,
 * STYLE.md 5.5): the series label sets and the conversation ids, both on
 * core/map with the per-process seed. Built with the test-only fixed seed
 * (AM_MAP_TESTING), which no release build has: only with a known seed can
 * keys that collide be made at all. Checks that (a) keys colliding in the
 * low bits under that seed still resolve exactly, with probe runs bounded by
 * the colliding keys and gone under any other seed, (b) the set that
 * collided in all 64 bits under the old unseeded, invertible label hash
 * spreads like random keys, and (c) lengths are compared before bytes.
 * Reaches into series_int.h for the map and the hash: a full 64-bit
 * collision cannot be forced through the public API any more.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/metrics/series_int.h"
#include "am/conv.h"
#include "am/derive.h"
#include "am/err.h"
#include "am/map.h"
#include "am/series.h"

#define FIXED_SEED 0x5eed5eed5eed5eedULL
#define LOW_BITS 8
#define NCOLL 1024
#define JOUX_BLOCKS 12 /* 2^12 = 4096 colliding values of 12 * 16 bytes */
#define NJOUX (1u << JOUX_BLOCKS)
#define JOUX_LEN (JOUX_BLOCKS * 16)
#define AGENT "support-bot"
#define STATUS "success"

static char g_names[NJOUX][JOUX_LEN + 1]; /* test-only scratch */

static struct am_series_store *mk_store(void)
{
    struct am_series_opts o = {
        .shards = 1, .max_series_per_metric = 0, .max_label_value_bytes = 256};
    struct am_series_store *s = am_series_create(&o);
    assert_non_null(s);
    return s;
}

static void tool_labels(struct am_str *v, const char *tool)
{
    v[0] = AM_STR(AGENT);
    v[1] = am_str_from(tool);
    v[2] = AM_STR(STATUS);
}

static uint64_t tool_hash(const struct am_series_store *s, const char *tool)
{
    struct am_str v[3];
    tool_labels(v, tool);
    return series_labels_hash(s, AM_M_AGENT_TOOL_CALLS_TOTAL, v, 3);
}

static void apply_tool(struct am_series_store *s, const char *tool, double inc)
{
    struct am_obs o;
    memset(&o, 0, sizeof(o));
    o.metric = AM_M_AGENT_TOOL_CALLS_TOTAL;
    o.kind = AM_OBS_INC;
    o.value = inc;
    tool_labels(o.labels, tool);
    assert_int_equal(am_series_apply_at(s, 0, &o, 1, 1000000000ull), AM_OK);
}

/* Longest distance of a value from its home slot: what a lookup may walk. */
static size_t max_probe(const struct am_map *m)
{
    size_t worst = 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].value != NULL) {
            size_t d = (i - (m->slots[i].hash & (m->cap - 1))) & (m->cap - 1);
            worst = d > worst ? d : worst;
        }
    }
    return worst;
}

struct tally {
    size_t n;
    double sum;
    int wrong; /* a series whose value is not 3 */
};

static void on_tool(void *ud, const struct am_series_view *v)
{
    struct tally *t = ud;
    if (v->metric != AM_M_AGENT_TOOL_CALLS_TOTAL) {
        return;
    }
    t->n++;
    t->sum += v->value;
    t->wrong += v->value != 3.0;
}

/* Apply every name with +1 then +2; each must end as its own series at 3. */
static void apply_and_check(struct am_series_store *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        apply_tool(s, g_names[i], 1);
    }
    for (size_t i = 0; i < n; i++) {
        apply_tool(s, g_names[i], 2);
    }
    assert_int_equal(am_series_count(s, AM_M_AGENT_TOOL_CALLS_TOTAL), n);
    struct tally t = {0, 0, 0};
    am_series_visit(s, on_tool, &t);
    assert_int_equal(t.n, n);
    assert_int_equal(t.wrong, 0);
    assert_true(t.sum == 3.0 * (double)n);
}

/* NCOLL tool names whose label-set hash under the current seed has the same
 * low LOW_BITS bits: a brute-force search, ~2^LOW_BITS tries per name. */
static void make_low_bit_collisions(const struct am_series_store *s)
{
    uint64_t want = tool_hash(s, "tool-0") & ((1u << LOW_BITS) - 1);
    size_t n = 0;
    for (unsigned i = 0; n < NCOLL; i++) {
        char name[32];
        snprintf(name, sizeof(name), "tool-%u", i);
        if ((tool_hash(s, name) & ((1u << LOW_BITS) - 1)) == want) {
            memcpy(g_names[n++], name, strlen(name) + 1);
        }
    }
}

static void test_series_low_bit_collisions_exact_and_bounded(void **st)
{
    (void)st;
    am_map_seed_set_for_testing(FIXED_SEED);
    struct am_series_store *s = mk_store();
    make_low_bit_collisions(s);
    apply_and_check(s, NCOLL);
    /* The worker map has >= NCOLL / 0.7 slots: the names share LOW_BITS of
     * its index bits, so they pile into a few runs, and a lookup walks at
     * most the colliding names, never more (no loop, no quadratic rehash). */
    size_t crowded = max_probe(&s->shards[0].map);
    assert_true(crowded >= NCOLL / 8);
    assert_true(crowded < NCOLL);
    am_series_destroy(s);

    /* The same names under any other seed are ordinary keys. */
    am_map_seed_set_for_testing(FIXED_SEED + 1);
    s = mk_store();
    apply_and_check(s, NCOLL);
    size_t spread = max_probe(&s->shards[0].map);
    printf("max probe over %u names colliding in %u low bits: %zu with their seed, %zu with "
           "another\n",
           NCOLL, LOW_BITS, crowded, spread);
    assert_true(spread <= 48);
    am_series_destroy(s);
}

/*
 * The label hash series used before core/map (unseeded): every step
 * h = mix((h ^ word) * K2) can be inverted, so colliding values were made
 * offline. Reproduced here only to build its collision set.
 */
#define OLD_K1 0x9E3779B97F4A7C15ULL
#define OLD_K2 0xBF58476D1CE4E5B9ULL

static uint64_t old_word(uint64_t h, uint64_t x)
{
    h = (h ^ x) * OLD_K2;
    return h ^ (h >> 29);
}

static uint64_t load64(const char *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

static uint64_t load32(const char *p)
{
    uint32_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

/* Old hash of one value: length, then words, an overlapping last word. */
static uint64_t old_value(uint64_t h, const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    h = old_word(h, n);
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            h = old_word(h, load64(p + i));
        }
        return i == n ? h : old_word(h, load64(p + n - 8));
    }
    if (n >= 4) {
        return old_word(h, (load32(p) << 32) | load32(p + n - 4));
    }
    if (n > 0) {
        return old_word(h, ((uint64_t)u[0] << 16) | ((uint64_t)u[n / 2] << 8) | u[n - 1]);
    }
    return h;
}

static uint64_t old_labels_hash(uint32_t m, const char *const *v)
{
    uint64_t h = OLD_K1 * (m + 1);
    for (unsigned i = 0; i < 3; i++) {
        h = old_value(h, v[i], strlen(v[i]));
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t rng_state = 0x243F6A8885A308D3ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Printable, and harmless in exposition and JSON: '!'..'~' but '"' and '\\'. */
static int ok_byte(unsigned c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
}

static void rand_word(char *p)
{
    for (unsigned i = 0; i < 8; i++) {
        unsigned c;
        do {
            c = (unsigned)(rng() >> 56);
        } while (!ok_byte(c));
        p[i] = (char)c;
    }
}

/* A second word b with a ^ b == d, all bytes ok; 0 if d cannot be met. */
static int xor_word(const char *a, uint64_t d, char *b)
{
    for (unsigned i = 0; i < 8; i++) {
        unsigned c = (unsigned char)a[i] ^ (unsigned)((d >> (8 * i)) & 0xff);
        if (!ok_byte(c)) {
            return 0;
        }
        b[i] = (char)c;
    }
    return 1;
}

/*
 * Joux multicollision on the old hash: at state h, two 16-byte blocks
 * (a0 a1) and (b0 b1) lead to the same state when a1 ^ b1 equals
 * old_word(h, a0) ^ old_word(h, b0); pick a0, b0, a1 at random until b1 is
 * printable. JOUX_BLOCKS such pairs in a row give 2^JOUX_BLOCKS values with
 * one state, so one 64-bit hash. Returns the tries it took.
 */
static unsigned long make_old_collisions(void)
{
    char blk[JOUX_BLOCKS][2][16];
    const char *lv[3] = {AGENT, "", STATUS};
    uint64_t h = OLD_K1 * (AM_M_AGENT_TOOL_CALLS_TOTAL + 1);
    h = old_value(h, lv[0], strlen(lv[0]));
    h = old_word(h, JOUX_LEN);
    unsigned long tries = 0;
    for (unsigned k = 0; k < JOUX_BLOCKS; k++) {
        for (;;) {
            tries++;
            rand_word(blk[k][0]);
            rand_word(blk[k][1]);
            rand_word(blk[k][0] + 8);
            uint64_t x = old_word(h, load64(blk[k][0]));
            uint64_t y = old_word(h, load64(blk[k][1]));
            if (x != y && xor_word(blk[k][0] + 8, x ^ y, blk[k][1] + 8)) {
                h = old_word(x, load64(blk[k][0] + 8));
                break;
            }
        }
    }
    for (unsigned i = 0; i < NJOUX; i++) {
        for (unsigned k = 0; k < JOUX_BLOCKS; k++) {
            memcpy(g_names[i] + 16 * k, blk[k][(i >> k) & 1u], 16);
        }
        g_names[i][JOUX_LEN] = '\0';
    }
    return tries;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_series_old_collision_set_no_longer_collides(void **st)
{
    (void)st;
    unsigned long tries = make_old_collisions();
    /* the construction is right: one old hash for all 4096 distinct names */
    const char *v0[3] = {AGENT, g_names[0], STATUS};
    uint64_t old = old_labels_hash(AM_M_AGENT_TOOL_CALLS_TOTAL, v0);
    for (unsigned i = 1; i < NJOUX; i++) {
        const char *v[3] = {AGENT, g_names[i], STATUS};
        assert_true(old_labels_hash(AM_M_AGENT_TOOL_CALLS_TOTAL, v) == old);
        assert_int_not_equal(strcmp(g_names[i], g_names[i - 1]), 0);
    }
    am_map_seed_set_for_testing(FIXED_SEED);
    struct am_series_store *s = mk_store();
    static uint64_t h[NJOUX];
    for (unsigned i = 0; i < NJOUX; i++) {
        h[i] = tool_hash(s, g_names[i]);
    }
    qsort(h, NJOUX, sizeof(h[0]), u64_cmp);
    for (unsigned i = 1; i < NJOUX; i++) {
        assert_true(h[i] != h[i - 1]);
    }
    apply_and_check(s, NJOUX);
    size_t probe = max_probe(&s->shards[0].map);
    printf("old-hash collision set: %u names in %lu tries; max probe now %zu\n", NJOUX, tries,
           probe);
    assert_true(probe <= 48);
    am_series_destroy(s);
}

/* Lengths before bytes: a stored "ab" (the last bytes of its allocation)
 * against a longer key with the same first bytes must not read past it. */
static void test_series_entry_compares_length_before_bytes(void **st)
{
    (void)st;
    struct am_series_store *s = mk_store();
    struct am_obs o;
    memset(&o, 0, sizeof(o));
    o.metric = AM_M_AGENT_REQUEST_TOOL_CALLS;
    o.kind = AM_OBS_OBSERVE;
    o.value = 1;
    o.labels[0] = AM_STR("ab");
    assert_int_equal(am_series_apply_at(s, 0, &o, 1, 1000000000ull), AM_OK);
    const struct series_entry *e = NULL;
    for (unsigned r = 0; r < SERIES_REG_SHARDS && e == NULL; r++) {
        e = s->reg[r].head[AM_M_AGENT_REQUEST_TOOL_CALLS];
    }
    assert_non_null(e);
    static const char longer[] = "ab0123456789abcdef0123456789abcdef0123456789";
    const struct {
        struct am_str v;
        bool match;
    } cases[] = {
        {AM_STR("ab"), true},  {AM_STR("a"), false},  {AM_STR("abc"), false},
        {AM_STR("ac"), false}, {AM_STR(""), false},   {AM_STR(longer), false},
        {{longer, 9}, false},  {{longer, 17}, false}, {{longer, 2}, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = series_entry_matches(e, AM_M_AGENT_REQUEST_TOOL_CALLS, &cases[i].v, 1);
        assert_int_equal(got, cases[i].match);
    }
    assert_false(series_entry_matches(e, AM_M_AGENT_TOOL_CALLS_TOTAL, &cases[0].v, 1));
    am_series_destroy(s);
}

struct conv_tally {
    size_t finished, escalated, turns_total;
};

static void conv_sink(void *ud, const struct am_obs *o, size_t n)
{
    struct conv_tally *t = ud;
    for (size_t i = 0; i < n; i++) {
        if (o[i].metric == AM_M_AGENT_CONVERSATIONS_TOTAL) {
            t->finished++;
            t->escalated += am_str_eq(o[i].labels[1], AM_STR("escalated"));
        } else if (o[i].metric == AM_M_AGENT_CONVERSATION_TURNS) {
            t->turns_total += (size_t)o[i].value;
        }
    }
}

/* Conversation ids colliding in the low bits of am_map_hash under the fixed
 * seed: every turn still lands on its own conversation. */
static void test_conv_low_bit_collisions_exact(void **st)
{
    (void)st;
    am_map_seed_set_for_testing(FIXED_SEED);
    uint64_t want = am_map_hash("conv-0", 6) & ((1u << LOW_BITS) - 1);
    size_t n = 0;
    for (unsigned i = 0; n < NCOLL; i++) {
        char id[32];
        int len = snprintf(id, sizeof(id), "conv-%u", i);
        if ((am_map_hash(id, (size_t)len) & ((1u << LOW_BITS) - 1)) == want) {
            memcpy(g_names[n++], id, (size_t)len + 1);
        }
    }
    struct am_conv_opts opts = {.shards = 1, .idle_timeout_ns = 1000, .max_open = 0};
    struct am_conv *c = am_conv_create(&opts);
    struct conv_tally t = {0, 0, 0};
    struct am_obs_sink sink = {conv_sink, &t};
    for (unsigned turn = 0; turn < 3; turn++) {
        for (size_t i = 0; i < n; i++) {
            am_conv_turn(c, am_str_from(g_names[i]), AM_STR(AGENT), 10 + turn, &sink);
        }
    }
    assert_int_equal(am_conv_open_count(c), NCOLL);
    for (size_t i = 0; i < n; i += 2) {
        assert_true(am_conv_escalate(c, am_str_from(g_names[i])));
    }
    assert_false(am_conv_escalate(c, AM_STR("conv-unknown")));
    am_conv_flush(c, 100, &sink);
    assert_int_equal(am_conv_open_count(c), 0);
    assert_int_equal(t.finished, NCOLL);
    assert_int_equal(t.escalated, NCOLL / 2);
    assert_int_equal(t.turns_total, 3 * NCOLL);
    am_conv_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_entry_compares_length_before_bytes),
        cmocka_unit_test(test_series_low_bit_collisions_exact_and_bounded),
        cmocka_unit_test(test_series_old_collision_set_no_longer_collides),
        cmocka_unit_test(test_conv_low_bit_collisions_exact),
    };
    return cmocka_run_group_tests_name("hashflood", tests, NULL, NULL);
}
