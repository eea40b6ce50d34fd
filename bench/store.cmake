add_executable(bench_store ${CMAKE_CURRENT_LIST_DIR}/store.cc)
target_include_directories(bench_store PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(bench_store PRIVATE berth_bench_common berth_bench_etcd_grpc berth_test_harness berth_core_http berth_core GTest::gtest)
add_dependencies(bench_store berthd)
