add_executable(bench_http_parser ${CMAKE_CURRENT_LIST_DIR}/http_parser.cc)
target_include_directories(bench_http_parser PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(bench_http_parser PRIVATE berth_core_http)
