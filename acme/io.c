/* acme/io.c - state_dir's files on a worker thread: the loop never waits for
 * a disk. Jobs run in order on one thread; their results come back through
 * an eventfd and are used on the loop.
 *
 * Writes are atomic: a temporary file in the same directory, fsync, rename
 * over the old one, fsync of the directory. A crash leaves the old file or
 * the new one, never a mix; a stray temporary file is only clutter. Files
 * are 0600: they hold private keys. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "acme/acme-int.h"

#define ACME_FILE_MAX (1u << 20) /* a key and a chain are a few KiB */

/* ------------------------------------------------------------- files */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int acme_write_atomic(int dirfd, const char *file, const char *data, size_t len, char *err,
                      size_t errlen)
{
    char tmp[300];
    int fd;

    snprintf(tmp, sizeof(tmp), ".%s.tmp", file);
    (void)unlinkat(dirfd, tmp, 0); /* left by a crash, or not ours to trust */
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlinkat(dirfd, tmp, 0);
        return -1;
    }
    close(fd);
    if (renameat(dirfd, tmp, dirfd, file) < 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, file, strerror(errno));
        unlinkat(dirfd, tmp, 0);
        return -1;
    }
    /* The rename itself must reach the disk before we count on the file. */
    if (fsync(dirfd) < 0) {
        snprintf(err, errlen, "cannot sync the directory: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void acme_job_write(struct acme_job *j)
{
    j->rc = acme_write_atomic(j->dirfd, j->file, j->data, j->len, j->err, sizeof(j->err));
}

void acme_job_read(struct acme_job *j)
{
    int fd = openat(j->dirfd, j->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    ssize_t n;

    j->rc = -1;
    if (fd < 0) {
        if (errno == ENOENT)
            j->rc = 1;
        else
            snprintf(j->err, sizeof(j->err), "cannot open: %s", strerror(errno));
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > ACME_FILE_MAX) {
        snprintf(j->err, sizeof(j->err), "not a regular file of at most %u bytes",
                 ACME_FILE_MAX);
        goto out;
    }
    free(j->data);
    if (!(j->data = malloc((size_t)st.st_size + 1))) {
        snprintf(j->err, sizeof(j->err), "out of memory");
        goto out;
    }
    for (j->len = 0, n = 1; j->len < (size_t)st.st_size && n != 0;) {
        n = read(fd, j->data + j->len, (size_t)st.st_size - j->len);
        if (n < 0 && errno != EINTR)
            break;
        j->len += n > 0 ? (size_t)n : 0;
    }
    j->data[j->len] = '\0';
    if (j->len != (size_t)st.st_size)
        snprintf(j->err, sizeof(j->err), "cannot read: %s", n < 0 ? strerror(errno) : "short");
    else
        j->rc = 0;
out:
    close(fd);
}

void acme_job_read_cert(struct acme_job *j)
{
    acme_job_read(j);
    if (j->rc != 0)
        return;
    j->cert = acme_cert_parse(j->data, j->len, NULL, j->name, j->err, sizeof(j->err));
    if (!j->cert)
        j->rc = -1;
}

/* --------------------------------------------------------------- jobs */

struct acme_job *acme_job_new(int dirfd, const char *file, const char *name)
{
    struct acme_job *j = calloc(1, sizeof(*j));

    if (j)
        j->dirfd = -1;
    if (!j || !(j->file = strdup(file)) || (name && !(j->name = strdup(name)))) {
        acme_job_free(j);
        return NULL;
    }
    /* Its own descriptor: a reload may move state_dir while the job waits. */
    if (dirfd >= 0 && (j->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) < 0) {
        acme_job_free(j);
        return NULL;
    }
    return j;
}

void acme_job_free(struct acme_job *j)
{
    if (!j)
        return;
    if (j->dirfd >= 0)
        close(j->dirfd);
    free(j->file);
    free(j->name);
    if (j->data) /* keys: do not leave them in freed memory */
        OPENSSL_cleanse(j->data, j->len);
    free(j->data);
    acme_cert_free(j->cert);
    free(j);
}

/* ------------------------------------------------------------- thread */

static void *io_main(void *arg)
{
    struct acme_io *io = arg;
    uint64_t one = 1;

    pthread_mutex_lock(&io->lock);
    for (;;) {
        struct acme_job *j = io->todo;

        if (!j) {
            if (io->stop)
                break;
            pthread_cond_wait(&io->wake, &io->lock);
            continue;
        }
        io->todo = j->next;
        if (!io->todo)
            io->todo_tail = &io->todo;
        pthread_mutex_unlock(&io->lock);
        j->next = NULL;
        j->run(j);
        pthread_mutex_lock(&io->lock);
        *io->done_tail = j;
        io->done_tail = &j->next;
        if (write(io->efd, &one, sizeof(one)) < 0) {
            /* only when the counter is near 2^64: the loop reads it to zero */
        }
    }
    pthread_mutex_unlock(&io->lock);
    return NULL;
}

static void io_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct acme_io *io = arg;
    struct acme_job *j, *next;
    uint64_t n;

    (void)what;
    if (read(fd, &n, sizeof(n)) < 0) {
        /* EAGAIN: an earlier turn took these */
    }
    pthread_mutex_lock(&io->lock);
    j = io->done;
    io->done = NULL;
    io->done_tail = &io->done;
    pthread_mutex_unlock(&io->lock);
    for (; j; j = next) {
        next = j->next;
        j->done(j); /* frees j */
    }
}

int acme_io_start(struct acme_io *io, struct event_base *base, char *err, size_t errlen)
{
    int rc;

    memset(io, 0, sizeof(*io));
    io->efd = -1;
    pthread_mutex_init(&io->lock, NULL);
    pthread_cond_init(&io->wake, NULL);
    io->todo_tail = &io->todo;
    io->done_tail = &io->done;
    if ((io->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
        !(io->ev = event_new(base, io->efd, EV_READ | EV_PERSIST, io_done_cb, io)) ||
        event_add(io->ev, NULL) < 0) {
        snprintf(err, errlen, "acme: cannot set up the file worker: %s", strerror(errno));
        return -1;
    }
    if ((rc = pthread_create(&io->thread, NULL, io_main, io)) != 0) {
        snprintf(err, errlen, "acme: cannot start the file worker: %s", strerror(rc));
        return -1;
    }
    io->running = true;
    return 0;
}

void acme_io_post(struct acme_io *io, struct acme_job *j)
{
    if (!io->running) { /* never started, or stopping: do it here */
        j->run(j);
        acme_job_free(j);
        return;
    }
    j->next = NULL;
    pthread_mutex_lock(&io->lock);
    *io->todo_tail = j;
    io->todo_tail = &j->next;
    pthread_cond_signal(&io->wake);
    pthread_mutex_unlock(&io->lock);
}

void acme_io_stop(struct acme_io *io)
{
    struct acme_job *j, *next;

    if (io->running) {
        pthread_mutex_lock(&io->lock);
        io->stop = true;
        pthread_cond_signal(&io->wake);
        pthread_mutex_unlock(&io->lock);
        pthread_join(io->thread, NULL);
        io->running = false;
    }
    /* Finished jobs whose results nobody will use now. */
    for (j = io->done; j; j = next) {
        next = j->next;
        acme_job_free(j);
    }
    io->done = NULL;
    io->done_tail = &io->done;
    if (io->ev)
        event_free(io->ev);
    io->ev = NULL;
    if (io->efd >= 0)
        close(io->efd);
    io->efd = -1;
    if (io->todo_tail) {
        pthread_mutex_destroy(&io->lock);
        pthread_cond_destroy(&io->wake);
        io->todo_tail = NULL;
    }
}
