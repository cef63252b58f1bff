/* err.c - names for the daemon-wide error codes of am/err.h. */
#include "am/err.h"

const char *am_strerror(int err)
{
    switch (err) {
    case AM_OK:
        return "ok";
    case AM_EAGAIN:
        return "need more input";
    case AM_EINVAL:
        return "invalid input";
    case AM_ETOOBIG:
        return "limit exceeded";
    case AM_ENOMEM:
        return "out of memory";
    case AM_EUNSUPPORTED:
        return "unsupported";
    case AM_EIO:
        return "i/o error";
    case AM_ECLOSED:
        return "connection closed";
    case AM_ECONFIG:
        return "configuration error";
    case AM_EINTERNAL:
        return "internal error";
    case AM_ENOTFOUND:
        return "not found";
    default:
        return "unknown error";
    }
}
