/*
 * listen.c - listening sockets (am/server.h): "host:port" endpoints bound
 * once and shared by every worker, the listener's TLS context and bearer
 * token (both swappable on SIGHUP), the constant-time token check, and the
 * listener-wide budget of request bytes in flight.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/log.h"
#include "am/server.h"
#include "am/tls.h"

#include "server_int.h"

#define LISTEN_BACKLOG 1024
#define TOKEN_MAX_BYTES 4096

int am_listener_parse_endpoint(const char *ep, char *host, size_t host_cap, uint16_t *port)
{
    const char *colon;
    const char *h = ep;
    size_t hlen;
    if (ep[0] == '[') {
        const char *close = strchr(ep, ']');
        if (close == NULL || close == ep + 1 || close[1] != ':') {
            return AM_EINVAL;
        }
        h = ep + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strchr(ep, ':');
        if (colon == NULL || strchr(colon + 1, ':') != NULL) {
            return AM_EINVAL; /* IPv6 needs [brackets] */
        }
        hlen = (size_t)(colon - ep);
    }
    for (size_t i = 0; i < hlen; i++) {
        if ((unsigned char)h[i] <= ' ' || h[i] == '/' || h[i] == 0x7f || h[i] == '[' ||
            h[i] == ']') {
            return AM_EINVAL;
        }
    }
    uint64_t p;
    size_t plen = strlen(colon + 1);
    if (hlen >= host_cap || plen > 5 ||
        am_str_to_u64((struct am_str){colon + 1, plen}, &p) != AM_OK || p > 65535) {
        return AM_EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return AM_OK;
}

static int bind_one(const struct sockaddr *sa, socklen_t salen, const char **why)
{
    int one = 1;
    int zero = 0;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = "socket failed";
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, sa, salen) != 0) {
        *why = "bind failed";
        goto fail;
    }
    if (listen(fd, LISTEN_BACKLOG) != 0) {
        *why = "listen failed";
        goto fail;
    }
    return fd;
fail:
    AM_LOG_ERROR("net", "%s: %s", *why, strerror(errno));
    close(fd);
    return -1;
}

/* All interfaces: dual-stack [::] when IPv6 exists, else 0.0.0.0. */
static int bind_any(uint16_t port, const char **why)
{
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(port)};
    s6.sin6_addr = in6addr_any;
    s4.sin_addr.s_addr = htonl(INADDR_ANY);
    int fd = bind_one((const struct sockaddr *)&s6, sizeof(s6), why);
    if (fd < 0) {
        fd = bind_one((const struct sockaddr *)&s4, sizeof(s4), why);
    }
    return fd;
}

static int bind_host(const char *host, uint16_t port, const char **why)
{
    char service[8];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        AM_LOG_ERROR("net", "resolve %s: %s", host, gai_strerror(gai));
        *why = "cannot resolve listen host";
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = bind_one(ai->ai_addr, ai->ai_addrlen, why);
    }
    freeaddrinfo(res);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

struct am_listener *am_listener_open(const char *endpoint, const char **why)
{
    char host[256];
    uint16_t port;
    const char *sink;
    if (why == NULL) {
        why = &sink;
    }
    if (endpoint == NULL ||
        am_listener_parse_endpoint(endpoint, host, sizeof(host), &port) != AM_OK) {
        *why = "endpoint must be host:port";
        return NULL;
    }
    int fd = host[0] == '\0' ? bind_any(port, why) : bind_host(host, port, why);
    if (fd < 0) {
        return NULL;
    }
    struct am_listener *l = am_xcalloc(1, sizeof(*l));
    l->fd = fd;
    l->port = bound_port(fd);
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void am_listener_close(struct am_listener *l)
{
    if (l == NULL) {
        return;
    }
    close(l->fd);
    am_tls_ctx_unref(l->tls);
    if (l->token != NULL) {
        memset(l->token, 0, l->token_len);
        am_free(l->token);
    }
    pthread_mutex_destroy(&l->mu);
    am_free(l);
}

int am_listener_set_tls(struct am_listener *l, const struct am_tls_opts *cfg, bool h2, bool only_h2,
                        const char **why)
{
    struct am_tls_ctx *ctx = am_tls_ctx_create(cfg, h2, only_h2, why);
    if (ctx == NULL) {
        return AM_ECONFIG;
    }
    pthread_mutex_lock(&l->mu);
    struct am_tls_ctx *old = l->tls;
    l->tls = ctx;
    pthread_mutex_unlock(&l->mu);
    am_tls_ctx_unref(old); /* sessions that began on it keep their own reference */
    return AM_OK;
}

/* The whole file, trailing whitespace dropped; the token is secret, so
 * nothing here logs it and the buffer is wiped before it is freed. */
static int read_token(const char *file, char **out, size_t *out_len, const char **why)
{
    char buf[TOKEN_MAX_BYTES + 1];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        AM_LOG_ERROR("net", "open bearer_token_file %s: %s", file, strerror(errno));
        *why = "cannot read auth.bearer_token_file";
        return AM_EIO;
    }
    size_t len = 0;
    ssize_t n;
    do {
        n = read(fd, buf + len, sizeof(buf) - len);
        len += n > 0 ? (size_t)n : 0;
    } while ((n > 0 || (n < 0 && errno == EINTR)) && len < sizeof(buf));
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t')) {
        len--;
    }
    int rc = AM_OK;
    if (n < 0 || len == 0 || len > TOKEN_MAX_BYTES) {
        *why = "auth.bearer_token_file must hold one token of 1 to 4096 bytes";
        rc = AM_ECONFIG;
    } else {
        *out = am_xstrndup(buf, len);
        *out_len = len;
    }
    memset(buf, 0, sizeof(buf));
    return rc;
}

int am_listener_set_bearer_token(struct am_listener *l, const char *file, const char **why)
{
    char *token = NULL;
    size_t len = 0;
    if (file != NULL) {
        int rc = read_token(file, &token, &len, why);
        if (rc != AM_OK) {
            return rc;
        }
    }
    pthread_mutex_lock(&l->mu);
    char *old = l->token;
    size_t old_len = l->token_len;
    l->token = token;
    l->token_len = len;
    pthread_mutex_unlock(&l->mu);
    if (old != NULL) {
        memset(old, 0, old_len);
        am_free(old);
    }
    return AM_OK;
}

/* Constant time in the token's content: every byte of the longer of the
 * two is looked at whatever matched before. */
static bool token_eq(const char *want, size_t want_len, struct am_str got)
{
    unsigned diff = (unsigned)(want_len ^ got.len);
    size_t n = want_len > got.len ? want_len : got.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = i < want_len ? (unsigned char)want[i] : 0;
        unsigned char b = i < got.len ? (unsigned char)got.ptr[i] : 0;
        diff |= (unsigned)(a ^ b);
    }
    return diff == 0;
}

int am_srv_check_auth(struct am_server *s, const struct am_http_request *req)
{
    struct am_listener *l = s->listener;
    struct am_str v = req->authorization;
    bool ok = true;
    pthread_mutex_lock(&l->mu);
    if (l->token != NULL) {
        bool bearer = v.len > 7 && am_str_case_eq((struct am_str){v.ptr, 7}, AM_STR("Bearer "));
        struct am_str tok = bearer ? (struct am_str){v.ptr + 7, v.len - 7} : AM_STR("");
        ok = token_eq(l->token, l->token_len, tok) && bearer;
    }
    pthread_mutex_unlock(&l->mu);
    if (!ok) {
        STAT_ADD(l, unauthenticated, 1);
        return 401;
    }
    return AM_OK;
}

bool am_srv_reserve(struct am_server *s, int64_t n)
{
    struct am_listener *l = s->listener;
    if (n <= 0) {
        STAT_SUB(l, inflight_bytes, (uint64_t)-n);
        return true;
    }
    uint64_t now = STAT_ADD(l, inflight_bytes, (uint64_t)n) + (uint64_t)n;
    if (s->opts.max_inflight_bytes != 0 && now > s->opts.max_inflight_bytes) {
        STAT_SUB(l, inflight_bytes, (uint64_t)n);
        STAT_ADD(l, inflight_rejected, 1);
        return false;
    }
    return true;
}

bool am_srv_memory_refuse(struct am_server *s)
{
    if (s->opts.memlimit == NULL ||
        !am_memlimit_over(s->opts.memlimit, am_clock_mono(am_loop_clock(s->loop)))) {
        return false;
    }
    STAT_ADD(s->listener, memory_refused, 1);
    return true;
}

void am_srv_buf_shrink(struct am_buf *b)
{
    if (b->len == 0 && b->cap > CONN_KEEP_BYTES) {
        am_buf_fini(b);
    }
}

int am_listener_port(const struct am_listener *l)
{
    return l->port;
}

const struct am_server_stats *am_listener_stats(const struct am_listener *l)
{
    return &l->stats;
}
