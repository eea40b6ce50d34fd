# The image scanner (src/security/scan/): import rate, scan time of a ~400-package image
# against 100,000 advisories, memory. Release build:
#   /work/coord/mkwt NAME release && ninja -C build/release bench_scan && build/release/bench/bench_scan
add_executable(bench_scan ${CMAKE_CURRENT_LIST_DIR}/scan.cc)
target_compile_options(bench_scan PRIVATE -O2)
target_link_libraries(bench_scan PRIVATE berth_security_scan LibArchive::LibArchive fmt::fmt)
