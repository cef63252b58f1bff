/*
 * bench_gen.h - the batches am_bench_client sends: realistic GenAI agent
 * traces (8 spans each: invoke_agent, 4 chat, 3 execute_tool) encoded as an
 * OTLP ExportTraceServiceRequest in protobuf or OTLP/JSON, with the offset
 * of every trace/span id recorded so that each request can carry new ids
 * (bench_salt XORs a salt into them; equal ids stay equal, so parent links
 * survive). Ids belong to one of two groups so that the roots of a trace can
 * be sent later than its children under another salt (the "split" shape).
 */
#ifndef BENCH_GEN_H
#define BENCH_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bench_enc {
    BENCH_PB,
    BENCH_JSON,
};

/* Which spans a body holds. */
enum bench_part {
    BENCH_WHOLE,    /* whole traces, spans in order, children carry their agent */
    BENCH_CHILDREN, /* split: children of every trace (no gen_ai.agent.name), then the roots */
    BENCH_ROOTS,    /* split: only the invoke_agent roots */
};

#define BENCH_GROUP_CHILD 0 /* ids of whole traces or of children */
#define BENCH_GROUP_ROOT 1  /* ids of roots sent after their children (split) */

struct bench_body {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t *off; /* id offsets in p */
    uint8_t *group;
    size_t nids;
    size_t idcap;
    bool hex;            /* ids are hex text (JSON) */
    unsigned agents;     /* invoke_agent spans in the body */
    unsigned chats;      /* chat spans */
    unsigned tools;      /* execute_tool spans */
    uint64_t applied[2]; /* salt currently XORed into each group */
};

/* Build a body of `traces` traces (8 spans each); pad_bytes > 0 gives every
 * chat span a gen_ai.input.messages attribute of that many bytes (prompts
 * carried on spans: large bodies, few spans). */
void bench_body_build(struct bench_body *b, enum bench_enc enc, enum bench_part part,
                      unsigned traces, size_t pad_bytes, uint64_t seed);
void bench_body_free(struct bench_body *b);
/* Make the ids of group g carry salt (replacing the salt applied before). */
void bench_salt(struct bench_body *b, unsigned g, uint64_t salt);

#endif
