#ifndef AM_CONFIG_INT_H
#define AM_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "am/yaml.h"

/*
 * Binding tables (STYLE.md 5.7), shared by config.c (the am_config tables),
 * prices.c (pricing files) and bind.c (the walker that applies a table to a
 * YAML mapping). A table row names a key by its dotted path relative to the
 * table, the C field it fills (offset from a base pointer), its default in
 * config syntax, its range and a help line.
 */

enum am_ctype {
    AM_CT_SECTION,  /* a mapping of further keys; `validate` runs after it */
    AM_CT_STRING,   /* char *; a NULL default makes it optional (null/"" -> NULL) */
    AM_CT_ENDPOINT, /* char *, "host:port" with port 0-65535 */
    AM_CT_URL,      /* char *, http:// or https:// */
    AM_CT_BOOL,     /* bool, true or false */
    AM_CT_U32,      /* uint32_t in [min, max] */
    AM_CT_U64,      /* uint64_t in [min, max] */
    AM_CT_DURATION, /* uint64_t ns in [min, max] */
    AM_CT_SIZE,     /* uint64_t bytes in [min, max] */
    AM_CT_ENUM,     /* int, index into choices */
    AM_CT_PRICE,    /* double >= 0; count_off = offset of a bool "present" flag, or 0 */
    AM_CT_STRLIST,  /* char ** at off, size_t count at count_off; default "a,b,c" */
    AM_CT_LABELS,   /* struct am_header_kv *: Prometheus label name -> value */
    AM_CT_HEADERS,  /* struct am_header_kv *: HTTP header name -> value */
    AM_CT_BUCKETS,  /* struct am_bucket_override *: histogram name -> bounds */
    AM_CT_PRICES,   /* struct am_price_entry *: model -> {input, output, ...} */
    AM_CT_RW_LIST,  /* struct am_rw_opts *, items bound with am_rw_table */
    AM_CT_RULES,    /* struct am_ydoc *: a copy of the node, compiled by the daemon (rules.h) */
    AM_CT_DIM_LIST, /* struct am_dimension_config *, items bound with am_dim_table (dims.c) */
};

#define AM_CF_REQUIRED 1u /* a top-level key of its table that must be present */

struct am_bctx;

struct am_binding {
    const char *path;
    enum am_ctype type;
    size_t off;
    size_t count_off;
    const char *def;
    uint64_t min;
    uint64_t max;
    unsigned flags;
    const char *const *choices; /* AM_CT_ENUM, NULL-terminated */
    /* AM_CT_SECTION: cross-field check of the section's struct at base+off */
    int (*validate)(struct am_bctx *c, const struct am_ynode *n, const char *path,
                    const void *section);
    const char *help;
};

struct am_btable {
    const struct am_binding *rows;
    size_t count;
};

/* What the walker needs while it runs: where errors go. */
struct am_bctx {
    struct am_diag *diag;
};

extern const struct am_btable am_rw_table;    /* one exporters.remote_write item */
extern const struct am_btable am_price_table; /* one pricing model entry */
extern const struct am_btable am_dim_table;   /* one processors.genai.dimensions item */

/* processors.genai.dimensions (dims.c): bind the sequence v onto the array
 * at r->off (count at r->count_off), sanitize labels, resolve metrics and
 * refuse collisions. Returns AM_OK or AM_ECONFIG with c->diag set. */
int am_bind_dim_list(struct am_bctx *c, const struct am_binding *r, const struct am_ynode *v,
                     const char *path, void *base);
void am_dims_free(const struct am_binding *r, void *base);

/* Write "FILE:LINE:COL: path: what" for node n into c->diag. Returns
 * AM_ECONFIG. */
__attribute__((format(printf, 4, 5))) int am_bind_fail(struct am_bctx *c, const struct am_ynode *n,
                                                       const char *path, const char *fmt, ...);
/* Apply every default of t to the struct at base. */
void am_bind_defaults(const struct am_btable *t, void *base);
/* Bind mapping n onto base through t; disp is the display path of n ("" at
 * the top). Returns AM_OK or AM_ECONFIG with c->diag set. */
int am_bind_mapping(struct am_bctx *c, const struct am_btable *t, const struct am_ynode *n,
                    const char *disp, void *base);
/* Free what t's rows own in the struct at base (not base itself). */
void am_bind_free(const struct am_btable *t, void *base);

#endif
