/* acme/acme-t.h - automatic HTTPS: an ACME v2 (RFC 8555) client inside lxlb.
 * Types only; the functions are in acme/acme.h (for lb/ and admin/) and
 * acme/acme-int.h (between the files of acme/).
 *
 * Everything here lives on the main loop, except struct acme_job while a
 * worker thread runs it and the challenge table (acme/challenge.c), which
 * every loop reads. */
#ifndef LXLB_ACME_T_H
#define LXLB_ACME_T_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <llhttp.h>

struct bufferevent;
struct conf;
struct event;
struct event_base;
struct evbuffer;
struct evdns_base;
struct evp_pkey_st;
struct proxy;
struct ssl_ctx_st;
struct stack_st_X509;
struct x509_st;

/* ------------------------------------------------------------ HTTP client */

/* One answer from the CA. Strings are NUL-terminated and owned. */
struct acme_resp {
    int status;         /* HTTP status */
    char *nonce;        /* Replay-Nonce, NULL: none */
    char *location;     /* Location, NULL: none */
    char *retry_after;  /* Retry-After as sent, NULL: none */
    char *ctype;        /* Content-Type, NULL: none */
    char *body;         /* the body, "" when there is none */
    size_t body_len;    /* bytes of body */
};

/* The request ended: r is the answer, or NULL with err saying why none came
 * (connect, TLS, timeout, a bad response). r is freed after the call. */
typedef void (*acme_http_cb)(void *arg, struct acme_resp *r, const char *err);

#define ACME_HDR_MAX 2048 /* bytes of one header value we keep (URLs, nonces) */

/* One request on its own connection ("Connection: close"). */
struct acme_http {
    struct bufferevent *bev;  /* the TLS connection */
    struct event *timer;      /* the whole request's deadline */
    llhttp_t parser;          /* the response */
    llhttp_settings_t settings;
    bool head;                /* a HEAD request: the response has no body */
    bool connected;           /* the TCP connection is up */
    bool complete;            /* llhttp saw the end of the response */
    bool busy;                /* inside our callbacks: free later */
    bool dead;                /* finished or cancelled: free when not busy */
    struct acme_resp resp;    /* being filled */
    struct evbuffer *body;    /* the body so far */
    size_t body_max;          /* bytes of body accepted */
    char field[32];           /* the header name being read (longer: not ours) */
    size_t field_len;         /* bytes in field; > sizeof(field) - 1: too long */
    char value[ACME_HDR_MAX]; /* its value so far */
    size_t value_len;         /* bytes in value; > sizeof(value) - 1: too long */
    acme_http_cb cb;          /* the result */
    void *arg;                /* for cb */
};

/* --------------------------------------------------------- state files */

/* A certificate lxlb got from the CA (or read back from state_dir). */
struct acme_cert {
    struct evp_pkey_st *key;      /* its private key (ECDSA P-256) */
    struct x509_st *leaf;         /* the certificate */
    struct stack_st_X509 *chain;  /* the CA certificates after it, maybe empty */
    int64_t not_before;           /* Unix seconds */
    int64_t not_after;            /* Unix seconds */
    char serial[80];              /* hex, for logs and /stats */
    char issuer[256];             /* one line, for /stats */
    char *directory;              /* the CA directory it came from (state file
                                   * header), NULL: not known */
};

/* What was read from files with the configuration (acme_conf_load: at
 * start, on the reload thread), hung off conf->acme.loaded. The running
 * client takes what it needs (a new name's certificate, the account key at
 * start) and leaves the rest to be freed with the generation. */
struct acme_stored {
    char *name;                   /* DNS name (one entry per distinct tls.acme name) */
    struct acme_cert *cert;       /* its state file, NULL: none or unusable */
    int rc;                       /* 0 read; 1 no file yet; -1 unusable (err) */
    char err[512];                /* why unusable */
};

struct acme_loaded {
    struct ssl_ctx_st *tls;       /* trusts ca_file (or the system's CAs) */
    int dirfd;                    /* state_dir, -1 for `lxlb -c` */
    struct evp_pkey_st *account_key; /* NULL: no file yet, or unusable (account_err) */
    int account_rc;               /* as acme_stored.rc */
    char account_err[512];        /* why unusable */
    struct acme_stored *stored;   /* per name */
    size_t nstored;               /* entries in stored */
};

/* ---------------------------------------------------------- file worker */

struct acme_job;
typedef void (*acme_job_fn)(struct acme_job *j);

/* File work for the worker thread: run() there, then done() on the loop,
 * which frees the job. Results go in the job; the loop finds what the job
 * was for by name (the object that asked may be gone by then). */
struct acme_job {
    acme_job_fn run;            /* worker thread: does the I/O */
    acme_job_fn done;           /* loop: uses the result, frees the job */
    struct acme_job *next;      /* queue link */
    int dirfd;                  /* state_dir: the job's own descriptor (acme_job_new),
                                 * or borrowed when the job is run in place (load.c) */
    char *file;                 /* file name inside state_dir */
    char *name;                 /* the certificate's DNS name, NULL: the account */
    char *data;                 /* write: the bytes; read: what was read */
    size_t len;                 /* bytes of data */
    struct acme_cert *cert;     /* read: the parsed certificate, NULL: none */
    int rc;                     /* 0 done; -1 failed (err); 1 read: no such file */
    char err[512];              /* why it failed */
};

struct acme_io {
    pthread_t thread;           /* the worker */
    bool running;               /* thread started, not yet joined */
    pthread_mutex_t lock;       /* guards the fields below */
    pthread_cond_t wake;        /* todo has work, or stop */
    struct acme_job *todo;      /* oldest first */
    struct acme_job **todo_tail;
    struct acme_job *done;      /* finished, for the loop */
    struct acme_job **done_tail;
    bool stop;                  /* finish the queue, then exit */
    int efd;                    /* eventfd: wakes the loop when a job is done */
    struct event *ev;           /* reads efd on the loop */
};

/* ------------------------------------------------------- names, orders */

enum acme_name_state {
    ACME_N_LOADING = 0, /* its state file is being read (worker) */
    ACME_N_WAIT,        /* timer armed until the next order (renewal or retry) */
    ACME_N_QUEUED,      /* due: waiting for the client (one order at a time) */
    ACME_N_ORDER,       /* the client's current order is for it */
};

struct acme;

/* One name of some frontend's tls.acme (one certificate per name). */
struct acme_name {
    struct acme *acme;            /* owner */
    char *name;                   /* DNS name, lower case */
    enum acme_name_state state;
    struct acme_cert *cert;       /* served now; NULL: the self-signed placeholder */
    struct event *timer;          /* armed in ACME_N_WAIT only */
    int64_t next_attempt;         /* Unix seconds of the next order (WAIT, QUEUED) */
    int64_t not_before_s;         /* no order before this (the CA's Retry-After) */
    unsigned failures;            /* failed orders in a row */
    unsigned quick;               /* renewals in a row due as soon as issued
                                   * (renew_before >= lifetime): paced by backoff */
    uint64_t orders;              /* orders started (this run) */
    uint64_t issued;              /* certificates obtained (this run) */
    uint64_t failed;              /* orders failed (this run) */
    char last_error[512];         /* the last failure, "" none since the last success */
    int64_t last_error_ms;        /* Unix ms of it */
    int64_t issued_ms;            /* Unix ms of the last certificate obtained, 0: none */
    uint64_t order_ms;            /* how long the last successful order took */
    bool seen;                    /* reload: still configured */
    struct acme_name *next;       /* acme's list */
};

/* Steps of the order in progress; each has at most one request or timer. */
enum acme_step {
    ACME_S_IDLE = 0,      /* no order */
    ACME_S_DIRECTORY,     /* GET directory */
    ACME_S_NONCE,         /* HEAD newNonce (before a signed request) */
    ACME_S_ACCOUNT,       /* POST newAccount */
    ACME_S_NEW_ORDER,     /* POST newOrder */
    ACME_S_AUTHZ,         /* POST-as-GET an authorization */
    ACME_S_CHALLENGE,     /* POST {} to its http-01 challenge */
    ACME_S_AUTHZ_WAIT,    /* poll timer, then the authorization again */
    ACME_S_FINALIZE,      /* POST finalize with the CSR */
    ACME_S_ORDER_WAIT,    /* poll timer, then the order again */
    ACME_S_ORDER,         /* POST-as-GET the order */
    ACME_S_CERT,          /* POST-as-GET the certificate chain */
};

struct acme_order {
    struct acme_name *n;          /* for whom (state ACME_N_ORDER) */
    char *url;                    /* the order (its Location) */
    char *finalize;               /* finalize URL */
    char *cert_url;               /* certificate URL, once valid */
    char **authz;                 /* authorization URLs */
    size_t nauthz;                /* entries in authz */
    size_t iauthz;                /* the one being worked on */
    char *chall_url;              /* its http-01 challenge */
    char *token;                  /* the challenge token we answer (registered) */
    struct evp_pkey_st *key;      /* the certificate's key, made at finalize */
    unsigned polls;               /* polls in the current wait step */
    uint64_t started_mono_ms;     /* when the order started (monotonic) */
};

/* The signed request in flight (JWS); the step's continuation gets the
 * answer once nonce trouble is dealt with. */
struct acme_req {
    char *url;                    /* target */
    char *payload;                /* JSON text; NULL: POST-as-GET */
    bool jwk;                     /* signed with the key itself (newAccount) */
    unsigned bad_nonces;          /* badNonce retries so far */
    const char *accept;           /* Accept header, NULL: JSON */
    enum acme_step step;          /* the step it serves */
    void (*done)(struct acme *a, struct acme_resp *r); /* the answer (>= 400 too) */
};

/* The client: one per process, on the main loop. */
struct acme {
    struct proxy *px;             /* the main loop's proxy */
    struct event_base *base;      /* its loop */
    struct evdns_base *dns;       /* resolves the CA's host name */
    struct conf *conf;            /* the generation whose acme section runs (ref) */
    struct ssl_ctx_st *tls;       /* client context to the CA (conf->acme.loaded) */
    int dirfd;                    /* state_dir, opened at start (-1: none) */
    char *state_dir;              /* its path */
    struct evp_pkey_st *account_key; /* ECDSA P-256, from state_dir/account.key */
    char *thumbprint;             /* RFC 7638 of its public key (key authorizations) */
    char *kid;                    /* account URL; NULL: not registered this run */
    char *nonce;                  /* the next Replay-Nonce to use, NULL: none */
    char *dir_url;                /* directory fetched from (the config's) */
    char *new_nonce;              /* directory: newNonce, NULL: not fetched */
    char *new_account;            /* directory: newAccount */
    char *new_order;              /* directory: newOrder */
    enum acme_step step;          /* where the current order is */
    struct acme_http *http;       /* the request in flight, NULL: none */
    struct acme_req req;          /* the signed request being made */
    struct event *poll_timer;     /* armed in ACME_S_*_WAIT only */
    struct acme_order *order;     /* the order in progress, NULL: idle */
    struct acme_name *names;      /* every configured name */
    struct acme_io io;            /* file worker */
};

#endif
