/*
 * rules.c - am_daemon_build_rules (SPEC.md 3.2): processors.genai.rules as
 * config kept it, then the `rules:` list of each processors.genai.rule_files
 * entry in order, compiled by genai into one struct am_rules. Config parses,
 * genai compiles, the daemon joins them (at start, --check-config, SIGHUP).
 */
#include <stdio.h>

#include "am/alloc.h"
#include "am/daemon.h"
#include "am/err.h"
#include "am/rules.h"

/* Append the rules of one rule file: a mapping with the single key rules. */
static int add_file(struct am_rules **rules, const char *path, struct am_diag *diag)
{
    char *text = NULL;
    size_t len = 0;
    struct am_ydoc *doc = NULL;
    int rc = am_config_read_file(path, &text, &len, diag);
    if (rc != AM_OK) {
        return AM_ECONFIG;
    }
    rc = am_yaml_parse(text, len, path, &doc, diag);
    am_free(text);
    if (rc != AM_OK) {
        return AM_ECONFIG;
    }
    const struct am_ynode *root = doc->root;
    const struct am_ynode *list = am_ynode_get(root, "rules");
    if (root->type != AM_YNODE_MAPPING || root->count != 1 || list == NULL) {
        rc = am_match_fail(diag, root, "rules", "a rule file holds one key, rules: [...]");
    } else {
        rc = am_rules_append(rules, list, "rules", diag);
    }
    am_yaml_destroy(doc);
    return rc;
}

int am_daemon_build_rules(const struct am_config *cfg, struct am_rules **out, struct am_diag *diag)
{
    struct am_rules *rules = NULL;
    int rc = AM_OK;
    *out = NULL;
    if (cfg->rules != NULL) {
        rc = am_rules_append(&rules, cfg->rules->root, "processors.genai.rules", diag);
    }
    for (size_t i = 0; rc == AM_OK && i < cfg->rule_file_count; i++) {
        rc = add_file(&rules, cfg->rule_files[i], diag);
    }
    if (rc != AM_OK) {
        am_rules_destroy(rules);
        return rc;
    }
    *out = rules;
    return AM_OK;
}
