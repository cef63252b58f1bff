#ifndef AM_ERR_H
#define AM_ERR_H

/*
 * One error space for the whole daemon. Functions returning int give AM_OK or
 * one of these; functions returning ssize_t give bytes consumed (>= 0) or one
 * of these. Detail for humans travels separately as a static `const char *why`.
 */

enum am_err {
    AM_OK = 0,
    AM_EAGAIN = -1,       /* need more input, or would block */
    AM_EINVAL = -2,       /* malformed input */
    AM_ETOOBIG = -3,      /* a configured limit was hit */
    AM_ENOMEM = -4,       /* allocation failed (arena budget, or a test hook) */
    AM_EUNSUPPORTED = -5, /* well-formed but not something we do */
    AM_EIO = -6,          /* a syscall failed; errno was logged where it happened */
    AM_ECLOSED = -7,      /* peer went away */
    AM_ECONFIG = -8,      /* configuration rejected */
    AM_EINTERNAL = -9,    /* programmer error surfaced as a code */
    AM_ENOTFOUND = -10,   /* lookup found nothing (route, model, key) */
};

/* Short lower-case name of an error code ("invalid input"); never NULL. */
const char *am_strerror(int err);

#endif
