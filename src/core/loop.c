/*
 * loop.c - one epoll event loop per worker (am/loop.h, STYLE.md 5.2).
 * fds live in a table indexed by fd; each registration carries a generation
 * so events for an fd deleted (and maybe reused) earlier in the same batch
 * are dropped. Timers are slots in a slab ordered by a binary min-heap on
 * (deadline, sequence); ids carry the slot's generation so a stale cancel
 * is harmless. am_loop_stop sets a flag and writes an eventfd.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "am/alloc.h"
#include "am/err.h"
#include "am/log.h"
#include "am/loop.h"

#define LOOP_MAX_EVENTS 128

struct fd_entry {
    am_loop_fd_cb cb;
    void *ud;
    unsigned events;
    uint32_t gen;
    bool used;
};

struct timer {
    uint64_t deadline_ns;
    uint64_t seq;
    am_loop_timer_cb cb;
    void *ud;
    uint32_t gen;
    uint32_t heap_idx; /* UINT32_MAX when free */
};

struct am_loop {
    const struct am_clock *clock;
    int epfd;
    int wakefd;
    int stop; /* atomic */
    struct fd_entry *fds;
    size_t nfds;
    uint32_t fd_gen;
    struct timer *timers; /* slab */
    uint32_t ntimers;
    uint32_t *free_slots;
    uint32_t nfree;
    uint32_t *heap; /* slot indices */
    uint32_t heap_len;
    uint64_t seq;
    am_loop_hook_cb before_sleep;
    void *before_sleep_ud;
};

struct am_loop *am_loop_create(const struct am_clock *clock)
{
    struct am_loop *l = am_xcalloc(1, sizeof(*l));
    l->clock = clock != NULL ? clock : am_clock_system();
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->wakefd < 0) {
        AM_LOG_ERROR("loop", "epoll/eventfd: %s", strerror(errno));
        am_loop_destroy(l);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0) {
        AM_LOG_ERROR("loop", "epoll_ctl wakefd: %s", strerror(errno));
        am_loop_destroy(l);
        return NULL;
    }
    return l;
}

void am_loop_destroy(struct am_loop *l)
{
    if (l == NULL) {
        return;
    }
    if (l->epfd >= 0) {
        close(l->epfd);
    }
    if (l->wakefd >= 0) {
        close(l->wakefd);
    }
    am_free(l->fds);
    am_free(l->timers);
    am_free(l->free_slots);
    am_free(l->heap);
    am_free(l);
}

static uint32_t to_epoll(unsigned events)
{
    uint32_t e = 0;
    if (events & AM_LOOP_READ) {
        e |= EPOLLIN | EPOLLRDHUP;
    }
    if (events & AM_LOOP_WRITE) {
        e |= EPOLLOUT;
    }
    if (events & AM_LOOP_EXCLUSIVE) {
        e = (e & ~(uint32_t)EPOLLRDHUP) | EPOLLEXCLUSIVE; /* the kernel refuses RDHUP here */
    }
    return e;
}

static int ctl(struct am_loop *l, int op, int fd, unsigned events)
{
    struct fd_entry *e = &l->fds[fd];
    struct epoll_event ev = {.events = to_epoll(events)};
    ev.data.u64 = ((uint64_t)e->gen << 32) | (uint32_t)fd;
    if (epoll_ctl(l->epfd, op, fd, &ev) != 0) {
        AM_LOG_ERROR("loop", "epoll_ctl fd=%d: %s", fd, strerror(errno));
        return AM_EIO;
    }
    return AM_OK;
}

int am_loop_add(struct am_loop *l, int fd, unsigned events, am_loop_fd_cb cb, void *ud)
{
    if (fd < 0) {
        return AM_EIO;
    }
    if ((size_t)fd >= l->nfds) {
        size_t n = l->nfds ? l->nfds : 64;
        while (n <= (size_t)fd) {
            n *= 2;
        }
        l->fds = am_xrealloc(l->fds, n * sizeof(*l->fds));
        memset(l->fds + l->nfds, 0, (n - l->nfds) * sizeof(*l->fds));
        l->nfds = n;
    }
    struct fd_entry *e = &l->fds[fd];
    e->cb = cb;
    e->ud = ud;
    e->events = events;
    e->gen = ++l->fd_gen;
    e->used = true;
    if (ctl(l, EPOLL_CTL_ADD, fd, events) != AM_OK) {
        e->used = false;
        return AM_EIO;
    }
    return AM_OK;
}

int am_loop_mod(struct am_loop *l, int fd, unsigned events)
{
    if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used) {
        return AM_EIO;
    }
    l->fds[fd].events = events;
    return ctl(l, EPOLL_CTL_MOD, fd, events);
}

void am_loop_del(struct am_loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used) {
        return;
    }
    l->fds[fd].used = false;
    l->fds[fd].gen = ++l->fd_gen;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- timers: binary min-heap of slab slots ---- */

static bool timer_before(const struct am_loop *l, uint32_t a, uint32_t b)
{
    const struct timer *ta = &l->timers[a];
    const struct timer *tb = &l->timers[b];
    if (ta->deadline_ns != tb->deadline_ns) {
        return ta->deadline_ns < tb->deadline_ns;
    }
    return ta->seq < tb->seq;
}

static void heap_set(struct am_loop *l, uint32_t i, uint32_t slot)
{
    l->heap[i] = slot;
    l->timers[slot].heap_idx = i;
}

static void heap_up(struct am_loop *l, uint32_t i)
{
    uint32_t slot = l->heap[i];
    while (i > 0 && timer_before(l, slot, l->heap[(i - 1) / 2])) {
        heap_set(l, i, l->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(l, i, slot);
}

static void heap_down(struct am_loop *l, uint32_t i)
{
    uint32_t slot = l->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= l->heap_len) {
            break;
        }
        if (c + 1 < l->heap_len && timer_before(l, l->heap[c + 1], l->heap[c])) {
            c++;
        }
        if (!timer_before(l, l->heap[c], slot)) {
            break;
        }
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, slot);
}

static void heap_remove(struct am_loop *l, uint32_t i)
{
    uint32_t slot = l->heap[i];
    l->timers[slot].heap_idx = UINT32_MAX;
    l->timers[slot].gen++;
    l->free_slots[l->nfree++] = slot;
    l->heap_len--;
    if (i == l->heap_len) {
        return;
    }
    uint32_t moved = l->heap[l->heap_len];
    heap_set(l, i, moved);
    heap_up(l, i);
    if (l->heap[i] == moved) {
        heap_down(l, i);
    }
}

static uint32_t timer_slot(struct am_loop *l)
{
    if (l->nfree > 0) {
        return l->free_slots[--l->nfree];
    }
    uint32_t n = l->ntimers ? l->ntimers * 2 : 16;
    l->timers = am_xrealloc(l->timers, n * sizeof(*l->timers));
    l->free_slots = am_xrealloc(l->free_slots, n * sizeof(*l->free_slots));
    l->heap = am_xrealloc(l->heap, n * sizeof(*l->heap));
    for (uint32_t s = n; s > l->ntimers; s--) {
        l->timers[s - 1].gen = 1;
        l->timers[s - 1].heap_idx = UINT32_MAX;
        l->free_slots[l->nfree++] = s - 1;
    }
    l->ntimers = n;
    return l->free_slots[--l->nfree];
}

uint64_t am_loop_timer_add(struct am_loop *l, uint64_t delay_ns, am_loop_timer_cb cb, void *ud)
{
    uint32_t slot = timer_slot(l);
    struct timer *t = &l->timers[slot];
    uint64_t now = am_clock_mono(l->clock);
    t->deadline_ns = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
    t->seq = ++l->seq;
    t->cb = cb;
    t->ud = ud;
    l->heap[l->heap_len] = slot;
    l->heap_len++;
    heap_up(l, l->heap_len - 1);
    return ((uint64_t)t->gen << 32) | (slot + 1);
}

void am_loop_timer_cancel(struct am_loop *l, uint64_t id)
{
    uint32_t slot = (uint32_t)(id & 0xffffffffu);
    if (slot == 0 || slot > l->ntimers) {
        return;
    }
    struct timer *t = &l->timers[slot - 1];
    if (t->gen != (uint32_t)(id >> 32) || t->heap_idx == UINT32_MAX) {
        return;
    }
    heap_remove(l, t->heap_idx);
}

/* Fire due timers. Only timers armed before this pass may fire in it, so a
 * callback that re-arms itself with delay 0 cannot starve the fds. */
static void run_timers(struct am_loop *l)
{
    uint64_t now = am_clock_mono(l->clock);
    uint64_t seq_limit = l->seq;
    while (l->heap_len > 0 && !__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        struct timer *t = &l->timers[l->heap[0]];
        if (t->deadline_ns > now || t->seq > seq_limit) {
            break;
        }
        am_loop_timer_cb cb = t->cb;
        void *ud = t->ud;
        heap_remove(l, 0);
        cb(l, ud);
    }
}

static int next_timeout_ms(struct am_loop *l)
{
    if (l->heap_len == 0) {
        return -1;
    }
    uint64_t now = am_clock_mono(l->clock);
    uint64_t deadline = l->timers[l->heap[0]].deadline_ns;
    if (deadline <= now) {
        return 0;
    }
    uint64_t ms = (deadline - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

static void dispatch(struct am_loop *l, const struct epoll_event *ev)
{
    if (ev->data.u64 == UINT64_MAX) {
        uint64_t v;
        ssize_t n = read(l->wakefd, &v, sizeof(v));
        (void)n;
        return;
    }
    int fd = (int)(uint32_t)ev->data.u64;
    uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
    if ((size_t)fd >= l->nfds || !l->fds[fd].used || l->fds[fd].gen != gen) {
        return; /* deleted earlier in this batch */
    }
    unsigned events = 0;
    if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        events |= AM_LOOP_READ;
    }
    if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        events |= AM_LOOP_WRITE;
    }
    unsigned want = l->fds[fd].events & (AM_LOOP_READ | AM_LOOP_WRITE);
    /* HUP/ERR are reported even when nothing is watched: hand them to the
     * reader so the owner sees the error and closes. */
    events &= want != 0 ? want : AM_LOOP_READ;
    if (events != 0) {
        l->fds[fd].cb(l, fd, events, l->fds[fd].ud);
    }
}

int am_loop_run(struct am_loop *l)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        if (l->before_sleep != NULL) {
            l->before_sleep(l, l->before_sleep_ud);
        }
        int n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, next_timeout_ms(l));
        if (n < 0 && errno != EINTR) {
            AM_LOG_ERROR("loop", "epoll_wait: %s", strerror(errno));
            return AM_EIO;
        }
        for (int i = 0; i < n && !__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE); i++) {
            dispatch(l, &evs[i]);
        }
        run_timers(l);
    }
    __atomic_store_n(&l->stop, 0, __ATOMIC_RELEASE);
    return AM_OK;
}

void am_loop_stop(struct am_loop *l)
{
    uint64_t one = 1;
    __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
    ssize_t n = write(l->wakefd, &one, sizeof(one));
    (void)n;
}

void am_loop_set_before_sleep(struct am_loop *l, am_loop_hook_cb cb, void *ud)
{
    l->before_sleep = cb;
    l->before_sleep_ud = ud;
}

const struct am_clock *am_loop_clock(const struct am_loop *l)
{
    return l->clock;
}
