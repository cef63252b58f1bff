/*
 * test_trace_buf_batch.c - trace assembly that holds only waiters: a new
 * span wakes exactly the records waiting for it, one 30,000-span trace
 * children first is attributed whole, the total and per-trace caps count
 * what they turn away, and a request batch finishes a complete trace at
 * once, leaving a tombstone that dedupes re-sent spans and counts late ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "am/alloc.h"
#include "am/clock.h"
#include "am/trace_buf.h"
#include "genai_rec.h"
#include "genai_span.h"
#include "testsupport.h"

#define S(x) (UINT64_C(x) * 1000000000u)
#define WAIT S(10)

struct fx {
    struct am_clock_manual clk;
    struct am_derive_opts dopts;
    struct am_quality *quality;
    struct am_trace_buf *tb;
    struct am_obs_sink sink;
    struct rec rec;
};

static struct fx *fx_new(unsigned shards, size_t max_total, size_t max_per_trace)
{
    struct fx *f = am_xcalloc(1, sizeof(*f));
    am_clock_manual_init(&f->clk, S(1000), 0);
    f->dopts = (struct am_derive_opts){.pricing = NULL, .semconv_metrics = false};
    f->quality = am_quality_create(S(3600));
    struct am_trace_buf_opts o = {.shards = shards,
                                  .trace_wait_ns = WAIT,
                                  .max_pending_spans = max_total,
                                  .max_spans_per_trace = max_per_trace,
                                  .quality = f->quality};
    f->tb = am_trace_buf_create(&o);
    f->sink = (struct am_obs_sink){rec_sink_fn, &f->rec};
    return f;
}

static void fx_free(struct fx *f)
{
    am_trace_buf_destroy(f->tb);
    am_quality_destroy(f->quality);
    am_free(f);
}

static uint64_t now(struct fx *f)
{
    return am_clock_mono(&f->clk.clock);
}

/* Span id (parent 0 = root) of trace `trace`, ids as 32-bit numbers. */
static void mk(struct ts_span *t, uint32_t trace, uint32_t id, uint32_t parent,
               const struct ts_attr *a)
{
    ts_span_init(t, "svc");
    memset(t->span.trace_id, 0, 16);
    memcpy(t->span.trace_id, &trace, sizeof(trace));
    memset(t->span.span_id, 0, 8);
    memcpy(t->span.span_id, &id, sizeof(id));
    memset(t->span.parent_span_id, 0, 8);
    if (parent != 0) {
        memcpy(t->span.parent_span_id, &parent, sizeof(parent));
        t->span.has_parent = true;
    }
    t->span.start_ns = S(1);
    t->span.end_ns = S(2);
    ts_span_add_all(t, a);
}

/* One request of n spans through am_trace_buf_add_batch. */
static void batch(struct fx *f, struct ts_span *ts, size_t n, const struct am_obs_sink *sink)
{
    const struct am_span **sp = am_xcalloc(n + 1, sizeof(*sp));
    for (size_t i = 0; i < n; i++) {
        sp[i] = &ts[i].span;
    }
    am_trace_buf_add_batch(f->tb, &f->dopts, sp, n, NULL, NULL, now(f), sink ? sink : &f->sink);
    am_free(sp);
}

static void add1(struct fx *f, uint32_t trace, uint32_t id, uint32_t parent,
                 const struct ts_attr *a)
{
    struct ts_span t;
    struct am_span_facts facts;
    mk(&t, trace, id, parent, a);
    am_classify(&t.span, &facts);
    am_trace_buf_add(f->tb, &f->dopts, &t.span, &facts, now(f), &f->sink);
}

static struct am_trace_buf_stats stats(struct fx *f)
{
    struct am_trace_buf_stats st;
    am_trace_buf_stats(f->tb, &st);
    return st;
}

static const struct ts_attr chat[] = {TS_S("gen_ai.operation.name", "chat"),
                                      TS_S("gen_ai.request.model", "m1"),
                                      TS_I("gen_ai.usage.input_tokens", 100),
                                      TS_I("gen_ai.usage.output_tokens", 10),
                                      {0}};
static const struct ts_attr tool[] = {
    TS_S("gen_ai.operation.name", "execute_tool"), TS_S("gen_ai.tool.name", "search"), {0}};
static const struct ts_attr other[] = {TS_S("http.method", "GET"), {0}};
static const struct ts_attr planner[] = {
    TS_S("gen_ai.operation.name", "invoke_agent"), TS_S("gen_ai.agent.name", "planner"), {0}};
static const struct ts_attr helper[] = {
    TS_S("gen_ai.operation.name", "invoke_agent"), TS_S("gen_ai.agent.name", "helper"), {0}};

static double calls(struct fx *f, const char *agent)
{
    return rec_sum(&f->rec, AM_M_MODEL_INFERENCE_CALLS_TOTAL, agent, NULL, NULL);
}

/* Chats wait for three different missing spans; each arrival wakes exactly
 * the chats waiting for it (waiting drops by their number, no other moves). */
static void test_trace_buf_arrival_wakes_exactly_its_waiters(void **st)
{
    (void)st;
    struct fx *f = fx_new(4, 0, 0);
    /* agent 1 <- other 2 <- chats 10..14; agent 1 <- other 3 <- chats 20..22;
     * helper 4 (child of 1) <- chats 30..31 */
    for (uint32_t i = 10; i < 15; i++) {
        add1(f, 7, i, 2, chat);
    }
    for (uint32_t i = 20; i < 23; i++) {
        add1(f, 7, i, 3, chat);
    }
    add1(f, 7, 30, 4, chat);
    add1(f, 7, 31, 4, tool);
    assert_int_equal(stats(f).waiting, 10);
    add1(f, 7, 3, 1, other); /* chats 20..22 now wait for 1, with 10..14 still for 2 */
    assert_int_equal(stats(f).waiting, 10);
    add1(f, 7, 4, 1, helper); /* wakes exactly 30 and 31: their agent is helper */
    assert_int_equal(stats(f).waiting, 8);
    assert_true(calls(f, "helper") == 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_TOOL_CALLS_TOTAL, "helper", "search", NULL) == 1);
    assert_true(calls(f, "planner") == 0);
    add1(f, 7, 1, 0, planner); /* wakes 20..22 (moved to 1); 10..14 still wait for 2 */
    assert_int_equal(stats(f).waiting, 5);
    assert_true(calls(f, "planner") == 3);
    add1(f, 7, 2, 1, other);
    assert_int_equal(stats(f).waiting, 0);
    assert_true(calls(f, "planner") == 8);
    assert_int_equal(rec_count(&f->rec, AM_M_SELF_AGENT_FALLBACK_TOTAL, NULL, NULL, NULL), 0);
    fx_free(f);
}

/* A chain 200 deep arriving leaf first: each arrival moves the whole
 * waiting chain to the next missing span; the root resolves all. */
static void test_trace_buf_deep_chain_children_first_resolved_by_root(void **st)
{
    (void)st;
    struct fx *f = fx_new(1, 0, 0);
    for (uint32_t id = 201; id >= 2; id--) { /* span id's parent is id - 1 */
        add1(f, 8, id, id - 1, chat);
        assert_int_equal(stats(f).waiting, 202 - id);
    }
    add1(f, 8, 1, 0, planner);
    assert_int_equal(stats(f).waiting, 0);
    assert_true(calls(f, "planner") == 200);
    fx_free(f);
}

/* A counting sink for traces too large for the recorder. */
struct tally {
    double planner_calls, all_calls, fallback, evicted, late;
};

static void tally_fn(void *ud, const struct am_obs *obs, size_t n)
{
    struct tally *t = ud;
    for (size_t i = 0; i < n; i++) {
        const struct am_obs *o = &obs[i];
        if (o->metric == AM_M_MODEL_INFERENCE_CALLS_TOTAL &&
            am_str_eq(o->labels[0], AM_STR("planner"))) {
            t->planner_calls += o->value;
        }
        t->all_calls += o->metric == AM_M_MODEL_INFERENCE_CALLS_TOTAL ? o->value : 0;
        t->fallback += o->metric == AM_M_SELF_AGENT_FALLBACK_TOTAL ? o->value : 0;
        t->evicted += o->metric == AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL ? o->value : 0;
        t->late += o->metric == AM_M_SELF_SPANS_LATE_TOTAL ? o->value : 0;
    }
}

/* 30,000 spans of one trace, children first in requests of 512, default
 * caps (1,000,000 total over 64 shards, 100,000 per trace): every chat gets
 * the root's agent; nothing falls back, nothing is evicted. */
static void test_trace_buf_30000_span_trace_children_first_all_attributed(void **st)
{
    (void)st;
    enum { N = 30000, MID = 100 };
    struct fx *f = fx_new(64, 1000000, 100000);
    struct ts_span *ts = am_xcalloc(N, sizeof(*ts));
    struct tally t = {0};
    struct am_obs_sink sink = {tally_fn, &t};
    /* chats 1000.., then 100 intermediates, then the root */
    uint32_t chats = N - MID - 1, root = 1000 + N - 1;
    for (uint32_t k = 0; k < N; k++) {
        if (k < chats) {
            mk(&ts[k], 9, 1000 + k, 1000 + chats + k % MID, chat);
        } else if (k < N - 1) {
            mk(&ts[k], 9, 1000 + k, root, other);
        } else {
            mk(&ts[k], 9, root, 0, planner);
        }
    }
    for (size_t k = 0; k < N; k += 512) {
        batch(f, ts + k, N - k < 512 ? N - k : 512, &sink);
        if (k + 512 < N) {
            assert_int_equal(stats(f).waiting, k + 512 < chats ? k + 512 : chats);
        }
    }
    assert_true(t.planner_calls == chats);
    assert_true(t.fallback == 0);
    assert_true(t.evicted == 0);
    struct am_trace_buf_stats s = stats(f);
    assert_int_equal(s.waiting, 0);
    assert_int_equal(s.traces, 1); /* finished at once: a tombstone */
    assert_int_equal(s.tombstones, 1);
    assert_int_equal(s.tombstone_spans, N);
    assert_int_equal(s.spans, 0);
    am_free(ts);
    fx_free(f);
}

/* max_pending_spans counts all shards together: one trace of 90 waiting
 * spans fits a cap of 100 over 4 shards (25 per shard would have evicted
 * it); past 100 the quietest trace anywhere is finished early. */
static void test_trace_buf_total_cap_independent_of_shards(void **st)
{
    (void)st;
    struct fx *f = fx_new(4, 100, 0);
    for (uint32_t i = 10; i < 100; i++) {
        add1(f, 11, i, 2, chat);
    }
    assert_int_equal(stats(f).waiting, 90);
    assert_true(rec_sum(&f->rec, AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, NULL, NULL, NULL) == 0);
    for (uint32_t tr = 100; tr < 110; tr++) { /* 10 more one-span traces: 100 held */
        am_clock_manual_advance(&f->clk, 1);
        add1(f, tr, 5, 4, chat);
    }
    assert_int_equal(stats(f).spans, 100);
    assert_true(rec_sum(&f->rec, AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, NULL, NULL, NULL) == 0);
    am_clock_manual_advance(&f->clk, 1);
    add1(f, 110, 5, 4, chat); /* 101: the quietest (trace 11, 90 spans) goes */
    assert_true(rec_sum(&f->rec, AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, "max_pending_spans", NULL,
                        NULL) == 90);
    assert_true(rec_sum(&f->rec, AM_M_SELF_AGENT_FALLBACK_TOTAL, "max_pending_spans", NULL, NULL) ==
                90);
    assert_int_equal(stats(f).spans, 11);
    fx_free(f);
}

/* max_spans_per_trace 10: spans past it are turned away (counted), derived
 * now with the agent the skeleton knows, else service.name (counted). */
static void test_trace_buf_per_trace_cap_turns_away_counted(void **st)
{
    (void)st;
    struct fx *f = fx_new(4, 0, 10);
    add1(f, 12, 1, 0, planner);
    for (uint32_t i = 10; i < 19; i++) { /* 9 chats: 10 spans held */
        add1(f, 12, i, 1, chat);
    }
    add1(f, 12, 19, 1, chat);  /* turned away, parent known: planner */
    add1(f, 12, 20, 99, chat); /* turned away, parent unknown: service.name */
    assert_int_equal(stats(f).spans, 10);
    assert_true(rec_sum(&f->rec, AM_M_SELF_TRACE_SPANS_EVICTED_TOTAL, "max_spans_per_trace", NULL,
                        NULL) == 2);
    assert_true(calls(f, "planner") == 10);
    assert_true(calls(f, "svc") == 1);
    assert_true(
        rec_sum(&f->rec, AM_M_SELF_AGENT_FALLBACK_TOTAL, "max_spans_per_trace", NULL, NULL) == 1);
    fx_free(f);
}

/* A request holding a whole trace (root listed first) finishes it at once:
 * per-interaction sums observed without waiting for trace_wait. A re-sent
 * request changes nothing; a late span is derived with its agent and
 * counted; the tombstone goes after trace_wait. */
static void test_trace_buf_batch_finishes_at_once_tombstone_dedupes_counts_late(void **st)
{
    (void)st;
    struct fx *f = fx_new(4, 0, 0);
    struct ts_span ts[4];
    mk(&ts[0], 13, 1, 0, planner);
    mk(&ts[1], 13, 2, 1, other);
    mk(&ts[2], 13, 3, 2, chat);
    mk(&ts[3], 13, 4, 1, tool);
    batch(f, ts, 4, NULL);
    assert_true(calls(f, "planner") == 1);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL), 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL) == 110);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOOL_CALLS, "planner", NULL, NULL) == 1);
    struct am_trace_buf_stats s = stats(f);
    assert_int_equal(s.spans, 0);
    assert_int_equal(s.tombstones, 1);
    assert_int_equal(s.tombstone_spans, 4);
    /* re-sent: nothing counted twice, nothing late */
    batch(f, ts, 4, NULL);
    assert_true(calls(f, "planner") == 1);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, NULL, NULL, NULL), 1);
    assert_int_equal(rec_count(&f->rec, AM_M_SELF_SPANS_LATE_TOTAL, NULL, NULL, NULL), 0);
    /* late: a new chat under span 2 finds planner through the tombstone */
    struct ts_span late;
    mk(&late, 13, 5, 2, chat);
    batch(f, &late, 1, NULL);
    assert_true(calls(f, "planner") == 2);
    assert_true(rec_sum(&f->rec, AM_M_SELF_SPANS_LATE_TOTAL, NULL, NULL, NULL) == 1);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, NULL, NULL, NULL), 1);
    batch(f, &late, 1, NULL); /* re-sent late span: once */
    assert_true(calls(f, "planner") == 2);
    assert_true(rec_sum(&f->rec, AM_M_SELF_SPANS_LATE_TOTAL, NULL, NULL, NULL) == 1);
    am_clock_manual_advance(&f->clk, WAIT);
    am_trace_buf_tick(f->tb, &f->dopts, now(f), &f->sink);
    s = stats(f);
    assert_int_equal(s.traces, 0);
    assert_int_equal(s.tombstones, 0);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, NULL, NULL, NULL), 1);
    fx_free(f);
}

/* A batch whose trace still waits (no root, or a span waiting for an
 * ancestor) is not finished; the root in a later request finishes it. */
static void test_trace_buf_batch_waits_until_root_and_no_waiter(void **st)
{
    (void)st;
    struct fx *f = fx_new(4, 0, 0);
    struct ts_span ts[3];
    mk(&ts[0], 14, 3, 2, chat);
    mk(&ts[1], 14, 2, 1, other);
    batch(f, ts, 2, NULL);
    assert_int_equal(stats(f).waiting, 1);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, NULL, NULL, NULL), 0);
    mk(&ts[2], 14, 1, 0, planner);
    batch(f, &ts[2], 1, NULL);
    assert_int_equal(stats(f).waiting, 0);
    assert_int_equal(stats(f).tombstones, 1);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL) == 110);
    assert_true(rec_sum(&f->rec, AM_M_AGENT_REQUEST_INFERENCE_CALLS, "planner", NULL, NULL) == 1);
    /* a root whose child waits for a missing span: not finished */
    struct ts_span u[2];
    mk(&u[0], 15, 1, 0, planner);
    mk(&u[1], 15, 3, 2, chat);
    batch(f, u, 2, NULL);
    assert_int_equal(stats(f).waiting, 1);
    assert_int_equal(rec_count(&f->rec, AM_M_AGENT_REQUEST_TOKENS, "planner", NULL, NULL), 1);
    fx_free(f);
}

/* Allocation failure (STYLE.md 5.9): fail each fallible allocation in turn
 * (maps: traces, span index, waiter lists; batch scratch). Every chat is
 * still derived exactly once, with its agent or with a counted fallback. */
static void alloc_scenario(void *ctx, unsigned long nth)
{
    (void)ctx;
    (void)nth;
    struct fx *f = fx_new(1, 0, 0);
    struct tally t = {0};
    struct am_obs_sink sink = {tally_fn, &t};
    struct ts_span ts[24];
    f->sink = sink;
    for (uint32_t i = 100; i < 140; i++) { /* 40 chats waiting on 8 intermediates */
        add1(f, 20, i, 10 + i % 8, chat);
    }
    for (uint32_t i = 10; i < 18; i++) {
        add1(f, 20, i, 1, other);
    }
    add1(f, 20, 1, 0, planner);
    for (uint32_t k = 0; k < 24; k++) { /* one request: 23 chats, then the root */
        mk(&ts[k], 21, 200 + k, k < 23 ? 223 : 0, k < 23 ? chat : planner);
    }
    batch(f, ts, 24, &sink);
    am_trace_buf_flush(f->tb, &f->dopts, now(f), &sink);
    double all = 0;
    for (size_t i = 0; i < f->rec.n; i++) {
        all += f->rec.o[i].m == AM_M_MODEL_INFERENCE_CALLS_TOTAL ? f->rec.o[i].v : 0;
    }
    assert_true(all == 0);          /* everything went to the tally */
    assert_true(t.all_calls == 63); /* each chat exactly once, whatever failed */
    assert_true(t.planner_calls + t.fallback >= 63);
    if (nth == 0) {
        assert_true(t.planner_calls == 63);
        assert_true(t.fallback == 0);
    }
    struct am_trace_buf_stats st = stats(f);
    assert_int_equal(st.traces, 0);
    assert_int_equal(st.waiting, 0);
    fx_free(f);
}

static void test_trace_buf_each_alloc_failure_counts_every_span_once(void **st)
{
    (void)st;
    unsigned long n = AM_TEST_EACH_ALLOC(alloc_scenario, NULL);
    print_message("allocation sweep: %lu fallible allocations failed in turn\n", n);
    assert_true(n >= 4); /* trace map, span index, waiter-list map, batch scratch */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_buf_arrival_wakes_exactly_its_waiters),
        cmocka_unit_test(test_trace_buf_deep_chain_children_first_resolved_by_root),
        cmocka_unit_test(test_trace_buf_30000_span_trace_children_first_all_attributed),
        cmocka_unit_test(test_trace_buf_total_cap_independent_of_shards),
        cmocka_unit_test(test_trace_buf_per_trace_cap_turns_away_counted),
        cmocka_unit_test(test_trace_buf_batch_finishes_at_once_tombstone_dedupes_counts_late),
        cmocka_unit_test(test_trace_buf_batch_waits_until_root_and_no_waiter),
        cmocka_unit_test(test_trace_buf_each_alloc_failure_counts_every_span_once),
    };
    return cmocka_run_group_tests_name("trace_buf_batch", tests, NULL, NULL);
}
