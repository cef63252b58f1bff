/*
 * gen.h - synthetic GenAI agent traces for agentmeter-loadgen: invoke_agent
 * roots with conversations, chat children with models and tokens,
 * execute_tool children with errors, timeouts and escalations, and
 * gen_ai.evaluation.result events, encoded as one OTLP request.
 */
#ifndef LG_GEN_H
#define LG_GEN_H

#include <stdint.h>

#include "pbw.h"

#define LG_GEN_AGENTS 4
#define LG_GEN_SLOTS 6

struct lg_conv {
    uint64_t id;
    unsigned turns_left;
    unsigned turn;
};

struct lg_gen {
    uint64_t rng;
    double inject_ratio; /* share of traces that look like prompt injection */
    const char *service;
    struct lg_conv conv[LG_GEN_AGENTS][LG_GEN_SLOTS];
    uint64_t traces;
    uint64_t spans;
    uint64_t injected;
};

void lg_gen_init(struct lg_gen *g, uint64_t seed, double inject_ratio, const char *service);

/* Replace w's contents with one ExportTraceServiceRequest of `traces`
 * traces that all end at now_unix_ns. */
void lg_gen_request(struct lg_gen *g, struct lg_pbw *w, unsigned traces, uint64_t now_unix_ns);

#endif
