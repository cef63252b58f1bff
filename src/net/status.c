/*
 * status.c - the one place an am_err becomes an HTTP status, and an HTTP
 * status a google.rpc.Code (SPEC.md 1, STYLE.md 5.6).
 */
#include "am/err.h"
#include "am/grpc.h"
#include "am/http.h"

int am_http_status_for(int err)
{
    switch (err) {
    case AM_OK:
        return 200;
    case AM_EINVAL:
        return 400;
    case AM_ETOOBIG:
        return 413;
    case AM_EUNSUPPORTED:
        return 415;
    case AM_ENOTFOUND:
        return 404;
    case AM_EAGAIN:
        return 503;
    default:
        return 500;
    }
}

/* The mapping itself lives in grpc.c: one place (STYLE.md 5.6). */
int am_http_grpc_code_for(int status)
{
    return am_grpc_code_for_status(status);
}

const char *am_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

enum am_http_method am_http_method_parse(struct am_str m)
{
    if (am_str_eq(m, AM_STR("GET"))) {
        return AM_HTTP_GET;
    }
    if (am_str_eq(m, AM_STR("POST"))) {
        return AM_HTTP_POST;
    }
    if (am_str_eq(m, AM_STR("HEAD"))) {
        return AM_HTTP_HEAD;
    }
    if (am_str_eq(m, AM_STR("PUT"))) {
        return AM_HTTP_PUT;
    }
    if (am_str_eq(m, AM_STR("DELETE"))) {
        return AM_HTTP_DELETE;
    }
    return AM_HTTP_OTHER;
}
