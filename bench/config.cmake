# bench/config: config delivery (multiplexed watch streams) to 1,000 and 10,000 subscribers,
# resident memory per subscriber, one 1 MiB item changed, beside etcd's watch in the same run.
# Build it in a release tree.
add_executable(bench_config ${CMAKE_CURRENT_LIST_DIR}/config.cc)
target_include_directories(bench_config PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(bench_config PRIVATE berth_bench_common berth_config_api berth_config
  berth_api berth_security berth_store_sqlite berth_test_harness berth_core_http berth_core
  GTest::gtest)
berth_server_malloc(bench_config)
