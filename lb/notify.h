/* lb/notify.h - the systemd readiness protocol (sd_notify), without libsystemd.
 *
 * Under a Type=notify unit systemd passes NOTIFY_SOCKET, a datagram socket
 * ("/path" or "@abstract"); each state change is one datagram of
 * "KEY=VALUE\n" lines. Without NOTIFY_SOCKET every call is a no-op, so
 * lxlb behaves the same in a terminal, in tests and under other supervisors.
 * Sends never block the loop: a message the socket cannot take is dropped. */
#ifndef LXLB_NOTIFY_H
#define LXLB_NOTIFY_H

/* Read and unset NOTIFY_SOCKET (children such as lxc-monitor must not speak
 * for us). Call once at start, before any fork or thread. */
void notify_init(void);
/* READY=1 with MAINPID: listeners bound, loop set up; also ends a reload. */
void notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC (required by Type=notify-reload, systemd 253+). */
void notify_reloading(void);
/* STOPPING=1: graceful stop has begun. */
void notify_stopping(void);
/* Send one raw message (lines "KEY=VALUE"). 0 sent or no socket, -1 errno set. */
int notify_send(const char *msg);
void notify_shutdown(void);

#endif
