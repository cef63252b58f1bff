/*
 * main.c - agentmeter-loadgen: sends realistic GenAI agent traces to an
 * OTLP/HTTP endpoint (protobuf, keep-alive) at --rate traces per second
 * for --duration seconds (0 = until SIGINT/SIGTERM), and prints a summary.
 * For demos and the ops tests; not a benchmark (tests/bench is).
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

struct opts {
    char host[256];
    char port[16];
    char path[256];
    double rate;
    double duration;
    double inject;
    uint64_t seed;
    const char *service;
    bool quiet;
};

struct client {
    const struct opts *o;
    int fd;
    char hdr[1024];
    uint64_t requests;
    uint64_t failures;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* http://host[:port][/path] into o; the path defaults to /v1/traces. */
static int parse_endpoint(const char *url, struct opts *o)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strstr(p, "://") != NULL) {
        fprintf(stderr, "agentmeter-loadgen: only http:// endpoints are supported\n");
        return -1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof(o->host)) {
        return -1;
    }
    snprintf(o->host, sizeof(o->host), "%.*s", (int)hl, p);
    p += hl;
    snprintf(o->port, sizeof(o->port), "4318");
    if (*p == ':') {
        size_t pl = strcspn(++p, "/");
        if (pl == 0 || pl >= sizeof(o->port)) {
            return -1;
        }
        snprintf(o->port, sizeof(o->port), "%.*s", (int)pl, p);
        p += pl;
    }
    snprintf(o->path, sizeof(o->path), "%s", *p == '/' && p[1] != '\0' ? p : "/v1/traces");
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: agentmeter-loadgen [--endpoint http://HOST:PORT[/v1/traces]] [--rate TRACES/S]\n"
          "                          [--duration SECONDS] [--inject RATIO] [--service NAME]\n"
          "                          [--seed N] [--quiet]\n"
          "  --endpoint  OTLP/HTTP endpoint (default http://127.0.0.1:4318/v1/traces)\n"
          "  --rate      agent requests (traces) per second, default 5\n"
          "  --duration  seconds to run, default 0 = until interrupted\n"
          "  --inject    share of traces that look like prompt injection (huge prompts,\n"
          "              an unusual tool, inference loops, low scores), default 0\n"
          "  --service   resource service.name, default agent-platform\n",
          f);
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {{"endpoint", required_argument, NULL, 'e'},
                                          {"rate", required_argument, NULL, 'r'},
                                          {"duration", required_argument, NULL, 'd'},
                                          {"inject", required_argument, NULL, 'i'},
                                          {"service", required_argument, NULL, 's'},
                                          {"seed", required_argument, NULL, 'S'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    *o = (struct opts){.rate = 5, .service = "agent-platform", .seed = (uint64_t)time(NULL)};
    parse_endpoint("http://127.0.0.1:4318", o);
    int ch;
    int bad = 0;
    double v;
    while (!bad && (ch = getopt_long(argc, argv, "e:r:d:i:s:S:qh", longs, NULL)) != -1) {
        switch (ch) {
        case 'e':
            bad = parse_endpoint(optarg, o);
            break;
        case 'r':
            bad = parse_num(optarg, 0.01, 100000, &o->rate);
            break;
        case 'd':
            bad = parse_num(optarg, 0, 1e9, &o->duration);
            break;
        case 'i':
            bad = parse_num(optarg, 0, 1, &o->inject);
            break;
        case 's':
            o->service = optarg;
            break;
        case 'S':
            bad = parse_num(optarg, 0, 1e18, &v);
            o->seed = (uint64_t)v;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            bad = -1;
            break;
        }
    }
    if (bad != 0 || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static int dial(const struct opts *o)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(o->host, o->port, &hints, &res) != 0) {
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static size_t header_number(const char *head, const char *name)
{
    const char *h = strcasestr(head, name);
    if (h == NULL) {
        return 0;
    }
    return (size_t)strtoull(h + strlen(name), NULL, 10);
}

/* Read one response (Content-Length framed); returns its status, -1 on a
 * broken connection. Sets *close_after when the server asked to close. */
static int read_reply(int fd, bool *close_after)
{
    char buf[8192];
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        ssize_t k = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0 || have + (size_t)k >= sizeof(buf) - 1) {
            return -1;
        }
        have += (size_t)k;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    *end = '\0';
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strlen(buf) < 12) {
        return -1;
    }
    int status = (int)strtol(buf + 9, NULL, 10);
    *close_after = strcasestr(buf, "\r\nconnection: close") != NULL;
    size_t want = header_number(buf, "\r\ncontent-length:");
    size_t got = have - (size_t)(end + 4 - buf);
    while (got < want) {
        ssize_t k = recv(fd, buf, sizeof(buf), 0);
        if (k <= 0 && !(k < 0 && errno == EINTR)) {
            return -1;
        }
        got += k > 0 ? (size_t)k : 0;
    }
    return status;
}

/* POST one body; one reconnect-and-retry on a broken keep-alive. */
static int post(struct client *c, const struct lg_pbw *body)
{
    int hl = snprintf(c->hdr, sizeof(c->hdr),
                      "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: agentmeter-loadgen/%s\r\n"
                      "Content-Type: application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
                      c->o->path, c->o->host, c->o->port, AM_VERSION, body->len);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0) {
            c->fd = dial(c->o);
            if (c->fd < 0) {
                return -1;
            }
        }
        bool close_after = false;
        int status = -1;
        if (write_all(c->fd, c->hdr, (size_t)hl) == 0 &&
            write_all(c->fd, body->p, body->len) == 0) {
            status = read_reply(c->fd, &close_after);
        }
        if (status < 0 || close_after) {
            close(c->fd);
            c->fd = -1;
        }
        if (status >= 0) {
            return status;
        }
    }
    return -1;
}

static void send_batch(struct client *c, struct lg_gen *g, struct lg_pbw *w, unsigned n)
{
    lg_gen_request(g, w, n, wall_ns());
    int status = post(c, w);
    c->requests++;
    if (status != 200) {
        c->failures++;
        if (c->failures <= 5 || c->failures % 100 == 0) {
            fprintf(stderr, "agentmeter-loadgen: POST http://%s:%s%s: %s %d (%llu failures)\n",
                    c->o->host, c->o->port, c->o->path, status < 0 ? "connection failed" : "HTTP",
                    status, (unsigned long long)c->failures);
        }
    }
}

static void sleep_until(uint64_t t_ns)
{
    uint64_t now = mono_ns();
    if (t_ns > now) {
        struct timespec ts = {(time_t)((t_ns - now) / 1000000000ull),
                              (long)((t_ns - now) % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        return 2;
    }
    install_signals();
    struct lg_gen g;
    struct lg_pbw w = {0};
    struct client c = {.o = &o, .fd = -1};
    lg_gen_init(&g, o.seed * 0x9e3779b97f4a7c15ull + 1, o.inject, o.service);
    if (!o.quiet) {
        fprintf(stderr, "agentmeter-loadgen: %.2f traces/s to http://%s:%s%s", o.rate, o.host,
                o.port, o.path);
        if (o.duration > 0) {
            fprintf(stderr, " for %g s\n", o.duration);
        } else {
            fputs(" until interrupted\n", stderr);
        }
    }
    /* A tick every 200 ms (or per trace, when slower) sends the traces due. */
    uint64_t t0 = mono_ns();
    uint64_t tick = o.rate >= 5 ? 200000000ull : (uint64_t)(1e9 / o.rate);
    uint64_t sent = 0;
    for (uint64_t k = 1; !stop_flag; k++) {
        double elapsed = (double)(k * tick) / 1e9;
        if (o.duration > 0 && elapsed > o.duration + 1e-9) {
            break;
        }
        sleep_until(t0 + k * tick);
        uint64_t due = (uint64_t)(o.rate * elapsed + 1e-9);
        if (due > sent && !stop_flag) {
            send_batch(&c, &g, &w, (unsigned)(due - sent));
            sent = due;
        }
    }
    double secs = (double)(mono_ns() - t0) / 1e9;
    printf("{\"traces\": %llu, \"spans\": %llu, \"injected\": %llu, \"requests\": %llu, "
           "\"failed_requests\": %llu, \"seconds\": %.1f}\n",
           (unsigned long long)g.traces, (unsigned long long)g.spans,
           (unsigned long long)g.injected, (unsigned long long)c.requests,
           (unsigned long long)c.failures, secs);
    if (c.fd >= 0) {
        close(c.fd);
    }
    lg_pbw_fini(&w);
    return c.failures == 0 ? 0 : 1;
}
