# bench/container_start: time to first output line for the agent's run, raw runc and podman;
# 50 containers at once; memory per running container (shim vs podman's conmon). Root only.
add_executable(bench_container_start ${CMAKE_CURRENT_LIST_DIR}/container_start.cc)
target_include_directories(bench_container_start PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(bench_container_start PRIVATE berth_agent berth_core)
target_compile_definitions(bench_container_start PRIVATE BERTH_SHIM_PATH="$<TARGET_FILE:berth-shim>")
add_dependencies(bench_container_start berth-shim)
