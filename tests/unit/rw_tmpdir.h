/*
 * rw_tmpdir.h - test-only scratch directories for the remote_write tests:
 * a fresh mkdtemp directory, and a recursive remove for cleanup.
 */
#ifndef RW_TMPDIR_H
#define RW_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline int rwt_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void rwt_rmdir(const char *dir)
{
    nftw(dir, rwt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Fills buf (>= 64 bytes) with a new empty directory's path. */
static inline void rwt_mkdtemp(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/am_%s_XXXXXX", tag);
    if (mkdtemp(buf) == NULL) {
        abort();
    }
}

#endif
