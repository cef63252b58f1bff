/*
 * fuzz_h2_session.c - raw bytes fed to an HTTP/2 server session after the
 * client preface, split at a byte taken from the input, answering every
 * request. Invariants: the session never consumes more than it was given,
 * output stays bounded, every in-flight byte reserved is released.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am/err.h"
#include "am/h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_state {
    int64_t inflight;
};

static void on_request(void *ud, struct am_h2 *h, const struct am_h2_request *r)
{
    (void)ud;
    struct am_h2_field t[1] = {{AM_STR("grpc-status"), AM_STR("0")}};
    am_h2_respond(h, r->stream_id, r->error_status ? r->error_status : 200, NULL, 0,
                  (const uint8_t *)"ok", 2, t, r->grpc ? 1 : 0);
}

static bool reserve(void *ud, int64_t n)
{
    struct fuzz_state *s = ud;
    if (n > 0 && s->inflight + n > 8192) {
        return false;
    }
    s->inflight += n;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    struct fuzz_state st = {0};
    struct am_h2_opts o = {
        .max_concurrent_streams = 8,
        .max_header_bytes = 2048,
        .max_body_bytes = 4096,
        .on_request = on_request,
        .reserve = reserve,
        .ud = &st,
    };
    struct am_h2 *h = am_h2_create(&o);
    if (h == NULL) {
        return 0;
    }
    struct am_buf out;
    am_buf_init(&out, 1 << 20);
    am_h2_feed(h, (const uint8_t *)preface, sizeof(preface) - 1, 0);
    size_t split = size > 0 ? data[0] % (size + 1) : 0;
    ssize_t n = am_h2_feed(h, data, split, 1);
    if (n > (ssize_t)split) {
        abort();
    }
    am_h2_send(h, &out, 1 << 20);
    am_buf_reset(&out);
    n = am_h2_feed(h, data + split, size - split, 2);
    if (n > (ssize_t)(size - split)) {
        abort();
    }
    am_h2_expire(h, 3000000000ull, 1000000000ull);
    am_h2_send(h, &out, 1 << 20);
    am_h2_destroy(h);
    if (st.inflight != 0) {
        abort();
    }
    am_buf_fini(&out);
    return 0;
}
