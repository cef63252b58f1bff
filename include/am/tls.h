#ifndef AM_TLS_H
#define AM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "am/buf.h"

/*
 * TLS for the listeners on OpenSSL, through memory BIOs: the connection
 * feeds ciphertext read from the socket (am_tls_feed), reads plaintext
 * (am_tls_read), writes plaintext (am_tls_write) and sends what
 * am_tls_take_out gives. TLS 1.2 minimum; ALPN selects h2 or http/1.1;
 * client_ca_file turns on mutual TLS (no valid client certificate: the
 * handshake fails). A context is reference counted (OpenSSL's own count):
 * reloading builds a new one, and sessions keep the context they began with.
 * No sockets here; errors come back as codes with a static why.
 */

struct am_tls_ctx;
struct am_tls;

/* A listener's TLS (receivers.otlp.*.tls, exporters.prometheus.tls); filled
 * by config. cert_file NULL: no TLS. */
struct am_tls_opts {
    char *cert_file;
    char *key_file;
    char *client_ca_file; /* non-NULL turns on mutual TLS */
};

/* Build a server context from cert_file/key_file (and client_ca_file).
 * h2 adds "h2" to the ALPN protocols offered (before http/1.1; a gRPC
 * listener passes only_h2). Returns NULL with *why set (static) when a
 * file cannot be loaded or the key does not match the certificate. */
struct am_tls_ctx *am_tls_ctx_create(const struct am_tls_opts *cfg, bool h2, bool only_h2,
                                     const char **why);
void am_tls_ctx_ref(struct am_tls_ctx *ctx);
/* Drop one reference; NULL is a no-op. */
void am_tls_ctx_unref(struct am_tls_ctx *ctx);

/* A server-side session on ctx (which it references). NULL on OOM. */
struct am_tls *am_tls_create(struct am_tls_ctx *ctx);
/* A client-side session (tests): verifies against ca_file when set, offers
 * alpn (comma list, e.g. "h2,http/1.1"), presents cert/key when set. */
struct am_tls *am_tls_create_client(const char *ca_file, const char *cert_file,
                                    const char *key_file, const char *alpn, const char **why);
void am_tls_destroy(struct am_tls *t);

/* Ciphertext from the peer. Returns AM_OK or AM_ENOMEM. */
int am_tls_feed(struct am_tls *t, const uint8_t *data, size_t len);
/* Plaintext into out (up to cap). Returns bytes (> 0), AM_EAGAIN (feed
 * more, or send what take_out gives), AM_ECLOSED (close_notify), or
 * AM_EINVAL with *why set (handshake or record failure: send take_out's
 * alert, then close). Drives the handshake. */
ssize_t am_tls_read(struct am_tls *t, uint8_t *out, size_t cap, const char **why);
/* Encrypt plaintext. Returns bytes taken (all of len once the handshake is
 * done), AM_EAGAIN (handshake not finished: retry later) or AM_EINVAL. */
ssize_t am_tls_write(struct am_tls *t, const uint8_t *data, size_t len);
/* Move pending ciphertext to out. Returns AM_OK or AM_ETOOBIG (out's cap). */
int am_tls_take_out(struct am_tls *t, struct am_buf *out);
bool am_tls_handshake_done(const struct am_tls *t);
/* The negotiated ALPN protocol ("h2", "http/1.1") or NULL. */
const char *am_tls_alpn(const struct am_tls *t);
/* Queue a close_notify. */
void am_tls_shutdown(struct am_tls *t);

#endif
