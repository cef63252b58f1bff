/*
 * test_series.c - the metric store through am/series.h: exact counter,
 * gauge and histogram values (bucket boundaries included), shard merging,
 * the cardinality cap and its overflow series, label repair, rejected
 * observations, SET semantics, visit order, allocation failure, memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/clock.h"
#include "am/series.h"

#define MAX_RECS 4096

struct rec {
    enum am_metric metric;
    char labels[256]; /* values joined with '|' */
    double value;
    uint64_t count;
    double sum;
    unsigned nb;
    uint64_t buckets[AM_MAX_BUCKETS + 1];
};

struct recs {
    size_t n;
    struct rec r[MAX_RECS];
};

static struct recs g_recs; /* test-only scratch */

static void on_series(void *ud, const struct am_series_view *v)
{
    struct recs *rs = ud;
    assert_true(rs->n < MAX_RECS);
    struct rec *r = &rs->r[rs->n++];
    memset(r, 0, sizeof(*r));
    r->metric = v->metric;
    const struct am_family *f = am_family_get(v->metric);
    size_t o = 0;
    for (unsigned i = 0; i < f->label_count; i++) {
        o += (size_t)snprintf(r->labels + o, sizeof(r->labels) - o, "%s%s", i ? "|" : "",
                              v->label_values[i]);
    }
    r->value = v->value;
    r->count = v->count;
    r->sum = v->sum;
    r->nb = v->bound_count;
    if (f->type == AM_TYPE_HISTOGRAM) {
        memcpy(r->buckets, v->bucket_counts, (v->bound_count + 1) * sizeof(uint64_t));
    }
}

static struct recs *snapshot(struct am_series_store *s)
{
    g_recs.n = 0;
    am_series_visit(s, on_series, &g_recs);
    return &g_recs;
}

/* The record of metric m with joined labels, or NULL. */
static const struct rec *find(const struct recs *rs, enum am_metric m, const char *labels)
{
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->r[i].metric == m && strcmp(rs->r[i].labels, labels) == 0) {
            return &rs->r[i];
        }
    }
    return NULL;
}

static size_t count_of(const struct recs *rs, enum am_metric m)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->n; i++) {
        n += rs->r[i].metric == m;
    }
    return n;
}

static struct am_obs ob(enum am_metric m, enum am_obs_kind k, double v, const char *l0,
                        const char *l1, const char *l2)
{
    struct am_obs o;
    memset(&o, 0, sizeof(o));
    o.metric = m;
    o.kind = k;
    o.value = v;
    o.labels[0] = am_str_from(l0);
    o.labels[1] = am_str_from(l1);
    o.labels[2] = am_str_from(l2);
    return o;
}

static struct am_series_store *mk(unsigned shards, size_t cap, size_t maxlen)
{
    struct am_series_opts o = {
        .shards = shards, .max_series_per_metric = cap, .max_label_value_bytes = maxlen};
    struct am_series_store *s = am_series_create(&o);
    assert_non_null(s);
    return s;
}

static void apply1(struct am_series_store *s, unsigned shard, struct am_obs o)
{
    assert_int_equal(am_series_apply(s, shard, &o, 1), AM_OK);
}

static void test_series_counter_inc_sums_exactly(void **st)
{
    struct am_series_store *s = mk(1, 0, 0);
    struct am_obs o[] = {
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1.5, "a", "success", NULL),
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 2.25, "a", "success", NULL),
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, "a", "error", NULL),
        ob(AM_M_AGENT_ESTIMATED_COST_TOTAL, AM_OBS_INC, 0.1, "a", "gpt-4o", NULL),
        ob(AM_M_AGENT_ESTIMATED_COST_TOTAL, AM_OBS_INC, 0.2, "a", "gpt-4o", NULL),
    };
    assert_int_equal(am_series_apply(s, 0, o, 5), AM_OK);
    struct recs *rs = snapshot(s);
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "a|success")->value == 3.75);
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "a|error")->value == 1.0);
    assert_true(find(rs, AM_M_AGENT_ESTIMATED_COST_TOTAL, "a|gpt-4o")->value == 0.1 + 0.2);
    assert_int_equal(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL), 2);
    assert_int_equal(am_series_count(s, AM_M_AGENT_TOOL_CALLS_TOTAL), 0);
    assert_int_equal(count_of(rs, AM_M_AGENT_TOOL_CALLS_TOTAL), 0);
    am_series_destroy(s);
}

/* agent_request_duration_seconds: 0.5 1 2 3 5 8 13 21 30 60 */
static void test_series_histogram_bounds_inclusive_exact(void **st)
{
    static const struct {
        double v;
        unsigned bucket;
    } cases[] = {
        {-1, 0}, {0, 0},    {0.5, 0}, {0.5000001, 1}, {1, 1},         {1.0000000000000002, 2},
        {21, 7}, {29.9, 8}, {60, 9},  {60.5, 10},     {INFINITY, 10}, {-INFINITY, 0},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        struct am_series_store *s = mk(1, 0, 0);
        apply1(s, 0, ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, cases[i].v, "a", NULL, NULL));
        const struct rec *r = find(snapshot(s), AM_M_AGENT_REQUEST_DURATION, "a");
        assert_non_null(r);
        assert_int_equal(r->nb, 10);
        assert_int_equal(r->count, 1);
        for (unsigned b = 0; b <= 10; b++) {
            assert_int_equal(r->buckets[b], b == cases[i].bucket ? 1 : 0);
        }
        am_series_destroy(s);
    }
}

static void test_series_two_shards_merged_sums(void **st)
{
    struct am_series_store *s = mk(2, 0, 0);
    apply1(s, 0, ob(AM_M_MODEL_INFERENCE_CALLS_TOTAL, AM_OBS_INC, 3, "a", "m", NULL));
    apply1(s, 1, ob(AM_M_MODEL_INFERENCE_CALLS_TOTAL, AM_OBS_INC, 4, "a", "m", NULL));
    apply1(s, 1, ob(AM_M_MODEL_INFERENCE_CALLS_TOTAL, AM_OBS_INC, 1, "b", "m", NULL));
    apply1(s, 0, ob(AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, 0.2, "a", "m", NULL));
    apply1(s, 1, ob(AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, 0.25, "a", "m", NULL));
    apply1(s, 1, ob(AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, 11, "a", "m", NULL));
    struct recs *rs = snapshot(s);
    assert_true(find(rs, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "a|m")->value == 7);
    assert_true(find(rs, AM_M_MODEL_INFERENCE_CALLS_TOTAL, "b|m")->value == 1);
    const struct rec *h = find(rs, AM_M_MODEL_INFERENCE_DURATION, "a|m");
    assert_int_equal(h->count, 3);
    assert_true(h->sum == 0.2 + 0.25 + 11);
    static const uint64_t want[8] = {1, 1, 0, 0, 0, 0, 0, 1}; /* 0.2 0.5 ... 10 +Inf */
    assert_memory_equal(h->buckets, want, sizeof(want));
    assert_int_equal(am_series_count(s, AM_M_MODEL_INFERENCE_CALLS_TOTAL), 2);
    am_series_destroy(s);
}

static void test_series_cap_routes_new_sets_to_overflow(void **st)
{
    struct am_series_store *s = mk(1, 3, 0);
    const char *agents[] = {"a", "b", "c", "d", "e", "a", "e"};
    for (size_t i = 0; i < 7; i++) {
        apply1(s, 0, ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, agents[i], "success", NULL));
    }
    struct recs *rs = snapshot(s);
    assert_int_equal(count_of(rs, AM_M_AGENT_REQUESTS_TOTAL), 4);
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "a|success")->value == 2);
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "c|success")->value == 1);
    assert_null(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "d|success"));
    const struct rec *ov = find(rs, AM_M_AGENT_REQUESTS_TOTAL, "__overflow__|__overflow__");
    assert_non_null(ov);
    assert_true(ov->value == 3);
    assert_int_equal(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL), 4);
    const struct rec *ot = find(rs, AM_M_SELF_SERIES_OVERFLOW_TOTAL, "agent_requests_total");
    assert_non_null(ot);
    assert_true(ot->value == 3);
    assert_int_equal(count_of(rs, AM_M_SELF_SERIES_OVERFLOW_TOTAL), 1);
    const struct rec *act = find(rs, AM_M_SELF_SERIES_ACTIVE, "agent_requests_total");
    assert_true(act->value == 4);
    assert_int_equal(count_of(rs, AM_M_SELF_SERIES_ACTIVE), 1);
    assert_int_equal(am_series_count(s, AM_M_SELF_SERIES_ACTIVE), 1);
    am_series_destroy(s);
}

static void test_series_cap_exact_across_shards(void **st)
{
    struct am_series_store *s = mk(2, 2, 0);
    apply1(s, 0, ob(AM_M_AGENT_CONVERSATIONS_TOTAL, AM_OBS_INC, 1, "a", "resolved", NULL));
    apply1(s, 1, ob(AM_M_AGENT_CONVERSATIONS_TOTAL, AM_OBS_INC, 1, "a", "resolved", NULL));
    apply1(s, 1, ob(AM_M_AGENT_CONVERSATIONS_TOTAL, AM_OBS_INC, 1, "b", "resolved", NULL));
    apply1(s, 0, ob(AM_M_AGENT_CONVERSATIONS_TOTAL, AM_OBS_INC, 1, "c", "resolved", NULL));
    apply1(s, 1, ob(AM_M_AGENT_CONVERSATIONS_TOTAL, AM_OBS_INC, 1, "d", "resolved", NULL));
    struct recs *rs = snapshot(s);
    assert_int_equal(am_series_count(s, AM_M_AGENT_CONVERSATIONS_TOTAL), 3);
    assert_true(find(rs, AM_M_AGENT_CONVERSATIONS_TOTAL, "a|resolved")->value == 2);
    assert_true(find(rs, AM_M_AGENT_CONVERSATIONS_TOTAL, "__overflow__|__overflow__")->value == 2);
    assert_true(find(rs, AM_M_SELF_SERIES_OVERFLOW_TOTAL, "agent_conversations_total")->value == 2);
    am_series_destroy(s);
}

struct race {
    struct am_series_store *s;
    unsigned shard;
};

static void *race_worker(void *arg)
{
    struct race *r = arg;
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "agent-%d", i);
        struct am_obs o = ob(AM_M_AGENT_TOOL_CALLS_TOTAL, AM_OBS_INC, 1, name, "t", "success");
        if (am_series_apply(r->s, r->shard, &o, 1) != AM_OK) {
            return r;
        }
    }
    return NULL;
}

static void test_series_cap_exact_under_concurrent_shards(void **st)
{
    struct am_series_store *s = mk(2, 500, 0);
    struct race r[2] = {{s, 0}, {s, 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, race_worker, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    struct recs *rs = snapshot(s);
    assert_int_equal(am_series_count(s, AM_M_AGENT_TOOL_CALLS_TOTAL), 501);
    assert_int_equal(count_of(rs, AM_M_AGENT_TOOL_CALLS_TOTAL), 501);
    double total = 0;
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->r[i].metric == AM_M_AGENT_TOOL_CALLS_TOTAL) {
            total += rs->r[i].value;
        }
    }
    assert_true(total == 4000);
    const struct rec *ov =
        find(rs, AM_M_AGENT_TOOL_CALLS_TOTAL, "__overflow__|__overflow__|__overflow__");
    assert_true(ov->value == 3000);
    assert_true(find(rs, AM_M_SELF_SERIES_OVERFLOW_TOTAL, "agent_tool_calls_total")->value == 3000);
    am_series_destroy(s);
}

static void test_series_label_values_repaired_and_counted(void **st)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
        unsigned invalid;
        unsigned too_long;
    } cases[] = {
        {"plain", 5, "plain", 0, 0},
        {"a\xff"
         "b",
         3,
         "a\xEF\xBF\xBD"
         "b",
         1, 0},
        {"abcdefghij", 10, "abcdefgh", 0, 1},
        {"abcdefg\xC3\xA9", 9, "abcdefg", 0, 1}, /* no split of U+00E9 */
        {"ab\xC3\xA9"
         "cd",
         6,
         "ab\xC3\xA9"
         "cd",
         0, 0},
        {"a\0b", 3,
         "a\xEF\xBF\xBD"
         "b",
         1, 0},                                                /* NUL cannot be interned */
        {"\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD", 1, 1}, /* surrogate: 3 x FFFD > 8 */
        {"\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 1, 0},     /* overlong */
        {"abcdef\xff", 7, "abcdef", 1, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_series_store *s = mk(1, 0, 8);
        struct am_obs o = ob(AM_M_AGENT_REQUEST_TOKENS, AM_OBS_OBSERVE, 1, NULL, NULL, NULL);
        o.labels[0] = (struct am_str){cases[i].in, cases[i].len};
        apply1(s, 0, o);
        apply1(s, 0, o); /* second time: same series, counted again */
        o.labels[0] = am_str_from(cases[i].want);
        apply1(s, 0, o); /* the repaired value itself: same series, not counted */
        struct recs *rs = snapshot(s);
        const struct rec *r = find(rs, AM_M_AGENT_REQUEST_TOKENS, cases[i].want);
        assert_non_null(r);
        assert_int_equal(r->count, 3);
        const struct rec *inv = find(rs, AM_M_SELF_LABEL_VALUES_TRUNCATED_TOTAL, "invalid_utf8");
        const struct rec *tl = find(rs, AM_M_SELF_LABEL_VALUES_TRUNCATED_TOTAL, "too_long");
        assert_true(inv ? inv->value == 2 * cases[i].invalid : cases[i].invalid == 0);
        assert_true(tl ? tl->value == 2 * cases[i].too_long : cases[i].too_long == 0);
        am_series_destroy(s);
    }
}

/* Label sets that differ only where values split, or in one byte at each
 * length the hash and compare handle differently, are distinct series. */
static void test_series_near_label_sets_distinct_exact(void **st)
{
    static const char *const sets[][3] = {
        {"ab", "c", ""},
        {"a", "bc", ""},
        {"abc", "", ""},
        {"", "abc", ""},
        {"", "", "abc"},
        {"x", "", ""},
        {"y", "", ""},
        {"abcd", "", ""},
        {"abce", "", ""},
        {"abcdefg", "", ""},
        {"abcdefh", "", ""},
        {"bbcdefg", "", ""},
        {"abcdefgh", "", ""},
        {"abcdefgi", "", ""},
        {"abcdefghijklmnop", "", ""},
        {"abcdefghijklmnoq", "", ""},
        {"abcdefghijklmnopq", "", ""},
        {"abcdefghijklmnopr", "", ""},
        {"bbcdefghijklmnopq", "", ""},
        {"abcdefghXjklmnopq", "", ""},
    };
    const size_t n = sizeof(sets) / sizeof(sets[0]);
    struct am_series_store *s = mk(2, 0, 0);
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i++) {
            apply1(s, (unsigned)(i + k) % 2,
                   ob(AM_M_AGENT_TOKEN_USAGE_TOTAL, AM_OBS_INC, (double)(i + 1), sets[i][0],
                      sets[i][1], sets[i][2]));
        }
    }
    struct recs *rs = snapshot(s);
    assert_int_equal(count_of(rs, AM_M_AGENT_TOKEN_USAGE_TOTAL), n);
    for (size_t i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s|%s|%s", sets[i][0], sets[i][1], sets[i][2]);
        const struct rec *r = find(rs, AM_M_AGENT_TOKEN_USAGE_TOTAL, want);
        assert_non_null(r);
        assert_true(r->value == 3.0 * (double)(i + 1));
    }
    am_series_destroy(s);
}

static void test_series_malformed_obs_rejected_rest_applied(void **st)
{
    struct am_series_store *s = mk(1, 0, 0);
    struct am_obs o[] = {
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, "a", "success", NULL),
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, -1, "a", "success", NULL),
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, NAN, "a", "success", NULL),
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_OBSERVE, 1, "a", "success", NULL),
        ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_INC, 1, "a", NULL, NULL),
        ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_SET, 1, "a", NULL, NULL),
        ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, NAN, "a", NULL, NULL),
        ob(AM_M_SELF_SERIES_ACTIVE, AM_OBS_SET, 1, "x", NULL, NULL),
        ob(AM_M_AGENT_QUALITY_SCORE, AM_OBS_INC, NAN, "a", "m", NULL),
        ob(AM_M_COUNT, AM_OBS_INC, 1, "a", NULL, NULL),
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 2, "a", "success", NULL),
    };
    size_t n = sizeof(o) / sizeof(o[0]);
    assert_int_equal(am_series_apply(s, 0, o, n), AM_EINVAL);
    assert_int_equal(am_series_apply(s, 1, o, 1), AM_EINVAL); /* no such shard */
    struct recs *rs = snapshot(s);
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "a|success")->value == 3);
    assert_int_equal(count_of(rs, AM_M_AGENT_REQUEST_DURATION), 0);
    assert_int_equal(count_of(rs, AM_M_AGENT_QUALITY_SCORE), 0);
    am_series_destroy(s);
}

static void test_series_set_defines_value_across_shards(void **st)
{
    struct am_series_store *s = mk(2, 0, 0);
    apply1(s, 0, ob(AM_M_AGENT_QUALITY_SCORE, AM_OBS_SET, 0.75, "a", "relevance", NULL));
    apply1(s, 1, ob(AM_M_AGENT_QUALITY_SCORE, AM_OBS_SET, 0.5, "a", "relevance", NULL));
    apply1(s, 0, ob(AM_M_SELF_CONNECTIONS_ACTIVE, AM_OBS_INC, 3, "http", NULL, NULL));
    apply1(s, 1, ob(AM_M_SELF_CONNECTIONS_ACTIVE, AM_OBS_INC, -1, "http", NULL, NULL));
    apply1(s, 0, ob(AM_M_PROCESS_CPU_SECONDS_TOTAL, AM_OBS_SET, 12.5, NULL, NULL, NULL));
    apply1(s, 1, ob(AM_M_PROCESS_CPU_SECONDS_TOTAL, AM_OBS_SET, 13.25, NULL, NULL, NULL));
    apply1(s, 1, ob(AM_M_PROCESS_OPEN_FDS, AM_OBS_SET, 0, NULL, NULL, NULL));
    struct recs *rs = snapshot(s);
    assert_true(find(rs, AM_M_AGENT_QUALITY_SCORE, "a|relevance")->value == 0.5);
    assert_true(find(rs, AM_M_SELF_CONNECTIONS_ACTIVE, "http")->value == 2);
    assert_true(find(rs, AM_M_PROCESS_CPU_SECONDS_TOTAL, "")->value == 13.25);
    assert_true(find(rs, AM_M_PROCESS_OPEN_FDS, "")->value == 0);
    am_series_destroy(s);
}

static void test_series_visit_order_enum_then_labels(void **st)
{
    struct am_series_store *s = mk(2, 0, 0);
    static const char *const agents[][2] = {
        {"b", "x"}, {"a", "y"}, {"ab", "a"}, {"", "z"}, {"a", "x"}, {"\xC3\xA9", "a"}, {"B", "a"},
    };
    static const char *const want[] = {"|z", "B|a", "a|x", "a|y", "ab|a", "b|x", "\xC3\xA9|a"};
    for (size_t i = 0; i < 7; i++) {
        apply1(s, (unsigned)i % 2,
               ob(AM_M_AGENT_CONVERSATIONS_TOTAL, AM_OBS_INC, 1, agents[i][0], agents[i][1], NULL));
    }
    apply1(s, 0, ob(AM_M_PROCESS_MAX_FDS, AM_OBS_SET, 1024, NULL, NULL, NULL));
    apply1(s, 1, ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, "z", "success", NULL));
    struct recs *rs = snapshot(s);
    assert_int_equal(rs->r[0].metric, AM_M_AGENT_REQUESTS_TOTAL);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(rs->r[1 + i].metric, AM_M_AGENT_CONVERSATIONS_TOTAL);
        assert_string_equal(rs->r[1 + i].labels, want[i]);
    }
    /* agentmeter_series_active sorted by family name, then process_* */
    assert_int_equal(rs->r[8].metric, AM_M_SELF_SERIES_ACTIVE);
    assert_string_equal(rs->r[8].labels, "agent_conversations_total");
    assert_true(rs->r[8].value == 7);
    assert_string_equal(rs->r[9].labels, "agent_requests_total");
    assert_string_equal(rs->r[10].labels, "process_max_fds");
    assert_int_equal(rs->r[11].metric, AM_M_PROCESS_MAX_FDS);
    assert_int_equal(rs->n, 12);
    am_series_destroy(s);
}

static void test_series_bucket_override_used_invalid_rejected(void **st)
{
    struct am_bucket_override b = {
        .metric = AM_M_AGENT_CONVERSATION_TURNS, .count = 2, .bounds = {1, 10}};
    struct am_series_opts o = {.shards = 1, .buckets = &b, .bucket_count = 1};
    struct am_series_store *s = am_series_create(&o);
    assert_non_null(s);
    unsigned n;
    const double *bd = am_series_bounds(s, AM_M_AGENT_CONVERSATION_TURNS, &n);
    assert_int_equal(n, 2);
    assert_true(bd[0] == 1 && bd[1] == 10);
    apply1(s, 0, ob(AM_M_AGENT_CONVERSATION_TURNS, AM_OBS_OBSERVE, 10, "a", NULL, NULL));
    const struct rec *r = find(snapshot(s), AM_M_AGENT_CONVERSATION_TURNS, "a");
    assert_int_equal(r->nb, 2);
    assert_int_equal(r->buckets[1], 1);
    bd = am_series_bounds(s, AM_M_AGENT_REQUEST_DURATION, &n);
    assert_int_equal(n, 10);
    assert_true(bd[0] == 0.5);
    am_series_destroy(s);

    static const struct am_bucket_override bad[] = {
        {.metric = AM_M_AGENT_CONVERSATION_TURNS, .count = 2, .bounds = {2, 1}},
        {.metric = AM_M_AGENT_CONVERSATION_TURNS, .count = 2, .bounds = {1, 1}},
        {.metric = AM_M_AGENT_CONVERSATION_TURNS, .count = 1, .bounds = {INFINITY}},
        {.metric = AM_M_AGENT_REQUESTS_TOTAL, .count = 1, .bounds = {1}},
        {.metric = AM_M_AGENT_CONVERSATION_TURNS, .count = AM_MAX_BUCKETS + 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct am_series_opts ob2 = {.shards = 1, .buckets = &bad[i], .bucket_count = 1};
        assert_null(am_series_create(&ob2));
    }
    struct am_series_opts zero = {.shards = 0};
    assert_null(am_series_create(&zero));
}

/* A scenario touching every allocation site; returns the first error. */
static int alloc_scenario(struct am_series_store **out)
{
    struct am_series_opts o = {.shards = 2, .max_series_per_metric = 40};
    struct am_series_store *s = am_series_create(&o);
    *out = s;
    if (s == NULL) {
        return AM_ENOMEM;
    }
    int first = AM_OK;
    char name[32];
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof(name), "agent-%d", i);
        struct am_obs ob2[2] = {
            ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, name, "success", NULL),
            ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, 0.7, name, NULL, NULL),
        };
        int rc = am_series_apply(s, (unsigned)i % 2, ob2, 2);
        if (rc != AM_OK && first == AM_OK) {
            first = rc;
        }
    }
    return first;
}

static void test_series_each_alloc_failure_consistent(void **st)
{
    struct am_series_store *s;
    am_alloc_fail_at(0);
    assert_int_equal(alloc_scenario(&s), AM_OK);
    unsigned long total = am_alloc_count();
    am_series_destroy(s);
    assert_true(total > 5);
    for (unsigned long nth = 1; nth <= total; nth++) {
        am_alloc_fail_at(nth);
        int rc = alloc_scenario(&s);
        am_alloc_fail_at(0);
        assert_true(rc == AM_OK || rc == AM_ENOMEM);
        if (s == NULL) {
            continue;
        }
        /* what was stored is consistent: visited series == counted series */
        struct recs *rs = snapshot(s);
        assert_int_equal(count_of(rs, AM_M_AGENT_REQUESTS_TOTAL),
                         am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL));
        assert_true(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL) <= 41);
        double sum = 0;
        for (size_t i = 0; i < rs->n; i++) {
            sum += rs->r[i].metric == AM_M_AGENT_REQUESTS_TOTAL ? rs->r[i].value : 0;
        }
        assert_true(sum <= 60 && (rc != AM_OK || sum == 60));
        /* and the store still works */
        apply1(s, 0, ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, "late", "success", NULL));
        am_series_destroy(s);
    }
}

/* Bytes per series at 2 shards, every series present on both shards
 * (with an exemplar on both when ex). */
static double bytes_per_series(enum am_metric m, unsigned n, int ex)
{
    struct am_series_store *s = mk(2, 0, 0);
    size_t before = am_series_bytes(s);
    const struct am_family *f = am_family_get(m);
    char name[32];
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "agent-%05u", i);
        struct am_obs o = ob(m, f->type == AM_TYPE_HISTOGRAM ? AM_OBS_OBSERVE : AM_OBS_INC, 1, name,
                             "claude-sonnet-4-5", "output");
        for (unsigned k = 3; k < f->label_count; k++) {
            o.labels[k] = AM_STR("chat");
        }
        o.has_exemplar = (uint8_t)ex;
        apply1(s, 0, o);
        apply1(s, 1, o);
    }
    double per = (double)(am_series_bytes(s) - before) / n;
    am_series_destroy(s);
    return per;
}

static void test_series_memory_within_budget(void **st)
{
    (void)st;
    for (int ex = 0; ex <= 1; ex++) {
        double counter = bytes_per_series(AM_M_AGENT_TOKEN_USAGE_TOTAL, 20000, ex);
        double hist = bytes_per_series(AM_M_MODEL_INFERENCE_DURATION, 20000, ex);
        double semconv = bytes_per_series(AM_M_GENAI_OPERATION_DURATION, 20000, ex);
        printf("bytes/series at 2 shards%s: counter(3 labels) %.1f, histogram(2 labels, 7 "
               "bounds) %.1f, histogram(5 labels, 14 bounds) %.1f\n",
               ex ? " (one exemplar per shard)" : "", counter, hist, semconv);
        assert_true(counter <= 400);
        assert_true(hist <= 1024);
        /* Known exception: 15 buckets x 40 B exemplars x 2 shards do not fit
         * a 1 KiB budget; the array is only allocated once a series gets a
         * span-carrying observation (docs/design/metrics.md). */
        assert_true(semconv <= 1024 + ex * 2 * 15 * 40);
    }
}

static struct am_obs exob(enum am_metric m, enum am_obs_kind k, double v, uint8_t id)
{
    struct am_obs o = ob(m, k, v, "a", "m", NULL);
    if (m == AM_M_AGENT_REQUESTS_TOTAL) {
        o.labels[1] = AM_STR("success");
    }
    memset(o.trace_id, id, sizeof(o.trace_id));
    memset(o.span_id, id + 1, sizeof(o.span_id));
    o.has_exemplar = 1;
    return o;
}

struct exrec {
    int seen;
    uint64_t created_ns;
    unsigned n;
    struct am_exemplar ex[AM_MAX_BUCKETS + 1];
    int has;
};

static void ex_cb(void *ud, const struct am_series_view *v)
{
    struct exrec *r = ud;
    if (v->metric != AM_M_AGENT_REQUESTS_TOTAL && v->metric != AM_M_MODEL_INFERENCE_DURATION) {
        return;
    }
    struct exrec *slot = &r[v->metric == AM_M_AGENT_REQUESTS_TOTAL ? 0 : 1];
    slot->seen++;
    slot->created_ns = v->created_ns;
    slot->has = v->exemplars != NULL;
    slot->n = v->metric == AM_M_AGENT_REQUESTS_TOTAL ? 1 : v->bound_count + 1;
    if (v->exemplars != NULL) {
        memcpy(slot->ex, v->exemplars, slot->n * sizeof(struct am_exemplar));
    }
}

/* One exemplar per counter series and per bucket; the latest (by the
 * store's wall clock) wins across shards; _created is the first sighting. */
static void test_series_exemplars_latest_across_shards(void **st)
{
    (void)st;
    struct am_clock_manual clk;
    am_clock_manual_init(&clk, 1, 1700000000250000000ull);
    struct am_series_opts opts = {.shards = 2, .clock = &clk.clock};
    struct am_series_store *s = am_series_create(&opts);
    assert_non_null(s);
    /* counter: shard 1 at t0, shard 0 at t0+1s, shard 1 again at t0+2s without exemplar */
    apply1(s, 1, exob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, 0x11));
    am_clock_manual_advance(&clk, 1000000000u);
    apply1(s, 0, exob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 2, 0x22));
    am_clock_manual_advance(&clk, 1000000000u);
    struct am_obs plain = exob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 4, 0x33);
    plain.has_exemplar = 0;
    apply1(s, 1, plain);
    /* histogram (bounds 0.2 0.5 1 2 3 5 10): 0.5 on shard 0 then 0.3 on shard 1
     * (same bucket, later), 0.2 on shard 0, 99 (+Inf) on shard 1 */
    apply1(s, 0, exob(AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, 0.5, 0x44));
    am_clock_manual_advance(&clk, 500000000u);
    apply1(s, 1, exob(AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, 0.3, 0x55));
    apply1(s, 0, exob(AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, 0.2, 0x66));
    apply1(s, 1, exob(AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, 99, 0x77));
    struct exrec r[2];
    memset(r, 0, sizeof(r));
    am_series_visit(s, ex_cb, r);
    assert_int_equal(r[0].seen, 1);
    assert_true(r[0].has);
    assert_true(r[0].created_ns == 1700000000000000000ull);
    assert_true(r[0].ex[0].value == 2);
    assert_true(r[0].ex[0].wall_ns == 1700000001250000000ull);
    uint8_t want_t[16];
    uint8_t want_s[8];
    memset(want_t, 0x22, 16);
    memset(want_s, 0x23, 8);
    assert_memory_equal(r[0].ex[0].trace_id, want_t, 16);
    assert_memory_equal(r[0].ex[0].span_id, want_s, 8);
    assert_int_equal(r[1].seen, 1);
    assert_int_equal(r[1].n, 8);
    assert_true(r[1].created_ns == 1700000002000000000ull);
    static const struct {
        unsigned bucket;
        double value;
        uint64_t wall_ns;
        uint8_t id;
    } want[] = {
        {0, 0.2, 1700000002750000000ull, 0x66},
        {1, 0.3, 1700000002750000000ull, 0x55},
        {2, 0, 0, 0},
        {3, 0, 0, 0},
        {4, 0, 0, 0},
        {5, 0, 0, 0},
        {6, 0, 0, 0},
        {7, 99, 1700000002750000000ull, 0x77},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct am_exemplar *e = &r[1].ex[want[i].bucket];
        assert_true(e->value == want[i].value);
        assert_true(e->wall_ns == want[i].wall_ns);
        memset(want_t, want[i].id, 16);
        assert_memory_equal(e->trace_id, want_t, 16);
    }
    am_series_destroy(s);
}

/* Reload: new buckets apply to a family with no series, never to one that
 * has series (they keep theirs). */
static void test_series_set_buckets_only_before_first_series(void **st)
{
    (void)st;
    struct am_series_opts so = {.shards = 2};
    struct am_series_store *s = am_series_create(&so);
    struct am_bucket_override b = {
        .metric = AM_M_AGENT_REQUEST_DURATION, .count = 2, .bounds = {0.25, 4}};
    assert_int_equal(am_series_set_buckets(s, &b), AM_OK);
    unsigned n = 0;
    const double *bounds = am_series_bounds(s, AM_M_AGENT_REQUEST_DURATION, &n);
    assert_int_equal(n, 2);
    assert_true(bounds[0] == 0.25 && bounds[1] == 4);
    struct am_obs o = {.metric = AM_M_AGENT_REQUEST_DURATION, .kind = AM_OBS_OBSERVE, .value = 3};
    o.labels[0] = AM_STR("a");
    assert_int_equal(am_series_apply(s, 1, &o, 1), AM_OK);
    struct am_bucket_override later = {
        .metric = AM_M_AGENT_REQUEST_DURATION, .count = 1, .bounds = {100}};
    assert_int_equal(am_series_set_buckets(s, &later), AM_EAGAIN);
    bounds = am_series_bounds(s, AM_M_AGENT_REQUEST_DURATION, &n);
    assert_int_equal(n, 2);
    assert_true(bounds[1] == 4);
    struct am_bucket_override counter = {
        .metric = AM_M_AGENT_REQUESTS_TOTAL, .count = 1, .bounds = {1}};
    assert_int_equal(am_series_set_buckets(s, &counter), AM_EINVAL);
    struct am_bucket_override unsorted = {
        .metric = AM_M_AGENT_REQUEST_TOKENS, .count = 2, .bounds = {2, 1}};
    assert_int_equal(am_series_set_buckets(s, &unsorted), AM_EINVAL);
    am_series_destroy(s);
}

/* ---- idle expiry (am_series_expire) ---- */

#define T0 1700000000000000000ull
#define IDLE 5000000000ull /* 5 s */

static struct recs g_dropped; /* test-only scratch */

static size_t expire(struct am_series_store *s, uint64_t now)
{
    return am_series_expire(s, now, IDLE, on_series, &g_dropped);
}

static void apply_at(struct am_series_store *s, unsigned shard, struct am_obs o, uint64_t t)
{
    assert_int_equal(am_series_apply_at(s, shard, &o, 1, t), AM_OK);
}

/* Updated at t: kept at t + idle - 1 ns, dropped at exactly t + idle. */
static void test_series_expire_exactly_at_idle_boundary(void **st)
{
    (void)st;
    struct am_series_store *s = mk(1, 0, 0);
    struct am_obs o = ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 3, "a", "success", NULL);
    apply_at(s, 0, o, T0);
    g_dropped.n = 0;
    assert_int_equal(expire(s, T0 + IDLE - 1), 0);
    assert_int_equal(g_dropped.n, 0);
    assert_int_equal(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL), 1);
    assert_true(find(snapshot(s), AM_M_AGENT_REQUESTS_TOTAL, "a|success")->value == 3);
    /* a clock behind the update never expires it */
    assert_int_equal(expire(s, T0 - 1), 0);
    assert_int_equal(expire(s, T0 + IDLE), 1);
    assert_int_equal(g_dropped.n, 1);
    assert_int_equal(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL), 0);
    struct recs *rs = snapshot(s);
    assert_null(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "a|success"));
    assert_null(find(rs, AM_M_SELF_SERIES_ACTIVE, "agent_requests_total"));
    assert_true(find(rs, AM_M_SELF_SERIES_EXPIRED_TOTAL, "agent_requests_total")->value == 1);
    assert_int_equal(count_of(rs, AM_M_SELF_SERIES_EXPIRED_TOTAL), 1);
    /* idle 0 disables expiry */
    apply_at(s, 0, o, T0);
    assert_int_equal(am_series_expire(s, T0 + 100 * IDLE, 0, NULL, NULL), 0);
    assert_int_equal(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL), 1);
    am_series_destroy(s);
}

/* The newest update over every shard counts, whichever shard it was on. */
static void test_series_expire_update_on_any_shard_keeps_series(void **st)
{
    (void)st;
    static const unsigned late_shard[] = {0, 1, 2};
    for (size_t c = 0; c < sizeof(late_shard) / sizeof(late_shard[0]); c++) {
        struct am_series_store *s = mk(3, 0, 0);
        struct am_obs o = ob(AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, 0.4, "a", "m", NULL);
        for (unsigned w = 0; w < 3; w++) {
            apply_at(s, w, o, T0);
        }
        apply_at(s, late_shard[c], o, T0 + 7);
        g_dropped.n = 0;
        assert_int_equal(expire(s, T0 + IDLE), 0);
        assert_int_equal(expire(s, T0 + 6 + IDLE), 0);
        assert_int_equal(expire(s, T0 + 7 + IDLE), 1);
        assert_int_equal(g_dropped.r[0].count, 4);
        am_series_destroy(s);
    }
}

/* The cap slot comes back; the overflow series and self-metrics never expire. */
static void test_series_expire_returns_cap_slot_keeps_overflow_and_self(void **st)
{
    (void)st;
    struct am_series_store *s = mk(2, 2, 0);
    apply_at(s, 0, ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, "a", "ok", NULL), T0);
    apply_at(s, 1, ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, "b", "ok", NULL), T0 + IDLE);
    apply_at(s, 0, ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, "c", "ok", NULL), T0);
    apply_at(s, 0, ob(AM_M_SELF_BUILD_INFO, AM_OBS_SET, 1, "v1", NULL, NULL), T0);
    apply_at(s, 0, ob(AM_M_SELF_SPANS_ACCEPTED_TOTAL, AM_OBS_INC, 9, "http", NULL, NULL), T0);
    assert_int_equal(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL), 3); /* a, b, overflow */
    g_dropped.n = 0;
    assert_int_equal(expire(s, T0 + IDLE), 1); /* only a: b is fresh, overflow exempt */
    assert_string_equal(g_dropped.r[0].labels, "a|ok");
    assert_int_equal(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL), 2);
    apply_at(s, 1, ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 5, "c", "ok", NULL), T0 + IDLE);
    struct recs *rs = snapshot(s);
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "c|ok")->value == 5); /* a regular series */
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "__overflow__|__overflow__")->value == 1);
    assert_int_equal(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL), 3);
    assert_int_equal(expire(s, T0 + 100 * IDLE), 2); /* b and c; never overflow or self */
    rs = snapshot(s);
    assert_int_equal(count_of(rs, AM_M_AGENT_REQUESTS_TOTAL), 1);
    assert_true(find(rs, AM_M_SELF_BUILD_INFO, "v1")->value == 1);
    assert_true(find(rs, AM_M_SELF_SPANS_ACCEPTED_TOTAL, "http")->value == 9);
    assert_true(find(rs, AM_M_SELF_SERIES_EXPIRED_TOTAL, "agent_requests_total")->value == 3);
    am_series_destroy(s);
}

/* The dropped view carries the final merged values, in visit order. */
static void test_series_expire_dropped_view_has_last_values(void **st)
{
    (void)st;
    struct am_series_store *s = mk(2, 0, 0);
    apply_at(s, 0, ob(AM_M_AGENT_TOKEN_USAGE_TOTAL, AM_OBS_INC, 100, "z", "m", "input"), T0);
    apply_at(s, 1, ob(AM_M_AGENT_TOKEN_USAGE_TOTAL, AM_OBS_INC, 23, "z", "m", "input"), T0);
    apply_at(s, 1, ob(AM_M_AGENT_TOKEN_USAGE_TOTAL, AM_OBS_INC, 7, "a", "m", "output"), T0);
    apply_at(s, 0, ob(AM_M_AGENT_QUALITY_SCORE, AM_OBS_SET, 0.75, "a", "relevance", NULL), T0);
    apply_at(s, 1, ob(AM_M_AGENT_QUALITY_SCORE, AM_OBS_SET, 0.5, "a", "relevance", NULL), T0);
    /* agent_request_duration_seconds: 0.5 1 2 3 5 8 13 21 30 60 */
    apply_at(s, 0, ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, 0.5, "a", NULL, NULL), T0);
    apply_at(s, 1, ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, 2.5, "a", NULL, NULL), T0);
    apply_at(s, 1, ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, 99, "a", NULL, NULL), T0);
    g_dropped.n = 0;
    assert_int_equal(expire(s, T0 + IDLE), 4);
    struct recs *d = &g_dropped;
    assert_int_equal(d->n, 4);
    assert_int_equal(d->r[0].metric, AM_M_AGENT_REQUEST_DURATION);
    assert_int_equal(d->r[0].count, 3);
    assert_true(d->r[0].sum == 102);
    assert_int_equal(d->r[0].nb, 10);
    static const uint64_t want_b[11] = {1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(d->r[0].buckets, want_b, sizeof(want_b));
    assert_int_equal(d->r[1].metric, AM_M_AGENT_TOKEN_USAGE_TOTAL);
    assert_string_equal(d->r[1].labels, "a|m|output");
    assert_true(d->r[1].value == 7);
    assert_string_equal(d->r[2].labels, "z|m|input");
    assert_true(d->r[2].value == 123);
    assert_int_equal(d->r[3].metric, AM_M_AGENT_QUALITY_SCORE);
    assert_true(d->r[3].value == 0.5);
    am_series_destroy(s);
}

/* A re-created series starts from zero, with no exemplar of its past. */
static void test_series_expire_recreated_series_starts_from_zero(void **st)
{
    (void)st;
    struct am_series_store *s = mk(1, 0, 0);
    struct am_obs c = exob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 4, 0x11);
    struct am_obs h = exob(AM_M_MODEL_INFERENCE_DURATION, AM_OBS_OBSERVE, 0.3, 0x22);
    apply_at(s, 0, c, T0);
    apply_at(s, 0, h, T0);
    g_dropped.n = 0;
    assert_int_equal(expire(s, T0 + IDLE), 2);
    c.has_exemplar = 0;
    c.value = 1;
    h.has_exemplar = 0;
    h.value = 7;
    apply_at(s, 0, c, T0 + 2 * IDLE);
    apply_at(s, 0, h, T0 + 2 * IDLE);
    struct exrec r[2];
    memset(r, 0, sizeof(r));
    am_series_visit(s, ex_cb, r);
    assert_int_equal(r[0].seen, 1);
    assert_false(r[0].has);
    assert_true(r[0].created_ns == T0 + 2 * IDLE);
    assert_int_equal(r[1].seen, 1);
    assert_false(r[1].has);
    struct recs *rs = snapshot(s);
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "a|success")->value == 1);
    const struct rec *hr = find(rs, AM_M_MODEL_INFERENCE_DURATION, "a|m");
    assert_int_equal(hr->count, 1);
    assert_true(hr->sum == 7);
    assert_int_equal(hr->buckets[6], 1); /* 0.2 0.5 1 2 3 5 10: 7 -> le=10 */
    assert_int_equal(hr->buckets[1], 0);
    /* and an exemplar taken again lands in a clean (recycled) array */
    apply_at(s, 0, exob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 2, 0x33), T0 + 2 * IDLE + 1);
    memset(r, 0, sizeof(r));
    am_series_visit(s, ex_cb, r);
    assert_true(r[0].has && r[0].ex[0].value == 2 && r[0].ex[0].wall_ns == T0 + 2 * IDLE + 1);
    am_series_destroy(s);
}

/* A set found again is taken from the shard's memo; after its cell expired
 * (and went to the free list, then to another set) the memo must not hand
 * it out: the set starts again from zero and the other set keeps its own. */
static void test_series_expire_clears_memo_of_recycled_cells(void **st)
{
    (void)st;
    struct am_series_store *s = mk(1, 0, 0);
    struct am_obs a = ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 2, "a", "success", NULL);
    struct am_obs b = ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 5, "b", "success", NULL);
    apply_at(s, 0, a, T0);
    apply_at(s, 0, a, T0); /* a map hit: now in the memo */
    apply_at(s, 0, a, T0); /* a memo hit */
    assert_true(find(snapshot(s), AM_M_AGENT_REQUESTS_TOTAL, "a|success")->value == 6);
    g_dropped.n = 0;
    assert_int_equal(expire(s, T0 + IDLE), 1);
    apply_at(s, 0, a, T0 + 2 * IDLE); /* its old cell is on the free list */
    apply_at(s, 0, b, T0 + 2 * IDLE);
    apply_at(s, 0, a, T0 + 2 * IDLE);
    apply_at(s, 0, b, T0 + 2 * IDLE);
    g_dropped.n = 0;
    assert_int_equal(expire(s, T0 + 3 * IDLE), 2);
    apply_at(s, 0, b, T0 + 4 * IDLE); /* takes a recycled cell */
    apply_at(s, 0, a, T0 + 4 * IDLE);
    apply_at(s, 0, b, T0 + 4 * IDLE);
    apply_at(s, 0, a, T0 + 4 * IDLE);
    struct recs *rs = snapshot(s);
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "a|success")->value == 4);
    assert_true(find(rs, AM_M_AGENT_REQUESTS_TOTAL, "b|success")->value == 10);
    assert_int_equal(am_series_count(s, AM_M_AGENT_REQUESTS_TOTAL), 2);
    am_series_destroy(s);
}

/* Model-checked stress: many inserts, expiries and re-inserts over small
 * maps; every round the store matches a shadow model exactly. */
#define STRESS_KEYS 3000u
#define STRESS_ROUNDS 60u

struct stress {
    double val[STRESS_KEYS];
    uint64_t last[STRESS_KEYS];
    uint8_t alive[STRESS_KEYS];
    size_t checked;
};

static unsigned key_of(const char *labels)
{
    unsigned k = 0;
    assert_int_equal(sscanf(labels, "k%u|", &k), 1);
    assert_true(k < STRESS_KEYS);
    return k;
}

static void stress_dropped(void *ud, const struct am_series_view *v)
{
    struct stress *m = ud;
    unsigned k = 0;
    assert_int_equal(sscanf(v->label_values[0], "k%u", &k), 1);
    assert_true(m->alive[k]);
    assert_true(v->value == m->val[k]);
    m->alive[k] = 0;
    m->val[k] = 0;
}

static void stress_visit(void *ud, const struct am_series_view *v)
{
    struct stress *m = ud;
    if (v->metric != AM_M_AGENT_TOOL_CALLS_TOTAL) {
        return;
    }
    char buf[64];
    snprintf(buf, sizeof(buf), "%s|", v->label_values[0]);
    unsigned k = key_of(buf);
    assert_true(m->alive[k]);
    assert_true(v->value == m->val[k]);
    m->checked++;
}

static void test_series_expire_stress_maps_consistent(void **st)
{
    (void)st;
    static struct stress m;
    memset(&m, 0, sizeof(m));
    struct am_series_store *s = mk(2, 0, 0);
    uint32_t rnd = 12345;
    const uint64_t step = 10;
    const uint64_t idle = 35;
    for (unsigned r = 1; r <= STRESS_ROUNDS; r++) {
        uint64_t t = T0 + r * step;
        for (unsigned k = 0; k < STRESS_KEYS; k++) {
            rnd = rnd * 1103515245u + 12345u;
            if ((rnd >> 16) % 100 >= (r % 10 == 0 ? 100u : 30u)) {
                continue;
            }
            char name[16];
            snprintf(name, sizeof(name), "k%u", k);
            apply_at(s, (rnd >> 8) & 1u,
                     ob(AM_M_AGENT_TOOL_CALLS_TOTAL, AM_OBS_INC, 1, name, "t", "success"), t);
            m.val[k] += 1;
            m.last[k] = t;
            m.alive[k] = 1;
        }
        size_t want = 0;
        size_t live = 0;
        for (unsigned k = 0; k < STRESS_KEYS; k++) {
            want += m.alive[k] && t - m.last[k] >= idle;
            live += m.alive[k];
        }
        assert_int_equal(am_series_expire(s, t, idle, stress_dropped, &m), want);
        live -= want;
        assert_int_equal(am_series_count(s, AM_M_AGENT_TOOL_CALLS_TOTAL), live);
        m.checked = 0;
        am_series_visit(s, stress_visit, &m);
        assert_int_equal(m.checked, live);
    }
    /* memory is recycled: a second identical fill after a full expiry costs nothing more */
    size_t bytes[2];
    for (int pass = 0; pass < 2; pass++) {
        uint64_t t = T0 + (STRESS_ROUNDS + 10 + (uint64_t)pass * 10) * step;
        am_series_expire(s, t, idle, stress_dropped, &m);
        assert_int_equal(am_series_count(s, AM_M_AGENT_TOOL_CALLS_TOTAL), 0);
        for (unsigned k = 0; k < STRESS_KEYS; k++) {
            char name[16];
            snprintf(name, sizeof(name), "k%u", k);
            apply_at(s, k & 1u,
                     ob(AM_M_AGENT_TOOL_CALLS_TOTAL, AM_OBS_INC, 1, name, "t", "success"), t);
            m.val[k] = 1;
            m.alive[k] = 1;
        }
        bytes[pass] = am_series_bytes(s);
    }
    assert_int_equal(bytes[1], bytes[0]);
    am_series_destroy(s);
}

/* Ingest on two threads while the main thread expires and visits: nothing
 * is lost or counted twice (dropped + remaining == applied), ASan clean. */
struct churn {
    struct am_series_store *s;
    unsigned shard;
    _Atomic uint64_t *now;
    atomic_int *running;
};

#define CHURN_OPS 20000u

static void *churn_worker(void *arg)
{
    struct churn *c = arg;
    char name[16];
    for (unsigned i = 0; i < CHURN_OPS; i++) {
        snprintf(name, sizeof(name), "c%u", (i * 7u + c->shard) % 97u);
        struct am_obs o = ob(AM_M_AGENT_TOOL_CALLS_TOTAL, AM_OBS_INC, 1, name, "t", "success");
        uint64_t t = atomic_fetch_add(c->now, 1) + 1;
        if (am_series_apply_at(c->s, c->shard, &o, 1, t) != AM_OK) {
            atomic_fetch_sub(c->running, 1);
            return c;
        }
    }
    atomic_fetch_sub(c->running, 1);
    return NULL;
}

static void sum_cb(void *ud, const struct am_series_view *v)
{
    if (v->metric == AM_M_AGENT_TOOL_CALLS_TOTAL) {
        *(double *)ud += v->value;
    }
}

static void test_series_expire_concurrent_with_ingest_conserves(void **st)
{
    (void)st;
    struct am_series_store *s = mk(2, 0, 0);
    _Atomic uint64_t now = T0;
    atomic_int running = 2;
    struct churn c[2] = {{s, 0, &now, &running}, {s, 1, &now, &running}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, churn_worker, &c[i]), 0);
    }
    double dropped = 0;
    size_t n = 0;
    while (atomic_load(&running) > 0) {
        n += am_series_expire(s, atomic_load(&now), 40, sum_cb, &dropped);
        double visible = 0;
        am_series_visit(s, sum_cb, &visible);
        assert_true(visible + dropped <= 2.0 * CHURN_OPS);
    }
    for (int i = 0; i < 2; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    double visible = 0;
    am_series_visit(s, sum_cb, &visible);
    assert_true(visible + dropped == 2.0 * CHURN_OPS);
    printf("concurrent expiry: %zu series expired during ingest\n", n);
    am_series_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_set_buckets_only_before_first_series),
        cmocka_unit_test(test_series_counter_inc_sums_exactly),
        cmocka_unit_test(test_series_histogram_bounds_inclusive_exact),
        cmocka_unit_test(test_series_two_shards_merged_sums),
        cmocka_unit_test(test_series_cap_routes_new_sets_to_overflow),
        cmocka_unit_test(test_series_cap_exact_across_shards),
        cmocka_unit_test(test_series_cap_exact_under_concurrent_shards),
        cmocka_unit_test(test_series_label_values_repaired_and_counted),
        cmocka_unit_test(test_series_malformed_obs_rejected_rest_applied),
        cmocka_unit_test(test_series_set_defines_value_across_shards),
        cmocka_unit_test(test_series_visit_order_enum_then_labels),
        cmocka_unit_test(test_series_bucket_override_used_invalid_rejected),
        cmocka_unit_test(test_series_each_alloc_failure_consistent),
        cmocka_unit_test(test_series_memory_within_budget),
        cmocka_unit_test(test_series_near_label_sets_distinct_exact),
        cmocka_unit_test(test_series_exemplars_latest_across_shards),
        cmocka_unit_test(test_series_expire_exactly_at_idle_boundary),
        cmocka_unit_test(test_series_expire_update_on_any_shard_keeps_series),
        cmocka_unit_test(test_series_expire_returns_cap_slot_keeps_overflow_and_self),
        cmocka_unit_test(test_series_expire_dropped_view_has_last_values),
        cmocka_unit_test(test_series_expire_recreated_series_starts_from_zero),
        cmocka_unit_test(test_series_expire_clears_memo_of_recycled_cells),
        cmocka_unit_test(test_series_expire_stress_maps_consistent),
        cmocka_unit_test(test_series_expire_concurrent_with_ingest_conserves),
    };
    return cmocka_run_group_tests_name("series", tests, NULL, NULL);
}
