/* testsupport.c - fixture and golden-file helpers for the unit tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/alloc.h"
#include "testsupport.h"

char *ts_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        abort();
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL) {
        *len = (size_t)n;
    }
    return buf;
}

int ts_golden_compare(const char *path, const char *got, size_t got_len)
{
    const char *regen = getenv("AM_REGEN_GOLDEN");
    if (regen != NULL && strcmp(regen, "1") == 0) {
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(got, 1, got_len, f) != got_len) {
            abort();
        }
        fclose(f);
        return 0;
    }
    size_t want_len;
    char *want = ts_read_file(path, &want_len);
    int rc = 0;
    if (want_len != got_len || memcmp(want, got, got_len) != 0) {
        size_t i = 0;
        size_t line = 1;
        while (i < want_len && i < got_len && want[i] == got[i]) {
            if (want[i] == '\n') {
                line++;
            }
            i++;
        }
        fprintf(stderr, "golden mismatch %s at line %zu (byte %zu)\n--- got:\n%.*s\n", path, line,
                i, (int)(got_len < 4000 ? got_len : 4000), got);
        rc = 1;
    }
    free(want);
    return rc;
}

unsigned long ts_each_alloc(void (*fn)(void *ctx, unsigned long nth), void *ctx)
{
    am_alloc_fail_at(0);
    fn(ctx, 0);
    unsigned long total = am_alloc_count();
    for (unsigned long nth = 1; nth <= total; nth++) {
        am_alloc_fail_at(nth);
        fn(ctx, nth);
        am_alloc_fail_at(0);
    }
    return total;
}
