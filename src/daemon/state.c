/*
 * state.c - processors.genai.state_dir (SPEC.md 3 "Conversations"): the
 * open conversations saved at shutdown (a temporary file, fsync, rename,
 * then the directory fsynced) and restored at the next start, after which
 * the file is removed so a crash cannot restore them twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am/alloc.h"
#include "am/clock.h"
#include "am/conv.h"
#include "am/err.h"
#include "am/log.h"

#include "daemon_int.h"

#define STATE_FILE "conversations.state"
#define STATE_MAX_BYTES ((size_t)1 << 30)

static void state_path(const struct am_daemon *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", d->cfg.state_dir, STATE_FILE);
}

/* Restore open conversations saved by the previous run, then remove the
 * file so a crash after this point cannot restore them twice. */
void am_state_load(struct am_daemon *d)
{
    char path[4096];
    struct stat st;
    state_path(d, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) {
            AM_LOG_WARN("daemon", "state %s: %s", path, strerror(errno));
        }
        return;
    }
    if (fstat(fd, &st) != 0 || (size_t)st.st_size > STATE_MAX_BYTES) {
        AM_LOG_WARN("daemon", "state %s: unreadable or too large; ignored", path);
        close(fd);
        return;
    }
    char *data = am_xmalloc((size_t)st.st_size + 1);
    ssize_t n = read(fd, data, (size_t)st.st_size);
    close(fd);
    if (n != st.st_size) {
        AM_LOG_WARN("daemon", "state %s: short read; ignored", path);
        am_free(data);
        return;
    }
    uint64_t now = am_clock_mono(am_clock_system());
    int rc = am_conv_load(d->conv, data, (size_t)n, now, &d->workers[0].sink);
    am_free(data);
    if (rc != AM_OK) {
        AM_LOG_WARN("daemon", "state %s: %s; restored what came before the fault", path,
                    am_strerror(rc));
    }
    AM_LOG_INFO("daemon", "restored %zu open conversation(s) from %s", am_conv_open_count(d->conv),
                path);
    unlink(path);
}

/* Write the open conversations: a temporary file, fsync, then rename. */
int am_state_save(struct am_daemon *d, uint64_t now)
{
    char path[4096];
    char tmp[4200];
    struct am_buf buf;
    int rc = AM_EIO;
    am_buf_init(&buf, STATE_MAX_BYTES);
    if (am_conv_save(d->conv, now, &buf) != AM_OK) {
        AM_LOG_ERROR("daemon", "state: open conversations exceed %zu bytes", STATE_MAX_BYTES);
        am_buf_fini(&buf);
        return AM_ETOOBIG;
    }
    mkdir(d->cfg.state_dir, 0750);
    state_path(d, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd >= 0) {
        size_t off = 0;
        while (off < buf.len) {
            ssize_t w = write(fd, buf.data + off, buf.len - off);
            if (w <= 0) {
                break;
            }
            off += (size_t)w;
        }
        if (off == buf.len && fsync(fd) == 0 && rename(tmp, path) == 0) {
            rc = AM_OK;
        }
        close(fd);
    }
    if (rc != AM_OK) {
        AM_LOG_ERROR("daemon", "state %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    am_buf_fini(&buf);
    return rc;
}
