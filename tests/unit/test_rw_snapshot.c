/*
 * test_rw_snapshot - am_rw_snapshot through a real series store: obs in,
 * the queued WriteRequest decoded back out. Needs series.c (am_series_*);
 * it does not link on a branch without it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "am/clock.h"
#include "am/err.h"
#include "am/log.h"
#include "am/rw.h"
#include "am/series.h"
#include "rw_decode.h"
#include "rw_tmpdir.h"

static struct am_obs obs(enum am_metric m, enum am_obs_kind k, double v, const char *a,
                         const char *b)
{
    struct am_obs o = {.metric = m, .kind = k, .value = v};
    o.labels[0] = am_str_from(a);
    o.labels[1] = am_str_from(b);
    return o;
}

static void test_snapshot_store_is_queued_as_sorted_series(void **st)
{
    (void)st;
    struct am_series_opts so = {.shards = 1};
    struct am_series_store *store = am_series_create(&so);
    const struct am_obs in[] = {
        obs(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 2, "chat", "ok"),
        obs(AM_M_AGENT_REQUESTS_TOTAL, AM_OBS_INC, 3, "chat", "ok"),
        obs(AM_M_AGENT_CONVERSATION_TURNS, AM_OBS_OBSERVE, 4, "chat", NULL),
    };
    assert_int_equal(am_series_apply(store, 0, in, 3), AM_OK);
    char dir[128];
    rwt_mkdtemp(dir, sizeof(dir), "rwsnap");
    struct am_clock_manual clk;
    am_clock_manual_init(&clk, 0, 1700000000000000000ull);
    struct am_rw_opts cfg = {.url = "http://127.0.0.1:1/w", .queue_dir = dir};
    struct am_header_kv ext[] = {{"cluster", "c1"}};
    const char *why = NULL;
    struct am_rw *rw = am_rw_create(&cfg, ext, 1, &clk.clock, &why);
    assert_non_null(rw);
    assert_int_equal(am_rw_snapshot(rw, store), AM_OK);
    am_rw_destroy(rw);

    struct am_rw_queue_opts qo = {.dir = dir};
    struct am_rw_queue *q = NULL;
    assert_int_equal(am_rw_queue_open(&qo, &q, &why), AM_OK);
    struct am_buf rec;
    struct am_buf text;
    am_buf_init(&rec, 1 << 20);
    am_buf_init(&text, 1 << 20);
    uint32_t samples = 0;
    assert_int_equal(am_rw_queue_peek(q, &rec, &samples), AM_OK);
    assert_int_equal(rwd_decode(rec.data, rec.len, &text), samples);
    const char *want[] = {
        "__name__=\"agent_requests_total\",agent_name=\"chat\",cluster=\"c1\",status=\"ok\" 5 "
        "1700000000000\n",
        "__name__=\"agent_conversation_turns_bucket\",agent_name=\"chat\",cluster=\"c1\",le=\"3\" "
        "0 1700000000000\n",
        "__name__=\"agent_conversation_turns_bucket\",agent_name=\"chat\",cluster=\"c1\",le=\"5\" "
        "1 1700000000000\n",
        "__name__=\"agent_conversation_turns_sum\",agent_name=\"chat\",cluster=\"c1\" 4 "
        "1700000000000\n",
        "__name__=\"agent_conversation_turns_count\",agent_name=\"chat\",cluster=\"c1\" 1 "
        "1700000000000\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(text.data, want[i]) == NULL) {
            print_error("missing %s in\n%s", want[i], text.data);
            fail();
        }
    }
    /* 1 counter; 7 bounds + Inf, sum, count; and agentmeter_series_active
     * for the two families, which the store synthesizes in every visit. */
    assert_int_equal(samples, 1 + 8 + 2 + 2);
    assert_non_null(strstr(text.data, "__name__=\"agentmeter_series_active\",cluster=\"c1\","
                                      "metric=\"agent_requests_total\" 1 1700000000000\n"));
    am_buf_fini(&rec);
    am_buf_fini(&text);
    am_rw_queue_close(q);
    am_series_destroy(store);
    rwt_rmdir(dir);
}

int main(void)
{
    am_log_set_level(AM_LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_store_is_queued_as_sorted_series),
    };
    return cmocka_run_group_tests_name("rw_snapshot", tests, NULL, NULL);
}
