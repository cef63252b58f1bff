/*
 * test_conv.c - conversations with an injected clock: escalation rate over
 * the one-hour window (buckets of one minute), the cap, state save/load,
 * and flush.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "am/conv.h"
#include "am/err.h"
#include "genai_rec.h"

#define S(x) (UINT64_C(x) * 1000000000u)
#define IDLE S(1800)
#define T0 S(60000) /* a multiple of the 60 s bucket */

struct fx {
    struct am_conv *c;
    struct rec rec;
    struct am_obs_sink sink;
};

static int setup(void **st)
{
    struct fx *f = test_calloc(1, sizeof(*f));
    struct am_conv_opts o = {4, IDLE, 0};
    f->c = am_conv_create(&o);
    f->sink = (struct am_obs_sink){rec_sink_fn, &f->rec};
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    am_conv_destroy(f->c);
    test_free(f);
    return 0;
}

/* Open conversation id with one turn at t, escalated or not. */
static void open_conv(struct fx *f, const char *id, const char *agent, uint64_t t, bool esc)
{
    am_conv_turn(f->c, am_str_from(id), am_str_from(agent), t, &f->sink);
    if (esc) {
        assert_true(am_conv_escalate(f->c, am_str_from(id)));
    }
}

static void test_conv_escalation_rate_slides_over_the_hour(void **st)
{
    struct fx *f = *st;
    open_conv(f, "a", "bot", T0, true);
    open_conv(f, "b", "bot", T0, false);
    open_conv(f, "c", "bot", T0, false);
    open_conv(f, "d", "bot", T0, false);
    assert_false(am_conv_escalate(f->c, AM_STR("nope")));
    am_conv_tick(f->c, T0 + IDLE, &f->sink); /* 4 finish at T0 + 30 min */
    assert_true(rec_last(&f->rec, AM_M_AGENT_ESCALATION_RATE, "bot", NULL) == 25);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATIONS_TOTAL, "bot", "escalated", NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATIONS_TOTAL, "bot", "resolved", NULL) == 3);

    open_conv(f, "e", "bot", T0 + S(1800), true);
    am_conv_tick(f->c, T0 + S(3600), &f->sink); /* finishes at T0 + 60 min */
    assert_true(rec_last(&f->rec, AM_M_AGENT_ESCALATION_RATE, "bot", NULL) == 40);

    /* the first four finished in the bucket ending T0 + 31 min: gone at
     * T0 + 91 min, one minute later than an exact sliding hour */
    f->rec.n = 0;
    am_conv_tick(f->c, T0 + S(5460) - 1, &f->sink);
    assert_true(rec_last(&f->rec, AM_M_AGENT_ESCALATION_RATE, "bot", NULL) == 40);
    am_conv_tick(f->c, T0 + S(5460), &f->sink);
    assert_true(rec_last(&f->rec, AM_M_AGENT_ESCALATION_RATE, "bot", NULL) == 100);
    /* nothing in the window: no longer reported */
    f->rec.n = 0;
    am_conv_tick(f->c, T0 + S(3600) + S(3660), &f->sink);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_ESCALATION_RATE, NULL, NULL, NULL), 0);
}

/* The first turn's agent names the conversation; turns are counted. */
static void test_conv_first_turn_agent_and_turn_count(void **st)
{
    struct fx *f = *st;
    open_conv(f, "x", "first", T0, false);
    open_conv(f, "x", "second", T0 + S(60), false);
    am_conv_tick(f->c, T0 + S(60) + IDLE - 1, &f->sink);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, NULL, NULL, NULL), 0);
    am_conv_flush(f->c, T0 + S(61), &f->sink);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, "first", NULL, NULL) == 2);
    assert_int_equal(am_conv_open_count(f->c), 0);
}

static void test_conv_cap_finishes_oldest(void **st)
{
    struct fx *f = *st;
    struct am_conv_opts o = {1, IDLE, 2};
    am_conv_destroy(f->c);
    f->c = am_conv_create(&o);
    open_conv(f, "old", "bot", T0, false);
    open_conv(f, "mid", "bot", T0 + 1, false);
    open_conv(f, "old", "bot", T0 + 2, false); /* old is now the newest */
    open_conv(f, "new", "bot", T0 + 3, false);
    assert_int_equal(am_conv_open_count(f->c), 2);
    assert_true(rec_sum(&f->rec, AM_M_SELF_CONVERSATIONS_EVICTED_TOTAL, "max_open_conversations",
                        NULL, NULL) == 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, "bot", NULL, NULL) == 1);
    am_conv_configure(f->c, S(10), 0);
    am_conv_tick(f->c, T0 + 3 + S(10), &f->sink);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, "bot", NULL, NULL) == 1 + 2 + 1);
}

/* Save at one clock, load into a new instance at another: ages carry over. */
static void test_conv_save_load_round_trip(void **st)
{
    struct fx *f = *st;
    struct am_buf b;
    open_conv(f, "s1", "bot", T0, true);
    open_conv(f, "s1", "bot", T0 + S(600), false);
    open_conv(f, "s2", "helper", T0 + S(900), false);
    am_buf_init(&b, 1 << 20);
    assert_int_equal(am_conv_save(f->c, T0 + S(1000), &b), AM_OK);
    assert_int_equal(b.len, 8 + 2 * (8 + 4 + 1 + 4 + 2 + 4) + 3 + 6);

    struct am_conv_opts o = {2, IDLE, 0};
    struct am_conv *c2 = am_conv_create(&o);
    uint64_t t1 = S(5000); /* the next process's clock */
    assert_int_equal(am_conv_load(c2, b.data, b.len, t1, &f->sink), AM_OK);
    assert_int_equal(am_conv_open_count(c2), 2);
    /* s1: last turn 400 s before save -> idle at t1 + 1400 s */
    am_conv_tick(c2, t1 + S(1400) - 1, &f->sink);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, NULL, NULL, NULL), 0);
    am_conv_tick(c2, t1 + S(1400), &f->sink);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATION_TURNS, "bot", NULL, NULL) == 2);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATIONS_TOTAL, "bot", "escalated", NULL) == 1);
    am_conv_tick(c2, t1 + S(1700), &f->sink);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_CONVERSATIONS_TOTAL, "helper", "resolved", NULL) == 1);

    /* malformed: truncated, wrong magic */
    assert_int_equal(am_conv_load(c2, b.data, b.len - 1, t1, &f->sink), AM_EINVAL);
    assert_int_equal(am_conv_load(c2, "XXXX\1\0\0\0", 8, t1, &f->sink), AM_EINVAL);
    am_conv_destroy(c2);
    am_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conv_escalation_rate_slides_over_the_hour, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_conv_first_turn_agent_and_turn_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conv_cap_finishes_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conv_save_load_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests_name("conv", tests, NULL, NULL);
}
