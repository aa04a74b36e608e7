/* lb/log.h - event lines (stderr) and the access log (stderr, a file, syslog, off).
 *
 * Access-log lines are batched in memory and written once per loop turn, so a
 * busy proxy makes one write() for many requests instead of one per request.
 * "syslog" sends one datagram per line (facility local0, severity info) on a
 * non-blocking socket to /dev/log, or to $LXLB_SYSLOG_SOCKET when set; lines
 * the socket cannot take right now are dropped and counted, never waited for. */
#ifndef LXLB_LOG_H
#define LXLB_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "lb/log-t.h"

struct event_base;

/* An event line on stderr: "2026-11-21T23:40:01.123Z lxlb[pid]: <level>: msg". */
void log_event(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_set_debug(bool on);

/* Where access lines go: "stderr", "off", "syslog", or a file path (appended).
 * 0 ok, -1 with errno set (the old target is kept). A syslog that does not
 * answer yet is not an error: it is retried while lines are dropped. */
int log_access_open(const char *target);
/* Reopen the file after logrotate moved it, or reconnect to syslog (SIGUSR1). */
int log_access_reopen(void);
/* Access lines syslog could not take (socket full or down) since start. */
unsigned long long log_access_dropped(void);
bool log_access_enabled(void);
/* Append one line (without the newline); flushed at the end of the loop turn. */
void log_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_access_flush(void);
/* "21/Nov/2026:23:40:01.123" (local time), formatted once per second. */
void log_access_date(char *out, size_t n);
/* Batch this thread's access lines on base (each worker loop calls it). */
int log_attach(struct event_base *base);
/* Write this thread's pending lines and stop batching (a worker ending). */
void log_detach(void);
void log_shutdown(void);

#endif
