SUITE(conf_tests)
SUITE(lb_tests)
SUITE(health_tests)
SUITE(cookie_tests)
