/*
 * tls.c - OpenSSL server (and test client) sessions over memory BIOs
 * (am/tls.h, SPEC.md 4). The socket never reaches OpenSSL: ciphertext goes
 * in through rbio and comes out of wbio. am_tls_ctx is an SSL_CTX; its
 * reference count is OpenSSL's, so a reload swaps the listener's pointer
 * and old sessions keep theirs. ALPN: h2 first when the listener speaks it.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/tls.h"

#define TLS_ALPN_H2 "\x02h2"
#define TLS_ALPN_H1 "\x08http/1.1"

struct am_tls {
    SSL *ssl;
    BIO *rbio;
    BIO *wbio;
};

/* Index of the ALPN flags in SSL_CTX ex data: bit 0 h2, bit 1 only h2. */
static int alpn_mode(SSL_CTX *ctx)
{
    return (int)(intptr_t)SSL_CTX_get_app_data(ctx);
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    int mode = alpn_mode(SSL_get_SSL_CTX(ssl));
    unsigned char *sel = NULL;
    static const unsigned char h2[] = TLS_ALPN_H2;
    static const unsigned char h1[] = TLS_ALPN_H1;
    static const unsigned char both[] = TLS_ALPN_H2 TLS_ALPN_H1;
    const unsigned char *ours = (mode & 2) ? h2 : (mode & 1) ? both : h1;
    unsigned ours_len = (mode & 2)   ? sizeof(h2) - 1
                        : (mode & 1) ? sizeof(both) - 1
                                     : sizeof(h1) - 1;
    if (SSL_select_next_proto(&sel, outlen, ours, ours_len, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        /* No common protocol: continue without ALPN (HTTP/1.1, or h2 on a
         * gRPC listener) rather than fail the handshake. */
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static const char *load_files(SSL_CTX *ctx, const struct am_tls_opts *cfg)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
        return "cannot load tls.cert_file";
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
        bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        return mismatch ? "tls.key_file does not match tls.cert_file" : "cannot load tls.key_file";
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        return "tls.key_file does not match tls.cert_file";
    }
    if (cfg->client_ca_file != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca_file);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, cfg->client_ca_file, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            return "cannot load tls.client_ca_file";
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return NULL;
}

struct am_tls_ctx *am_tls_ctx_create(const struct am_tls_opts *cfg, bool h2, bool only_h2,
                                     const char **why)
{
    if (cfg == NULL || cfg->cert_file == NULL || cfg->key_file == NULL) {
        *why = "tls needs cert_file and key_file";
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        *why = "cannot create a TLS context";
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_app_data(ctx, (void *)(intptr_t)((h2 ? 1 : 0) | (only_h2 ? 2 : 0)));
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    const char *err = load_files(ctx, cfg);
    ERR_clear_error();
    if (err != NULL) {
        *why = err;
        SSL_CTX_free(ctx);
        return NULL;
    }
    return (struct am_tls_ctx *)ctx;
}

void am_tls_ctx_ref(struct am_tls_ctx *ctx)
{
    SSL_CTX_up_ref((SSL_CTX *)ctx);
}

void am_tls_ctx_unref(struct am_tls_ctx *ctx)
{
    SSL_CTX_free((SSL_CTX *)ctx); /* NULL-safe */
}

static struct am_tls *wrap(SSL *ssl)
{
    struct am_tls *t = am_try_calloc(1, sizeof(*t));
    if (t == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    t->ssl = ssl;
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(ssl);
        am_free(t);
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(ssl, t->rbio, t->wbio); /* ssl owns both */
    return t;
}

struct am_tls *am_tls_create(struct am_tls_ctx *ctx)
{
    SSL *ssl = SSL_new((SSL_CTX *)ctx);
    if (ssl == NULL) {
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return wrap(ssl);
}

static const char *client_ctx_setup(SSL_CTX *ctx, const char *ca, const char *cert, const char *key,
                                    const char *alpn)
{
    unsigned char wire[64];
    size_t n = 0;
    if (ca != NULL && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        return "cannot load ca_file";
    }
    SSL_CTX_set_verify(ctx, ca != NULL ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
                         SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
        return "cannot load client certificate";
    }
    for (const char *p = alpn; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len > 32 || n + len + 1 > sizeof(wire)) {
            return "bad alpn list";
        }
        wire[n++] = (unsigned char)len;
        memcpy(wire + n, p, len);
        n += len;
        p = comma != NULL ? comma + 1 : NULL;
    }
    if (n > 0 && SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)n) != 0) {
        return "bad alpn list";
    }
    return NULL;
}

struct am_tls *am_tls_create_client(const char *ca_file, const char *cert_file,
                                    const char *key_file, const char *alpn, const char **why)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        *why = "cannot create a TLS context";
        return NULL;
    }
    const char *err = client_ctx_setup(ctx, ca_file, cert_file, key_file, alpn);
    SSL *ssl = err == NULL ? SSL_new(ctx) : NULL;
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    ERR_clear_error();
    if (ssl == NULL) {
        *why = err != NULL ? err : "cannot create a TLS session";
        return NULL;
    }
    SSL_set_connect_state(ssl);
    SSL_set_tlsext_host_name(ssl, "localhost");
    return wrap(ssl);
}

void am_tls_destroy(struct am_tls *t)
{
    if (t == NULL) {
        return;
    }
    SSL_free(t->ssl);
    am_free(t);
}

int am_tls_feed(struct am_tls *t, const uint8_t *data, size_t len)
{
    if (len > 0 && BIO_write(t->rbio, data, (int)len) != (int)len) {
        return AM_ENOMEM;
    }
    return AM_OK;
}

static const char *ssl_why(int err)
{
    unsigned long e = ERR_peek_last_error();
    if (err == SSL_ERROR_SSL && ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        return "client sent no certificate";
    }
    if (err == SSL_ERROR_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        return "certificate verify failed";
    }
    if (err == SSL_ERROR_SSL && ERR_GET_REASON(e) == SSL_R_UNSUPPORTED_PROTOCOL) {
        return "unsupported TLS version";
    }
    return "TLS handshake or record failed";
}

ssize_t am_tls_read(struct am_tls *t, uint8_t *out, size_t cap, const char **why)
{
    int n = SSL_read(t->ssl, out, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0) {
        return n;
    }
    int err = SSL_get_error(t->ssl, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        return AM_EAGAIN;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
        return AM_ECLOSED;
    }
    *why = ssl_why(err);
    ERR_clear_error();
    return AM_EINVAL;
}

ssize_t am_tls_write(struct am_tls *t, const uint8_t *data, size_t len)
{
    if (len == 0) {
        return 0;
    }
    int n = SSL_write(t->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0) {
        return n;
    }
    int err = SSL_get_error(t->ssl, n);
    ERR_clear_error();
    return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? AM_EAGAIN : AM_EINVAL;
}

int am_tls_take_out(struct am_tls *t, struct am_buf *out)
{
    char *p = NULL;
    long n = BIO_get_mem_data(t->wbio, &p);
    if (n <= 0) {
        return AM_OK;
    }
    if (am_buf_append(out, p, (size_t)n) != AM_OK) {
        return AM_ETOOBIG;
    }
    (void)BIO_reset(t->wbio);
    return AM_OK;
}

bool am_tls_handshake_done(const struct am_tls *t)
{
    return SSL_is_init_finished(t->ssl) == 1;
}

const char *am_tls_alpn(const struct am_tls *t)
{
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &len);
    if (len == 2 && memcmp(p, "h2", 2) == 0) {
        return "h2";
    }
    if (len == 8 && memcmp(p, "http/1.1", 8) == 0) {
        return "http/1.1";
    }
    return NULL;
}

void am_tls_shutdown(struct am_tls *t)
{
    if (SSL_is_init_finished(t->ssl) == 1) {
        SSL_shutdown(t->ssl);
    }
    ERR_clear_error();
}
