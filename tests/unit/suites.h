SUITE(conf_tests)
SUITE(lb_tests)
