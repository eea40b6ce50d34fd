add_executable(bench_logs_patterns ${CMAKE_CURRENT_LIST_DIR}/logs/patterns.cc)
target_include_directories(bench_logs_patterns PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(bench_logs_patterns PRIVATE berth_logs_patterns)
