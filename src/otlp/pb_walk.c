/*
 * pb_walk.c - the benchmark's physical ceiling (DESIGN.md 5): a bare
 * recursive walk over the protobuf wire format of an
 * ExportTraceServiceRequest. It reads every tag, varint and fixed field,
 * skips string payloads, and recurses into the fields the OTLP schema says
 * are messages. No allocation, no interpretation, no output.
 */
#include "am/otlp.h"
#include "otlp_int.h"

enum msg {
    M_NONE,
    M_REQUEST,
    M_RESOURCE_SPANS,
    M_RESOURCE,
    M_SCOPE_SPANS,
    M_SCOPE,
    M_SPAN,
    M_EVENT,
    M_LINK,
    M_STATUS,
    M_KV,
    M_ANY,
    M_ARRAY,
    M_KVLIST,
};

#define WALK_MAX_DEPTH 64

/* Message type of field f inside a message of type m, or M_NONE. */
static enum msg child(enum msg m, uint32_t f)
{
    switch (m) {
    case M_REQUEST:
        return f == 1 ? M_RESOURCE_SPANS : M_NONE;
    case M_RESOURCE_SPANS:
        return f == 1 ? M_RESOURCE : f == 2 ? M_SCOPE_SPANS : M_NONE;
    case M_RESOURCE:
    case M_KVLIST:
        return f == 1 ? M_KV : M_NONE;
    case M_SCOPE_SPANS:
        return f == 1 ? M_SCOPE : f == 2 ? M_SPAN : M_NONE;
    case M_SCOPE:
    case M_EVENT:
        return f == 3 ? M_KV : M_NONE;
    case M_SPAN:
        return f == 9 ? M_KV : f == 11 ? M_EVENT : f == 13 ? M_LINK : f == 15 ? M_STATUS : M_NONE;
    case M_LINK:
        return f == 4 ? M_KV : M_NONE;
    case M_KV:
        return f == 2 ? M_ANY : M_NONE;
    case M_ANY:
        return f == 5 ? M_ARRAY : f == 6 ? M_KVLIST : M_NONE;
    case M_ARRAY:
        return f == 1 ? M_ANY : M_NONE;
    default:
        return M_NONE;
    }
}

static long walk(const uint8_t *p, const uint8_t *end, enum msg m, int depth)
{
    const char *why = NULL;
    long fields = 0;
    uint32_t f = 0;
    unsigned wt = 0;
    if (depth > WALK_MAX_DEPTH) {
        return AM_EINVAL;
    }
    while (p < end) {
        if (am_pbwire_tag(&p, end, &f, &wt, &why) != AM_OK) {
            return AM_EINVAL;
        }
        fields++;
        enum msg c = wt == WT_LEN ? child(m, f) : M_NONE;
        if (c == M_NONE) {
            if (am_pbwire_skip(&p, end, wt, &why) != AM_OK) {
                return AM_EINVAL;
            }
            continue;
        }
        const uint8_t *q = NULL;
        size_t len = 0;
        if (am_pbwire_len(&p, end, &q, &len, &why) != AM_OK) {
            return AM_EINVAL;
        }
        long n = walk(q, q + len, c, depth + 1);
        if (n < 0) {
            return n;
        }
        fields += n;
    }
    return fields;
}

long am_otlp_pb_wire_walk(const uint8_t *body, size_t len)
{
    if (body == NULL) {
        return len == 0 ? 0 : AM_EINVAL;
    }
    return walk(body, body + len, M_REQUEST, 0);
}
