/*
 * http.c - responses and the exact-path router shared by every transport
 * (am/http.h). Unknown path: 404; known path, other method: 405 with Allow.
 * Every error body, the router's own and the transport's, goes through one
 * formatter (default: text/plain `why`). Routes are fixed after setup.
 */
#include <string.h>

#include "am/alloc.h"
#include "am/http.h"

struct route {
    enum am_http_method method;
    char *path;
    size_t path_len;
    am_http_handler_cb cb;
    void *ud;
};

struct am_router {
    struct route *routes;
    size_t count;
    am_http_error_cb error_cb;
    void *error_ud;
    am_http_observe_cb observe_cb;
    void *observe_ud;
};

void am_http_response_init(struct am_http_response *r, size_t max_body)
{
    memset(r, 0, sizeof(*r));
    am_buf_init(&r->body, max_body);
    r->status = 200;
}

void am_http_response_fini(struct am_http_response *r)
{
    am_buf_fini(&r->body);
}

void am_http_response_reset(struct am_http_response *r)
{
    r->status = 200;
    r->content_type = NULL;
    r->content_encoding = NULL;
    r->extra_count = 0;
    am_buf_reset(&r->body);
}

void am_http_response_add_header(struct am_http_response *r, const char *name, const char *value)
{
    if (r->extra_count >= AM_HTTP_MAX_EXTRA_HEADERS) {
        return;
    }
    size_t n = strlen(value);
    if (n >= sizeof(r->extra[0].value)) {
        n = sizeof(r->extra[0].value) - 1;
    }
    r->extra[r->extra_count].name = name;
    memcpy(r->extra[r->extra_count].value, value, n);
    r->extra[r->extra_count].value[n] = '\0';
    r->extra_count++;
}

static void default_error(void *ud, const struct am_http_request *req, int status, const char *why,
                          struct am_http_response *resp)
{
    (void)ud;
    (void)req;
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    if (am_buf_append_str(&resp->body, why) != 0 || am_buf_append_byte(&resp->body, '\n') != 0) {
        am_buf_reset(&resp->body);
    }
}

struct am_router *am_router_create(void)
{
    struct am_router *r = am_xcalloc(1, sizeof(*r));
    r->error_cb = default_error;
    return r;
}

void am_router_destroy(struct am_router *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->count; i++) {
        am_free(r->routes[i].path);
    }
    am_free(r->routes);
    am_free(r);
}

void am_router_add(struct am_router *r, enum am_http_method method, const char *path,
                   am_http_handler_cb cb, void *ud)
{
    r->routes = am_xrealloc(r->routes, (r->count + 1) * sizeof(*r->routes));
    struct route *rt = &r->routes[r->count++];
    rt->method = method;
    rt->path = am_xstrdup(path);
    rt->path_len = strlen(path);
    rt->cb = cb;
    rt->ud = ud;
}

static const char *method_name(enum am_http_method m)
{
    switch (m) {
    case AM_HTTP_GET:
        return "GET";
    case AM_HTTP_HEAD:
        return "HEAD";
    case AM_HTTP_POST:
        return "POST";
    case AM_HTTP_PUT:
        return "PUT";
    case AM_HTTP_DELETE:
        return "DELETE";
    default:
        return NULL;
    }
}

/* "GET, POST": the methods routed for this path, in registration order. */
static void build_allow(const struct am_router *r, struct am_str path, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->count; i++) {
        const char *m = method_name(r->routes[i].method);
        struct am_str p = {r->routes[i].path, r->routes[i].path_len};
        size_t ml = m != NULL ? strlen(m) : 0;
        if (m == NULL || !am_str_eq(p, path) || n + ml + 3 > cap) {
            continue;
        }
        if (n > 0) {
            memcpy(out + n, ", ", 2);
            n += 2;
        }
        memcpy(out + n, m, ml);
        n += ml;
        out[n] = '\0';
    }
}

void am_router_dispatch(const struct am_router *r, const struct am_http_request *req,
                        struct am_http_response *resp)
{
    bool path_known = false;
    am_http_response_reset(resp);
    for (size_t i = 0; i < r->count; i++) {
        const struct route *rt = &r->routes[i];
        if (!am_str_eq((struct am_str){rt->path, rt->path_len}, req->path)) {
            continue;
        }
        path_known = true;
        if (rt->method == req->method && req->method != AM_HTTP_OTHER) {
            rt->cb(rt->ud, req, resp);
            return;
        }
    }
    if (!path_known) {
        am_router_error(r, req, 404, "not found", resp);
        return;
    }
    char allow[sizeof(resp->extra[0].value)];
    build_allow(r, req->path, allow, sizeof(allow));
    am_router_error(r, req, 405, "method not allowed", resp);
    am_http_response_add_header(resp, "Allow", allow);
}

void am_router_set_error(struct am_router *r, am_http_error_cb cb, void *ud)
{
    r->error_cb = cb != NULL ? cb : default_error;
    r->error_ud = cb != NULL ? ud : NULL;
}

void am_router_error(const struct am_router *r, const struct am_http_request *req, int status,
                     const char *why, struct am_http_response *resp)
{
    am_http_response_reset(resp);
    resp->status = status;
    r->error_cb(r->error_ud, req, status, why, resp);
    resp->status = status;
}

void am_router_set_observer(struct am_router *r, am_http_observe_cb cb, void *ud)
{
    r->observe_cb = cb;
    r->observe_ud = ud;
}

void am_router_observe(const struct am_router *r, const struct am_http_request *req, int status)
{
    if (r->observe_cb != NULL) {
        r->observe_cb(r->observe_ud, req, status);
    }
}

struct am_str am_http_media_type(struct am_str v)
{
    const char *semi = v.len ? memchr(v.ptr, ';', v.len) : NULL;
    if (semi != NULL) {
        v.len = (size_t)(semi - v.ptr);
    }
    while (v.len > 0 && (v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\t')) {
        v.len--;
    }
    return v;
}

/* ---- Accept, Accept-Encoding (RFC 9110 12.5) ---- */

static bool ieq(struct am_str a, const char *b)
{
    size_t n = strlen(b);
    if (a.len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = a.ptr[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c + 32);
        }
        if (c != b[i]) {
            return false;
        }
    }
    return true;
}

/* RFC 9110 qvalue: "0"["." 0-3 digits] or "1"["." 0-3 zeros], in
 * thousandths; -1 when malformed. */
static int qvalue(struct am_str v)
{
    if (v.len == 0 || v.len > 5 || (v.ptr[0] != '0' && v.ptr[0] != '1') ||
        (v.len > 1 && v.ptr[1] != '.') || v.len == 2) {
        return v.len == 1 && (v.ptr[0] == '0' || v.ptr[0] == '1') ? (v.ptr[0] - '0') * 1000 : -1;
    }
    int q = (v.ptr[0] - '0') * 1000;
    int scale = 100;
    for (size_t i = 2; i < v.len; i++, scale /= 10) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9') {
            return -1;
        }
        q += (v.ptr[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* The q of one media range (1000 when absent, -1 when malformed). */
static int range_q(struct am_str params)
{
    int q = 1000;
    while (params.len > 0) {
        struct am_str p = am_str_trim(am_str_cut(&params, ';'));
        struct am_str name = am_str_trim(am_str_cut(&p, '='));
        if (ieq(name, "q")) {
            q = qvalue(am_str_trim(p));
        }
    }
    return q;
}

int am_http_accept_q(struct am_str header, const char *const *names, size_t n)
{
    int best = -1;
    while (header.len > 0) {
        struct am_str item = am_str_cut(&header, ',');
        struct am_str token = am_str_trim(am_str_cut(&item, ';'));
        int q = range_q(item);
        if (q < 0) {
            continue; /* a malformed q drops its item */
        }
        for (size_t i = 0; i < n; i++) {
            if (ieq(token, names[i]) && q > best) {
                best = q;
            }
        }
    }
    return best;
}
