/*
 * test_self.c - the self-metric collectors (am/self.h): every registered
 * collector runs on each collect, in order; what it sets replaces the
 * previous value whichever shard it is applied to (never summed over
 * shards); label values are copied, so a collector may pass stack buffers;
 * more sets than one batch holds all arrive; the process collector gives
 * plausible process_* values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "am/err.h"
#include "am/self.h"

struct found {
    enum am_metric metric;
    const char *l0;
    double value;
    int hits;
};

static void on_view(void *ud, const struct am_series_view *v)
{
    struct found *f = ud;
    if (v->metric != f->metric) {
        return;
    }
    if (f->l0 != NULL && strcmp(v->label_values[0], f->l0) != 0) {
        return;
    }
    f->value = v->value;
    f->hits++;
}

static double value_of(struct am_series_store *s, enum am_metric m, const char *l0, int *hits)
{
    struct found f = {.metric = m, .l0 = l0};
    am_series_visit(s, on_view, &f);
    *hits = f.hits;
    return f.value;
}

struct source {
    double accepted;
    unsigned calls;
    unsigned order; /* the collector's call position, 1-based */
    unsigned *clock;
};

static void collect_listener(void *ud, struct am_self_out *out)
{
    struct source *src = ud;
    char name[16];
    snprintf(name, sizeof(name), "lis%d", 7); /* a stack buffer */
    src->calls++;
    src->order = ++*src->clock;
    am_self_set(out, AM_M_SELF_CONNECTIONS_ACCEPTED_TOTAL, src->accepted, am_str_from(name),
                AM_STR_NULL);
    memset(name, 'x', sizeof(name) - 1); /* the copy must not see this */
}

static void collect_many(void *ud, struct am_self_out *out)
{
    struct source *src = ud;
    src->calls++;
    src->order = ++*src->clock;
    for (int i = 0; i < 300; i++) {
        char url[32];
        int n = snprintf(url, sizeof(url), "http://r%03d/api/v1/write", i);
        am_self_set(out, AM_M_SELF_RW_QUEUE_LENGTH, (double)i, (struct am_str){url, (size_t)n},
                    AM_STR_NULL);
    }
}

static void test_self_collectors_run_in_order_and_set_not_sum(void **st)
{
    (void)st;
    struct am_series_opts so = {.shards = 2};
    struct am_series_store *store = am_series_create(&so);
    struct am_self *self = am_self_create(store);
    unsigned clock = 0;
    struct source a = {.accepted = 5, .clock = &clock};
    struct source b = {.clock = &clock};
    am_self_register(self, "listener", collect_listener, &a);
    am_self_register(self, "many", collect_many, &b);
    assert_int_equal(am_self_count(self), 2);
    assert_string_equal(am_self_name(self, 0), "listener");
    assert_string_equal(am_self_name(self, 1), "many");
    assert_null(am_self_name(self, 2));

    assert_int_equal(am_self_collect(self, 0), AM_OK);
    assert_int_equal(a.order, 1);
    assert_int_equal(b.order, 2);
    int hits;
    assert_true(value_of(store, AM_M_SELF_CONNECTIONS_ACCEPTED_TOTAL, "lis7", &hits) == 5);
    assert_int_equal(hits, 1);

    /* the next snapshot, from another thread's shard: replaced, not added */
    a.accepted = 9;
    assert_int_equal(am_self_collect(self, 1), AM_OK);
    assert_true(value_of(store, AM_M_SELF_CONNECTIONS_ACCEPTED_TOTAL, "lis7", &hits) == 9);
    assert_int_equal(hits, 1);
    assert_int_equal(a.calls, 2);
    assert_int_equal(a.order, 3);

    /* 300 sets span several batches; each landed with its own label */
    assert_int_equal(am_series_count(store, AM_M_SELF_RW_QUEUE_LENGTH), 300);
    assert_true(value_of(store, AM_M_SELF_RW_QUEUE_LENGTH, "http://r000/api/v1/write", &hits) == 0);
    assert_true(value_of(store, AM_M_SELF_RW_QUEUE_LENGTH, "http://r299/api/v1/write", &hits) ==
                299);
    assert_int_equal(hits, 1);
    am_self_destroy(self);
    am_series_destroy(store);
}

static void set_negative_counter(void *ud, struct am_self_out *out)
{
    (void)ud;
    am_self_set(out, AM_M_SELF_RW_SAMPLES_SENT_TOTAL, -1, AM_STR("u"), AM_STR_NULL);
}

static void test_self_bad_value_is_returned(void **st)
{
    (void)st;
    struct am_series_opts so = {.shards = 1};
    struct am_series_store *store = am_series_create(&so);
    struct am_self *self = am_self_create(store);
    am_self_register(self, "bad", set_negative_counter, NULL);
    assert_int_equal(am_self_collect(self, 0), AM_EINVAL);
    am_self_destroy(self);
    am_series_destroy(store);
}

static void test_self_process_collector_reads_proc(void **st)
{
    (void)st;
    struct am_series_opts so = {.shards = 1};
    struct am_series_store *store = am_series_create(&so);
    struct am_self *self = am_self_create(store);
    double start = 1700000000.5;
    am_self_register(self, "process", am_self_process, &start);
    am_self_register(self, "build_info", am_self_build_info, NULL);
    assert_int_equal(am_self_collect(self, 0), AM_OK);
    int hits;
    assert_true(value_of(store, AM_M_PROCESS_START_TIME_SECONDS, NULL, &hits) == start);
    double rss = value_of(store, AM_M_PROCESS_RESIDENT_MEMORY_BYTES, NULL, &hits);
    assert_true(rss > 1e5 && rss < 1e11);
    double fds = value_of(store, AM_M_PROCESS_OPEN_FDS, NULL, &hits);
    assert_true(fds >= 3);
    assert_true(value_of(store, AM_M_SELF_BUILD_INFO, AM_VERSION, &hits) == 1);
    assert_int_equal(hits, 1);
    am_self_destroy(self);
    am_series_destroy(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_collectors_run_in_order_and_set_not_sum),
        cmocka_unit_test(test_self_bad_value_is_returned),
        cmocka_unit_test(test_self_process_collector_reads_proc),
    };
    return cmocka_run_group_tests_name("self", tests, NULL, NULL);
}
