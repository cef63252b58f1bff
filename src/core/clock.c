/* clock.c - the system clock and the manual clock tests inject (am/clock.h). */
#include <time.h>

#include "am/clock.h"

static uint64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t sys_mono(void *ud)
{
    (void)ud;
    return read_clock(CLOCK_MONOTONIC);
}

static uint64_t sys_wall(void *ud)
{
    (void)ud;
    return read_clock(CLOCK_REALTIME);
}

static const struct am_clock system_clock = {sys_mono, sys_wall, NULL};

const struct am_clock *am_clock_system(void)
{
    return &system_clock;
}

static uint64_t manual_mono(void *ud)
{
    return ((struct am_clock_manual *)ud)->mono;
}

static uint64_t manual_wall(void *ud)
{
    return ((struct am_clock_manual *)ud)->wall;
}

void am_clock_manual_init(struct am_clock_manual *m, uint64_t mono_ns, uint64_t wall_ns)
{
    m->clock.mono_ns = manual_mono;
    m->clock.wall_ns = manual_wall;
    m->clock.ud = m;
    m->mono = mono_ns;
    m->wall = wall_ns;
}

void am_clock_manual_advance(struct am_clock_manual *m, uint64_t ns)
{
    m->mono += ns;
    m->wall += ns;
}
