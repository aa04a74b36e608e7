/* acme/load.c - what automatic HTTPS reads from files, read with the
 * configuration: at start (before privileges are dropped) and on the reload
 * thread, never on the loop. The CA trust store, state_dir (created 0700
 * and given to global.user), the account key and each name's state file.
 *
 * A missing or damaged key or certificate is not a configuration error: the
 * client reports it, makes a new one and replaces the file. Only what makes
 * the client unable to work at all (no trust store, no state_dir) rejects
 * the start or the reload. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "acme/acme-int.h"
#include "acme/acme.h"
#include "conf/conf-t.h"

/* What the running client uses, for a reload to borrow: after a chroot (or
 * with fewer privileges) the paths may not open any more, while the open
 * directory and the trust store read at start still work. The registry
 * holds its own descriptor and reference. */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *state_dir;   /* path of fd */
    int fd;            /* a descriptor of it, -1: none */
    bool has_tls;      /* tls below is set */
    char *ca_file;     /* what tls trusts (NULL: the system's bundle) */
    SSL_CTX *tls;      /* the client context in use */
} run = { .fd = -1 };

void acme_running(const char *state_dir, int fd, const char *ca_file, struct ssl_ctx_st *tls)
{
    pthread_mutex_lock(&run_lock);
    free(run.state_dir);
    free(run.ca_file);
    if (run.fd >= 0)
        close(run.fd);
    SSL_CTX_free(run.tls);
    run.state_dir = state_dir ? strdup(state_dir) : NULL;
    run.fd = run.state_dir && fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    run.ca_file = ca_file ? strdup(ca_file) : NULL;
    run.has_tls = tls && SSL_CTX_up_ref(tls);
    run.tls = run.has_tls ? tls : NULL;
    pthread_mutex_unlock(&run_lock);
}

static int dir_borrow(const char *path)
{
    int fd = -1;

    pthread_mutex_lock(&run_lock);
    if (run.state_dir && !strcmp(run.state_dir, path) && run.fd >= 0)
        fd = fcntl(run.fd, F_DUPFD_CLOEXEC, 0);
    pthread_mutex_unlock(&run_lock);
    return fd;
}

static SSL_CTX *tls_borrow(const char *ca_file)
{
    SSL_CTX *t = NULL;

    pthread_mutex_lock(&run_lock);
    if (run.has_tls && ((!ca_file && !run.ca_file) ||
                        (ca_file && run.ca_file && !strcmp(ca_file, run.ca_file))) &&
        SSL_CTX_up_ref(run.tls))
        t = run.tls;
    pthread_mutex_unlock(&run_lock);
    return t;
}

void acme_cert_file_name(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s.pem", name); /* a validated DNS name: no '/', no leading '.' */
}

/* mkdir -p: parents 0755, the last one 0700 (it holds private keys). */
static int make_dirs(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len >= sizeof(buf)) {
        snprintf(err, errlen, "acme.state_dir: path too long");
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            goto err;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        goto err;
    return 0;
err:
    snprintf(err, errlen, "acme.state_dir: cannot create %s: %s", buf, strerror(errno));
    return -1;
}

/* Owned by global.user (lxlb writes there after dropping to it), 0700. */
static void dir_owner(int fd, const struct conf *c)
{
    struct passwd *pw = c->global.user ? getpwnam(c->global.user) : NULL;
    struct group *gr = c->global.group ? getgrnam(c->global.group) : NULL;

    if (geteuid() == 0 && pw && fchown(fd, pw->pw_uid, gr ? gr->gr_gid : pw->pw_gid) < 0) {
        /* reported when a write fails */
    }
    if (fchmod(fd, 0700) < 0) {
        /* not ours to change: the writes will say so */
    }
}

static int open_dir(const struct conf *c, char *err, size_t errlen)
{
    const char *path = c->acme.state_dir;
    int fd = dir_borrow(path);
    struct stat st;

    if (fd >= 0)
        return fd;
    if (make_dirs(path, err, errlen) < 0)
        return -1;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "acme.state_dir: cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    dir_owner(fd, c);
    return fd;
}

/* Every distinct tls.acme name, each with its state file read. */
static int load_names(struct acme_loaded *l, const struct conf *c)
{
    size_t max = 0;

    for (size_t i = 0; i < c->nfrontends; i++)
        max += c->frontends[i].tls.nacme;
    if (!(l->stored = calloc(max + 1, sizeof(*l->stored))))
        return -1;
    for (size_t i = 0; i < c->nfrontends; i++)
        for (size_t k = 0; k < c->frontends[i].tls.nacme; k++) {
            const char *name = c->frontends[i].tls.acme[k];
            struct acme_stored *s = &l->stored[l->nstored];
            char file[300];
            struct acme_job j = { .dirfd = l->dirfd, .file = file, .name = (char *)name };
            bool dup = false;

            for (size_t m = 0; m < l->nstored; m++)
                dup |= !strcmp(l->stored[m].name, name);
            if (dup)
                continue;
            if (!(s->name = strdup(name)))
                return -1;
            l->nstored++;
            acme_cert_file_name(name, file, sizeof(file));
            acme_job_read_cert(&j);
            s->rc = j.rc;
            s->cert = j.cert;
            snprintf(s->err, sizeof(s->err), "%s", j.err);
            if (j.data)
                OPENSSL_cleanse(j.data, j.len);
            free(j.data);
        }
    return 0;
}

static void load_account(struct acme_loaded *l)
{
    struct acme_job j = { .dirfd = l->dirfd, .file = ACME_ACCOUNT_FILE };

    acme_job_read(&j);
    l->account_rc = j.rc;
    snprintf(l->account_err, sizeof(l->account_err), "%s", j.err);
    if (j.rc == 0 && !(l->account_key = acme_key_parse(j.data, j.len, l->account_err,
                                                       sizeof(l->account_err))))
        l->account_rc = -1;
    if (j.data)
        OPENSSL_cleanse(j.data, j.len);
    free(j.data);
}

void acme_loaded_free(void *p)
{
    struct acme_loaded *l = p;

    if (!l)
        return;
    SSL_CTX_free(l->tls);
    if (l->dirfd >= 0)
        close(l->dirfd);
    EVP_PKEY_free(l->account_key);
    for (size_t i = 0; i < l->nstored; i++) {
        free(l->stored[i].name);
        acme_cert_free(l->stored[i].cert);
    }
    free(l->stored);
    free(l);
}

int acme_conf_load(struct conf *c, bool check, char *err, size_t errlen)
{
    struct acme_loaded *l;

    if (errlen)
        err[0] = '\0';
    if (!c->acme.enabled || c->acme.loaded)
        return 0;
    if (!(l = calloc(1, sizeof(*l)))) {
        snprintf(err, errlen, "acme: out of memory");
        return -1;
    }
    l->dirfd = -1;
    c->acme.loaded = l;
    c->acme.loaded_free = acme_loaded_free;
    /* A trust store that no longer opens (a chroot) but was read at start
     * under the same name stays in use. */
    if (!(l->tls = acme_client_ctx(c->acme.ca_file, err, errlen)) &&
        (check || !(l->tls = tls_borrow(c->acme.ca_file))))
        return -1;
    if (errlen)
        err[0] = '\0';
    if (check)
        return 0; /* -c creates nothing */
    if ((l->dirfd = open_dir(c, err, errlen)) < 0)
        return -1;
    load_account(l);
    if (load_names(l, c) < 0) {
        snprintf(err, errlen, "acme: out of memory");
        return -1;
    }
    return 0;
}
