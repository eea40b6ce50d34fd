add_executable(bench_logs ${CMAKE_CURRENT_LIST_DIR}/logs/ingest_query.cc)
target_include_directories(bench_logs PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(bench_logs PRIVATE berth_bench_common berth_test_harness berth_core_http berth_core)
add_dependencies(bench_logs berthd)
