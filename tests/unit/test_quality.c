/*
 * test_quality.c - evaluation parsing, agent_quality_score as the mean over
 * the sliding quality_window (one-minute buckets for one hour), expiry,
 * reconfiguration, and the per-score observations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "am/quality.h"
#include "genai_rec.h"

#define S(x) (UINT64_C(x) * 1000000000u)
#define T0 S(60000) /* a multiple of the 60 s bucket */

struct fx {
    struct am_quality *q;
    struct rec rec;
    struct am_obs_sink sink;
};

static int setup(void **st)
{
    struct fx *f = test_calloc(1, sizeof(*f));
    f->q = am_quality_create(S(3600));
    f->sink = (struct am_obs_sink){rec_sink_fn, &f->rec};
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    am_quality_destroy(f->q);
    test_free(f);
    return 0;
}

static void score(struct fx *f, const char *agent, const char *name, double v, uint64_t t)
{
    struct am_eval ev = {am_str_from(name), AM_STR_NULL, v, true};
    am_quality_add(f->q, am_str_from(agent), &ev, NULL, NULL, t, &f->sink);
}

static void test_quality_mean_over_window_with_expiry(void **st)
{
    struct fx *f = *st;
    score(f, "bot", "Faithfulness", 0.75, T0);
    score(f, "bot", "faithfulness", 0.25, T0 + S(1800));
    score(f, "bot", "toxicity", 0.5, T0 + S(1800));
    assert_true(rec_last(&f->rec, AM_M_AGENT_QUALITY_SCORE, "bot", "faithfulness") == 0.5);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_EVALUATION_SCORE, "bot", "faithfulness", NULL) == 1.0);
    assert_int_equal(am_quality_count(f->q), 2);
    /* the T0 score's bucket ends at T0 + 60 s: it leaves at T0 + 3660 s */
    f->rec.n = 0;
    am_quality_tick(f->q, T0 + S(3660) - 1, &f->sink);
    assert_true(rec_last(&f->rec, AM_M_AGENT_QUALITY_SCORE, "bot", "faithfulness") == 0.5);
    am_quality_tick(f->q, T0 + S(3660), &f->sink);
    assert_true(rec_last(&f->rec, AM_M_AGENT_QUALITY_SCORE, "bot", "faithfulness") == 0.25);
    /* everything gone: not reported, forgotten */
    f->rec.n = 0;
    am_quality_tick(f->q, T0 + S(1800) + S(3660), &f->sink);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_QUALITY_SCORE, NULL, NULL, NULL), 0);
    assert_int_equal(am_quality_count(f->q), 0);
}

/* Shrinking the window keeps held scores, which now expire sooner. */
static void test_quality_reconfigure_window_keeps_scores(void **st)
{
    struct fx *f = *st;
    score(f, "bot", "f", 1.0, T0);
    score(f, "bot", "f", 0.0, T0 + S(600));
    am_quality_configure(f->q, S(600));
    am_quality_tick(f->q, T0 + S(600), &f->sink);
    assert_true(rec_last(&f->rec, AM_M_AGENT_QUALITY_SCORE, "bot", "f") == 0.5);
    am_quality_tick(f->q, T0 + S(660), &f->sink); /* T0 bucket end + 600 s */
    assert_true(rec_last(&f->rec, AM_M_AGENT_QUALITY_SCORE, "bot", "f") == 0.0);
}

static void test_quality_parse_and_labels(void **st)
{
    struct fx *f = *st;
    struct am_kv kv[3];
    struct am_eval ev;
    kv[0] = (struct am_kv){AM_STR("gen_ai.evaluation.name"), {.type = AM_VAL_STRING}};
    kv[0].val.u.s = AM_STR("Relevance");
    kv[1] = (struct am_kv){AM_STR("gen_ai.evaluation.score.value"), {.type = AM_VAL_STRING}};
    kv[1].val.u.s = AM_STR("0.5");
    kv[2] = (struct am_kv){AM_STR("gen_ai.evaluation.score.label"), {.type = AM_VAL_STRING}};
    kv[2].val.u.s = AM_STR("relevant");
    struct am_attrs attrs = {kv, 3};
    assert_true(am_eval_parse(&attrs, &ev));
    assert_true(ev.has_score && ev.score == 0.5);
    uint8_t tid[16] = {1}, sid[8] = {2};
    am_quality_add(f->q, AM_STR("bot"), &ev, tid, sid, T0, &f->sink);
    assert_int_equal(f->rec.n, 3);
    assert_int_equal(f->rec.o[0].m, AM_M_AGENT_EVALUATION_SCORE);
    assert_true(f->rec.o[0].v == 0.5);
    assert_string_equal(f->rec.o[0].l[1], "relevance");
    assert_int_equal(f->rec.o[0].span_id[0], 2);
    assert_int_equal(f->rec.o[1].m, AM_M_AGENT_EVALUATION_LABELS_TOTAL);
    assert_string_equal(f->rec.o[1].l[2], "relevant");
    assert_int_equal(f->rec.o[2].m, AM_M_AGENT_QUALITY_SCORE);
    /* label only: counted, no score */
    attrs.count = 1;
    assert_false(am_eval_parse(&attrs, &ev));
    kv[1] = kv[2];
    attrs.count = 2;
    assert_true(am_eval_parse(&attrs, &ev));
    assert_false(ev.has_score);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quality_mean_over_window_with_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quality_reconfigure_window_keeps_scores, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_quality_parse_and_labels, setup, teardown),
    };
    return cmocka_run_group_tests_name("quality", tests, NULL, NULL);
}
