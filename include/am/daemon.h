#ifndef AM_DAEMON_H
#define AM_DAEMON_H

#include "am/config.h"

/*
 * daemon: wires net, otlp, genai, metrics and config together; owns the
 * worker threads, signals (SIGHUP reload, SIGTERM/SIGINT shutdown) and the
 * lifecycle. The only module that knows all the others.
 */

struct am_daemon;

/* Build everything cfg asks for and bind the listeners. Takes ownership of
 * cfg's contents. config_path (may be NULL) is re-read on SIGHUP.
 * Returns NULL with a log line on failure. */
struct am_daemon *am_daemon_create(struct am_config *cfg, const char *config_path);
/* Serve until SIGTERM/SIGINT (or am_daemon_stop). Returns the exit code. */
int am_daemon_run(struct am_daemon *d);
/* Thread-safe request to stop. */
void am_daemon_stop(struct am_daemon *d);
void am_daemon_destroy(struct am_daemon *d);

/* Build the pricing table cfg asks for: builtin (if on), then pricing.file,
 * then pricing.models, later entries winning. Returns AM_OK or AM_ECONFIG /
 * AM_EIO with diag set; *out is frozen, freed with am_pricing_destroy. */
int am_daemon_build_pricing(const struct am_config *cfg, struct am_pricing **out,
                            struct am_diag *diag);

struct am_rules;
struct am_filter;
/* Compile the classification rules cfg asks for: processors.genai.rules,
 * then each rule file's `rules:` in order (paths as given, like
 * pricing.file). Returns AM_OK with *out NULL when there are none, or
 * AM_ECONFIG with diag "FILE:LINE:COL: path: what" (or "FILE: cannot
 * read: ..."). *out is freed with am_rules_destroy. */
int am_daemon_build_rules(const struct am_config *cfg, struct am_rules **out, struct am_diag *diag);
/* Compile processors.genai.filters (NULL when none). Returns AM_OK, or
 * AM_ECONFIG with diag set. */
int am_daemon_build_filters(const struct am_config *cfg, struct am_filter **out,
                            struct am_diag *diag);

/* The bound port of a listener ("http", "grpc", "prometheus"), for tests. */
int am_daemon_port(const struct am_daemon *d, const char *listener);

#endif
