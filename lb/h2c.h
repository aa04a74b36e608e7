/* lb/h2c.h - HTTP/2 on client connections (types in lb/h2c-t.h): one
 * nghttp2 server session per connection, one stream per HTTP/2 stream,
 * each forwarded to its server as HTTP/1.1 like any other request. */
#ifndef LXLB_H2C_H
#define LXLB_H2C_H

#include "lb/cli-t.h"
#include "lb/h2c-t.h"

/* The client connection preface (RFC 9113 3.4): prior knowledge on plain
 * TCP starts with it. */
#define H2C_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2C_PREFACE_LEN 24

/* Abuse limits (per connection). */
#define H2C_CTRL_PER_SEC 500   /* PING, SETTINGS, PRIORITY and empty DATA frames a
                                * second before ENHANCE_YOUR_CALM */
#define H2C_RESET_SLACK 100    /* streams reset by the client beyond those completed
                                * before ENHANCE_YOUR_CALM (rapid reset) */
#define H2C_STREAM_BUF (64 * 1024)    /* response bytes held per stream */
#define H2C_STAGE_PULLUP (64 * 1024) /* TLS: frames of a send pass made one chunk
                                      * up to this size (one SSL_write) */
#define H2C_CONN_BUF (1024 * 1024)    /* response bytes held per connection, and its
                                       * receive window for request bodies */

extern const struct cli_proto h2c_proto;

/* Free this loop thread's nghttp2 callbacks, options and header scratch
 * (at exit, next to fwd_cleanup). */
void h2c_cleanup(void);

#endif
