/*
 * assembly.c - the stateful GenAI semantics wired into the daemon (SPEC.md
 * 3): one trace_buf, conv and quality shared by all workers (each locks its
 * own shards), a housekeeping timer on worker 0 that finishes quiet traces,
 * idle conversations and rolls the windows, and the open conversations
 * saved to processors.genai.state_dir at shutdown and restored at start.
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

#define HOUSEKEEPING_NS (1000ull * 1000 * 1000)
#define STATE_FILE "conversations.state"
#define STATE_MAX_BYTES ((size_t)1 << 30)

struct am_derive_opts am_daemon_derive_opts(struct am_worker *w)
{
    struct am_daemon *d = w->d;
    struct am_derive_opts o = {
        .pricing = atomic_load_explicit(&d->pricing, memory_order_acquire),
        .price_cache = &w->price_cache,
        .semconv_metrics = atomic_load_explicit(&d->semconv_metrics, memory_order_relaxed),
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
    o->escalation_attribute = am_str_from(cfg->escalation_attribute);
    o->escalation_tools = tools;
    o->escalation_tool_count = cfg->escalation_tool_count;
}

static void state_path(const struct am_daemon *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", d->cfg.state_dir, STATE_FILE);
}

/* Restore open conversations saved by the previous run, then remove the
 * file so a crash after this point cannot restore them twice. */
static void load_state(struct am_daemon *d)
{
    char path[4096];
    struct stat st;
    state_path(d, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) {
            AM_LOG_WARN("daemon", "state %s: %s", path, strerror(errno));
        }
        return;
    }
    if (fstat(fd, &st) != 0 || (size_t)st.st_size > STATE_MAX_BYTES) {
        AM_LOG_WARN("daemon", "state %s: unreadable or too large; ignored", path);
        close(fd);
        return;
    }
    char *data = am_xmalloc((size_t)st.st_size + 1);
    ssize_t n = read(fd, data, (size_t)st.st_size);
    close(fd);
    if (n != st.st_size) {
        AM_LOG_WARN("daemon", "state %s: short read; ignored", path);
        am_free(data);
        return;
    }
    uint64_t now = am_clock_mono(am_clock_system());
    int rc = am_conv_load(d->conv, data, (size_t)n, now, &d->workers[0].sink);
    am_free(data);
    if (rc != AM_OK) {
        AM_LOG_WARN("daemon", "state %s: %s; restored what came before the fault", path,
                    am_strerror(rc));
    }
    AM_LOG_INFO("daemon", "restored %zu open conversation(s) from %s", am_conv_open_count(d->conv),
                path);
    unlink(path);
}

/* Write the open conversations: a temporary file, fsync, then rename. */
static int save_state(struct am_daemon *d, uint64_t now)
{
    char path[4096];
    char tmp[4200];
    struct am_buf buf;
    int rc = AM_EIO;
    am_buf_init(&buf, STATE_MAX_BYTES);
    if (am_conv_save(d->conv, now, &buf) != AM_OK) {
        AM_LOG_ERROR("daemon", "state: open conversations exceed %zu bytes", STATE_MAX_BYTES);
        am_buf_fini(&buf);
        return AM_ETOOBIG;
    }
    mkdir(d->cfg.state_dir, 0750);
    state_path(d, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd >= 0) {
        size_t off = 0;
        while (off < buf.len) {
            ssize_t w = write(fd, buf.data + off, buf.len - off);
            if (w <= 0) {
                break;
            }
            off += (size_t)w;
        }
        if (off == buf.len && fsync(fd) == 0 && rename(tmp, path) == 0) {
            rc = AM_OK;
        }
        close(fd);
    }
    if (rc != AM_OK) {
        AM_LOG_ERROR("daemon", "state %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    am_buf_fini(&buf);
    return rc;
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
        load_state(d);
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

static void housekeeping(struct am_loop *loop, void *ud)
{
    struct am_worker *w = ud;
    struct am_daemon *d = w->d;
    uint64_t now = am_clock_mono(am_loop_clock(loop));
    struct am_derive_opts opts = am_daemon_derive_opts(w);
    am_trace_buf_tick(d->trace_buf, &opts, now, &w->sink);
    am_conv_tick(d->conv, now, &w->sink);
    am_quality_tick(d->quality, now, &w->sink);
    w->housekeeping_timer = am_loop_timer_add(loop, HOUSEKEEPING_NS, housekeeping, w);
}

void am_assembly_start(struct am_worker *w0)
{
    w0->housekeeping_timer = am_loop_timer_add(w0->loop, HOUSEKEEPING_NS, housekeeping, w0);
}

void am_assembly_shutdown(struct am_daemon *d)
{
    struct am_worker *w0 = &d->workers[0];
    uint64_t now = am_clock_mono(am_clock_system());
    struct am_derive_opts opts = am_daemon_derive_opts(w0);
    am_trace_buf_flush(d->trace_buf, &opts, now, &w0->sink);
    if (d->cfg.state_dir != NULL && save_state(d, now) == AM_OK) {
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
