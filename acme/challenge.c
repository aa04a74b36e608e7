/* acme/challenge.c - the HTTP-01 tokens lxlb is answering (RFC 8555 8.3).
 *
 * The main loop adds a token when it asks the CA to validate and removes it
 * when the authorization is over; every loop (global.workers) looks tokens up
 * when a plain frontend gets GET /.well-known/acme-challenge/TOKEN. There
 * are a few at a time at most, so a list under a mutex is plenty, and a
 * counter read without the lock keeps every other request from paying for
 * it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme-int.h"
#include "acme/acme.h"

struct chall {
    char *token;          /* as the CA gave it (base64url) */
    char *keyauth;        /* token.thumbprint */
    struct chall *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards list */
static struct chall *list;
static unsigned nopen; /* entries in list; read without the lock as a hint */

int acme_challenge_add(const char *token, const char *keyauth)
{
    struct chall *c = calloc(1, sizeof(*c));

    if (!c || !(c->token = strdup(token)) || !(c->keyauth = strdup(keyauth))) {
        if (c)
            free(c->token);
        free(c);
        return -1;
    }
    pthread_mutex_lock(&lock);
    c->next = list;
    list = c;
    __atomic_add_fetch(&nopen, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
    return 0;
}

void acme_challenge_del(const char *token)
{
    struct chall **pp, *c = NULL;

    pthread_mutex_lock(&lock);
    for (pp = &list; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->token, token)) {
            c = *pp;
            *pp = c->next;
            __atomic_sub_fetch(&nopen, 1, __ATOMIC_RELEASE);
            break;
        }
    pthread_mutex_unlock(&lock);
    if (c) {
        free(c->token);
        free(c->keyauth);
        free(c);
    }
}

void acme_challenge_clear(void)
{
    pthread_mutex_lock(&lock);
    while (list) {
        struct chall *c = list;
        list = c->next;
        free(c->token);
        free(c->keyauth);
        free(c);
    }
    __atomic_store_n(&nopen, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
}

bool acme_challenge(const char *path, size_t len, char *body, size_t cap, size_t *blen)
{
    size_t plen = sizeof(ACME_CHALLENGE_PREFIX) - 1;
    const char *tok = path + plen;
    size_t tlen = len - plen;
    bool found = false;

    if (!__atomic_load_n(&nopen, __ATOMIC_ACQUIRE) || len <= plen ||
        memcmp(path, ACME_CHALLENGE_PREFIX, plen) != 0)
        return false;
    pthread_mutex_lock(&lock);
    for (struct chall *c = list; c && !found; c = c->next) {
        size_t n = strlen(c->keyauth);
        if (strlen(c->token) != tlen || memcmp(c->token, tok, tlen) != 0 || n > cap)
            continue;
        memcpy(body, c->keyauth, n);
        *blen = n;
        found = true;
    }
    pthread_mutex_unlock(&lock);
    return found;
}
