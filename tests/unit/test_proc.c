/*
 * test_proc.c - am_proc_read against what the test can observe about its own
 * process: fd count moves with open/close, the limit matches getrlimit, the
 * start time is in the recent past and RSS is non-zero.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "am/err.h"
#include "am/proc.h"

static void test_proc_read_open_fds_tracks_open_close(void **st)
{
    struct am_proc_stats a;
    struct am_proc_stats b;
    assert_int_equal(am_proc_read(&a), AM_OK);
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(am_proc_read(&b), AM_OK);
    close(fd);
    assert_int_equal(b.open_fds, a.open_fds + 1);
    assert_true(a.open_fds >= 3);
}

static void test_proc_read_limits_times_and_rss_plausible(void **st)
{
    struct am_proc_stats p;
    assert_int_equal(am_proc_read(&p), AM_OK);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal(p.max_fds, rl.rlim_cur);
    assert_true(p.rss_bytes > 1024 * 1024 / 4);
    assert_true(p.cpu_seconds >= 0 && p.cpu_seconds < 3600);
    double now = (double)time(NULL);
    assert_true(p.start_time_seconds <= now + 2 && p.start_time_seconds > now - 3600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_read_open_fds_tracks_open_close),
        cmocka_unit_test(test_proc_read_limits_times_and_rss_plausible),
    };
    return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
