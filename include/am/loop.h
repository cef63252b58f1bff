#ifndef AM_LOOP_H
#define AM_LOOP_H

#include <stdint.h>

#include "am/clock.h"

/*
 * One epoll event loop per worker thread (Redis ae shape): fd callbacks
 * (loop, fd, events, udata), one-shot timers on the loop's clock, and a
 * before-sleep hook. Not thread-safe except am_loop_stop/am_loop_wake,
 * which any thread may call.
 */

struct am_loop;

#define AM_LOOP_READ 1u
#define AM_LOOP_WRITE 2u
#define AM_LOOP_EXCLUSIVE 4u /* EPOLLEXCLUSIVE, for a listen fd shared by workers */

typedef void (*am_loop_fd_cb)(struct am_loop *loop, int fd, unsigned events, void *ud);
typedef void (*am_loop_timer_cb)(struct am_loop *loop, void *ud);
typedef void (*am_loop_hook_cb)(struct am_loop *loop, void *ud);

struct am_loop *am_loop_create(const struct am_clock *clock);
void am_loop_destroy(struct am_loop *loop);

/* Watch fd for events (AM_LOOP_READ|AM_LOOP_WRITE). Returns AM_OK or AM_EIO. */
int am_loop_add(struct am_loop *loop, int fd, unsigned events, am_loop_fd_cb cb, void *ud);
int am_loop_mod(struct am_loop *loop, int fd, unsigned events);
void am_loop_del(struct am_loop *loop, int fd);

/* Fire cb once after delay_ns. Returns a timer id (> 0). */
uint64_t am_loop_timer_add(struct am_loop *loop, uint64_t delay_ns, am_loop_timer_cb cb, void *ud);
void am_loop_timer_cancel(struct am_loop *loop, uint64_t id);

void am_loop_set_before_sleep(struct am_loop *loop, am_loop_hook_cb cb, void *ud);

/* Run until am_loop_stop. Returns AM_OK or AM_EIO. */
int am_loop_run(struct am_loop *loop);
/* Thread-safe: make am_loop_run return after the current iteration. */
void am_loop_stop(struct am_loop *loop);

const struct am_clock *am_loop_clock(const struct am_loop *loop);

#endif
