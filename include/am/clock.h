#ifndef AM_CLOCK_H
#define AM_CLOCK_H

#include <stdint.h>

/*
 * Time comes only from an am_clock: monotonic nanoseconds for every timer
 * and window, wall-clock nanoseconds only for timestamps that leave the
 * process. Tests use a manual clock and advance it by hand; nothing sleeps.
 */

struct am_clock {
    uint64_t (*mono_ns)(void *ud);
    uint64_t (*wall_ns)(void *ud);
    void *ud;
};

/* The process clock (CLOCK_MONOTONIC / CLOCK_REALTIME). */
const struct am_clock *am_clock_system(void);

/* A manual clock for tests: both readings return the stored values. */
struct am_clock_manual {
    struct am_clock clock;
    uint64_t mono;
    uint64_t wall;
};
void am_clock_manual_init(struct am_clock_manual *m, uint64_t mono_ns, uint64_t wall_ns);
void am_clock_manual_advance(struct am_clock_manual *m, uint64_t ns);

static inline uint64_t am_clock_mono(const struct am_clock *c)
{
    return c->mono_ns(c->ud);
}

static inline uint64_t am_clock_wall(const struct am_clock *c)
{
    return c->wall_ns(c->ud);
}

#endif
