/* discovery/worker.c - the discovery worker thread.
 *
 * liblxc calls block (they fork, read files, talk to the container's
 * monitor): they run here, one at a time and in order, so a probe never
 * overtakes an earlier one. Finished jobs are queued for the loop and the
 * loop is woken by one byte on a self-pipe; main() does not enable libevent's
 * threading, so the worker never touches an event. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "discovery/worker.h"
#include "lb/log.h"

static void dw_push(struct dw_queue *q, struct dw_job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static struct dw_job *dw_take_all(struct dw_queue *q)
{
    struct dw_job *j = q->head;

    q->head = q->tail = NULL;
    return j;
}

static void *dw_main(void *arg)
{
    struct dworker *w = arg;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->quit && !w->todo.head)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->quit)
            break;
        struct dw_job *j = w->todo.head;
        w->todo.head = j->next;
        if (!w->todo.head)
            w->todo.tail = NULL;
        pthread_mutex_unlock(&w->lock);

        j->run(j);

        pthread_mutex_lock(&w->lock);
        bool was_empty = !w->finished.head;
        dw_push(&w->finished, j);
        /* One byte per batch: the loop takes the whole queue when it wakes. */
        if (was_empty) {
            ssize_t n;
            do
                n = write(w->pipe_wr, "", 1);
            while (n < 0 && errno == EINTR);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Loop thread: run done() for every finished job, oldest first. */
static void dw_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dworker *w = arg;
    char buf[64];
    struct dw_job *j, *next;

    (void)what;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&w->lock);
    j = dw_take_all(&w->finished);
    pthread_mutex_unlock(&w->lock);
    for (; j; j = next) {
        next = j->next;
        j->done(j);
    }
}

/* The worker must not take the process's signals (SIGHUP, SIGTERM, SIGCHLD):
 * they belong to the loop thread's libevent handlers. */
static int dw_spawn(struct dworker *w)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, dw_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

struct dworker *dw_start(struct event_base *base, char *err, size_t errlen)
{
    struct dworker *w = calloc(1, sizeof(*w));
    int fds[2] = { -1, -1 }, rc;

    if (!w) {
        snprintf(err, errlen, "discovery: out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->pipe_rd = w->pipe_wr = -1;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "discovery: pipe: %s", strerror(errno));
        goto err;
    }
    w->pipe_rd = fds[0];
    w->pipe_wr = fds[1];
    w->ev = event_new(base, w->pipe_rd, EV_READ | EV_PERSIST, dw_pipe_cb, w);
    if (!w->ev || event_add(w->ev, NULL) < 0) {
        snprintf(err, errlen, "discovery: cannot watch the worker pipe");
        goto err;
    }
    rc = dw_spawn(w);
    if (rc != 0) {
        snprintf(err, errlen, "discovery: cannot start the worker thread: %s", strerror(rc));
        goto err;
    }
    w->started = true;
    return w;
err:
    dw_stop(w);
    return NULL;
}

void dw_submit(struct dworker *w, struct dw_job *j)
{
    pthread_mutex_lock(&w->lock);
    dw_push(&w->todo, j);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

static void dw_drop_list(struct dw_job *j)
{
    struct dw_job *next;

    for (; j; j = next) {
        next = j->next;
        j->drop(j);
    }
}

void dw_stop(struct dworker *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->quit = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    dw_drop_list(dw_take_all(&w->todo));
    dw_drop_list(dw_take_all(&w->finished));
    if (w->ev)
        event_free(w->ev);
    if (w->pipe_rd >= 0)
        close(w->pipe_rd);
    if (w->pipe_wr >= 0)
        close(w->pipe_wr);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
