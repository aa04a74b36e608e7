/* health/check.c - the rise/fall state machine and the status-line parser:
 * pure functions, so the logic is tested without sockets. */
#include <string.h>

#include "health/check.h"

enum srv_health check_step(struct check_counts *c, enum srv_health cur, bool pass,
                           uint32_t rise, uint32_t fall)
{
    enum srv_health next = cur;

    /* Someone else moved the server (passive detection, a reload): what we
     * counted was about the old state. */
    if (c->seen != cur) {
        c->passes = 0;
        c->fails = 0;
    }
    if (pass) {
        c->passes++;
        c->fails = 0;
    } else {
        c->fails++;
        c->passes = 0;
    }
    switch (cur) {
    case SRV_HEALTH_CHECKING:
        /* SPEC: a discovered server takes traffic after its first pass. */
        if (pass)
            next = SRV_HEALTH_UP;
        else if (c->fails >= fall)
            next = SRV_HEALTH_DOWN;
        break;
    case SRV_HEALTH_UP:
        if (!pass && c->fails >= fall)
            next = SRV_HEALTH_DOWN;
        break;
    case SRV_HEALTH_DOWN:
        if (pass && c->passes >= rise)
            next = SRV_HEALTH_UP;
        break;
    }
    /* The counts are kept across the change so the caller can log them; the
     * next result resets the other counter anyway. */
    c->seen = next;
    return next;
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

int check_parse_status(const char *buf, size_t len, int *status)
{
    static const char proto[] = "HTTP/1.";
    const size_t plen = sizeof(proto) - 1;
    const char *nl = memchr(buf, '\n', len);
    size_t n = nl ? (size_t)(nl - buf) : len;

    /* Refuse garbage as soon as it shows rather than waiting for a timeout. */
    if (memcmp(buf, proto, n < plen ? n : plen) != 0)
        return -1;
    if (!nl)
        return len >= CHECK_MAX_STATUS_LINE ? -1 : 0;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    /* "HTTP/1.x SSS", then end of line or a space and a reason phrase. */
    if (n < plen + 5 || !is_digit(buf[plen]) || buf[plen + 1] != ' ' ||
        !is_digit(buf[plen + 2]) || !is_digit(buf[plen + 3]) || !is_digit(buf[plen + 4]) ||
        (n > plen + 5 && buf[plen + 5] != ' '))
        return -1;
    *status = (buf[plen + 2] - '0') * 100 + (buf[plen + 3] - '0') * 10 + (buf[plen + 4] - '0');
    if (*status < 100)
        return -1;
    return 1;
}

const char *check_code_name(enum check_code code)
{
    static const char *names[] = { "L7OK", "L7STS", "L7RSP", "L7TOUT", "L4CON", "L4TOUT" };
    return names[code];
}
