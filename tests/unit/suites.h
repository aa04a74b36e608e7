SUITE(conf_tests)
