/*
 * bench_h2.c - a blocking OTLP/gRPC client for am_bench_client over h2c
 * (nghttp2 client session on one socket): one unary Export call at a time,
 * the answer being the grpc-status of the stream's headers or trailers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <nghttp2/nghttp2.h>

#include "am/alloc.h"
#include "bench_h2.h"

struct bench_h2 {
    int fd;
    nghttp2_session *s;
    char authority[64];
    const uint8_t *msg;
    size_t msg_len;
    size_t msg_off;
    int32_t stream;
    bool done;
    int grpc_status;
    bool broken;
};

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    struct bench_h2 *h = ud;
    (void)s;
    (void)flags;
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(h->fd, data + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            h->broken = true;
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        off += (size_t)n;
    }
    return (ssize_t)len;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct bench_h2 *h = ud;
    (void)s;
    (void)flags;
    if (f->hd.stream_id == h->stream && namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        int v = 0;
        for (size_t i = 0; i < valuelen; i++) {
            v = v * 10 + (value[i] - '0');
        }
        h->grpc_status = v;
    }
    return 0;
}

static int on_close(nghttp2_session *s, int32_t stream, uint32_t err, void *ud)
{
    struct bench_h2 *h = ud;
    (void)s;
    if (stream == h->stream) {
        h->done = true;
        if (err != 0) {
            h->grpc_status = -1;
        }
    }
    return 0;
}

static ssize_t read_msg(nghttp2_session *s, int32_t stream, uint8_t *buf, size_t len,
                        uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct bench_h2 *h = ud;
    (void)s;
    (void)stream;
    (void)src;
    size_t n = h->msg_len - h->msg_off;
    if (n > len) {
        n = len;
    }
    memcpy(buf, h->msg + h->msg_off, n);
    h->msg_off += n;
    if (h->msg_off == h->msg_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

struct bench_h2 *bench_h2_open(int fd, int port)
{
    struct bench_h2 *h = am_xcalloc(1, sizeof(*h));
    h->fd = fd;
    snprintf(h->authority, sizeof(h->authority), "127.0.0.1:%d", port);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_client_new(&h->s, cb, h);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20}};
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 1);
    return h;
}

void bench_h2_close(struct bench_h2 *h)
{
    if (h != NULL) {
        nghttp2_session_del(h->s);
        am_free(h);
    }
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

int bench_h2_export(struct bench_h2 *h, const uint8_t *msg, size_t len)
{
    nghttp2_nv hdrs[] = {
        NV(":method", "POST"),
        NV(":scheme", "http"),
        NV(":path", "/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
        NV(":authority", h->authority),
        NV("content-type", "application/grpc"),
        NV("te", "trailers"),
    };
    nghttp2_data_provider dp = {.read_callback = read_msg};
    h->msg = msg;
    h->msg_len = len;
    h->msg_off = 0;
    h->done = false;
    h->grpc_status = -1;
    h->stream = nghttp2_submit_request(h->s, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &dp, h);
    if (h->stream < 0) {
        return -1;
    }
    uint8_t buf[16384];
    while (!h->done) {
        if (nghttp2_session_send(h->s) != 0 || h->broken) {
            return -1;
        }
        if (h->done) {
            break;
        }
        ssize_t n = recv(h->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || nghttp2_session_mem_recv(h->s, buf, (size_t)n) < 0) {
            return -1;
        }
    }
    nghttp2_session_send(h->s); /* WINDOW_UPDATE and friends */
    return h->grpc_status;
}
