/* tests/unit/test_health.c - the rise/fall state machine, the status-line
 * parser and the health.expect matcher, without sockets. */
#include <string.h>

#include "conf/conf.h"
#include "health/check.h"
#include "tests/unit/unit.h"

/* Feeds results ("P" pass, "F" fail) and returns the health after each,
 * as letters: c(hecking) u(p) d(own). */
static void run(enum srv_health start, const char *results, uint32_t rise, uint32_t fall,
                char *out)
{
    struct check_counts c = { .seen = start };
    enum srv_health h = start;
    static const char letter[] = { 'c', 'u', 'd' };

    for (size_t i = 0; results[i]; i++) {
        h = check_step(&c, h, results[i] == 'P', rise, fall);
        out[i] = letter[h];
    }
    out[strlen(results)] = '\0';
}

static void up_goes_down_after_fall(void)
{
    char out[32];

    run(SRV_HEALTH_UP, "FFF", 2, 3, out);
    CHECK_STR(out, "uud");
    /* A pass in between restarts the count. */
    run(SRV_HEALTH_UP, "FFPFFPFFF", 2, 3, out);
    CHECK_STR(out, "uuuuuuuud");
    run(SRV_HEALTH_UP, "PPPPF", 2, 1, out);
    CHECK_STR(out, "uuuud");
}

static void down_comes_back_after_rise(void)
{
    char out[32];

    run(SRV_HEALTH_DOWN, "PP", 2, 3, out);
    CHECK_STR(out, "du");
    run(SRV_HEALTH_DOWN, "PFPFPPP", 3, 3, out);
    CHECK_STR(out, "ddddddu");
    /* Failures while down change nothing. */
    run(SRV_HEALTH_DOWN, "FFFFFP", 1, 3, out);
    CHECK_STR(out, "dddddu");
}

static void full_cycle(void)
{
    char out[32];

    run(SRV_HEALTH_UP, "FFFPPFFPPP", 3, 3, out);
    CHECK_STR(out, "uudddddddu");
}

static void checking_up_on_first_pass(void)
{
    char out[32];

    /* SPEC: a discovered server takes traffic after its first passing check,
     * whatever rise says. */
    run(SRV_HEALTH_CHECKING, "P", 5, 3, out);
    CHECK_STR(out, "u");
    run(SRV_HEALTH_CHECKING, "FFP", 5, 3, out);
    CHECK_STR(out, "ccu");
    /* fall failures before any pass: down, and then it needs rise passes. */
    run(SRV_HEALTH_CHECKING, "FFFPP", 2, 3, out);
    CHECK_STR(out, "ccddu");
}

static void counts_restart_after_external_change(void)
{
    struct check_counts c = { .seen = SRV_HEALTH_UP };
    enum srv_health h = SRV_HEALTH_UP;

    /* Many passes while up, then passive detection sets it down: one pass
     * must not be enough to bring it back when rise is 2. */
    for (int i = 0; i < 10; i++)
        h = check_step(&c, h, true, 2, 3);
    CHECK(h == SRV_HEALTH_UP && c.passes == 10);
    h = SRV_HEALTH_DOWN; /* srv_set_health() from srv_traffic_failed() */
    h = check_step(&c, h, true, 2, 3);
    CHECK(h == SRV_HEALTH_DOWN);
    CHECK(c.passes == 1);
    h = check_step(&c, h, true, 2, 3);
    CHECK(h == SRV_HEALTH_UP);

    /* Two failures counted while up, then an admin/reload sets it down and
     * up again elsewhere: the old failures no longer count. */
    h = check_step(&c, h, false, 2, 3);
    h = check_step(&c, h, false, 2, 3);
    CHECK(h == SRV_HEALTH_UP && c.fails == 2);
    c.seen = SRV_HEALTH_DOWN; /* as if stepped while down */
    h = check_step(&c, SRV_HEALTH_UP, false, 2, 3);
    CHECK(h == SRV_HEALTH_UP && c.fails == 1);
}

static void counts_kept_for_logging(void)
{
    struct check_counts c = { .seen = SRV_HEALTH_UP };
    enum srv_health h = SRV_HEALTH_UP;

    for (int i = 0; i < 3; i++)
        h = check_step(&c, h, false, 2, 3);
    CHECK(h == SRV_HEALTH_DOWN);
    CHECK(c.fails == 3 && c.seen == SRV_HEALTH_DOWN);
}

static void status_line_parse(void)
{
    int st = 0;

#define PARSE(s) check_parse_status(s, strlen(s), &st)
    CHECK(PARSE("HTTP/1.1 200 OK\r\n") == 1 && st == 200);
    CHECK(PARSE("HTTP/1.0 503 Service Unavailable\r\nServer: x\r\n") == 1 && st == 503);
    CHECK(PARSE("HTTP/1.1 204\r\n") == 1 && st == 204);       /* no reason phrase */
    CHECK(PARSE("HTTP/1.1 301 \r\n") == 1 && st == 301);      /* empty reason */
    CHECK(PARSE("HTTP/1.1 200 OK\n") == 1 && st == 200);      /* bare LF */
    /* Incomplete: wait for more. */
    CHECK(PARSE("H") == 0);
    CHECK(PARSE("HTTP/1.") == 0);
    CHECK(PARSE("HTTP/1.1 200 OK") == 0);
    CHECK(PARSE("HTTP/1.1 200 OK\r") == 0);
    /* Garbage is refused as soon as it shows. */
    CHECK(PARSE("X") == -1);
    CHECK(PARSE("\x01\xffTHIS IS NOT HTTP") == -1);
    CHECK(PARSE("HTTP/2 200\r\n") == -1);
    CHECK(PARSE("http/1.1 200 OK\r\n") == -1);
    CHECK(PARSE("HTTP/1.1 20 OK\r\n") == -1);
    CHECK(PARSE("HTTP/1.1 2000 OK\r\n") == -1);
    CHECK(PARSE("HTTP/1.1 2x0 OK\r\n") == -1);
    CHECK(PARSE("HTTP/1.1  200 OK\r\n") == -1);
    CHECK(PARSE("HTTP/1.1 099 OK\r\n") == -1);
    CHECK(PARSE("HTTP/1.1\r\n") == -1);
    CHECK(PARSE("\r\n") == -1);
#undef PARSE
    /* A status line that never ends is garbage once it is too long. */
    char big[CHECK_MAX_STATUS_LINE + 8];
    memset(big, 'a', sizeof(big));
    memcpy(big, "HTTP/1.1 200 ", 13);
    CHECK(check_parse_status(big, CHECK_MAX_STATUS_LINE - 1, &st) == 0);
    CHECK(check_parse_status(big, CHECK_MAX_STATUS_LINE, &st) == -1);
}

static bool expect(const char *spec, int status)
{
    struct conf_health h = { .enabled = true };
    char err[256];

    if (conf_parse_expect(spec, h.expect, &h.nexpect, err, sizeof(err)) < 0) {
        fprintf(stderr, "  expect \"%s\": %s\n", spec, err);
        unit_failed_checks++;
        return false;
    }
    return conf_status_expected(&h, status);
}

static void expect_matcher(void)
{
    /* The default: 2xx-3xx, edges included. */
    CHECK(!expect("2xx-3xx", 199));
    CHECK(expect("2xx-3xx", 200));
    CHECK(expect("2xx-3xx", 302));
    CHECK(expect("2xx-3xx", 399));
    CHECK(!expect("2xx-3xx", 400));
    CHECK(!expect("2xx-3xx", 500));
    /* One status. */
    CHECK(expect("200", 200));
    CHECK(!expect("200", 201));
    CHECK(!expect("200", 204));
    /* Lists of statuses, ranges and classes; spaces tolerated. */
    CHECK(expect("200,301-302,4xx", 301));
    CHECK(expect("200,301-302,4xx", 302));
    CHECK(!expect("200,301-302,4xx", 303));
    CHECK(expect("200,301-302,4xx", 404));
    CHECK(expect("200,301-302,4xx", 499));
    CHECK(!expect("200,301-302,4xx", 500));
    CHECK(expect(" 204 , 5xx ", 503));
    CHECK(expect("1xx-5xx", 100));
    CHECK(expect("1xx-5xx", 599));
    CHECK(expect("5xx", 500) && expect("5xx", 599) && !expect("5xx", 499));
    /* Out-of-range statuses never pass. */
    CHECK(!expect("1xx-5xx", 0));
    CHECK(!expect("1xx-5xx", 99));
    CHECK(!expect("1xx-5xx", 600));
    CHECK(!expect("1xx-5xx", -200));
}

static void expect_syntax_errors(void)
{
    struct conf_status_range r[CONF_MAX_EXPECT];
    size_t n;
    char err[256];
    const char *bad[] = { "", "2xx-", "-200", "600", "0xx", "20", "2000", "300-200",
                          "2xx,,3xx", "abc", "2x0", NULL };

    for (int i = 0; bad[i]; i++) {
        if (conf_parse_expect(bad[i], r, &n, err, sizeof(err)) == 0) {
            fprintf(stderr, "  expect \"%s\" was accepted\n", bad[i]);
            unit_failed_checks++;
        }
    }
    CHECK(conf_parse_expect("200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215",
                            r, &n, err, sizeof(err)) == 0 && n == CONF_MAX_EXPECT);
    CHECK(conf_parse_expect("200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215,"
                            "216", r, &n, err, sizeof(err)) < 0);
}

UNIT_SUITE(health_tests) = {
    { "health_up_goes_down_after_fall", up_goes_down_after_fall },
    { "health_down_comes_back_after_rise", down_comes_back_after_rise },
    { "health_full_cycle", full_cycle },
    { "health_checking_up_on_first_pass", checking_up_on_first_pass },
    { "health_counts_restart_after_external_change", counts_restart_after_external_change },
    { "health_counts_kept_for_logging", counts_kept_for_logging },
    { "health_status_line_parse", status_line_parse },
    { "health_expect_matcher", expect_matcher },
    { "health_expect_syntax_errors", expect_syntax_errors },
    UNIT_END
};
