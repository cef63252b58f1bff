/*
 * test_rw_queue.c - the remote_write disk queue (SPEC.md 5): replay order
 * across reopen, cursor persistence without a clean close (kill -9), torn
 * tail at every truncation offset, corrupt crc in the middle, max_bytes
 * drop accounting, consumed segments deleted, batched acks (one cursor
 * write per commit, the directory fsynced after the rename), a read error
 * skipped and counted, every allocation failing in turn (STYLE.md 5.9).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/log.h"
#include "am/rw.h"
#include "rw_tmpdir.h"

struct fx {
    char dir[128];
    struct am_buf buf;
};

static int setup(void **st)
{
    struct fx *f = am_xcalloc(1, sizeof(*f));
    rwt_mkdtemp(f->dir, sizeof(f->dir), "rwq");
    am_buf_init(&f->buf, 1 << 20);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    rwt_rmdir(f->dir);
    am_buf_fini(&f->buf);
    am_free(f);
    return 0;
}

static struct am_rw_queue *qopen(struct fx *f, uint64_t max_bytes, uint64_t seg_bytes)
{
    struct am_rw_queue_opts o = {.dir = f->dir, .max_bytes = max_bytes, .segment_bytes = seg_bytes};
    struct am_rw_queue *q = NULL;
    const char *why = NULL;
    assert_int_equal(am_rw_queue_open(&o, &q, &why), AM_OK);
    return q;
}

static void append_n(struct am_rw_queue *q, int from, int to, size_t pad)
{
    char p[2048];
    for (int i = from; i < to; i++) {
        memset(p, 'x', sizeof(p));
        int n = snprintf(p, sizeof(p), "rec-%d", i);
        p[n] = 'x';
        size_t len = pad > (size_t)n ? pad : (size_t)n;
        assert_int_equal(am_rw_queue_append(q, p, len, (uint32_t)(i + 1)), AM_OK);
    }
    assert_int_equal(am_rw_queue_sync(q), AM_OK);
}

/* Peek the next record and check it is rec-<want>; ack it if asked. */
static void expect_rec(struct fx *f, struct am_rw_queue *q, int want, bool ack)
{
    uint32_t samples = 0;
    assert_int_equal(am_rw_queue_peek(q, &f->buf, &samples), AM_OK);
    char w[32];
    int n = snprintf(w, sizeof(w), "rec-%d", want);
    assert_true(f->buf.len >= (size_t)n);
    assert_memory_equal(f->buf.data, w, (size_t)n);
    assert_true(f->buf.len == (size_t)n || f->buf.data[n] == 'x');
    assert_int_equal(samples, want + 1);
    if (ack) {
        assert_int_equal(am_rw_queue_ack(q), AM_OK);
    }
}

static void expect_empty(struct fx *f, struct am_rw_queue *q)
{
    uint32_t samples;
    assert_int_equal(am_rw_queue_peek(q, &f->buf, &samples), AM_EAGAIN);
}

static void test_queue_replays_in_order_across_reopen(void **st)
{
    struct fx *f = *st;
    struct am_rw_queue *q = qopen(f, 0, 0);
    expect_empty(f, q);
    append_n(q, 0, 5, 0);
    expect_rec(f, q, 0, true);
    expect_rec(f, q, 1, true);
    expect_rec(f, q, 2, false); /* peeked, not acked: must come back */
    am_rw_queue_close(q);
    q = qopen(f, 0, 0);
    struct am_rw_queue_counts c;
    am_rw_queue_counts(q, &c);
    assert_int_equal(c.records, 3);
    for (int i = 2; i < 5; i++) {
        expect_rec(f, q, i, true);
    }
    expect_empty(f, q);
    am_rw_queue_counts(q, &c);
    assert_int_equal(c.records, 0);
    assert_int_equal(c.bytes, 0);
    am_rw_queue_close(q);
}

/* A child appends, acknowledges two records and commits, acknowledges a
 * third without committing, then dies by SIGKILL: the parent's reopen
 * resumes at the first record after the last commit (the uncommitted ack
 * sends its record again; acks are batched, at-least-once). */
static void test_queue_cursor_survives_kill_9(void **st)
{
    struct fx *f = *st;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct am_rw_queue *q = qopen(f, 0, 0);
        append_n(q, 0, 4, 0);
        expect_rec(f, q, 0, true);
        expect_rec(f, q, 1, true);
        if (am_rw_queue_commit(q) != AM_OK) {
            _exit(1);
        }
        expect_rec(f, q, 2, true);
        raise(SIGKILL);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    struct am_rw_queue *q = qopen(f, 0, 0);
    expect_rec(f, q, 2, true);
    expect_rec(f, q, 3, true);
    expect_empty(f, q);
    am_rw_queue_close(q);
}

static char *only_segment(struct fx *f, char *path, size_t n);

/* Acks only move the cursor in memory; one commit writes it once (file,
 * fdatasync, rename, directory fsync), and a commit with nothing new
 * writes nothing. */
static void test_queue_acks_are_batched_into_one_cursor_write(void **st)
{
    struct fx *f = *st;
    struct am_rw_queue *q = qopen(f, 0, 0);
    append_n(q, 0, 100, 0);
    struct am_rw_queue_counts c;
    am_rw_queue_counts(q, &c);
    uint64_t dir_syncs0 = c.dir_syncs;
    assert_true(dir_syncs0 >= 1); /* the new segment's directory entry */
    for (int i = 0; i < 100; i++) {
        expect_rec(f, q, i, true);
    }
    am_rw_queue_counts(q, &c);
    assert_int_equal(c.cursor_writes, 0);
    assert_int_equal(c.dir_syncs, dir_syncs0);
    char cur[256];
    snprintf(cur, sizeof(cur), "%s/cursor", f->dir);
    assert_int_equal(access(cur, F_OK), -1); /* nothing on disk yet */
    assert_int_equal(am_rw_queue_commit(q), AM_OK);
    am_rw_queue_counts(q, &c);
    assert_int_equal(c.cursor_writes, 1);
    assert_int_equal(c.dir_syncs, dir_syncs0 + 1); /* after the rename */
    assert_int_equal(access(cur, F_OK), 0);
    assert_int_equal(am_rw_queue_commit(q), AM_OK);
    am_rw_queue_counts(q, &c);
    assert_int_equal(c.cursor_writes, 1);
    am_rw_queue_close(q);
    q = qopen(f, 0, 0);
    expect_empty(f, q);
    am_rw_queue_close(q);
}

/* A record that cannot be read back (its segment lost bytes behind the
 * queue's back: a short read) is skipped and counted, and the reader goes
 * on with what comes after instead of failing every peek. */
static void test_queue_read_error_skips_and_counts(void **st)
{
    struct fx *f = *st;
    struct am_rw_queue *q = qopen(f, 0, 0);
    append_n(q, 0, 3, 100); /* 116-byte records at 0, 116, 232 */
    char seg[512];
    int fd = open(only_segment(f, seg, sizeof(seg)), O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 116 + 50), 0); /* record 1's payload cut */
    close(fd);
    expect_rec(f, q, 0, true);
    uint32_t samples;
    /* record 1: short payload read; record 2: header unreadable */
    assert_int_equal(am_rw_queue_peek(q, &f->buf, &samples), AM_EAGAIN);
    struct am_rw_queue_counts c;
    am_rw_queue_counts(q, &c);
    assert_int_equal(c.corrupt_records, 2);
    assert_int_equal(c.records, 0);
    /* the queue goes on: a new record is read and acknowledged */
    append_n(q, 3, 4, 0);
    expect_rec(f, q, 3, true);
    expect_empty(f, q);
    am_rw_queue_close(q);
}

static void test_queue_second_open_of_same_dir_fails(void **st)
{
    struct fx *f = *st;
    struct am_rw_queue *q = qopen(f, 0, 0);
    struct am_rw_queue_opts o = {.dir = f->dir};
    struct am_rw_queue *q2 = NULL;
    const char *why = NULL;
    assert_int_equal(am_rw_queue_open(&o, &q2, &why), AM_EIO);
    assert_null(q2);
    assert_string_equal(why, "queue dir is in use by another queue");
    am_rw_queue_close(q);
}

static char *only_segment(struct fx *f, char *path, size_t n)
{
    DIR *d = opendir(f->dir);
    int found = 0;
    for (;;) {
        struct dirent *de = readdir(d);
        if (de == NULL) {
            break;
        }
        if (strstr(de->d_name, ".seg") != NULL) {
            snprintf(path, n, "%s/%s", f->dir, de->d_name);
            found++;
        }
    }
    closedir(d);
    assert_int_equal(found, 1);
    return path;
}

static void test_queue_torn_tail_at_every_offset_is_cut_and_counted(void **st)
{
    struct fx *f = *st;
    const off_t rec = 16 + 5; /* "rec-N" */
    for (off_t cut = 2 * rec; cut < 3 * rec; cut++) {
        rwt_rmdir(f->dir);
        assert_int_equal(mkdir(f->dir, 0700), 0);
        struct am_rw_queue *q = qopen(f, 0, 0);
        append_n(q, 0, 3, 0);
        am_rw_queue_close(q);
        char seg[512];
        assert_int_equal(truncate(only_segment(f, seg, sizeof(seg)), cut), 0);
        q = qopen(f, 0, 0);
        struct am_rw_queue_counts c;
        am_rw_queue_counts(q, &c);
        assert_int_equal(c.corrupt_records, cut > 2 * rec ? 1 : 0);
        assert_int_equal(c.records, 2);
        append_n(q, 7, 8, 0); /* appends go after the cut */
        expect_rec(f, q, 0, true);
        expect_rec(f, q, 1, true);
        expect_rec(f, q, 7, true);
        expect_empty(f, q);
        am_rw_queue_close(q);
    }
}

static void test_queue_corrupt_crc_in_middle_is_skipped(void **st)
{
    struct fx *f = *st;
    struct am_rw_queue *q = qopen(f, 0, 0);
    append_n(q, 0, 3, 0);
    am_rw_queue_close(q);
    char seg[512];
    int fd = open(only_segment(f, seg, sizeof(seg)), O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 21 + 16 + 2), 1); /* payload of record 1 */
    close(fd);
    q = qopen(f, 0, 0);
    expect_rec(f, q, 0, true);
    expect_rec(f, q, 2, true);
    expect_empty(f, q);
    struct am_rw_queue_counts c;
    am_rw_queue_counts(q, &c);
    assert_int_equal(c.corrupt_records, 1);
    assert_int_equal(c.records, 0);
    am_rw_queue_close(q);
}

static void test_queue_max_bytes_drops_oldest_and_counts(void **st)
{
    struct fx *f = *st;
    /* 1016-byte records, 4 per 4096-byte segment, at most 16384 bytes. */
    struct am_rw_queue *q = qopen(f, 16384, 4096);
    append_n(q, 0, 2, 1000);
    expect_rec(f, q, 0, false); /* in flight while its segment is dropped */
    append_n(q, 2, 40, 1000);
    assert_int_equal(am_rw_queue_ack(q), AM_OK); /* stale ack: ignored */
    struct am_rw_queue_counts c;
    am_rw_queue_counts(q, &c);
    assert_true(c.bytes <= 16384);
    assert_int_equal(c.dropped_records + c.records, 40);
    assert_int_equal(c.dropped_records % 4, 0); /* whole segments */
    uint64_t want_samples = 0;
    for (uint64_t i = 0; i < c.dropped_records; i++) {
        want_samples += i + 1;
    }
    assert_int_equal(c.dropped_samples, want_samples);
    for (int i = (int)c.dropped_records; i < 40; i++) {
        expect_rec(f, q, i, true);
    }
    expect_empty(f, q);
    char big[20000] = {0};
    assert_int_equal(am_rw_queue_append(q, big, sizeof(big), 9), AM_ETOOBIG);
    am_rw_queue_counts(q, &c);
    assert_int_equal(c.dropped_samples, want_samples + 9);
    am_rw_queue_close(q);
}

static void test_queue_consumed_segments_are_deleted(void **st)
{
    struct fx *f = *st;
    struct am_rw_queue *q = qopen(f, 0, 4096);
    append_n(q, 0, 12, 1000); /* three segments */
    for (int i = 0; i < 12; i++) {
        expect_rec(f, q, i, true);
    }
    expect_empty(f, q);
    char seg[512];
    only_segment(f, seg, sizeof(seg)); /* asserts exactly one left */
    am_rw_queue_close(q);
    q = qopen(f, 0, 4096);
    expect_empty(f, q);
    append_n(q, 12, 13, 0);
    expect_rec(f, q, 12, true);
    am_rw_queue_close(q);
}

/* ---- allocation failures (STYLE.md 5.9) ---- */

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d != NULL && readdir(d) != NULL) {
        n++;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

#define SWEEP_OLD 80 /* records on disk before the scenario: ~20 segments */
#define SWEEP_NEW 60 /* appended by it: ~15 more (the table grows past 32) */

/* A fresh dir holding SWEEP_OLD records in 4 KiB segments. */
static void sweep_prepare(struct fx *f)
{
    rwt_rmdir(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    struct am_rw_queue *q = qopen(f, 0, 4096);
    append_n(q, 0, SWEEP_OLD, 1000);
    am_rw_queue_close(q);
}

/* Reopen (recovery), append SWEEP_NEW, replay everything, close. Returns
 * the open's result; every record appended successfully is replayed once,
 * in order, and no other. */
static unsigned sweep_appends_failed;

static int sweep_run(struct fx *f)
{
    struct am_rw_queue_opts o = {.dir = f->dir, .segment_bytes = 4096};
    struct am_rw_queue *q = NULL;
    const char *why = NULL;
    int rc = am_rw_queue_open(&o, &q, &why);
    if (rc != AM_OK) {
        assert_int_equal(rc, AM_ENOMEM);
        assert_non_null(why);
        assert_null(q);
        return rc;
    }
    bool ok[SWEEP_NEW];
    char p[1000];
    for (int i = 0; i < SWEEP_NEW; i++) {
        memset(p, 'x', sizeof(p));
        int n = snprintf(p, sizeof(p), "rec-%d", SWEEP_OLD + i);
        p[n] = 'x';
        int arc = am_rw_queue_append(q, p, sizeof(p), (uint32_t)(SWEEP_OLD + i + 1));
        assert_true(arc == AM_OK || arc == AM_ENOMEM);
        ok[i] = arc == AM_OK;
        sweep_appends_failed += !ok[i];
    }
    assert_int_equal(am_rw_queue_sync(q), AM_OK);
    for (int i = 0; i < SWEEP_OLD + SWEEP_NEW; i++) {
        if (i >= SWEEP_OLD && !ok[i - SWEEP_OLD]) {
            continue;
        }
        expect_rec(f, q, i, true);
    }
    expect_empty(f, q);
    am_rw_queue_close(q);
    return AM_OK;
}

static void test_queue_each_alloc_failure(void **st)
{
    struct fx *f = *st;
    int fds = open_fds();
    sweep_prepare(f);
    am_alloc_fail_at(0);
    assert_int_equal(sweep_run(f), AM_OK);
    unsigned long total = am_alloc_count();
    assert_true(total >= 5);
    unsigned open_failed = 0;
    for (unsigned long nth = 1; nth <= total; nth++) {
        sweep_prepare(f);
        am_alloc_fail_at(nth);
        open_failed += sweep_run(f) != AM_OK;
        am_alloc_fail_at(0);
        assert_int_equal(open_fds(), fds); /* no descriptor left behind */
    }
    /* both places are reached: recovery, and a rotation while appending */
    assert_true(open_failed > 0 && open_failed < total);
    assert_true(sweep_appends_failed > 0);
}

int main(void)
{
    am_log_set_level(AM_LOG_LEVEL_ERROR); /* the torn-tail sweep warns 20 times */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_replays_in_order_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_cursor_survives_kill_9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_second_open_of_same_dir_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_acks_are_batched_into_one_cursor_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_read_error_skips_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_torn_tail_at_every_offset_is_cut_and_counted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_corrupt_crc_in_middle_is_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_max_bytes_drops_oldest_and_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_consumed_segments_are_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_each_alloc_failure, setup, teardown),
    };
    return cmocka_run_group_tests_name("rw_queue", tests, NULL, NULL);
}
