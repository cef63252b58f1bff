/*
 * pbw.h - a small protobuf wire writer for agentmeter-loadgen. Nested
 * messages are written in place: lg_pbw_begin opens a length-delimited
 * field, lg_pbw_end closes it and fixes its length prefix, so a whole
 * ExportTraceServiceRequest is built in one growing buffer.
 */
#ifndef LG_PBW_H
#define LG_PBW_H

#include <stddef.h>
#include <stdint.h>

#define LG_PBW_MAX_DEPTH 16

struct lg_pbw {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t open[LG_PBW_MAX_DEPTH]; /* payload start of each open message */
    int depth;
};

void lg_pbw_reset(struct lg_pbw *w);
void lg_pbw_fini(struct lg_pbw *w);

void lg_pbw_varint(struct lg_pbw *w, unsigned field, uint64_t v);
void lg_pbw_fixed64(struct lg_pbw *w, unsigned field, uint64_t v);
void lg_pbw_bytes(struct lg_pbw *w, unsigned field, const void *data, size_t n);
void lg_pbw_string(struct lg_pbw *w, unsigned field, const char *s);

/* Open / close an embedded message (at most LG_PBW_MAX_DEPTH deep). */
void lg_pbw_begin(struct lg_pbw *w, unsigned field);
void lg_pbw_end(struct lg_pbw *w);

/* common.proto KeyValue{key=1, value=2 AnyValue{string_value=1,
 * bool_value=2, int_value=3, double_value=4}} as field `field`. */
void lg_pbw_attr_str(struct lg_pbw *w, unsigned field, const char *key, const char *val);
void lg_pbw_attr_int(struct lg_pbw *w, unsigned field, const char *key, int64_t val);
void lg_pbw_attr_double(struct lg_pbw *w, unsigned field, const char *key, double val);
void lg_pbw_attr_bool(struct lg_pbw *w, unsigned field, const char *key, int val);

#endif
