/*
 * test_rw_enc.c - remote_write encoder (SPEC.md 5): decoded goldens, exact
 * bytes through a snappy round trip, label order and precedence, histogram
 * expansion, batching at max_samples_per_send, stale markers, le format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "am/err.h"
#include "am/rw.h"
#include "am/series.h"
#include "rw_decode.h"
#include "testsupport.h"

struct sink {
    struct am_buf text;
    uint32_t batches;
    uint32_t samples[64];
    struct am_buf raw; /* last batch, uncompressed */
    int fail_with;
};

static int sink_cb(void *ud, const void *data, size_t len, uint32_t samples)
{
    struct sink *s = ud;
    if (s->fail_with != 0) {
        return s->fail_with;
    }
    long n = rwd_decode(data, len, &s->text);
    assert_int_equal(n, samples);
    if (s->batches < 64) {
        s->samples[s->batches] = samples;
    }
    s->batches++;
    size_t raw_len = 0;
    assert_int_equal(snappy_uncompressed_length(data, len, &raw_len), SNAPPY_OK);
    am_buf_reset(&s->raw);
    assert_int_equal(am_buf_reserve(&s->raw, raw_len), AM_OK);
    assert_int_equal(snappy_uncompress(data, len, s->raw.data, &raw_len), SNAPPY_OK);
    s->raw.len = raw_len;
    return AM_OK;
}

static void sink_init(struct sink *s)
{
    memset(s, 0, sizeof(*s));
    am_buf_init(&s->text, 1 << 24);
    am_buf_init(&s->raw, 1 << 24);
}

static void sink_fini(struct sink *s)
{
    am_buf_fini(&s->text);
    am_buf_fini(&s->raw);
}

static const char *const lv_a[] = {"chat", "ok"};
static const char *const lv_empty_status[] = {"chat", ""};
static const char *const lv_empty_agent[] = {"", "error"};
static const char *const lv_hist[] = {"chat"};
static const char *const lv_quality[] = {"chat", "relevance"};
static const double hist_bounds[] = {0.5, 1, 2};
static const uint64_t hist_counts[] = {1, 0, 2, 3}; /* non-cumulative, then +Inf */

static void encode(struct sink *s, const struct am_header_kv *ext, size_t n_ext, uint32_t max,
                   const struct am_series_view *v, size_t n)
{
    struct am_rw_enc *e = am_rw_enc_create(ext, n_ext, max);
    am_rw_enc_begin(e, 1700000000123, sink_cb, s);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(am_rw_enc_add_view(e, &v[i]), AM_OK);
    }
    assert_int_equal(am_rw_enc_finish(e), AM_OK);
    am_rw_enc_destroy(e);
}

static void test_enc_snapshot_matches_golden(void **st)
{
    (void)st;
    const struct am_header_kv ext[] = {
        {"cluster", "prod-eu"},        {"agent_name", "from-external"}, {"replica", ""},
        {"Zone", "upper-sorts-first"}, {"__name__", "never"},
    };
    const struct am_series_view v[] = {
        {.metric = AM_M_AGENT_REQUESTS_TOTAL, .label_values = lv_a, .value = 42},
        {.metric = AM_M_AGENT_REQUESTS_TOTAL, .label_values = lv_empty_status, .value = 1.5},
        {.metric = AM_M_AGENT_REQUESTS_TOTAL, .label_values = lv_empty_agent, .value = 3},
        {.metric = AM_M_AGENT_QUALITY_SCORE, .label_values = lv_quality, .value = 0.25},
        {.metric = AM_M_AGENT_REQUEST_DURATION,
         .label_values = lv_hist,
         .count = 6,
         .sum = 7.75,
         .bucket_counts = hist_counts,
         .bounds = hist_bounds,
         .bound_count = 3},
    };
    struct sink s;
    sink_init(&s);
    encode(&s, ext, 5, 0, v, 5);
    assert_int_equal(s.batches, 1);
    assert_int_equal(s.samples[0], 4 + 4 + 2);
    assert_int_equal(
        ts_golden_compare(AM_TEST_DATA_DIR "/rw/snapshot.txt", s.text.data, s.text.len), 0);
    sink_fini(&s);
}

/* The exact protobuf bytes of one label-less gauge, after snappy. */
static void test_enc_single_gauge_has_exact_bytes(void **st)
{
    (void)st;
    static const uint8_t want[] = {
        0x0a, 0x2c, 0x0a, 0x1c, 0x0a, 0x08, '_',  '_',  'n',  'a',  'm',  'e',
        '_',  '_',  0x12, 0x10, 'p',  'r',  'o',  'c',  'e',  's',  's',  '_',
        'o',  'p',  'e',  'n',  '_',  'f',  'd',  's',  0x12, 0x0c, 0x09, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x1c, 0x40, 0x10, 0xe8, 0x07,
    };
    const struct am_series_view v = {.metric = AM_M_PROCESS_OPEN_FDS, .value = 7};
    struct sink s;
    sink_init(&s);
    struct am_rw_enc *e = am_rw_enc_create(NULL, 0, 10);
    am_rw_enc_begin(e, 1000, sink_cb, &s);
    assert_int_equal(am_rw_enc_add_view(e, &v), AM_OK);
    assert_int_equal(am_rw_enc_finish(e), AM_OK);
    assert_int_equal(s.raw.len, sizeof(want));
    assert_memory_equal(s.raw.data, want, sizeof(want));
    am_rw_enc_destroy(e);
    sink_fini(&s);
}

static void test_enc_batches_split_at_max_samples(void **st)
{
    (void)st;
    static const struct {
        uint32_t max;
        uint32_t batches;
        uint32_t last;
    } cases[] = {{3, 4, 1}, {5, 2, 5}, {10, 1, 10}, {1, 10, 1}, {2000, 1, 10}};
    struct am_series_view v[10];
    for (int i = 0; i < 10; i++) {
        v[i] = (struct am_series_view){
            .metric = AM_M_AGENT_REQUESTS_TOTAL, .label_values = lv_a, .value = i};
    }
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct sink s;
        sink_init(&s);
        encode(&s, NULL, 0, cases[c].max, v, 10);
        assert_int_equal(s.batches, cases[c].batches);
        assert_int_equal(s.samples[s.batches - 1], cases[c].last);
        /* values arrive in order across batches */
        char *p = s.text.data;
        for (int i = 0; i < 10; i++) {
            char want[64];
            snprintf(want, sizeof(want), "status=\"ok\" %d 1700000000123\n", i);
            p = strstr(p, want);
            assert_non_null(p);
        }
        sink_fini(&s);
    }
}

static void test_enc_stale_marks_every_series_with_stale_nan(void **st)
{
    (void)st;
    const struct am_series_view v[] = {
        {.metric = AM_M_AGENT_REQUESTS_TOTAL, .label_values = lv_a},
        {.metric = AM_M_AGENT_REQUEST_DURATION,
         .label_values = lv_hist,
         .bounds = hist_bounds,
         .bound_count = 3},
    };
    struct sink s;
    sink_init(&s);
    struct am_rw_enc *e = am_rw_enc_create(NULL, 0, 0);
    am_rw_enc_begin(e, 5, sink_cb, &s);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(am_rw_enc_stale(e, &v[i]), AM_OK);
    }
    assert_int_equal(am_rw_enc_finish(e), AM_OK);
    assert_int_equal(s.samples[0], 1 + 4 + 2);
    int stale = 0;
    for (char *p = s.text.data; (p = strstr(p, " NaN(0x7ff0000000000002) 5\n")) != NULL; p++) {
        stale++;
    }
    assert_int_equal(stale, 7);
    assert_null(strstr(s.text.data, "NaN(0x7ff8"));
    am_rw_enc_destroy(e);
    sink_fini(&s);
}

static void test_enc_callback_error_and_bad_metric_are_returned(void **st)
{
    (void)st;
    struct sink s;
    sink_init(&s);
    s.fail_with = AM_EIO;
    struct am_rw_enc *e = am_rw_enc_create(NULL, 0, 1);
    am_rw_enc_begin(e, 5, sink_cb, &s);
    const struct am_series_view ok = {.metric = AM_M_PROCESS_OPEN_FDS, .value = 1};
    assert_int_equal(am_rw_enc_add_view(e, &ok), AM_EIO);
    const struct am_series_view bad = {.metric = AM_M_COUNT};
    assert_int_equal(am_rw_enc_add_view(e, &bad), AM_EINVAL);
    am_rw_enc_begin(e, 5, sink_cb, &s);
    assert_int_equal(am_rw_enc_finish(e), AM_OK); /* nothing pending: no call */
    am_rw_enc_destroy(e);
    sink_fini(&s);
}

/* Exemplars ride on counter samples and on histogram buckets (TimeSeries
 * field 3), never on _sum/_count, gauges, or stale markers. */
static void test_enc_exemplars_on_counters_and_buckets(void **st)
{
    (void)st;
    static const struct am_exemplar counter_ex = {
        .value = 1,
        .wall_ns = 1700000000456000000ull,
        .trace_id = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c,
                     0x80, 0x31, 0x9c},
        .span_id = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
    };
    /* bucket 1 (le="1") and +Inf have none; le="0.5" and le="2" do */
    static const struct am_exemplar bucket_ex[4] = {
        {.value = 0.25, .wall_ns = 1700000000001000000ull, .trace_id = {1}, .span_id = {2}},
        {.value = 0},
        {.value = 1.5, .wall_ns = 1700000000002000000ull, .trace_id = {3}, .span_id = {4}},
        {.value = 0},
    };
    const struct am_series_view v[] = {
        {.metric = AM_M_AGENT_REQUESTS_TOTAL,
         .label_values = lv_a,
         .value = 42,
         .exemplars = &counter_ex},
        {.metric = AM_M_AGENT_REQUEST_DURATION,
         .label_values = lv_hist,
         .count = 6,
         .sum = 7.75,
         .bucket_counts = hist_counts,
         .bounds = hist_bounds,
         .bound_count = 3,
         .exemplars = bucket_ex},
    };
    struct sink s;
    sink_init(&s);
    encode(&s, NULL, 0, 0, v, 2);
    static const char want[] =
        "__name__=\"agent_requests_total\",agent_name=\"chat\",status=\"ok\" 42 1700000000123\n"
        "  exemplar {span_id=\"b7ad6b7169203331\",trace_id=\"0af7651916cd43dd8448eb211c80319c\"} "
        "1 1700000000456\n"
        "__name__=\"agent_request_duration_seconds_bucket\",agent_name=\"chat\",le=\"0.5\" 1 "
        "1700000000123\n"
        "  exemplar {span_id=\"0200000000000000\",trace_id=\"01000000000000000000000000000000\"} "
        "0.25 1700000000001\n"
        "__name__=\"agent_request_duration_seconds_bucket\",agent_name=\"chat\",le=\"1\" 1 "
        "1700000000123\n"
        "__name__=\"agent_request_duration_seconds_bucket\",agent_name=\"chat\",le=\"2\" 3 "
        "1700000000123\n"
        "  exemplar {span_id=\"0400000000000000\",trace_id=\"03000000000000000000000000000000\"} "
        "1.5 1700000000002\n"
        "__name__=\"agent_request_duration_seconds_bucket\",agent_name=\"chat\",le=\"+Inf\" 6 "
        "1700000000123\n"
        "__name__=\"agent_request_duration_seconds_sum\",agent_name=\"chat\" 7.75 1700000000123\n"
        "__name__=\"agent_request_duration_seconds_count\",agent_name=\"chat\" 6 1700000000123\n";
    assert_string_equal(s.text.data, want);
    sink_fini(&s);
}

static void stale_cb(void *ud, const struct am_series_view *v)
{
    assert_int_equal(am_rw_enc_stale(ud, v), AM_OK);
}

static void add_cb(void *ud, const struct am_series_view *v)
{
    assert_int_equal(am_rw_enc_add_view(ud, v), AM_OK);
}

static size_t count_str(const char *hay, size_t len, const char *needle, size_t nlen)
{
    size_t n = 0;
    for (size_t i = 0; i + nlen <= len; i++) {
        n += memcmp(hay + i, needle, nlen) == 0;
    }
    return n;
}

/* Idle expiry end to end through the encoder: each sample series of a
 * dropped series gets exactly one stale marker with the exact NaN bits, a
 * second pass sends nothing, and the next snapshot no longer has it. */
static void test_enc_expired_series_stale_once_then_absent(void **st)
{
    (void)st;
    const uint64_t t0 = 1700000000000000000ull;
    const uint64_t idle = 2000000000ull;
    struct am_series_opts so = {.shards = 2};
    struct am_series_store *store = am_series_create(&so);
    struct am_obs o[3] = {
        {.metric = AM_M_AGENT_REQUESTS_TOTAL, .kind = AM_OBS_INC, .value = 3},
        {.metric = AM_M_AGENT_REQUEST_DURATION, .kind = AM_OBS_OBSERVE, .value = 2.5},
        {.metric = AM_M_AGENT_REQUESTS_TOTAL, .kind = AM_OBS_INC, .value = 1},
    };
    o[0].labels[0] = AM_STR("a");
    o[0].labels[1] = AM_STR("success");
    o[1].labels[0] = AM_STR("a");
    o[2].labels[0] = AM_STR("b");
    o[2].labels[1] = AM_STR("success");
    assert_int_equal(am_series_apply_at(store, 1, o, 2, t0), AM_OK);
    assert_int_equal(am_series_apply_at(store, 0, &o[2], 1, t0 + idle), AM_OK);
    struct sink s;
    sink_init(&s);
    struct am_rw_enc *e = am_rw_enc_create(NULL, 0, 0);
    am_rw_enc_begin(e, 9, sink_cb, &s);
    assert_int_equal(am_series_expire(store, t0 + idle, idle, stale_cb, e), 2);
    assert_int_equal(am_rw_enc_finish(e), AM_OK);
    assert_int_equal(s.batches, 1);
    assert_int_equal(s.samples[0], 1 + 11 + 2); /* counter; 10 bounds + Inf, _sum, _count */
    static const char nan_sample[] = " NaN(0x7ff0000000000002) 9\n";
    assert_int_equal(count_str(s.text.data, s.text.len, nan_sample, strlen(nan_sample)), 14);
    static const char counter[] =
        "__name__=\"agent_requests_total\",agent_name=\"a\",status=\"success\" "
        "NaN(0x7ff0000000000002) 9\n";
    assert_int_equal(count_str(s.text.data, s.text.len, counter, strlen(counter)), 1);
    assert_null(strstr(s.text.data, "agent_name=\"b\""));
    static const uint8_t bits[8] = {0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f}; /* little-endian double */
    assert_int_equal(count_str(s.raw.data, s.raw.len, (const char *)bits, 8), 14);
    /* once: nothing left to drop */
    am_rw_enc_begin(e, 10, sink_cb, &s);
    assert_int_equal(am_series_expire(store, t0 + idle, idle, stale_cb, e), 0);
    assert_int_equal(am_rw_enc_finish(e), AM_OK);
    assert_int_equal(s.batches, 1);
    /* the next snapshot holds only b */
    am_buf_reset(&s.text);
    am_rw_enc_begin(e, 11, sink_cb, &s);
    am_series_visit(store, add_cb, e);
    assert_int_equal(am_rw_enc_finish(e), AM_OK);
    assert_null(strstr(s.text.data, "agent_name=\"a\""));
    assert_non_null(strstr(s.text.data, "agent_name=\"b\",status=\"success\" 1 11\n"));
    assert_non_null(strstr(
        s.text.data, "agentmeter_series_expired_total\",metric=\"agent_requests_total\" 1 11\n"));
    am_rw_enc_destroy(e);
    am_series_destroy(store);
    sink_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc_snapshot_matches_golden),
        cmocka_unit_test(test_enc_single_gauge_has_exact_bytes),
        cmocka_unit_test(test_enc_batches_split_at_max_samples),
        cmocka_unit_test(test_enc_stale_marks_every_series_with_stale_nan),
        cmocka_unit_test(test_enc_callback_error_and_bad_metric_are_returned),
        cmocka_unit_test(test_enc_exemplars_on_counters_and_buckets),
        cmocka_unit_test(test_enc_expired_series_stale_once_then_absent),
    };
    return cmocka_run_group_tests_name("rw_enc", tests, NULL, NULL);
}
