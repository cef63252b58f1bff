/*
 * bench_h2.h - a blocking OTLP/gRPC (h2c) client for am_bench_client: one
 * nghttp2 client session per connected socket, one Export call at a time.
 */
#ifndef BENCH_H2_H
#define BENCH_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_h2;

/* A session on the connected socket fd (the server listens on port). */
struct bench_h2 *bench_h2_open(int fd, int port);
void bench_h2_close(struct bench_h2 *h);
/* Send msg (5-byte gRPC prefix + protobuf) as one Export call and wait for
 * its end. Returns the grpc-status (0 = OK), or -1 when the call or the
 * connection failed. */
int bench_h2_export(struct bench_h2 *h, const uint8_t *msg, size_t len);

#endif
