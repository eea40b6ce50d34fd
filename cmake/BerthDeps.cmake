# Every third-party dependency, found once. All come from Debian packages (scripts/deps.sh).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark QUIET)
find_package(nlohmann_json 3 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(CLI11 CONFIG QUIET)
find_package(LibArchive REQUIRED)
find_package(ZLIB REQUIRED)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(SNAPPY REQUIRED IMPORTED_TARGET snappy)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
# etcd's gRPC API (store/etcd): protoc and gRPC's C++ plugin generate the client at build time.
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
# toml++ (header-only use; the config center validates TOML configs with it).
find_path(TOMLPP_INCLUDE_DIR toml++/toml.h)
if(NOT TOMLPP_INCLUDE_DIR)
  message(FATAL_ERROR "toml++ not found: apt-get install libtomlplusplus-dev (scripts/deps.sh)")
endif()

# Standalone Asio, compiled once (ASIO_SEPARATE_COMPILATION) in src/core/asio_impl.cc so
# that every file that includes asio does not instantiate its implementation again.
# ASIO_DISABLE_STD_ALIGNED_ALLOC: Asio picks aligned_alloc or operator new depending on
# whether a libstdc++ header came before it in the translation unit, so TUs that include
# asio first (asio_impl.cc among them) would free with one what others allocated with the
# other (ASan: alloc-dealloc-mismatch). One choice for every TU.
add_library(berth_asio INTERFACE)
target_compile_definitions(berth_asio INTERFACE ASIO_STANDALONE ASIO_SEPARATE_COMPILATION
  ASIO_NO_DEPRECATED ASIO_DISABLE_STD_ALIGNED_ALLOC)
target_link_libraries(berth_asio INTERFACE Threads::Threads)
