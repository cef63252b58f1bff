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

static void test_expo_format_double_matches_go(void **st)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {-0.0, "-0"},
        {1, "1"},
        {-1, "-1"},
        {1000000, "1e+06"},
        {123456, "123456"},
        {1234567, "1.234567e+06"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {0.000123, "0.000123"},
        {0.1, "0.1"},
        {3.14, "3.14"},
        {1e5, "100000"},
        {2.5e6, "2.5e+06"},
        {999999, "999999"},
        {1.0000000000000002, "1.0000000000000002"},
        {5e-324, "5e-324"},
        {1e-323, "1e-323"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.7976931348623157e+308, "1.7976931348623157e+308"},
        {0.30000000000000004, "0.30000000000000004"},
        {0.1 + 0.2 - 0.3, "5.551115123125783e-17"},
        {12.5, "12.5"},
        {1e+21, "1e+21"},
        {1e+20, "1e+20"},
        {123456789, "1.23456789e+08"},
        {9007199254740993.0, "9.007199254740992e+15"},
        {18446744073709551616.0, "1.8446744073709552e+19"},
        {7.120236347223045e-307, "7.120236347223045e-307"}, /* 2^-1017 */
        {1e100, "1e+100"},
        {-2.5e-7, "-2.5e-07"},
        {100, "100"},
        {0.5, "0.5"},
        {81.92, "81.92"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        size_t n = am_expo_format_double(cases[i].v, buf);
        assert_string_equal(buf, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
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

static void test_expo_negotiate_prefers_by_q(void **st)
{
    (void)st;
    static const struct {
        const char *accept;
        int want;
    } cases[] = {
        {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
         "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
         AM_EXPO_OPENMETRICS},
        {"text/plain", AM_EXPO_TEXT},
        {"", AM_EXPO_TEXT},
        {"*/*", AM_EXPO_TEXT},
        {"application/openmetrics-text;q=0.1, text/plain;q=0.9", AM_EXPO_TEXT},
        {"application/openmetrics-text", AM_EXPO_OPENMETRICS},
        {"Application/OpenMetrics-Text ; Version=1.0.0 ; Q=1", AM_EXPO_OPENMETRICS},
        {"application/openmetrics-text;q=0.5, text/plain;q=0.5", AM_EXPO_TEXT},
        {"application/openmetrics-text;q=0, */*", AM_EXPO_TEXT},
        {"application/openmetrics-text;q=0.501, text/*;q=0.5", AM_EXPO_OPENMETRICS},
        {"application/openmetrics-text;q=2, text/plain;q=0.1", AM_EXPO_TEXT},
        {"application/openmetrics-text;q=0.1234, text/plain;q=0.1", AM_EXPO_TEXT},
        {"application/openmetrics-text;q=abc", AM_EXPO_TEXT},
        {"application/openmetrics-text;q=1.000,text/plain", AM_EXPO_TEXT},
        {"application/json, application/openmetrics-text;q=0.2", AM_EXPO_OPENMETRICS},
        {",,;;=,", AM_EXPO_TEXT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = am_expo_negotiate(am_str_from(cases[i].accept));
        if (got != cases[i].want) {
            fail_msg("case %zu (%s): got %d", i, cases[i].accept, got);
        }
    }
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
        cmocka_unit_test(test_expo_format_double_matches_go),
        cmocka_unit_test(test_expo_store_matches_golden),
        cmocka_unit_test(test_expo_openmetrics_matches_golden),
        cmocka_unit_test(test_expo_negotiate_prefers_by_q),
        cmocka_unit_test(test_expo_cap_hit_returns_etoobig),
        cmocka_unit_test(test_expo_100k_series_renders_every_line),
    };
    return cmocka_run_group_tests_name("expo", tests, NULL, NULL);
}
