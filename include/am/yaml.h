#ifndef AM_YAML_H
#define AM_YAML_H

#include <stdbool.h>
#include <stddef.h>

/*
 * yaml: one YAML document (libyaml event parser) turned into a small tree of
 * scalars, sequences and mappings, each node carrying its file name and
 * 1-based line and column so config errors can point at it (STYLE.md 5.7).
 * Mapping keys are scalars, kept in file order, and must be unique. Anchors,
 * aliases, tags and multi-document streams are rejected; an empty document
 * is an empty mapping. Sans-I/O: bytes in, tree or diagnostic out. The
 * document owns every node and string; nodes are read-only once built.
 */

/* A human-readable error: "FILE:LINE:COL: key.path: what is wrong". */
struct am_diag {
    char msg[512];
};

#define AM_YAML_MAX_DEPTH 64      /* deeper nesting is an error */
#define AM_YAML_MAX_NODES 1000000 /* more nodes is an error */

enum am_ynode_type {
    AM_YNODE_SCALAR,
    AM_YNODE_SEQUENCE,
    AM_YNODE_MAPPING,
};

struct am_ynode;

struct am_ypair {
    struct am_ynode *key; /* always a scalar */
    struct am_ynode *value;
};

struct am_ynode {
    enum am_ynode_type type;
    const char *file; /* the document's name (owned by the document) */
    unsigned line;    /* 1-based */
    unsigned col;     /* 1-based */
    /* scalar: NUL-terminated text (it may contain a NUL from a "\0" escape,
     * so len is the truth); plain is false when quoted or a block scalar */
    char *text;
    size_t len;
    bool plain;
    /* sequence: items[count]; mapping: pairs[count] in file order */
    struct am_ynode **items;
    struct am_ypair *pairs;
    size_t count;
};

struct am_ydoc {
    char *file;
    struct am_ynode *root; /* never NULL after a successful parse */
};

/* Parse one YAML document of len bytes; name is used in diagnostics and
 * copied. On success *out is a heap document (free with am_yaml_destroy).
 * Returns 0 (AM_OK), or AM_ECONFIG with diag set and *out NULL. */
int am_yaml_parse(const char *text, size_t len, const char *name, struct am_ydoc **out,
                  struct am_diag *diag);
/* A new document whose root is a deep copy of n (positions kept), for a
 * sub-tree that outlives its document. Free with am_yaml_destroy. */
struct am_ydoc *am_yaml_clone(const struct am_ynode *n);
/* Free a document and all its nodes; NULL is a no-op. */
void am_yaml_destroy(struct am_ydoc *doc);

/* The value of key in a mapping, or NULL (also when map is not a mapping). */
const struct am_ynode *am_ynode_get(const struct am_ynode *map, const char *key);
/* True for a plain scalar spelled "", "~", "null", "Null" or "NULL". */
bool am_ynode_is_null(const struct am_ynode *n);
/* "a scalar", "a sequence" or "a mapping", for diagnostics. */
const char *am_ynode_type_name(enum am_ynode_type type);

#endif
