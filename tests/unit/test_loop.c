/*
 * test_loop.c - the epoll loop: timers fire in deadline order (ties in
 * arming order), cancel works (also for a stale id), fd callbacks fire,
 * the before-sleep hook runs, and am_loop_stop works from another thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "am/err.h"
#include "am/loop.h"

#define MS 1000000ull

struct order {
    int fired[16];
    int n;
    int stop_after;
};

struct tctx {
    struct order *o;
    int id;
};

static void on_timer(struct am_loop *loop, void *ud)
{
    struct tctx *t = ud;
    t->o->fired[t->o->n++] = t->id;
    if (t->o->n == t->o->stop_after) {
        am_loop_stop(loop);
    }
}

static void test_loop_timers_fire_in_order_and_cancel(void **st)
{
    (void)st;
    struct am_loop *loop = am_loop_create(am_clock_system());
    struct order o = {.stop_after = 5};
    static const struct {
        uint64_t delay_ms;
        bool cancel;
    } arm[] = {{30, false}, {10, false}, {20, true}, {10, false}, {0, false}, {40, false}};
    struct tctx t[6];
    uint64_t ids[6];
    for (int i = 0; i < 6; i++) {
        t[i] = (struct tctx){&o, i};
        ids[i] = am_loop_timer_add(loop, arm[i].delay_ms * MS, on_timer, &t[i]);
        assert_true(ids[i] > 0);
    }
    for (int i = 0; i < 6; i++) {
        if (arm[i].cancel) {
            am_loop_timer_cancel(loop, ids[i]);
            am_loop_timer_cancel(loop, ids[i]); /* twice: harmless */
        }
    }
    assert_int_equal(am_loop_run(loop), AM_OK);
    static const int want[] = {4, 1, 3, 0, 5};
    assert_int_equal(o.n, 5);
    assert_memory_equal(o.fired, want, sizeof(want));
    /* A fired timer's id is stale: cancelling it must not touch a reused slot. */
    struct order o2 = {.stop_after = 1};
    struct tctx t2 = {&o2, 7};
    am_loop_timer_add(loop, 0, on_timer, &t2);
    am_loop_timer_cancel(loop, ids[4]);
    assert_int_equal(am_loop_run(loop), AM_OK);
    assert_int_equal(o2.n, 1);
    am_loop_destroy(loop);
}

static int hooks;
static struct am_loop *stop_loop;

/* Wait until the loop is about to sleep, then stop it from this thread. */
static void *stopper(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&hooks, __ATOMIC_ACQUIRE) == 0) {
        sched_yield();
    }
    am_loop_stop(stop_loop);
    return NULL;
}

static void hook(struct am_loop *loop, void *ud)
{
    (void)loop;
    __atomic_fetch_add((int *)ud, 1, __ATOMIC_RELEASE);
}

static void test_loop_stop_from_other_thread_returns(void **st)
{
    (void)st;
    struct am_loop *loop = am_loop_create(NULL);
    pthread_t th;
    stop_loop = loop;
    am_loop_set_before_sleep(loop, hook, &hooks);
    assert_int_equal(pthread_create(&th, NULL, stopper, NULL), 0);
    assert_int_equal(am_loop_run(loop), AM_OK); /* nothing armed: only stop can end it */
    pthread_join(th, NULL);
    assert_true(hooks >= 1);
    am_loop_destroy(loop);
}

struct fdctx {
    int reads;
    char got[8];
};

static void on_fd(struct am_loop *loop, int fd, unsigned events, void *ud)
{
    struct fdctx *c = ud;
    assert_true(events & AM_LOOP_READ);
    ssize_t n = read(fd, c->got, sizeof(c->got));
    assert_int_equal(n, 2);
    c->reads++;
    am_loop_del(loop, fd);
    am_loop_stop(loop);
}

static void test_loop_fd_callback_fires_on_read(void **st)
{
    (void)st;
    int p[2];
    struct fdctx c = {0};
    assert_int_equal(pipe(p), 0);
    struct am_loop *loop = am_loop_create(NULL);
    assert_int_equal(am_loop_add(loop, p[0], AM_LOOP_READ, on_fd, &c), AM_OK);
    assert_int_equal(write(p[1], "hi", 2), 2);
    assert_int_equal(am_loop_run(loop), AM_OK);
    assert_int_equal(c.reads, 1);
    assert_memory_equal(c.got, "hi", 2);
    assert_int_equal(am_loop_mod(loop, p[0], AM_LOOP_READ), AM_EIO); /* deleted */
    am_loop_destroy(loop);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_timers_fire_in_order_and_cancel),
        cmocka_unit_test(test_loop_stop_from_other_thread_returns),
        cmocka_unit_test(test_loop_fd_callback_fires_on_read),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
