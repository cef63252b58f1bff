/*
 * yaml.c - libyaml events into the am_ynode tree of include/am/yaml.h
 * (STYLE.md 5.7). An explicit stack of open collections, at most
 * AM_YAML_MAX_DEPTH deep, replaces recursion so hostile nesting cannot exhaust
 * the C stack. Every node is linked into its parent as soon as it exists, so
 * freeing the root also frees a half-built tree after an error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/yaml.h"

struct frame {
    struct am_ynode *node; /* an open sequence or mapping */
    size_t cap;            /* allocated items / pairs */
};

struct builder {
    struct am_ydoc *doc;
    struct am_diag *diag;
    struct frame stack[AM_YAML_MAX_DEPTH];
    unsigned depth;
    size_t nodes;
    unsigned documents;
    bool done;
};

static void node_free(struct am_ynode *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->count; i++) {
        if (n->type == AM_YNODE_SEQUENCE) {
            node_free(n->items[i]);
        } else {
            node_free(n->pairs[i].key);
            node_free(n->pairs[i].value);
        }
    }
    am_free(n->items);
    am_free(n->pairs);
    am_free(n->text);
    am_free(n);
}

void am_yaml_destroy(struct am_ydoc *doc)
{
    if (doc == NULL) {
        return;
    }
    node_free(doc->root);
    am_free(doc->file);
    am_free(doc);
}

/* The key path of the node about to be added: for each open collection, the
 * key or index of its child in progress ("a.b[2].c"). */
static void pending_path(const struct builder *b, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < b->depth && len < cap; i++) {
        const struct am_ynode *n = b->stack[i].node;
        bool top = i + 1 == b->depth;
        int w = 0;
        if (n->type == AM_YNODE_SEQUENCE) {
            w = snprintf(buf + len, cap - len, "[%zu]", top ? n->count : n->count - 1);
        } else if (n->count > 0 && (!top || n->pairs[n->count - 1].value == NULL)) {
            w = snprintf(buf + len, cap - len, "%s%s", len ? "." : "",
                         n->pairs[n->count - 1].key->text);
        }
        len += w > 0 ? (size_t)w : 0;
    }
}

__attribute__((format(printf, 5, 6))) static int fail(struct builder *b, size_t line0, size_t col0,
                                                      const char *key, const char *fmt, ...)
{
    char path[256];
    char what[256];
    va_list ap;
    pending_path(b, path, sizeof(path));
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    const char *dot = path[0] && key ? "." : "";
    const char *sep = path[0] || key ? ": " : "";
    snprintf(b->diag->msg, sizeof(b->diag->msg), "%s:%zu:%zu: %.160s%s%.80s%s%.200s", b->doc->file,
             line0 + 1, col0 + 1, path, dot, key ? key : "", sep, what);
    return AM_ECONFIG;
}

static int parse_error(struct builder *b, const yaml_parser_t *p, const char *text, size_t len)
{
    yaml_mark_t m = p->problem_mark;
    const char *problem = p->problem ? p->problem : "out of memory";
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset only: count lines up to it. */
        memset(&m, 0, sizeof(m));
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            m.column = text[i] == '\n' ? 0 : m.column + 1;
            m.line += text[i] == '\n';
        }
    }
    if (p->context != NULL) {
        snprintf(b->diag->msg, sizeof(b->diag->msg), "%s:%zu:%zu: invalid YAML: %s (%s)",
                 b->doc->file, m.line + 1, m.column + 1, problem, p->context);
    } else {
        snprintf(b->diag->msg, sizeof(b->diag->msg), "%s:%zu:%zu: invalid YAML: %s", b->doc->file,
                 m.line + 1, m.column + 1, problem);
    }
    return AM_ECONFIG;
}

static struct am_ynode *node_new(struct builder *b, enum am_ynode_type type, yaml_mark_t m)
{
    struct am_ynode *n = am_xcalloc(1, sizeof(*n));
    n->type = type;
    n->file = b->doc->file;
    n->line = (unsigned)m.line + 1;
    n->col = (unsigned)m.column + 1;
    return n;
}

static void grow(void **arr, size_t *cap, size_t count, size_t elem)
{
    if (count == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *arr = am_xrealloc(*arr, *cap * elem);
    }
}

/* A mapping key: a scalar not seen before in this mapping. */
static int add_key(struct builder *b, struct frame *f, struct am_ynode *key)
{
    struct am_ynode *map = f->node;
    if (key->type != AM_YNODE_SCALAR) {
        return fail(b, key->line - 1, key->col - 1, NULL, "mapping keys must be scalars");
    }
    for (size_t i = 0; i < map->count; i++) {
        const struct am_ynode *k = map->pairs[i].key;
        if (k->len == key->len && memcmp(k->text, key->text, k->len) == 0) {
            return fail(b, key->line - 1, key->col - 1, key->text,
                        "duplicate key (first at line %u, column %u)", k->line, k->col);
        }
    }
    grow((void **)&map->pairs, &f->cap, map->count, sizeof(map->pairs[0]));
    map->pairs[map->count].key = key;
    map->pairs[map->count].value = NULL;
    map->count++;
    return AM_OK;
}

/* Link a new node into the open collection (or make it the root). Owns n:
 * on failure n is freed. */
static int attach(struct builder *b, struct am_ynode *n)
{
    int rc = AM_OK;
    if (b->depth == 0) {
        b->doc->root = n;
        return AM_OK;
    }
    struct frame *f = &b->stack[b->depth - 1];
    struct am_ynode *p = f->node;
    if (p->type == AM_YNODE_SEQUENCE) {
        grow((void **)&p->items, &f->cap, p->count, sizeof(p->items[0]));
        p->items[p->count++] = n;
    } else if (p->count == 0 || p->pairs[p->count - 1].value != NULL) {
        rc = add_key(b, f, n);
    } else {
        p->pairs[p->count - 1].value = n;
    }
    if (rc != AM_OK) {
        node_free(n);
    }
    return rc;
}

static int check_props(struct builder *b, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag)
{
    yaml_mark_t m = ev->start_mark;
    if (anchor != NULL) {
        return fail(b, m.line, m.column, NULL, "anchors and aliases are not supported");
    }
    if (tag != NULL) {
        return fail(b, m.line, m.column, NULL, "tags are not supported");
    }
    if (++b->nodes > AM_YAML_MAX_NODES) {
        return fail(b, m.line, m.column, NULL, "more than %d nodes", AM_YAML_MAX_NODES);
    }
    return AM_OK;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    int rc = check_props(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
    if (rc != AM_OK) {
        return rc;
    }
    struct am_ynode *n = node_new(b, AM_YNODE_SCALAR, ev->start_mark);
    n->len = ev->data.scalar.length;
    n->text = am_xstrndup((const char *)ev->data.scalar.value, n->len);
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    return attach(b, n);
}

static int on_open(struct builder *b, const yaml_event_t *ev, enum am_ynode_type type,
                   const yaml_char_t *anchor, const yaml_char_t *tag)
{
    int rc = check_props(b, ev, anchor, tag);
    if (rc != AM_OK) {
        return rc;
    }
    if (b->depth == AM_YAML_MAX_DEPTH) {
        return fail(b, ev->start_mark.line, ev->start_mark.column, NULL,
                    "nested deeper than %d levels", AM_YAML_MAX_DEPTH);
    }
    struct am_ynode *n = node_new(b, type, ev->start_mark);
    rc = attach(b, n);
    if (rc == AM_OK) {
        b->stack[b->depth].node = n;
        b->stack[b->depth].cap = 0;
        b->depth++;
    }
    return rc;
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
    yaml_mark_t m = ev->start_mark;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        b->done = true;
        return AM_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (b->documents++ > 0) {
            return fail(b, m.line, m.column, NULL,
                        "more than one document (a config file holds exactly one)");
        }
        return AM_OK;
    case YAML_ALIAS_EVENT:
        return fail(b, m.line, m.column, NULL, "anchors and aliases are not supported");
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(b, ev, AM_YNODE_SEQUENCE, ev->data.sequence_start.anchor,
                       ev->data.sequence_start.tag);
    case YAML_MAPPING_START_EVENT:
        return on_open(b, ev, AM_YNODE_MAPPING, ev->data.mapping_start.anchor,
                       ev->data.mapping_start.tag);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        b->depth--;
        return AM_OK;
    default:
        return AM_OK; /* stream start, document end, no event */
    }
}

int am_yaml_parse(const char *text, size_t len, const char *name, struct am_ydoc **out,
                  struct am_diag *diag)
{
    struct builder b;
    yaml_parser_t parser;
    memset(&b, 0, sizeof(b));
    *out = NULL;
    b.diag = diag;
    b.doc = am_xcalloc(1, sizeof(*b.doc));
    b.doc->file = am_xstrdup(name);
    if (!yaml_parser_initialize(&parser)) {
        snprintf(diag->msg, sizeof(diag->msg), "%s: out of memory", name);
        am_yaml_destroy(b.doc);
        return AM_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = AM_OK;
    while (rc == AM_OK && !b.done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parse_error(&b, &parser, text, len);
            break;
        }
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (rc != AM_OK) {
        am_yaml_destroy(b.doc);
        return rc;
    }
    /* An empty stream or a document that is only `~` is an empty mapping. */
    struct am_ynode *root = b.doc->root;
    if (root == NULL || am_ynode_is_null(root)) {
        struct am_ynode *map = am_xcalloc(1, sizeof(*map));
        map->type = AM_YNODE_MAPPING;
        map->file = b.doc->file;
        map->line = root ? root->line : 1;
        map->col = root ? root->col : 1;
        node_free(root);
        b.doc->root = map;
    }
    *out = b.doc;
    return AM_OK;
}

const struct am_ynode *am_ynode_get(const struct am_ynode *map, const char *key)
{
    if (map == NULL || map->type != AM_YNODE_MAPPING) {
        return NULL;
    }
    size_t klen = strlen(key);
    for (size_t i = 0; i < map->count; i++) {
        const struct am_ynode *k = map->pairs[i].key;
        if (k->len == klen && memcmp(k->text, key, klen) == 0) {
            return map->pairs[i].value;
        }
    }
    return NULL;
}

bool am_ynode_is_null(const struct am_ynode *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (n == NULL || n->type != AM_YNODE_SCALAR || !n->plain) {
        return false;
    }
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        if (strcmp(n->text, nulls[i]) == 0) {
            return true;
        }
    }
    return false;
}

const char *am_ynode_type_name(enum am_ynode_type type)
{
    switch (type) {
    case AM_YNODE_SCALAR:
        return "a scalar";
    case AM_YNODE_SEQUENCE:
        return "a sequence";
    default:
        return "a mapping";
    }
}

/* Copy n and everything below it; every node's file points at file. Depth
 * is bounded by AM_YAML_MAX_DEPTH, as the parser built it. */
static struct am_ynode *node_clone(const struct am_ynode *n, const char *file)
{
    struct am_ynode *c = am_xcalloc(1, sizeof(*c));
    c->type = n->type;
    c->file = file;
    c->line = n->line;
    c->col = n->col;
    c->plain = n->plain;
    c->count = n->count;
    if (n->text != NULL) {
        c->text = am_xmalloc(n->len + 1);
        memcpy(c->text, n->text, n->len + 1);
        c->len = n->len;
    }
    if (n->type == AM_YNODE_SEQUENCE) {
        c->items = am_xcalloc(n->count ? n->count : 1, sizeof(*c->items));
        for (size_t i = 0; i < n->count; i++) {
            c->items[i] = node_clone(n->items[i], file);
        }
    } else if (n->type == AM_YNODE_MAPPING) {
        c->pairs = am_xcalloc(n->count ? n->count : 1, sizeof(*c->pairs));
        for (size_t i = 0; i < n->count; i++) {
            c->pairs[i].key = node_clone(n->pairs[i].key, file);
            c->pairs[i].value = node_clone(n->pairs[i].value, file);
        }
    }
    return c;
}

struct am_ydoc *am_yaml_clone(const struct am_ynode *n)
{
    struct am_ydoc *doc = am_xcalloc(1, sizeof(*doc));
    doc->file = am_xstrdup(n->file);
    doc->root = node_clone(n, doc->file);
    return doc;
}
