/* daemon.c - wiring; filled in once the modules land. */
#include "am/daemon.h"
#include "am/log.h"

struct am_daemon *am_daemon_create(struct am_config *cfg, const char *config_path)
{
    (void)cfg;
    (void)config_path;
    AM_LOG_ERROR("daemon", "not wired yet");
    return NULL;
}

int am_daemon_run(struct am_daemon *d)
{
    (void)d;
    return 1;
}

void am_daemon_stop(struct am_daemon *d)
{
    (void)d;
}

void am_daemon_destroy(struct am_daemon *d)
{
    (void)d;
}

int am_daemon_port(const struct am_daemon *d, const char *listener)
{
    (void)d;
    (void)listener;
    return -1;
}
