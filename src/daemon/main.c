/*
 * main.c - argv only: --config, --check-config, --help, --version. Every
 * other decision belongs to the daemon (daemon.c).
 */
#include <stdio.h>
#include <string.h>

#include "am/config.h"
#include "am/daemon.h"
#include "am/filter.h"
#include "am/rules.h"
#include "am/log.h"

static void usage(FILE *out)
{
    fputs("Usage: agentmeter [--config FILE] [--check-config FILE] [--help] [--version]\n"
          "\n"
          "OpenTelemetry trace-to-metrics collector for AI agents. Receives OTLP spans\n"
          "(HTTP on :4318 by default), derives agent metrics from the GenAI attributes and\n"
          "serves them for Prometheus on :9464/metrics.\n"
          "\n"
          "  --config FILE        load configuration from FILE (default: built-in defaults)\n"
          "  --check-config FILE  validate FILE and exit 0, or print FILE:LINE:COL errors, exit 1\n"
          "  --help               show this help\n"
          "  --version            print the version\n",
          out);
}

static int check_config(const char *path)
{
    struct am_config cfg;
    struct am_diag diag;
    struct am_pricing *pricing = NULL;
    struct am_rules *rules = NULL;
    struct am_filter *filters = NULL;
    am_config_defaults(&cfg);
    int rc = am_config_load(path, &cfg, &diag);
    if (rc == 0) {
        rc = am_daemon_build_pricing(&cfg, &pricing, &diag);
    }
    if (rc == 0) {
        rc = am_daemon_build_rules(&cfg, &rules, &diag);
    }
    if (rc == 0) {
        rc = am_daemon_build_filters(&cfg, &filters, &diag);
    }
    am_pricing_destroy(pricing);
    am_rules_destroy(rules);
    am_filter_destroy(filters);
    am_config_free(&cfg);
    if (rc != 0) {
        fprintf(stderr, "%s\n", diag.msg);
        return 1;
    }
    printf("%s: ok\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("agentmeter %s\n", AM_VERSION);
            return 0;
        }
        if (strcmp(a, "--check-config") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "agentmeter: %s needs a FILE\n", a);
                return 2;
            }
            if (strcmp(a, "--check-config") == 0) {
                return check_config(argv[i + 1]);
            }
            config_path = argv[++i];
            continue;
        }
        fprintf(stderr, "agentmeter: unknown argument '%s'\n", a);
        usage(stderr);
        return 2;
    }

    struct am_config cfg;
    struct am_diag diag;
    am_config_defaults(&cfg);
    if (config_path != NULL && am_config_load(config_path, &cfg, &diag) != 0) {
        fprintf(stderr, "%s\n", diag.msg);
        am_config_free(&cfg);
        return 1;
    }
    am_log_set_level((enum am_log_level)cfg.log_level);
    am_log_set_format((enum am_log_format)cfg.log_format);
    struct am_daemon *d = am_daemon_create(&cfg, config_path);
    if (d == NULL) {
        return 1;
    }
    int code = am_daemon_run(d);
    am_daemon_destroy(d);
    return code;
}
