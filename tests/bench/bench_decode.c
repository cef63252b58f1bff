/*
 * bench_decode.c - times am_otlp_pb_decode_traces against the bare wire walk
 * (the physical ceiling, DESIGN.md 5) and against a nanopb-callbacks-only
 * decode of the same batch: one ExportTraceServiceRequest of 512 GenAI spans
 * (14 attributes, one event each). CPU time via CLOCK_PROCESS_CPUTIME_ID.
 * Usage: bench_decode [iterations [FILE]]   (default 200; FILE: a protobuf
 * ExportTraceServiceRequest, e.g. am_bench_client -D FILE, timed instead of
 * the built-in batch; the last line is then "walk_spans_per_cpu_second N").
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#undef PB_FIELD_32BIT /* match libprotobuf-nanopb.a, see src/otlp/pb_int.h */
#include <pb_decode.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include "am/otlp.h"
#include "am/str.h"
#include "otlp_pbw.h"

#define SPANS 512

static void add_span(struct pbw *spans, unsigned i)
{
    struct pbw sp = {0}, ev = {0}, arr = {0}, any = {0}, kv = {0}, st = {0};
    uint8_t tid[16], sid[8], pid[8];
    for (unsigned k = 0; k < 16; k++) {
        tid[k] = (uint8_t)(k + 1 + (i / 8));
    }
    for (unsigned k = 0; k < 8; k++) {
        sid[k] = (uint8_t)(0x40 + k + i);
        pid[k] = (uint8_t)(0x80 + k);
    }
    pbw_bytes(&sp, 1, tid, 16);
    pbw_bytes(&sp, 2, sid, 8);
    pbw_bytes(&sp, 4, pid, 8);
    pbw_str(&sp, 5, "chat gpt-4o");
    pbw_uint(&sp, 6, 3);
    pbw_fixed64(&sp, 7, 1700000000000000000ull + i * 1000000ull);
    pbw_fixed64(&sp, 8, 1700000000000000000ull + i * 1000000ull + 850000000ull);
    pbw_kv_str(&sp, 9, "gen_ai.operation.name", "chat");
    pbw_kv_str(&sp, 9, "gen_ai.system", "openai");
    pbw_kv_str(&sp, 9, "gen_ai.request.model", "gpt-4o");
    pbw_kv_str(&sp, 9, "gen_ai.response.model", "gpt-4o-2024-08-06");
    pbw_kv_str(&sp, 9, "gen_ai.response.id", "chatcmpl-9xYzAbCdEfGhIjKlMnOpQrStUv");
    pbw_kv_int(&sp, 9, "gen_ai.usage.input_tokens", 1234 + i);
    pbw_kv_int(&sp, 9, "gen_ai.usage.output_tokens", 321);
    pbw_kv_int(&sp, 9, "gen_ai.request.max_tokens", 4096);
    pbw_kv_double(&sp, 9, "gen_ai.request.temperature", 0.7);
    pbw_kv_str(&sp, 9, "gen_ai.agent.name", "research-agent");
    pbw_kv_str(&sp, 9, "gen_ai.conversation.id", "conv-5f0c6a2e-91d3-4c1b-8a77-1f2e3d4c5b6a");
    pbw_kv_str(&sp, 9, "server.address", "api.openai.com");
    pbw_kv_int(&sp, 9, "server.port", 443);
    pbw_str(&any, 1, "stop");
    pbw_msg(&arr, 1, &any);
    pbw_msg(&any, 5, &arr);
    pbw_str(&kv, 1, "gen_ai.response.finish_reasons");
    pbw_msg(&kv, 2, &any);
    pbw_msg(&sp, 9, &kv);
    pbw_fixed64(&ev, 1, 1700000000000000000ull + i * 1000000ull + 1000);
    pbw_str(&ev, 2, "gen_ai.choice");
    pbw_kv_str(&ev, 3, "gen_ai.system", "openai");
    pbw_msg(&sp, 11, &ev);
    pbw_uint(&st, 3, 1);
    pbw_msg(&sp, 15, &st);
    pbw_msg(spans, 2, &sp);
    pbw_free(&sp);
    pbw_free(&ev);
    pbw_free(&arr);
    pbw_free(&any);
    pbw_free(&kv);
    pbw_free(&st);
}

static struct pbw build_batch(void)
{
    struct pbw req = {0}, rs = {0}, res = {0}, ss = {0}, scope = {0};
    pbw_kv_str(&res, 1, "service.name", "agent-service");
    pbw_kv_str(&res, 1, "telemetry.sdk.language", "python");
    pbw_kv_str(&res, 1, "service.version", "1.4.2");
    pbw_msg(&rs, 1, &res);
    pbw_str(&scope, 1, "opentelemetry.instrumentation.openai");
    pbw_str(&scope, 2, "0.48b0");
    pbw_msg(&ss, 1, &scope);
    for (unsigned i = 0; i < SPANS; i++) {
        add_span(&ss, i);
    }
    pbw_msg(&rs, 2, &ss);
    pbw_msg(&req, 1, &rs);
    pbw_free(&rs);
    pbw_free(&res);
    pbw_free(&ss);
    pbw_free(&scope);
    return req;
}

/* nanopb with callbacks only (what otlp_pb.c would be without pb_span.c):
 * every Span, Event and KeyValue goes through pb_decode; strings are taken
 * as views and skipped. A lower bound: AnyValue strings sit in a oneof and
 * are skipped without a callback. */
static bool nb_view(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    (void)arg;
    return pb_read(s, NULL, s->bytes_left);
}

static bool nb_kv(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    (void)arg;
    opentelemetry_proto_common_v1_KeyValue kv = opentelemetry_proto_common_v1_KeyValue_init_zero;
    kv.key.funcs.decode = nb_view;
    return pb_decode(s, opentelemetry_proto_common_v1_KeyValue_fields, &kv);
}

static bool nb_event(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    (void)arg;
    opentelemetry_proto_trace_v1_Span_Event ev = opentelemetry_proto_trace_v1_Span_Event_init_zero;
    ev.name.funcs.decode = nb_view;
    ev.attributes.funcs.decode = nb_kv;
    return pb_decode(s, opentelemetry_proto_trace_v1_Span_Event_fields, &ev);
}

static bool nb_span(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    opentelemetry_proto_trace_v1_Span sp = opentelemetry_proto_trace_v1_Span_init_zero;
    sp.trace_id.funcs.decode = nb_view;
    sp.span_id.funcs.decode = nb_view;
    sp.parent_span_id.funcs.decode = nb_view;
    sp.name.funcs.decode = nb_view;
    sp.attributes.funcs.decode = nb_kv;
    sp.events.funcs.decode = nb_event;
    (*(size_t *)*arg)++;
    return pb_decode(s, opentelemetry_proto_trace_v1_Span_fields, &sp);
}

static bool nb_scope_spans(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    opentelemetry_proto_trace_v1_ScopeSpans ss = opentelemetry_proto_trace_v1_ScopeSpans_init_zero;
    ss.spans.funcs.decode = nb_span;
    ss.spans.arg = *arg;
    return pb_decode(s, opentelemetry_proto_trace_v1_ScopeSpans_fields, &ss);
}

static bool nb_resource_spans(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    opentelemetry_proto_trace_v1_ResourceSpans rs =
        opentelemetry_proto_trace_v1_ResourceSpans_init_zero;
    rs.resource.attributes.funcs.decode = nb_kv;
    rs.scope_spans.funcs.decode = nb_scope_spans;
    rs.scope_spans.arg = *arg;
    return pb_decode(s, opentelemetry_proto_trace_v1_ResourceSpans_fields, &rs);
}

static size_t nb_decode(const uint8_t *p, size_t n)
{
    size_t spans = 0;
    opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest req =
        opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_init_zero;
    req.resource_spans.funcs.decode = nb_resource_spans;
    req.resource_spans.arg = &spans;
    pb_istream_t is = pb_istream_from_buffer(p, n);
    return pb_decode(&is, opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_fields,
                     &req)
               ? spans
               : 0;
}

/* The batch in path, or the built-in one. */
static struct pbw load_batch(const char *path)
{
    if (path == NULL) {
        return build_batch();
    }
    struct pbw b = {0};
    FILE *f = fopen(path, "rb");
    uint8_t chunk[65536];
    size_t n;
    while (f != NULL && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        pbw_raw(&b, chunk, n);
    }
    if (f == NULL || ferror(f) || b.len == 0) {
        fprintf(stderr, "bench_decode: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return b;
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iters = 200;
    if (argc > 1) {
        int64_t v;
        if (am_str_to_i64(am_str_from(argv[1]), &v) != 0 || v <= 0) {
            fprintf(stderr, "usage: bench_decode [iterations]\n");
            return 2;
        }
        iters = (long)v;
    }
    struct pbw batch = load_batch(argc > 2 ? argv[2] : NULL);
    struct am_arena *arena = am_arena_create(256u << 20);
    struct am_trace_batch out;
    const char *why = NULL;
    volatile long sink = 0;
    size_t spans = SPANS;
    if (am_otlp_pb_decode_traces(batch.d, batch.len, arena, &out, &why) != 0) {
        fprintf(stderr, "decode failed: %s\n", why ? why : "?");
        return 1;
    }
    spans = out.span_count;
    am_arena_reset(arena);

    double t0 = cpu_ns();
    for (long i = 0; i < iters; i++) {
        if (am_otlp_pb_decode_traces(batch.d, batch.len, arena, &out, &why) != 0 ||
            out.span_count != spans) {
            fprintf(stderr, "decode failed: %s\n", why ? why : "span count");
            return 1;
        }
        sink += (long)out.span_count;
        am_arena_reset(arena);
    }
    double t1 = cpu_ns();
    for (long i = 0; i < iters; i++) {
        sink += am_otlp_pb_wire_walk(batch.d, batch.len);
    }
    double t2 = cpu_ns();
    for (long i = 0; i < iters; i++) {
        sink += (long)nb_decode(batch.d, batch.len);
    }
    double t3 = cpu_ns();

    double per = (double)iters * (double)spans;
    double dec = (t1 - t0) / per, walk = (t2 - t1) / per, nb = (t3 - t2) / per;
    printf("batch: %zu spans, %zu bytes, %ld iterations\n", spans, batch.len, iters);
    printf("decode (am_otlp_pb_decode_traces): %8.1f ns/span\n", dec);
    printf("wire walk (ceiling):               %8.1f ns/span\n", walk);
    printf("nanopb callbacks only:             %8.1f ns/span\n", nb);
    printf("decode / walk = %.2f, nanopb / walk = %.2f\n", dec / walk, nb / walk);
    if (argc > 2) {
        printf("walk_spans_per_cpu_second %.0f\n", 1e9 / walk);
    }
    am_arena_destroy(arena);
    pbw_free(&batch);
    return sink == 0;
}
