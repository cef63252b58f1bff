/*
 * prices.c - pricing files (SPEC.md 3 "Cost", 4 "pricing"): a top-level
 * `models:` map of model -> {input, output, cached_input?, cache_write?} in
 * USD per 1M tokens, plus an optional `updated:` string. Layering the
 * tables into a struct am_pricing is in src/daemon/pricing.c, so this parser links
 * without the genai pricing module.
 */
#include <stdio.h>
#include <string.h>

#include "am/alloc.h"
#include "am/config.h"
#include "am/err.h"
#include "config_int.h"

#define P(f) offsetof(struct am_price, f)

struct pricing_file {
    char *updated;
    struct am_price_entry *entries;
    size_t count;
};

static const struct am_binding price_rows[] = {
    {.path = "input",
     .type = AM_CT_PRICE,
     .off = P(input),
     .flags = AM_CF_REQUIRED,
     .help = "USD per 1M input tokens (cache-exclusive part)"},
    {.path = "output",
     .type = AM_CT_PRICE,
     .off = P(output),
     .flags = AM_CF_REQUIRED,
     .help = "USD per 1M output tokens"},
    {.path = "cached_input",
     .type = AM_CT_PRICE,
     .off = P(cached_input),
     .count_off = P(has_cached_input),
     .help = "USD per 1M cache-read input tokens; default: input"},
    {.path = "cache_write",
     .type = AM_CT_PRICE,
     .off = P(cache_write),
     .count_off = P(has_cache_write),
     .help = "USD per 1M cache-write input tokens; default: input"},
};

const struct am_btable am_price_table = {price_rows, sizeof(price_rows) / sizeof(price_rows[0])};

static const struct am_binding file_rows[] = {
    {.path = "updated",
     .type = AM_CT_STRING,
     .off = offsetof(struct pricing_file, updated),
     .help = "when the list prices were last checked"},
    {.path = "models",
     .type = AM_CT_PRICES,
     .off = offsetof(struct pricing_file, entries),
     .count_off = offsetof(struct pricing_file, count),
     .flags = AM_CF_REQUIRED,
     .help = "model id (or prefix) -> prices"},
};

static const struct am_btable file_table = {file_rows, sizeof(file_rows) / sizeof(file_rows[0])};

int am_config_parse_pricing(const char *text, size_t len, const char *name,
                            struct am_price_entry **entries, size_t *count, struct am_diag *diag)
{
    struct am_ydoc *doc = NULL;
    struct am_bctx c = {.diag = diag};
    struct pricing_file pf = {NULL, NULL, 0};
    *entries = NULL;
    *count = 0;
    if (am_yaml_parse(text, len, name, &doc, diag) != AM_OK) {
        return AM_ECONFIG;
    }
    int rc;
    if (doc->root->type != AM_YNODE_MAPPING) {
        rc = am_bind_fail(&c, doc->root, NULL, "expected a mapping at the top level, got %s",
                          am_ynode_type_name(doc->root->type));
    } else {
        rc = am_bind_mapping(&c, &file_table, doc->root, "", &pf);
    }
    if (rc == AM_OK) {
        *entries = pf.entries;
        *count = pf.count;
        pf.entries = NULL;
        pf.count = 0;
    }
    am_bind_free(&file_table, &pf);
    am_yaml_destroy(doc);
    return rc;
}

void am_config_free_prices(struct am_price_entry *entries, size_t count)
{
    for (size_t i = 0; entries != NULL && i < count; i++) {
        am_free(entries[i].model);
    }
    am_free(entries);
}
