#ifndef AM_CONV_H
#define AM_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am/buf.h"
#include "am/derive.h"
#include "am/str.h"

/*
 * conv: conversations and escalation (SPEC.md 3, Conversation turns and
 * Escalation). trace_buf reports each top-level invoke_agent span with a
 * conversation id as a turn (with the collector-clock time it arrived) and
 * each escalating span as an escalation. A conversation with no turn for
 * idle_timeout is finished: agent_conversation_turns observes its turns,
 * agent_conversations_total{agent_name, outcome} += 1, and its agent's
 * one-hour window feeds agent_escalation_rate.
 *
 * Opaque and thread-safe: conversations are sharded by hash of their id with
 * one mutex per shard; the per-agent rate windows have their own mutex
 * (taken after a shard's). Strings are copied. The sink runs under those
 * locks: it must not call back into conv. Time is passed in.
 */

#define AM_CONV_RATE_WINDOW_NS (UINT64_C(3600) * 1000000000u)

struct am_conv_opts {
    unsigned shards;          /* >= 1 */
    uint64_t idle_timeout_ns; /* conversation_idle_timeout */
    size_t max_open;          /* max_open_conversations; 0 = unlimited */
};

struct am_conv;

struct am_conv *am_conv_create(const struct am_conv_opts *opts);
/* Frees everything; open conversations are dropped (flush first). */
void am_conv_destroy(struct am_conv *c);
/* Change idle timeout and cap at runtime; open conversations are kept. */
void am_conv_configure(struct am_conv *c, uint64_t idle_timeout_ns, size_t max_open);

/* One turn of conversation id by agent, arrived at arrival_ns. Opens the
 * conversation (its agent is the first turn's). Past max_open the oldest
 * conversation of the shard is finished early
 * (agentmeter_conversations_evicted_total{reason="max_open_conversations"}). */
void am_conv_turn(struct am_conv *c, struct am_str id, struct am_str agent, uint64_t arrival_ns,
                  const struct am_obs_sink *sink);
/* Mark conversation id escalated. Returns false when it is not open. */
bool am_conv_escalate(struct am_conv *c, struct am_str id);

/* Finish conversations idle for idle_timeout at now_ns, then SET
 * agent_escalation_rate for every agent that finished one in the last hour
 * and agentmeter_conversations_open. */
void am_conv_tick(struct am_conv *c, uint64_t now_ns, const struct am_obs_sink *sink);
/* Shutdown without state_dir: finish every open conversation as it stands. */
void am_conv_flush(struct am_conv *c, uint64_t now_ns, const struct am_obs_sink *sink);

size_t am_conv_open_count(struct am_conv *c);

/* Serialize open conversations (id, agent, turns, escalated, idle age at
 * now_ns) to out. Returns AM_OK, or AM_ETOOBIG when out's cap is hit. */
int am_conv_save(struct am_conv *c, uint64_t now_ns, struct am_buf *out);
/* Restore what am_conv_save wrote; ages continue from now_ns. Returns AM_OK,
 * or AM_EINVAL for a malformed buffer (conversations read before the fault
 * are kept). */
int am_conv_load(struct am_conv *c, const void *data, size_t len, uint64_t now_ns,
                 const struct am_obs_sink *sink);

#endif
