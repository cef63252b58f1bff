/*
 * rw_queue.c - the disk-backed remote_write queue (SPEC.md 5). Segments
 * <seq:016x>.seg hold records [magic, len, samples, crc32(len, samples,
 * payload)] appended in order; "cursor" (replaced by rename) names the
 * first unacknowledged record as of the last commit (acks are batched:
 * the sender commits once per drained batch and at least once a second).
 * Invariant: segs[0] is the segment the reader is in; every byte of every
 * segment below `end` is whole records. One mutex guards the state; no
 * network I/O and no cursor write happens under it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/log.h"
#include "am/rw.h"

#define REC_MAGIC 0x57524d41u /* "AMRW" little-endian */
#define CUR_MAGIC 0x55434d41u /* "AMCU" */
#define REC_HDR 16
#define REC_MAX_PAYLOAD (256u << 20)
#define DEFAULT_SEGMENT_BYTES (64ull << 20)
#define MIN_SEGMENT_BYTES (4096ull)

struct seg {
    uint64_t seq;
    uint64_t end; /* bytes of whole records */
    uint64_t records;
    uint64_t samples;
    int fd;
    bool dirty; /* written since the last sync */
};

struct am_rw_queue {
    pthread_mutex_t mu;
    char *dir;
    int lock_fd; /* flock: one process (and one queue) per directory */
    uint64_t max_bytes;
    uint64_t seg_bytes;
    struct seg *segs; /* oldest first; the last one takes appends */
    size_t n;
    size_t cap;
    uint64_t next_seq;
    bool dir_dirty;
    /* cursor persistence: acks move the reader in memory; am_rw_queue_commit
     * writes it (commit_mu serializes writers, outside mu) */
    bool cursor_dirty;
    pthread_mutex_t commit_mu;
    uint64_t cursor_writes; /* atomic: written under commit_mu or mu */
    uint64_t dir_syncs;     /* atomic */
    /* reader, always in segs[0] */
    uint64_t rd_off;
    uint64_t rd_records;
    uint64_t rd_samples;
    bool peeked;
    uint64_t peek_seq;
    uint64_t peek_off;
    uint64_t peek_next;
    uint32_t peek_samples;
    struct am_rw_queue_counts c;
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* dir + "/" + the longest name (a segment's, 20 bytes) fits: open checks. */
#define QPATH_MAX PATH_MAX

static char *path_of(const struct am_rw_queue *q, const char *name, char *p)
{
    snprintf(p, QPATH_MAX, "%s/%s", q->dir, name);
    return p;
}

static char *seg_path(const struct am_rw_queue *q, uint64_t seq, char *p)
{
    char name[32];
    snprintf(name, sizeof(name), "%016" PRIx64 ".seg", seq);
    return path_of(q, name, p);
}

static int read_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r == 0 ? AM_EAGAIN : AM_EIO;
        }
        got += (size_t)r;
    }
    return AM_OK;
}

static int mkdir_p(const char *dir)
{
    char p[QPATH_MAX];
    snprintf(p, sizeof(p), "%s", dir);
    int rc = AM_OK;
    for (char *s = p + 1; rc == AM_OK; s++) {
        bool last = *s == '\0';
        if (*s != '/' && !last) {
            continue;
        }
        *s = '\0';
        if (mkdir(p, 0750) != 0 && errno != EEXIST) {
            AM_LOG_ERROR("rw_queue", "mkdir %s: %s", p, strerror(errno));
            rc = AM_EIO;
        }
        if (last) {
            break;
        }
        *s = '/';
    }
    return rc;
}

/* ---- segments ---- */

/* NULL when the segment table cannot grow (the caller still owns fd). */
static struct seg *seg_push(struct am_rw_queue *q, uint64_t seq, int fd)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        struct seg *segs = am_try_realloc(q->segs, cap * sizeof(*q->segs));
        if (segs == NULL) {
            return NULL;
        }
        q->segs = segs;
        q->cap = cap;
    }
    struct seg *s = &q->segs[q->n++];
    memset(s, 0, sizeof(*s));
    s->seq = seq;
    s->fd = fd;
    return s;
}

static void seg_drop_head(struct am_rw_queue *q)
{
    char p[QPATH_MAX];
    if (unlink(seg_path(q, q->segs[0].seq, p)) != 0 && errno != ENOENT) {
        AM_LOG_RL(AM_LOG_LEVEL_WARN, "rw_queue", "unlink %s: %s", p, strerror(errno));
    }
    close(q->segs[0].fd);
    memmove(q->segs, q->segs + 1, (q->n - 1) * sizeof(*q->segs));
    q->n--;
    q->rd_off = 0;
    q->rd_records = 0;
    q->rd_samples = 0;
    q->peeked = false;
    q->dir_dirty = true;
}

static int seg_new(struct am_rw_queue *q)
{
    char p[QPATH_MAX];
    int fd = open(seg_path(q, q->next_seq, p), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        AM_LOG_RL(AM_LOG_LEVEL_ERROR, "rw_queue", "open %s: %s", p, strerror(errno));
        return AM_EIO;
    }
    if (seg_push(q, q->next_seq, fd) == NULL) {
        close(fd);
        unlink(p);
        return AM_ENOMEM;
    }
    q->next_seq++;
    q->dir_dirty = true;
    return AM_OK;
}

/* Walk the record headers of one segment; cut a torn or garbled tail. */
static void seg_scan(struct am_rw_queue *q, struct seg *s)
{
    struct stat st;
    uint64_t size = fstat(s->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    uint64_t off = 0;
    uint8_t h[REC_HDR];
    while (size - off >= REC_HDR && read_full(s->fd, h, REC_HDR, off) == AM_OK) {
        uint32_t len = get32(h + 4);
        if (get32(h) != REC_MAGIC || len > REC_MAX_PAYLOAD || len > size - off - REC_HDR) {
            break;
        }
        s->records++;
        s->samples += get32(h + 8);
        off += REC_HDR + (uint64_t)len;
    }
    s->end = off;
    if (off < size) {
        q->c.corrupt_records++;
        AM_LOG_WARN("rw_queue",
                    "segment %016" PRIx64 ": torn or corrupt tail at %" PRIu64 ", %" PRIu64
                    " bytes cut",
                    s->seq, off, size - off);
        if (ftruncate(s->fd, (off_t)off) != 0) {
            AM_LOG_WARN("rw_queue", "ftruncate: %s", strerror(errno));
        }
    }
}

/* ---- cursor ---- */

/* fsync the queue directory, so that creates, renames and unlinks in it
 * survive a power loss. */
static int dir_sync(struct am_rw_queue *q)
{
    int fd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? AM_OK : AM_EIO;
    if (rc != AM_OK) {
        AM_LOG_RL(AM_LOG_LEVEL_ERROR, "rw_queue", "fsync %s: %s", q->dir, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    __atomic_add_fetch(&q->dir_syncs, 1, __ATOMIC_RELAXED);
    return rc;
}

/* Replace "cursor" with (seq, off): a temporary file, fdatasync, rename,
 * then the directory. Called with commit_mu held and mu not held. */
static int cursor_write(struct am_rw_queue *q, uint64_t seq, uint64_t off)
{
    uint8_t b[24];
    put64(b, seq);
    put64(b + 8, off);
    put32(b + 16, (uint32_t)crc32(0, b, 16));
    put32(b + 20, CUR_MAGIC);
    char tmp[QPATH_MAX];
    char dst[QPATH_MAX];
    path_of(q, "cursor.tmp", tmp);
    path_of(q, "cursor", dst);
    int rc = AM_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd >= 0) {
        if (write(fd, b, sizeof(b)) == (ssize_t)sizeof(b) && fdatasync(fd) == 0 &&
            rename(tmp, dst) == 0) {
            rc = AM_OK;
        }
        close(fd);
    }
    if (rc != AM_OK) {
        AM_LOG_RL(AM_LOG_LEVEL_ERROR, "rw_queue", "write %s: %s", dst, strerror(errno));
    } else {
        __atomic_add_fetch(&q->cursor_writes, 1, __ATOMIC_RELAXED);
        rc = dir_sync(q);
    }
    return rc;
}

static bool cursor_read(struct am_rw_queue *q, uint64_t *seq, uint64_t *off)
{
    char p[QPATH_MAX];
    uint8_t b[24];
    bool ok = false;
    int fd = open(path_of(q, "cursor", p), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ok = read_full(fd, b, sizeof(b), 0) == AM_OK && get32(b + 20) == CUR_MAGIC &&
             get32(b + 16) == (uint32_t)crc32(0, b, 16);
        close(fd);
    }
    if (ok) {
        *seq = get64(b);
        *off = get64(b + 8);
    }
    return ok;
}

static int seq_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment sequence numbers found in the directory, sorted, into *out
 * (NULL when none). AM_ENOMEM when the list cannot grow. */
static int list_segments(const char *dir, uint64_t **out, size_t *n)
{
    DIR *d = opendir(dir);
    uint64_t *seqs = NULL;
    size_t cap = 0;
    int rc = AM_OK;
    *n = 0;
    while (rc == AM_OK) {
        struct dirent *de = d != NULL ? readdir(d) : NULL;
        if (de == NULL) {
            break;
        }
        size_t len = strlen(de->d_name);
        char *end = NULL;
        if (len != 20 || strcmp(de->d_name + 16, ".seg") != 0) {
            continue;
        }
        uint64_t seq = strtoull(de->d_name, &end, 16);
        if (end != de->d_name + 16) {
            continue;
        }
        if (*n == cap) {
            uint64_t *more = am_try_realloc(seqs, (cap ? cap * 2 : 16) * sizeof(*seqs));
            if (more == NULL) {
                rc = AM_ENOMEM;
                break;
            }
            seqs = more;
            cap = cap ? cap * 2 : 16;
        }
        seqs[(*n)++] = seq;
    }
    if (d != NULL) {
        closedir(d);
    }
    if (*n > 0) {
        qsort(seqs, *n, sizeof(*seqs), seq_cmp);
    }
    *out = seqs;
    return rc;
}

/* Put the reader at the first record boundary >= off of segs[0]. */
static void position_reader(struct am_rw_queue *q, uint64_t off)
{
    struct seg *s = &q->segs[0];
    uint8_t h[REC_HDR];
    while (q->rd_off < off && q->rd_off < s->end &&
           read_full(s->fd, h, REC_HDR, q->rd_off) == AM_OK) {
        q->rd_off += REC_HDR + (uint64_t)get32(h + 4);
        q->rd_records++;
        q->rd_samples += get32(h + 8);
    }
}

/* Open every segment at or after the cursor, delete those before it. */
static int recover(struct am_rw_queue *q, const char **why)
{
    uint64_t cur_seq = 0;
    uint64_t cur_off = 0;
    bool have_cursor = cursor_read(q, &cur_seq, &cur_off);
    size_t n = 0;
    uint64_t *seqs = NULL;
    int rc = list_segments(q->dir, &seqs, &n);
    if (rc != AM_OK) {
        *why = "out of memory listing the queue segments";
    }
    q->next_seq = have_cursor ? cur_seq + 1 : 1;
    for (size_t i = 0; i < n && rc == AM_OK; i++) {
        char p[QPATH_MAX];
        seg_path(q, seqs[i], p);
        if (have_cursor && seqs[i] < cur_seq) {
            unlink(p);
            continue;
        }
        int fd = open(p, O_RDWR | O_CLOEXEC);
        struct seg *s = fd >= 0 ? seg_push(q, seqs[i], fd) : NULL;
        if (fd < 0) {
            AM_LOG_ERROR("rw_queue", "open %s: %s", p, strerror(errno));
            *why = "cannot open a queue segment";
            rc = AM_EIO;
        } else if (s == NULL) {
            close(fd);
            *why = "out of memory opening the queue segments";
            rc = AM_ENOMEM;
        } else {
            seg_scan(q, s);
            q->next_seq = seqs[i] + 1;
        }
    }
    am_free(seqs);
    if (rc == AM_OK && q->n > 0 && have_cursor && q->segs[0].seq == cur_seq) {
        position_reader(q, cur_off);
    }
    return rc;
}

static int lock_dir(struct am_rw_queue *q, const char **why)
{
    char p[QPATH_MAX];
    q->lock_fd = open(path_of(q, "lock", p), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (q->lock_fd < 0) {
        AM_LOG_ERROR("rw_queue", "open %s/lock: %s", q->dir, strerror(errno));
        *why = "cannot create the queue lock file";
        return AM_EIO;
    }
    if (flock(q->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        AM_LOG_ERROR("rw_queue", "%s: in use by another queue: %s", q->dir, strerror(errno));
        *why = "queue dir is in use by another queue";
        return AM_EIO;
    }
    return AM_OK;
}

int am_rw_queue_open(const struct am_rw_queue_opts *opts, struct am_rw_queue **out,
                     const char **why)
{
    *out = NULL;
    if (opts->dir == NULL || opts->dir[0] == '\0') {
        *why = "queue dir is empty";
        return AM_EINVAL;
    }
    size_t dlen = strlen(opts->dir);
    if (dlen + 32 > QPATH_MAX) {
        *why = "queue dir path is too long";
        return AM_EINVAL;
    }
    if (mkdir_p(opts->dir) != AM_OK) {
        *why = "cannot create the queue dir";
        return AM_EIO;
    }
    struct am_rw_queue *q = am_try_calloc(1, sizeof(*q));
    char *dir = am_try_malloc(dlen + 1);
    if (q == NULL || dir == NULL) {
        am_free(q);
        am_free(dir);
        *why = "out of memory";
        return AM_ENOMEM;
    }
    memcpy(dir, opts->dir, dlen + 1);
    pthread_mutex_init(&q->mu, NULL);
    pthread_mutex_init(&q->commit_mu, NULL);
    q->dir = dir;
    q->lock_fd = -1;
    q->max_bytes = opts->max_bytes;
    q->seg_bytes = opts->segment_bytes ? opts->segment_bytes : DEFAULT_SEGMENT_BYTES;
    if (q->max_bytes > 0 && q->seg_bytes > q->max_bytes / 4) {
        q->seg_bytes = q->max_bytes / 4;
    }
    if (q->seg_bytes < MIN_SEGMENT_BYTES) {
        q->seg_bytes = MIN_SEGMENT_BYTES;
    }
    int rc = lock_dir(q, why);
    if (rc == AM_OK) {
        rc = recover(q, why);
    }
    if (rc != AM_OK) {
        am_rw_queue_close(q);
        return rc;
    }
    *out = q;
    return AM_OK;
}

void am_rw_queue_close(struct am_rw_queue *q)
{
    if (q == NULL) {
        return;
    }
    if (q->cursor_dirty) {
        am_rw_queue_commit(q);
    }
    for (size_t i = 0; i < q->n; i++) {
        close(q->segs[i].fd);
    }
    if (q->lock_fd >= 0) {
        close(q->lock_fd);
    }
    am_free(q->segs);
    am_free(q->dir);
    pthread_mutex_destroy(&q->mu);
    pthread_mutex_destroy(&q->commit_mu);
    am_free(q);
}

static uint64_t disk_bytes(const struct am_rw_queue *q)
{
    uint64_t b = 0;
    for (size_t i = 0; i < q->n; i++) {
        b += q->segs[i].end;
    }
    return b;
}

/* Drop the oldest segments until rec more bytes fit under max_bytes. */
static int make_room(struct am_rw_queue *q, uint64_t rec)
{
    while (q->max_bytes > 0 && q->n > 0 && disk_bytes(q) + rec > q->max_bytes) {
        if (q->n == 1) {
            int rc = seg_new(q); /* never drop the segment being appended to */
            if (rc != AM_OK) {
                return rc;
            }
        }
        struct seg *h = &q->segs[0];
        uint64_t recs = h->records - q->rd_records;
        uint64_t samples = h->samples - q->rd_samples;
        q->c.dropped_records += recs;
        q->c.dropped_samples += samples;
        AM_LOG_RL(AM_LOG_LEVEL_WARN, "rw_queue",
                  "queue full: dropped segment %016" PRIx64 " records=%" PRIu64 " samples=%" PRIu64,
                  h->seq, recs, samples);
        seg_drop_head(q);
    }
    return AM_OK;
}

static int append_locked(struct am_rw_queue *q, const void *data, size_t len, uint32_t samples)
{
    uint64_t rec = REC_HDR + (uint64_t)len;
    if (len > REC_MAX_PAYLOAD || (q->max_bytes > 0 && rec > q->max_bytes)) {
        q->c.dropped_records++;
        q->c.dropped_samples += samples;
        return AM_ETOOBIG;
    }
    int rc = make_room(q, rec);
    if (rc == AM_OK &&
        (q->n == 0 || (q->segs[q->n - 1].end > 0 && q->segs[q->n - 1].end + rec > q->seg_bytes))) {
        rc = seg_new(q);
    }
    if (rc != AM_OK) {
        return rc;
    }
    struct seg *t = &q->segs[q->n - 1];
    uint8_t h[REC_HDR];
    put32(h, REC_MAGIC);
    put32(h + 4, (uint32_t)len);
    put32(h + 8, samples);
    uint32_t crc = (uint32_t)crc32(0, h + 4, 8);
    crc = (uint32_t)crc32(crc, data, (uInt)len);
    put32(h + 12, crc);
    struct iovec iov[2] = {{h, REC_HDR}, {(void *)data, len}};
    ssize_t w = pwritev(t->fd, iov, 2, (off_t)t->end);
    if (w != (ssize_t)rec) {
        AM_LOG_RL(AM_LOG_LEVEL_ERROR, "rw_queue", "write segment: %s",
                  w < 0 ? strerror(errno) : "short write");
        if (ftruncate(t->fd, (off_t)t->end) != 0) {
            AM_LOG_RL(AM_LOG_LEVEL_ERROR, "rw_queue", "ftruncate: %s", strerror(errno));
        }
        return AM_EIO;
    }
    t->end += rec;
    t->records++;
    t->samples += samples;
    t->dirty = true;
    return AM_OK;
}

int am_rw_queue_append(struct am_rw_queue *q, const void *data, size_t len, uint32_t samples)
{
    pthread_mutex_lock(&q->mu);
    int rc = append_locked(q, data, len, samples);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* fdatasync runs under the lock: the only waiter is the sender's next
 * peek/ack, and neither is on the ingest path. */
int am_rw_queue_sync(struct am_rw_queue *q)
{
    int rc = AM_OK;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->n; i++) {
        if (q->segs[i].dirty && fdatasync(q->segs[i].fd) != 0) {
            AM_LOG_RL(AM_LOG_LEVEL_ERROR, "rw_queue", "fdatasync: %s", strerror(errno));
            rc = AM_EIO;
        }
        q->segs[i].dirty = false;
    }
    if (q->dir_dirty && dir_sync(q) != AM_OK) {
        rc = AM_EIO;
    }
    q->dir_dirty = false;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* Read the record at the reader into out. AM_EINVAL: it could not be read
 * (garbled header, bad checksum, a read error or a record larger than out's
 * cap) and the reader has moved past it -- past the whole rest of the
 * segment when its header was unreadable -- so one bad record never wedges
 * the sender. */
static int read_record(struct am_rw_queue *q, struct am_buf *out, uint32_t *samples)
{
    struct seg *s = &q->segs[0];
    uint8_t h[REC_HDR];
    if (read_full(s->fd, h, REC_HDR, q->rd_off) != AM_OK || get32(h) != REC_MAGIC ||
        get32(h + 4) > s->end - q->rd_off - REC_HDR) {
        q->rd_off = s->end; /* no trustworthy length: the rest of the segment is lost */
        q->rd_records = s->records;
        q->rd_samples = s->samples;
        q->cursor_dirty = true;
        return AM_EINVAL;
    }
    uint32_t len = get32(h + 4);
    *samples = get32(h + 8);
    am_buf_reset(out);
    bool ok = am_buf_reserve(out, len) == AM_OK &&
              read_full(s->fd, out->data, len, q->rd_off + REC_HDR) == AM_OK;
    if (ok) {
        out->len = len;
        uint32_t crc = (uint32_t)crc32(0, h + 4, 8);
        crc = (uint32_t)crc32(crc, (const Bytef *)out->data, len);
        ok = crc == get32(h + 12);
    }
    if (!ok) {
        am_buf_reset(out);
        q->rd_off += REC_HDR + (uint64_t)len;
        q->rd_records++;
        q->rd_samples += *samples;
        q->cursor_dirty = true;
        return AM_EINVAL;
    }
    return AM_OK;
}

static int peek_locked(struct am_rw_queue *q, struct am_buf *out, uint32_t *samples)
{
    for (;;) {
        if (q->n == 0) {
            return AM_EAGAIN;
        }
        if (q->rd_off >= q->segs[0].end) {
            if (q->n == 1) {
                return AM_EAGAIN;
            }
            seg_drop_head(q);
            continue;
        }
        uint64_t off = q->rd_off;
        int rc = read_record(q, out, samples);
        if (rc == AM_EINVAL) {
            q->c.corrupt_records++;
            AM_LOG_RL(AM_LOG_LEVEL_WARN, "rw_queue",
                      "unreadable record skipped segment=%016" PRIx64 " offset=%" PRIu64,
                      q->segs[0].seq, off);
            continue;
        }
        if (rc == AM_OK) {
            q->peeked = true;
            q->peek_seq = q->segs[0].seq;
            q->peek_off = off;
            q->peek_next = off + REC_HDR + out->len;
            q->peek_samples = *samples;
        }
        return rc;
    }
}

int am_rw_queue_peek(struct am_rw_queue *q, struct am_buf *out, uint32_t *samples)
{
    pthread_mutex_lock(&q->mu);
    int rc = peek_locked(q, out, samples);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int am_rw_queue_ack(struct am_rw_queue *q)
{
    pthread_mutex_lock(&q->mu);
    /* The peeked record may have been dropped (queue full) meanwhile. */
    if (q->peeked && q->n > 0 && q->segs[0].seq == q->peek_seq && q->rd_off == q->peek_off) {
        q->rd_off = q->peek_next;
        q->rd_records++;
        q->rd_samples += q->peek_samples;
        if (q->rd_off >= q->segs[0].end && q->n > 1) {
            seg_drop_head(q);
        }
        q->cursor_dirty = true;
    }
    q->peeked = false;
    pthread_mutex_unlock(&q->mu);
    return AM_OK;
}

/* The cursor is read under mu and written under commit_mu alone, so the
 * sender's acks and the snapshot appends never wait on the disk for it. A
 * cursor older than the segments on disk is harmless: recovery starts at
 * the first segment left (everything before it was acknowledged). */
int am_rw_queue_commit(struct am_rw_queue *q)
{
    pthread_mutex_lock(&q->commit_mu);
    pthread_mutex_lock(&q->mu);
    bool dirty = q->cursor_dirty;
    uint64_t seq = q->n ? q->segs[0].seq : 0;
    uint64_t off = q->rd_off;
    q->cursor_dirty = false;
    pthread_mutex_unlock(&q->mu);
    int rc = AM_OK;
    if (dirty) {
        rc = cursor_write(q, seq, off);
        if (rc != AM_OK) {
            pthread_mutex_lock(&q->mu);
            q->cursor_dirty = true; /* try again at the next commit */
            pthread_mutex_unlock(&q->mu);
        }
    }
    pthread_mutex_unlock(&q->commit_mu);
    return rc;
}

void am_rw_queue_counts(struct am_rw_queue *q, struct am_rw_queue_counts *out)
{
    pthread_mutex_lock(&q->mu);
    *out = q->c;
    out->cursor_writes = __atomic_load_n(&q->cursor_writes, __ATOMIC_RELAXED);
    out->dir_syncs = __atomic_load_n(&q->dir_syncs, __ATOMIC_RELAXED);
    out->records = 0;
    for (size_t i = 0; i < q->n; i++) {
        out->records += q->segs[i].records;
    }
    out->records -= q->rd_records;
    out->bytes = disk_bytes(q) - q->rd_off;
    pthread_mutex_unlock(&q->mu);
}
