/*
 * test_daemon_pricing.c - am_daemon_build_pricing: the builtin list, then
 * pricing.file, then pricing.models, later entries winning (SPEC.md 4), and
 * the errors of an unreadable or malformed pricing file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/daemon.h"
#include "am/err.h"
#include "am/pricing.h"

static char tmp_path[64];

static int write_tmp(const char *text)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/am-prices-XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0) {
        return -1;
    }
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

static struct am_pricing *build(const char *yaml, int *rc, struct am_diag *diag)
{
    struct am_config cfg;
    struct am_pricing *p = NULL;
    am_config_defaults(&cfg);
    assert_int_equal(am_config_load_string(yaml, strlen(yaml), "t.yaml", &cfg, diag), AM_OK);
    *rc = am_daemon_build_pricing(&cfg, &p, diag);
    am_config_free(&cfg);
    return p;
}

static void test_build_builtin_only_prices_known_models(void **st)
{
    (void)st;
    struct am_diag diag;
    int rc;
    struct am_pricing *p = build("pricing: { builtin: true }\n", &rc, &diag);
    assert_int_equal(rc, AM_OK);
    assert_true(am_pricing_count(p) > 20);
    const struct am_price *gpt = am_pricing_lookup(p, AM_STR("gpt-4o-2024-08-06"));
    assert_non_null(gpt);
    assert_true(gpt->input == 2.5 && gpt->output == 10.0);
    assert_null(am_pricing_lookup(p, AM_STR("no-such-model")));
    am_pricing_destroy(p);
}

static void test_build_layers_file_then_models_later_wins(void **st)
{
    (void)st;
    struct am_diag diag;
    char yaml[256];
    int rc;
    assert_int_equal(write_tmp("models:\n  gpt-4o: { input: 1, output: 2 }\n"
                               "  house-model: { input: 3, output: 4 }\n"),
                     0);
    snprintf(yaml, sizeof(yaml),
             "pricing:\n  builtin: true\n  file: %s\n  models:\n"
             "    house-model: { input: 5, output: 6, cached_input: 0.5 }\n",
             tmp_path);
    struct am_pricing *p = build(yaml, &rc, &diag);
    unlink(tmp_path);
    assert_int_equal(rc, AM_OK);
    const struct am_price *gpt = am_pricing_lookup(p, AM_STR("gpt-4o"));
    assert_true(gpt->input == 1 && gpt->output == 2); /* file beats builtin */
    const struct am_price *house = am_pricing_lookup(p, AM_STR("house-model"));
    assert_true(house->input == 5 && house->output == 6); /* models beat file */
    assert_true(house->has_cached_input && house->cached_input == 0.5);
    am_pricing_destroy(p);
}

static void test_build_without_builtin_has_only_configured(void **st)
{
    (void)st;
    struct am_diag diag;
    int rc;
    struct am_pricing *p = build(
        "pricing:\n  builtin: false\n  models:\n    m1: { input: 1, output: 1 }\n", &rc, &diag);
    assert_int_equal(rc, AM_OK);
    assert_int_equal(am_pricing_count(p), 1);
    assert_null(am_pricing_lookup(p, AM_STR("gpt-4o")));
    am_pricing_destroy(p);
}

static void test_build_unreadable_file_is_eio(void **st)
{
    (void)st;
    struct am_diag diag;
    int rc;
    struct am_pricing *p = build("pricing: { file: /nonexistent/prices.yaml }\n", &rc, &diag);
    assert_int_equal(rc, AM_EIO);
    assert_null(p);
    assert_non_null(strstr(diag.msg, "/nonexistent/prices.yaml"));
}

static void test_build_malformed_file_names_line(void **st)
{
    (void)st;
    struct am_diag diag;
    char yaml[256];
    int rc;
    assert_int_equal(write_tmp("models:\n  m: { input: -1, output: 2 }\n"), 0);
    snprintf(yaml, sizeof(yaml), "pricing: { file: %s }\n", tmp_path);
    struct am_pricing *p = build(yaml, &rc, &diag);
    unlink(tmp_path);
    assert_int_equal(rc, AM_ECONFIG);
    assert_null(p);
    char want[128];
    snprintf(want, sizeof(want), "%s:2:", tmp_path);
    assert_non_null(strstr(diag.msg, want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_builtin_only_prices_known_models),
        cmocka_unit_test(test_build_layers_file_then_models_later_wins),
        cmocka_unit_test(test_build_without_builtin_has_only_configured),
        cmocka_unit_test(test_build_unreadable_file_is_eio),
        cmocka_unit_test(test_build_malformed_file_names_line),
    };
    return cmocka_run_group_tests_name("config_pricing", tests, NULL, NULL);
}
