/*
 * fuzz_rw_queue.c - the remote_write queue's segment reader on random
 * bytes (STYLE.md 5.10). The input becomes a segment file (and, when its
 * first byte is odd, its first 24 bytes a cursor file too); the queue must
 * open it, replay every record it accepts, and take a new append after,
 * without crashing or reading out of bounds. Record counts stay within
 * what the input could hold.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/buf.h"
#include "am/err.h"
#include "am/log.h"
#include "am/rw.h"

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        if (n > 0) {
            fwrite(p, 1, n, f);
        }
        fclose(f);
    }
}

static void remove_all(const char *dir)
{
    static const char *const names[] = {"0000000000000001.seg", "0000000000000002.seg", "cursor",
                                        "cursor.tmp", "lock"};
    char path[256];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[] = "/tmp/am_fuzz_rwq_XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return 0;
    }
    am_log_set_level(AM_LOG_LEVEL_ERROR);
    size_t skip = 0;
    if (size >= 25 && (data[0] & 1)) {
        write_file(dir, "cursor", data + 1, 24);
        skip = 25;
    }
    write_file(dir, "0000000000000001.seg", data + skip, size - skip);
    struct am_rw_queue_opts o = {.dir = dir, .segment_bytes = 1 << 20};
    struct am_rw_queue *q = NULL;
    const char *why = NULL;
    if (am_rw_queue_open(&o, &q, &why) == AM_OK) {
        struct am_buf b;
        am_buf_init(&b, 1 << 20);
        uint32_t samples;
        size_t n = 0;
        while (am_rw_queue_peek(q, &b, &samples) == AM_OK) {
            if (b.len > size || ++n > size / 16 + 1) {
                abort(); /* a record larger than the input, or too many */
            }
            am_rw_queue_ack(q);
        }
        if (am_rw_queue_append(q, "tail", 4, 1) != AM_OK ||
            am_rw_queue_peek(q, &b, &samples) != AM_OK || b.len != 4 ||
            memcmp(b.data, "tail", 4) != 0) {
            abort();
        }
        am_buf_fini(&b);
        am_rw_queue_close(q);
    }
    remove_all(dir);
    return 0;
}
