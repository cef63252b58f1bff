/*
 * test_expo.c - the text exposition through am/expo.h: Go-compatible float
 * formatting (table), a golden exposition of a store holding every family
 * type (tests/data/expo/, regenerate with scripts/regen-golden.sh), the
 * output cap, and a 100,000-series render.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "am/clock.h"
#include "am/err.h"
#include "am/expo.h"
#include "testsupport.h"

#define GOLDEN AM_TEST_DATA_DIR "/expo/store.prom"
#define GOLDEN_OM AM_TEST_DATA_DIR "/expo/store.om"

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

static struct am_clock_manual golden_clock;

/* Give o an exemplar whose ids are derived from id. */
static struct am_obs with_ex(struct am_obs o, uint8_t id)
{
    for (unsigned i = 0; i < 16; i++) {
        o.trace_id[i] = (uint8_t)(id + i);
    }
    for (unsigned i = 0; i < 8; i++) {
        o.span_id[i] = (uint8_t)(0xa0 + id + i);
    }
    o.has_exemplar = 1;
    return o;
}

/* A store with every family type, escapes, overflow, a repaired value and
 * exemplars (counters, buckets, +Inf), on a manual clock that ticks 250 ms
 * per observation. */
static struct am_series_store *golden_store(void)
{
    am_clock_manual_init(&golden_clock, 1, 1700000000000000000ull);
    struct am_series_opts opts = {.shards = 2,
                                  .max_series_per_metric = 2,
                                  .max_label_value_bytes = 32,
                                  .clock = &golden_clock.clock};
    struct am_series_store *s = am_series_create(&opts);
    assert_non_null(s);
    struct am_obs o[] = {
        with_ex(ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 3, "support", "success", NULL), 1),
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, "support", "error", NULL),
        ob(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 1, "billing", "timeout", NULL),
        with_ex(ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, 0.5, "support", NULL, NULL), 2),
        ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, 2.75, "support", NULL, NULL),
        with_ex(ob(AM_M_AGENT_REQUEST_DURATION, AM_OBS_OBSERVE, 75, "support", NULL, NULL), 3),
        ob(AM_M_AGENT_ESTIMATED_COST_TOTAL, AM_OBS_INC, 0.1, "we\"ird\\na\nme", "gpt-4o", NULL),
        with_ex(
            ob(AM_M_AGENT_ESTIMATED_COST_TOTAL, AM_OBS_INC, 0.2, "we\"ird\\na\nme", "gpt-4o", NULL),
            0xf0),
        ob(AM_M_AGENT_TOKEN_USAGE_TOTAL, AM_OBS_INC, 1234567, "support", "gpt-4o", "input"),
        ob(AM_M_AGENT_TOOL_CALLS_TOTAL, AM_OBS_INC, 1, "support", "lookup\xff", "success"),
        ob(AM_M_AGENT_QUALITY_SCORE, AM_OBS_SET, 0.875, "support", "relevance", NULL),
        ob(AM_M_AGENT_ESCALATION_RATE, AM_OBS_SET, 12.5, "support", NULL, NULL),
        ob(AM_M_AGENT_REQUEST_COST, AM_OBS_OBSERVE, 0.0001, "support", NULL, NULL),
        ob(AM_M_SELF_BUILD_INFO, AM_OBS_SET, 1, "0.1.0", NULL, NULL),
        ob(AM_M_PROCESS_CPU_SECONDS_TOTAL, AM_OBS_SET, 0.37, NULL, NULL, NULL),
        ob(AM_M_PROCESS_RESIDENT_MEMORY_BYTES, AM_OBS_SET, 9437184, NULL, NULL, NULL),
        ob(AM_M_PROCESS_START_TIME_SECONDS, AM_OBS_SET, 1700000000.25, NULL, NULL, NULL),
    };
    size_t n = sizeof(o) / sizeof(o[0]);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(am_series_apply(s, (unsigned)i % 2, &o[i], 1), AM_OK);
        am_clock_manual_advance(&golden_clock, 250000000u);
    }
    return s;
}

static void test_expo_store_matches_golden(void **st)
{
    struct am_series_store *s = golden_store();
    struct am_buf out;
    am_buf_init(&out, 1 << 20);
    assert_int_equal(am_expo_text(s, &out), AM_OK);
    assert_int_equal(ts_golden_compare(GOLDEN, out.data, out.len), 0);
    am_buf_fini(&out);
    am_series_destroy(s);
}

static void test_expo_openmetrics_matches_golden(void **st)
{
    (void)st;
    struct am_series_store *s = golden_store();
    struct am_buf out;
    am_buf_init(&out, 1 << 20);
    assert_int_equal(am_expo_openmetrics(s, &out), AM_OK);
    assert_int_equal(ts_golden_compare(GOLDEN_OM, out.data, out.len), 0);
    am_buf_fini(&out);
    /* an empty store is just the terminator; a small cap is AM_ETOOBIG */
    struct am_series_opts opts = {.shards = 1};
    struct am_series_store *empty = am_series_create(&opts);
    am_buf_init(&out, 64);
    assert_int_equal(am_expo_openmetrics(empty, &out), AM_OK);
    assert_int_equal(out.len, 6);
    assert_memory_equal(out.data, "# EOF\n", 6);
    am_buf_fini(&out);
    am_buf_init(&out, 300);
    assert_int_equal(am_expo_openmetrics(s, &out), AM_ETOOBIG);
    assert_true(out.len <= 300);
    am_buf_fini(&out);
    am_series_destroy(empty);
    am_series_destroy(s);
}

static void test_expo_cap_hit_returns_etoobig(void **st)
{
    struct am_series_store *s = golden_store();
    struct am_buf out;
    am_buf_init(&out, 200);
    assert_int_equal(am_expo_text(s, &out), AM_ETOOBIG);
    assert_true(out.len <= 200);
    am_buf_fini(&out);
    struct am_series_opts opts = {.shards = 1};
    struct am_series_store *empty = am_series_create(&opts);
    am_buf_init(&out, 0);
    assert_int_equal(am_expo_text(empty, &out), AM_OK);
    assert_int_equal(out.len, 0);
    am_buf_fini(&out);
    am_series_destroy(empty);
    am_series_destroy(s);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_expo_100k_series_renders_every_line(void **st)
{
    struct am_series_opts opts = {.shards = 2};
    struct am_series_store *s = am_series_create(&opts);
    char name[32];
    for (unsigned i = 0; i < 100000; i++) {
        snprintf(name, sizeof(name), "agent-%06u", i);
        struct am_obs o =
            ob(AM_M_AGENT_TOKEN_USAGE_TOTAL, AM_OBS_INC, 1.5 * i, name, "gpt-4o", "input");
        assert_int_equal(am_series_apply(s, i % 2, &o, 1), AM_OK);
    }
    struct am_buf out;
    am_buf_init(&out, 64u << 20);
    double t0 = now_ms();
    assert_int_equal(am_expo_text(s, &out), AM_OK);
    double t1 = now_ms();
    printf("exposition of 100000 counter series: %.1f ms, %zu bytes\n", t1 - t0, out.len);
    size_t lines = 0;
    for (size_t i = 0; i < out.len; i++) {
        lines += out.data[i] == '\n';
    }
    /* 2 header lines + 100000 samples, then agentmeter_series_active (2 + 1) */
    assert_int_equal(lines, 100000 + 2 + 3);
    const char *want = "agent_token_usage_total{agent_name=\"agent-099999\",model_id=\"gpt-4o\","
                       "token_type=\"input\"} 149998.5\n";
    assert_non_null(memmem(out.data, out.len, want, strlen(want)));
    am_buf_fini(&out);
    am_series_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expo_store_matches_golden),
        cmocka_unit_test(test_expo_openmetrics_matches_golden),
        cmocka_unit_test(test_expo_cap_hit_returns_etoobig),
        cmocka_unit_test(test_expo_100k_series_renders_every_line),
    };
    return cmocka_run_group_tests_name("expo", tests, NULL, NULL);
}
