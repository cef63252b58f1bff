/*
 * bench_rw.c - remote_write encode + snappy throughput (DESIGN.md 5 budget:
 * >= 2,000,000 samples per CPU-second). A synthetic snapshot of counters
 * and histograms with realistic label values and two external labels is
 * encoded repeatedly; prints samples per CPU-second of this process.
 * Usage: bench_rw [seconds]   (default 1)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "am/err.h"
#include "am/rw.h"

#define AGENTS 50
#define MODELS 20

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_cb(void *ud, const void *data, size_t len, uint32_t samples)
{
    (void)data;
    uint64_t *c = ud;
    c[0] += samples;
    c[1] += len;
    return AM_OK;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
    static char agents[AGENTS][32];
    static char models[MODELS][32];
    static const char *lv[AGENTS * MODELS][3];
    static uint64_t counts[11] = {5, 9, 14, 3, 0, 1, 7, 2, 0, 0, 1};
    const struct am_family *f = am_family_get(AM_M_MODEL_INFERENCE_DURATION);
    for (int a = 0; a < AGENTS; a++) {
        snprintf(agents[a], sizeof(agents[a]), "customer-support-agent-%02d", a);
    }
    for (int m = 0; m < MODELS; m++) {
        snprintf(models[m], sizeof(models[m]), "gpt-4o-2024-08-%02d", m);
    }
    size_t n = 0;
    for (int a = 0; a < AGENTS; a++) {
        for (int m = 0; m < MODELS; m++, n++) {
            lv[n][0] = agents[a];
            lv[n][1] = models[m];
            lv[n][2] = "input";
        }
    }
    const struct am_header_kv ext[] = {{"cluster", "prod-eu"}, {"replica", "a"}};
    struct am_rw_enc *e = am_rw_enc_create(ext, 2, 2000);
    uint64_t acc[2] = {0, 0};
    double start = cpu_seconds();
    double now = start;
    int rounds = 0;
    while (now - start < secs) {
        am_rw_enc_begin(e, 1700000000000 + rounds, count_cb, acc);
        for (size_t i = 0; i < n; i++) {
            struct am_series_view c = {.metric = AM_M_AGENT_TOKEN_USAGE_TOTAL,
                                       .label_values = lv[i],
                                       .value = (double)(i * 1000 + (size_t)rounds)};
            struct am_series_view h = {.metric = AM_M_MODEL_INFERENCE_DURATION,
                                       .label_values = lv[i],
                                       .count = 42,
                                       .sum = 33.5 + rounds,
                                       .bucket_counts = counts,
                                       .bounds = f->buckets,
                                       .bound_count = f->bucket_count};
            am_rw_enc_add_view(e, &c);
            am_rw_enc_add_view(e, &h);
        }
        am_rw_enc_finish(e);
        rounds++;
        now = cpu_seconds();
    }
    double el = now - start;
    printf("bench_rw: %llu samples in %.3f CPU-s: %.0f samples/CPU-second, %.1f bytes/sample "
           "compressed\n",
           (unsigned long long)acc[0], el, (double)acc[0] / el, (double)acc[1] / (double)acc[0]);
    am_rw_enc_destroy(e);
    return 0;
}
