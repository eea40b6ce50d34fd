add_executable(bench_store_inproc ${CMAKE_CURRENT_LIST_DIR}/store_inproc.cc)
target_include_directories(bench_store_inproc PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(bench_store_inproc PRIVATE berth_store_sqlite berth_core SQLite::SQLite3)
berth_server_malloc(bench_store_inproc)
