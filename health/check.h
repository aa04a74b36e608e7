/* health/check.h - the pure parts of a health check: the rise/fall state
 * machine and the status-line parser. No sockets, no loop: unit-testable. */
#ifndef LXLB_CHECK_H
#define LXLB_CHECK_H

#include <stddef.h>

#include "health/check-t.h"

/* Feeds one check result into c and returns the health the server should
 * now have (cur when nothing changes):
 *   checking: the first pass -> up; fall failures -> down
 *   up:       fall failures in a row -> down
 *   down:     rise passes in a row -> up
 * When cur differs from the health c last saw (set elsewhere, e.g. passive
 * detection), the counts restart, so a passive "down" needs rise passes. */
enum srv_health check_step(struct check_counts *c, enum srv_health cur, bool pass,
                           uint32_t rise, uint32_t fall);

/* Parses an HTTP/1.x status line at the start of buf[0..len).
 * 1: complete, *status set; 0: need more bytes; -1: not a status line. */
int check_parse_status(const char *buf, size_t len, int *status);

/* Longest status line we wait for before calling the answer garbage. */
#define CHECK_MAX_STATUS_LINE 1024

/* "L7OK", "L7STS"... as HAProxy names them. */
const char *check_code_name(enum check_code code);

#endif
