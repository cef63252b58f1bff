/*
 * rw_recv.h - test-only remote_write receiver: a loopback HTTP/1.1 server
 * on plain sockets in its own thread. Answers request i with script[i]
 * (status, optional Retry-After), decodes every 2xx body and records the
 * first sample value of each, can go down (listen socket closed,
 * connections refused) and come back on the same port.
 */
#ifndef RW_RECV_H
#define RW_RECV_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rw_decode.h"

#define RWR_MAX 64

struct rwr_step {
    int status;
    const char *extra; /* extra header line(s), "\r\n"-terminated, or NULL */
    bool down_after;   /* close everything after answering */
};

struct rwr {
    pthread_t thread;
    pthread_mutex_t mu;
    int lfd;
    int port;
    bool stop;
    bool down;
    int hold;       /* bound, not listening, while down (receiver thread only) */
    bool listening; /* receiver thread only */
    const struct rwr_step *script;
    size_t script_len;
    size_t requests;
    double req_time[RWR_MAX];
    double arrivals[RWR_MAX];
    size_t n_arrivals;
    char first_headers[2048];
};

static inline double rwr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A socket bound to 127.0.0.1:port (SO_REUSEPORT, so a "down" receiver can
 * hand the port over to a bound, non-listening socket: connections are
 * refused, yet no other process can take the port meanwhile). */
static inline int rwr_bind(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        abort();
    }
    return fd;
}

static inline int rwr_listen(int port)
{
    int fd = rwr_bind(port);
    if (listen(fd, 16) != 0) {
        abort();
    }
    return fd;
}

/* Stop listening but keep the port: a bound socket that never listens
 * answers every connection attempt with a reset. */
static inline int rwr_refuse(int lfd, int port)
{
    int hold = rwr_bind(port);
    if (lfd >= 0) {
        close(lfd);
    }
    return hold;
}

/* Read one request (headers + Content-Length body). 0 ok, -1 EOF/error. */
static inline int rwr_read(int fd, struct am_buf *in, size_t *hdr_len, size_t *body_len)
{
    for (;;) {
        char *e = in->len ? memmem(in->data, in->len, "\r\n\r\n", 4) : NULL;
        if (e != NULL) {
            *hdr_len = (size_t)(e - in->data) + 4;
            const char *cl = strcasestr(in->data, "\r\nContent-Length:");
            *body_len = cl != NULL && cl < e ? strtoul(cl + 17, NULL, 10) : 0;
            if (in->len >= *hdr_len + *body_len) {
                return 0;
            }
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) == 0) {
            continue;
        }
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            return -1;
        }
        am_buf_append(in, buf, (size_t)n);
        am_buf_append_byte(in, '\0');
        in->len--;
    }
}

/* Answer one request; returns true to go down afterwards. */
static inline bool rwr_answer(struct rwr *r, int fd, const char *hdr, size_t hdr_len,
                              const char *body, size_t body_len)
{
    pthread_mutex_lock(&r->mu);
    size_t i = r->requests++;
    struct rwr_step st = i < r->script_len ? r->script[i] : (struct rwr_step){200, NULL, false};
    if (i < RWR_MAX) {
        r->req_time[i] = rwr_now();
    }
    if (i == 0) {
        size_t n = hdr_len < sizeof(r->first_headers) - 1 ? hdr_len : sizeof(r->first_headers) - 1;
        memcpy(r->first_headers, hdr, n);
    }
    if (st.status / 100 == 2 && r->n_arrivals < RWR_MAX) {
        struct am_buf text;
        am_buf_init(&text, 1 << 20);
        if (rwd_decode(body, body_len, &text) > 0) {
            const char *sp = strchr(text.data, ' ');
            r->arrivals[r->n_arrivals++] = sp != NULL ? strtod(sp + 1, NULL) : -1;
        }
        am_buf_fini(&text);
    }
    pthread_mutex_unlock(&r->mu);
    char resp[512];
    int n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 2\r\n%s\r\nok",
                     st.status, st.extra ? st.extra : "");
    if (write(fd, resp, (size_t)n) != n) {
        return st.down_after;
    }
    return st.down_after;
}

/* Serve one connection until EOF, stop, or a down_after step. */
static inline bool rwr_conn(struct rwr *r, int fd)
{
    struct am_buf in;
    am_buf_init(&in, 64 << 20);
    bool down = false;
    size_t hl;
    size_t bl;
    while (!down && rwr_read(fd, &in, &hl, &bl) == 0) {
        down = rwr_answer(r, fd, in.data, hl, in.data + hl, bl);
        am_buf_consume(&in, hl + bl);
    }
    am_buf_fini(&in);
    close(fd);
    return down;
}

static inline void *rwr_main(void *arg)
{
    struct rwr *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        bool stop = r->stop;
        bool down = r->down;
        pthread_mutex_unlock(&r->mu);
        if (stop) {
            break;
        }
        if (down) {
            if (r->listening || r->hold < 0) {
                r->hold = rwr_refuse(r->lfd, r->port); /* refuse connections */
                r->lfd = -1;
                r->listening = false;
            }
            usleep(2000); /* the receiver is "dead": nothing to poll */
            continue;
        }
        if (!r->listening) {
            if (listen(r->hold, 16) != 0) {
                abort();
            }
            r->lfd = r->hold;
            r->hold = -1;
            r->listening = true;
        }
        struct pollfd p = {.fd = r->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0 && rwr_conn(r, fd)) {
            r->hold = rwr_refuse(r->lfd, r->port);
            r->lfd = -1;
            r->listening = false;
            pthread_mutex_lock(&r->mu);
            r->down = true;
            pthread_mutex_unlock(&r->mu);
        }
    }
    if (r->lfd >= 0) {
        close(r->lfd);
    }
    if (r->hold >= 0) {
        close(r->hold);
    }
    return NULL;
}

static inline void rwr_start(struct rwr *r, const struct rwr_step *script, size_t n)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->script = script;
    r->script_len = n;
    r->lfd = rwr_listen(0);
    r->hold = -1;
    r->listening = true;
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    getsockname(r->lfd, (struct sockaddr *)&a, &al);
    r->port = ntohs(a.sin_port);
    pthread_create(&r->thread, NULL, rwr_main, r);
}

/* A receiver that starts down: its port is bound but has never listened, so
 * no connection can reach it before the test brings it up. (Starting up and
 * then going down races: a sender may connect before the thread sees it.) */
static inline void rwr_start_down(struct rwr *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->lfd = -1;
    r->hold = rwr_bind(0);
    r->listening = false;
    r->down = true;
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    getsockname(r->hold, (struct sockaddr *)&a, &al);
    r->port = ntohs(a.sin_port);
    pthread_create(&r->thread, NULL, rwr_main, r);
}

static inline void rwr_set_down(struct rwr *r, bool down)
{
    pthread_mutex_lock(&r->mu);
    r->down = down;
    pthread_mutex_unlock(&r->mu);
}

static inline bool rwr_is_down(struct rwr *r)
{
    pthread_mutex_lock(&r->mu);
    bool d = r->down;
    pthread_mutex_unlock(&r->mu);
    return d;
}

static inline void rwr_stop(struct rwr *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->mu);
}

#endif
