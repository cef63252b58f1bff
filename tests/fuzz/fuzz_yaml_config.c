/*
 * fuzz_yaml_config.c - arbitrary bytes through am_config_load_string (libyaml,
 * the node tree, env expansion, every binding table) and am_config_free.
 * Invariants: a result is AM_OK or AM_ECONFIG; an error leaves a non-empty,
 * NUL-terminated diagnostic; nothing leaks (ASan/LSan). STYLE.md 5.10.
 */
#include <stdint.h>
#include <string.h>

#include "am/config.h"
#include "am/err.h"
#include "am/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct am_config cfg;
    struct am_diag diag;
    memset(&diag, 0, sizeof(diag));
    am_config_defaults(&cfg);
    int rc = am_config_load_string((const char *)data, size, "fuzz.yaml", &cfg, &diag);
    AM_ASSERT(rc == AM_OK || rc == AM_ECONFIG);
    if (rc != AM_OK) {
        AM_ASSERT(diag.msg[0] != '\0' && memchr(diag.msg, '\0', sizeof(diag.msg)) != NULL);
    } else {
        AM_ASSERT(cfg.http.endpoint != NULL && cfg.grpc.endpoint != NULL);
        AM_ASSERT(cfg.prom.endpoint != NULL && cfg.escalation_attribute != NULL);
        AM_ASSERT(cfg.workers <= 256 && cfg.log_level >= 0 && cfg.log_level <= 3);
        for (size_t i = 0; i < cfg.bucket_count; i++) {
            AM_ASSERT(cfg.buckets[i].count >= 1 && cfg.buckets[i].count <= AM_MAX_BUCKETS);
        }
        for (size_t i = 0; i < cfg.remote_write_count; i++) {
            AM_ASSERT(cfg.remote_write[i].url != NULL);
        }
    }
    am_config_free(&cfg);
    return 0;
}
