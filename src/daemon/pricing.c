/*
 * pricing.c - am_daemon_build_pricing (SPEC.md 4 "pricing"): the builtin
 * table (deploy/pricing.yaml compiled in), then pricing.file, then
 * pricing.models, layered in that order into one frozen struct am_pricing so
 * later entries win. Config parses the entries; genai owns the table; the
 * daemon, above both, joins them (at start, --check-config and SIGHUP).
 */
#include <stdio.h>

#include "am/alloc.h"
#include "am/daemon.h"
#include "am/err.h"
#include "am/pricing.h"

static void add_all(struct am_pricing *p, const struct am_price_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        am_pricing_set(p, am_str_from(e[i].model), &e[i].price);
    }
}

/* Parse a pricing text and add its entries to p. */
static int add_text(struct am_pricing *p, const char *text, size_t len, const char *name,
                    struct am_diag *diag)
{
    struct am_price_entry *e = NULL;
    size_t n = 0;
    int rc = am_config_parse_pricing(text, len, name, &e, &n, diag);
    if (rc == AM_OK) {
        add_all(p, e, n);
    }
    am_config_free_prices(e, n);
    return rc;
}

int am_daemon_build_pricing(const struct am_config *cfg, struct am_pricing **out,
                            struct am_diag *diag)
{
    char *text = NULL;
    size_t len = 0;
    int rc = AM_OK;
    *out = NULL;
    struct am_pricing *p = am_pricing_create();
    if (p == NULL) {
        snprintf(diag->msg, sizeof(diag->msg), "pricing: out of memory");
        return AM_ENOMEM;
    }
    if (cfg->pricing_builtin) {
        rc = add_text(p, am_builtin_pricing_yaml, am_builtin_pricing_yaml_len,
                      "builtin:deploy/pricing.yaml", diag);
    }
    if (rc == AM_OK && cfg->pricing_file != NULL) {
        rc = am_config_read_file(cfg->pricing_file, &text, &len, diag);
        if (rc == AM_OK) {
            rc = add_text(p, text, len, cfg->pricing_file, diag);
        }
        am_free(text);
    }
    if (rc != AM_OK) {
        am_pricing_destroy(p);
        return rc;
    }
    add_all(p, cfg->prices, cfg->price_count);
    am_pricing_freeze(p);
    *out = p;
    return AM_OK;
}
