/* lb/ctr.c - the counter registry. Blocks are looked up when an object is
 * built (start, reload, a server discovered), never per request, so a mutex
 * and a list are enough. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/ctr.h"

__thread unsigned lb_worker_id;

const uint32_t ctr_lat_bounds_us[CTR_LAT_BUCKETS - 1] = {
    500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000,
    1000000, 2000000, 5000000, 10000000,
};

static struct {
    pthread_mutex_t lock;     /* guards list and every refcnt */
    struct ctr_block *list;   /* live blocks */
    unsigned nslots;          /* slots per block (workers) */
} reg = { PTHREAD_MUTEX_INITIALIZER, NULL, 1 };

void ctr_init(unsigned nworkers) { reg.nslots = nworkers ? nworkers : 1; }

unsigned ctr_nworkers(void) { return reg.nslots; }

static struct ctr_block *block_new(const char *key)
{
    size_t size = sizeof(struct ctr_block) + reg.nslots * sizeof(struct ctr_slot);
    struct ctr_block *b = aligned_alloc(_Alignof(struct ctr_slot),
                                        (size + 63) / 64 * 64);

    if (!b)
        return NULL;
    memset(b, 0, size);
    if (!(b->key = strdup(key))) {
        free(b);
        return NULL;
    }
    return b;
}

struct ctr_block *ctr_get(char kind, const char *name, const char *sub)
{
    char key[512];
    struct ctr_block *b;

    /* '\n' cannot appear in a configured name: the key is unambiguous. */
    snprintf(key, sizeof(key), "%c:%s\n%s", kind, name, sub ? sub : "");
    pthread_mutex_lock(&reg.lock);
    for (b = reg.list; b; b = b->next)
        if (!strcmp(b->key, key))
            break;
    if (!b && (b = block_new(key))) {
        b->next = reg.list;
        reg.list = b;
    }
    if (b)
        b->refcnt++;
    pthread_mutex_unlock(&reg.lock);
    return b;
}

void ctr_put(struct ctr_block *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&reg.lock);
    if (--b->refcnt > 0) {
        pthread_mutex_unlock(&reg.lock);
        return;
    }
    for (struct ctr_block **pp = &reg.list; *pp; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&reg.lock);
    free(b->key);
    free(b);
}

uint64_t ctr_sum(const struct ctr_block *b, enum ctr_idx i)
{
    uint64_t sum = 0;

    for (unsigned w = 0; w < reg.nslots; w++)
        sum += __atomic_load_n(&b->slot[w].v[i], __ATOMIC_RELAXED);
    return sum;
}
