# bench/registry: registrations/s, lookups/s, 10k-watcher fan-out and RSS per watcher, beside
# etcd driven by the same load. Build it in a release tree.
add_executable(bench_registry ${CMAKE_CURRENT_LIST_DIR}/registry.cc)
target_include_directories(bench_registry PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(bench_registry PRIVATE berth_bench_common berth_registry_api berth_registry_component
  berth_security berth_store_sqlite berth_test_harness berth_core_http berth_core GTest::gtest)
berth_server_malloc(bench_registry)
