/*
 * assembly.c - the stateful GenAI semantics wired into the daemon (SPEC.md
 * 3): one trace_buf, conv and quality shared by all workers (each locks its
 * own shards), configured from processors.genai and re-configured on
 * reload; at shutdown waiting spans resolve and open conversations are
 * saved (state.c) or finished. The periodic ticks are in housekeeping.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am/alloc.h"
#include "am/clock.h"
#include "am/conv.h"
#include "am/err.h"
#include "am/log.h"
#include "am/quality.h"
#include "am/trace_buf.h"

#include "daemon_int.h"

struct am_derive_opts am_daemon_derive_opts(struct am_worker *w)
{
    struct am_daemon *d = w->d;
    struct am_derive_opts o = {
        .pricing = atomic_load_explicit(&d->pricing, memory_order_acquire),
        .price_cache = &w->price_cache,
        .semconv_metrics = atomic_load_explicit(&d->semconv_metrics, memory_order_relaxed),
        .dim_defaults = d->dim_defaults,
        .dim_count = d->dim_count,
    };
    return o;
}

/* The escalation tool list as views into cfg (trace_buf copies them). */
static void tb_opts(const struct am_config *cfg, struct am_trace_buf_opts *o, struct am_str *tools,
                    unsigned shards)
{
    for (size_t i = 0; i < cfg->escalation_tool_count; i++) {
        tools[i] = am_str_from(cfg->escalation_tools[i]);
    }
    memset(o, 0, sizeof(*o));
    o->shards = shards;
    o->trace_wait_ns = cfg->trace_wait_ns;
    o->max_pending_spans = cfg->max_pending_spans;
    o->max_spans_per_trace = cfg->max_spans_per_trace;
    o->escalation_attribute = am_str_from(cfg->escalation_attribute);
    o->escalation_tools = tools;
    o->escalation_tool_count = cfg->escalation_tool_count;
}

int am_assembly_create(struct am_daemon *d)
{
    const struct am_config *cfg = &d->cfg;
    struct am_conv_opts co = {
        .shards = 64,
        .idle_timeout_ns = cfg->conversation_idle_timeout_ns,
        .max_open = cfg->max_open_conversations,
    };
    struct am_trace_buf_opts to;
    struct am_str *tools = am_xcalloc(cfg->escalation_tool_count + 1, sizeof(*tools));
    d->conv = am_conv_create(&co);
    d->quality = am_quality_create(cfg->quality_window_ns);
    tb_opts(cfg, &to, tools, 64);
    to.conv = d->conv;
    to.quality = d->quality;
    d->trace_buf = am_trace_buf_create(&to);
    am_free(tools);
    if (d->conv == NULL || d->quality == NULL || d->trace_buf == NULL) {
        AM_LOG_ERROR("daemon", "cannot create trace assembly");
        return -1;
    }
    if (cfg->state_dir != NULL) {
        am_state_load(d);
    }
    return 0;
}

void am_assembly_configure(struct am_daemon *d, const struct am_config *cfg)
{
    struct am_trace_buf_opts to;
    struct am_str *tools = am_xcalloc(cfg->escalation_tool_count + 1, sizeof(*tools));
    tb_opts(cfg, &to, tools, 64);
    am_trace_buf_configure(d->trace_buf, &to);
    am_free(tools);
    am_conv_configure(d->conv, cfg->conversation_idle_timeout_ns, cfg->max_open_conversations);
    am_quality_configure(d->quality, cfg->quality_window_ns);
}

void am_assembly_shutdown(struct am_daemon *d)
{
    struct am_worker *w0 = &d->workers[0];
    uint64_t now = am_clock_mono(am_clock_system());
    struct am_derive_opts opts = am_daemon_derive_opts(w0);
    am_trace_buf_flush(d->trace_buf, &opts, now, &w0->sink);
    if (d->cfg.state_dir != NULL && am_state_save(d, now) == AM_OK) {
        return; /* the next start restores them: finishing them now would split them */
    }
    am_conv_flush(d->conv, now, &w0->sink);
    am_conv_tick(d->conv, now, &w0->sink);
}

void am_assembly_destroy(struct am_daemon *d)
{
    am_trace_buf_destroy(d->trace_buf);
    am_conv_destroy(d->conv);
    am_quality_destroy(d->quality);
    d->trace_buf = NULL;
    d->conv = NULL;
    d->quality = NULL;
}
