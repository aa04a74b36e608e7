/* lb/h1-t.h - one direction of an HTTP/1.x connection, read and framed:
 * types only; the functions are in lb/h1.h. */
#ifndef LXLB_H1_T_H
#define LXLB_H1_T_H

#include <stdbool.h>
#include <stdint.h>
#include <llhttp.h>

struct evbuffer;
struct http_head;

/* How a message body is delimited on the wire. */
enum h1_body {
    H1_BODY_NONE = 0, /* the head is the whole message */
    H1_BODY_LENGTH,   /* Content-Length bytes follow */
    H1_BODY_CHUNKED,  /* chunked transfer coding */
    H1_BODY_EOF,      /* (responses) delimited by the server closing */
};

/* What a read found. */
enum h1_res {
    H1_MORE = 0, /* everything given was taken; more is needed */
    H1_HEAD,     /* a head is complete (the bytes after it are left unread) */
    H1_DONE,     /* the message is complete (the next one's bytes are left) */
    H1_ERR,      /* malformed: status and why say so; nothing more may be read */
    H1_EOF,      /* the peer closed before the message was complete */
};

/* A reader of one direction's messages: llhttp (strict: no lenient flag)
 * parses heads and chunked framing and pauses at the end of each head and
 * each message, so a pipelined message is never eaten; a Content-Length body
 * is only counted. Decoded payload goes out without its framing: whoever
 * writes it frames it again (lb/h1.h h1w_*), so what lxlb sends is canonical
 * whatever the peer sent. */
struct h1r {
    llhttp_t parser;           /* its data points at this struct */
    struct http_head *head;    /* where the head being read goes (the caller's) */
    struct evbuffer *payload;  /* chunked, during h1r_body(): where payload goes */
    uint64_t left;             /* BODY_LENGTH: payload bytes still to come */
    uint32_t trailer_bytes;    /* chunked: trailer bytes seen (dropped, but bounded) */
    enum h1_body body;         /* framing of the body being read */
    uint8_t scan;              /* head line-ending scan state across reads */
    bool in_body;              /* the head is done, the body is being read */
    int status;                /* H1_ERR: the answer it deserves (400, 413, 414, 431...) */
    const char *why;           /* H1_ERR: what was wrong, for the access log */
};

#endif
