/*
 * test_yaml.c - the YAML node tree: node types, text, exact 1-based line and
 * column of every node, empty documents, and the exact diagnostics for
 * duplicate keys, anchors/aliases, tags, multiple documents, complex keys,
 * syntax errors and nesting depth.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "am/err.h"
#include "am/yaml.h"

static struct am_ydoc *parse_ok(const char *text)
{
    struct am_ydoc *doc = NULL;
    struct am_diag diag = {{0}};
    int rc = am_yaml_parse(text, strlen(text), "t.yaml", &doc, &diag);
    if (rc != AM_OK) {
        fail_msg("unexpected error: %s", diag.msg);
    }
    assert_non_null(doc);
    return doc;
}

static void assert_node(const struct am_ynode *n, enum am_ynode_type type, unsigned line,
                        unsigned col, const char *text)
{
    assert_non_null(n);
    assert_int_equal(n->type, type);
    assert_int_equal(n->line, line);
    assert_int_equal(n->col, col);
    assert_string_equal(n->file, "t.yaml");
    if (text != NULL) {
        assert_string_equal(n->text, text);
        assert_int_equal(n->len, strlen(text));
    }
}

static void test_parse_block_and_flow_exact_positions(void **st)
{
    struct am_ydoc *doc = parse_ok("a: 1\n"
                                   "b:\n"
                                   "  - x\n"
                                   "  - \"y\"\n"
                                   "c: {d: e, f: [1, 2]}\n");
    const struct am_ynode *r = doc->root;
    assert_node(r, AM_YNODE_MAPPING, 1, 1, NULL);
    assert_int_equal(r->count, 3);
    assert_node(r->pairs[0].key, AM_YNODE_SCALAR, 1, 1, "a");
    assert_node(r->pairs[0].value, AM_YNODE_SCALAR, 1, 4, "1");
    assert_true(r->pairs[0].value->plain);
    assert_node(r->pairs[1].key, AM_YNODE_SCALAR, 2, 1, "b");
    const struct am_ynode *seq = r->pairs[1].value;
    assert_node(seq, AM_YNODE_SEQUENCE, 3, 3, NULL);
    assert_int_equal(seq->count, 2);
    assert_node(seq->items[0], AM_YNODE_SCALAR, 3, 5, "x");
    assert_node(seq->items[1], AM_YNODE_SCALAR, 4, 5, "y");
    assert_false(seq->items[1]->plain);
    const struct am_ynode *m = r->pairs[2].value;
    assert_node(m, AM_YNODE_MAPPING, 5, 4, NULL);
    assert_int_equal(m->count, 2);
    assert_node(m->pairs[0].key, AM_YNODE_SCALAR, 5, 5, "d");
    assert_node(m->pairs[0].value, AM_YNODE_SCALAR, 5, 8, "e");
    assert_node(m->pairs[1].key, AM_YNODE_SCALAR, 5, 11, "f");
    assert_node(m->pairs[1].value, AM_YNODE_SEQUENCE, 5, 14, NULL);
    assert_node(m->pairs[1].value->items[1], AM_YNODE_SCALAR, 5, 18, "2");
    am_yaml_destroy(doc);
}

static void test_parse_keys_keep_file_order(void **st)
{
    struct am_ydoc *doc = parse_ok("z: 1\na: 2\nm: 3\n");
    assert_string_equal(doc->root->pairs[0].key->text, "z");
    assert_string_equal(doc->root->pairs[1].key->text, "a");
    assert_string_equal(doc->root->pairs[2].key->text, "m");
    assert_string_equal(am_ynode_get(doc->root, "a")->text, "2");
    assert_null(am_ynode_get(doc->root, "b"));
    assert_null(am_ynode_get(doc->root->pairs[0].value, "a"));
    am_yaml_destroy(doc);
}

static void test_parse_empty_documents_give_empty_mapping(void **st)
{
    static const char *const cases[] = {"", "# only a comment\n", "---\n", "~\n", "--- null\n"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_ydoc *doc = parse_ok(cases[i]);
        assert_int_equal(doc->root->type, AM_YNODE_MAPPING);
        assert_int_equal(doc->root->count, 0);
        am_yaml_destroy(doc);
    }
}

static void test_parse_scalar_styles_and_nul(void **st)
{
    struct am_ydoc *doc = parse_ok("a: \"x\\0y\"\nb: 'q'\nc: |\n  line\nd:\ne: ~\nf: \"\"\n");
    const struct am_ynode *a = am_ynode_get(doc->root, "a");
    assert_int_equal(a->len, 3);
    assert_memory_equal(a->text, "x\0y", 3);
    assert_false(am_ynode_get(doc->root, "b")->plain);
    assert_string_equal(am_ynode_get(doc->root, "c")->text, "line\n");
    assert_true(am_ynode_is_null(am_ynode_get(doc->root, "d")));
    assert_true(am_ynode_is_null(am_ynode_get(doc->root, "e")));
    assert_false(am_ynode_is_null(am_ynode_get(doc->root, "f"))); /* quoted: a real "" */
    assert_false(am_ynode_is_null(doc->root));
    am_yaml_destroy(doc);
}

static void test_parse_bad_documents_exact_diagnostics(void **st)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"a: 1\nb: 2\na: 3\n", "t.yaml:3:1: a: duplicate key (first at line 1, column 1)"},
        {"x:\n  y: 1\n  y: 2\n", "t.yaml:3:3: x.y: duplicate key (first at line 2, column 3)"},
        {"a: &x 1\nb: *x\n", "t.yaml:1:4: a: anchors and aliases are not supported"},
        {"b: *x\n", "t.yaml:1:4: b: anchors and aliases are not supported"},
        {"l:\n  - a\n  - &x b\n", "t.yaml:3:5: l[1]: anchors and aliases are not supported"},
        {"a:\n  - b: [1, {c: &x d}]\n",
         "t.yaml:2:16: a[0].b[1].c: anchors and aliases are not supported"},
        {"a: !!str 1\n", "t.yaml:1:4: a: tags are not supported"},
        {"a: 1\n---\nb: 2\n",
         "t.yaml:2:1: more than one document (a config file holds exactly one)"},
        {"? [a]\n: 1\n", "t.yaml:1:3: mapping keys must be scalars"},
        {"a: b: c\n", "t.yaml:1:5: invalid YAML: mapping values are not allowed in this context"},
        {"a: [1, 2\n",
         "t.yaml:2:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow "
         "sequence)"},
        {"a: 1\nkey: \"\x80\"\n", "t.yaml:2:7: invalid YAML: invalid leading UTF-8 octet"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct am_ydoc *doc = (struct am_ydoc *)1;
        struct am_diag diag = {{0}};
        int rc = am_yaml_parse(cases[i].text, strlen(cases[i].text), "t.yaml", &doc, &diag);
        assert_int_equal(rc, AM_ECONFIG);
        assert_null(doc);
        assert_string_equal(diag.msg, cases[i].msg);
    }
}

/* depth levels of flow sequences around a 1: "[[1]]" */
static void nested(char *text, int depth)
{
    size_t n = 0;
    for (int i = 0; i < depth; i++) {
        text[n++] = '[';
    }
    text[n++] = '1';
    for (int i = 0; i < depth; i++) {
        text[n++] = ']';
    }
    text[n] = '\0';
}

static void test_parse_too_deep_is_error(void **st)
{
    char text[2 * AM_YAML_MAX_DEPTH + 8];
    struct am_ydoc *doc = NULL;
    struct am_diag diag = {{0}};
    nested(text, AM_YAML_MAX_DEPTH);
    assert_int_equal(am_yaml_parse(text, strlen(text), "t.yaml", &doc, &diag), AM_OK);
    am_yaml_destroy(doc);
    nested(text, AM_YAML_MAX_DEPTH + 1);
    assert_int_equal(am_yaml_parse(text, strlen(text), "t.yaml", &doc, &diag), AM_ECONFIG);
    assert_non_null(strstr(diag.msg, "t.yaml:1:65: [0][0]"));
    assert_non_null(strstr(diag.msg, ": nested deeper than 64 levels"));
}

static void test_type_name_for_diagnostics(void **st)
{
    assert_string_equal(am_ynode_type_name(AM_YNODE_SCALAR), "a scalar");
    assert_string_equal(am_ynode_type_name(AM_YNODE_SEQUENCE), "a sequence");
    assert_string_equal(am_ynode_type_name(AM_YNODE_MAPPING), "a mapping");
    am_yaml_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_block_and_flow_exact_positions),
        cmocka_unit_test(test_parse_keys_keep_file_order),
        cmocka_unit_test(test_parse_empty_documents_give_empty_mapping),
        cmocka_unit_test(test_parse_scalar_styles_and_nul),
        cmocka_unit_test(test_parse_bad_documents_exact_diagnostics),
        cmocka_unit_test(test_parse_too_deep_is_error),
        cmocka_unit_test(test_type_name_for_diagnostics),
    };
    return cmocka_run_group_tests_name("yaml", tests, NULL, NULL);
}
