# The scheduler pipeline at scale (src/orchestrator/): 100,000 placements on 10,000 nodes.
# Run from a Release build: ninja -C build/orch-rel bench_scheduler && build/orch-rel/bench/bench_scheduler
add_executable(bench_scheduler ${CMAKE_CURRENT_LIST_DIR}/scheduler.cc)
target_compile_options(bench_scheduler PRIVATE -O2)
target_link_libraries(bench_scheduler PRIVATE berth_orchestrator fmt::fmt)
