/* bench/mallinfo.c - LD_PRELOAD probe for bench/rss.py: what glibc's malloc
 * holds in use versus what it keeps, without touching lxlb.
 *
 * A thread started at load writes mallinfo2() of all arenas every 20 ms to
 * the file named by LXLB_MALLINFO (one line, overwritten in place):
 *     in_use_bytes free_bytes mmapped_bytes arenas_bytes
 * in_use: uordblks + hblkhd (allocated, incl. mmapped chunks); free: fordblks
 * (free chunks the arenas keep: resident until trimmed); arenas: arena
 * (bytes obtained with sbrk/heap mmaps). A leak shows in in_use; allocator
 * retention in free. Built by bench/rss.py; never part of lxlb. */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *probe(void *arg)
{
    int fd = (int)(long)arg;
    struct timespec ts = {0, 20 * 1000 * 1000};
    char line[128];

    for (;;) {
        struct mallinfo2 mi = mallinfo2();
        int n = snprintf(line, sizeof(line), "%zu %zu %zu %zu\n", mi.uordblks + mi.hblkhd,
                         mi.fordblks, mi.hblkhd, mi.arena);
        /* Fixed width, so a reader never sees a longer old tail. */
        if (n > 0 && n < 100) {
            memset(line + n, ' ', 100 - n);
            line[99] = '\n';
            if (pwrite(fd, line, 100, 0) != 100)
                return NULL;
        }
        nanosleep(&ts, NULL);
    }
    return NULL;
}

__attribute__((constructor)) static void probe_start(void)
{
    const char *path = getenv("LXLB_MALLINFO");
    pthread_t t;
    int fd;

    if (!path || !*path)
        return;
    unsetenv("LXLB_MALLINFO"); /* not into lxlb's own children */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (pthread_create(&t, NULL, probe, (void *)(long)fd) == 0)
        pthread_detach(t);
}
