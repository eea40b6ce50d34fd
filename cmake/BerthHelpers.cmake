# One helper per kind of target, after Abseil's absl_cc_library: adding a module is a
# few lines in its folder's CMakeLists.txt.
#
#   berth_library(NAME core_http SRCS a.cc b.cc DEPS berth_core_json)
#   berth_test(NAME http_parser_test SRCS http_parser_test.cc DEPS berth_core_http)
#   berth_test(NAME store_it SRCS ... DEPS ... LABELS integration TIMEOUT 300)
#
# Libraries are named berth_<NAME>; include paths are rooted at src/ so a header is
# included as "core/http/parser.h".

function(berth_library)
  cmake_parse_arguments(L "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(berth_${L_NAME} STATIC ${L_SRCS})
  target_include_directories(berth_${L_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(berth_${L_NAME} PUBLIC ${L_DEPS})
endfunction()

function(berth_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;CASES" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  # CASES: one ctest test per GoogleTest filter, NAME.<filter>, each with the TIMEOUT
  # (slow integration cases that would not fit one bound together).
  set(names ${T_NAME})
  if(T_CASES)
    set(names)
    foreach(c ${T_CASES})
      add_test(NAME ${T_NAME}.${c} COMMAND ${T_NAME} --gtest_filter=*.${c})
      # A filter that names no test fails rather than passing empty.
      set_tests_properties(${T_NAME}.${c} PROPERTIES FAIL_REGULAR_EXPRESSION "ran 0 tests|0 tests from 0 test suites ran")
      list(APPEND names ${T_NAME}.${c})
    endforeach()
  else()
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  endif()
  set_tests_properties(${names} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "BERTH_SOURCE_DIR=${PROJECT_SOURCE_DIR};BERTH_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# A libFuzzer target. With BERTH_FUZZ (clang) it is a real fuzzer; otherwise it links a
# small driver that replays the seed corpus, and ctest runs that replay (label fuzz).
function(berth_fuzz)
  cmake_parse_arguments(F "" "NAME;CORPUS" "SRCS;DEPS" ${ARGN})
  add_executable(${F_NAME} ${F_SRCS})
  target_include_directories(${F_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${F_NAME} PRIVATE ${F_DEPS})
  if(BERTH_FUZZ)
    target_compile_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
    target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(${F_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cc)
  endif()
  add_test(NAME ${F_NAME}_replay COMMAND ${F_NAME} ${F_CORPUS})
  set_tests_properties(${F_NAME}_replay PROPERTIES LABELS fuzz TIMEOUT 120)
endfunction()

# Links a server executable with jemalloc when BERTH_JEMALLOC is on (decision 0009): it then
# serves malloc/free for the whole process. The C library's malloc otherwise.
function(berth_server_malloc target)
  if(NOT BERTH_JEMALLOC)
    return()
  endif()
  find_library(BERTH_JEMALLOC_LIBRARY NAMES jemalloc)
  if(NOT BERTH_JEMALLOC_LIBRARY)
    message(FATAL_ERROR "BERTH_JEMALLOC is on but libjemalloc was not found: run scripts/deps.sh "
                        "(it installs libjemalloc-dev) or configure with -DBERTH_JEMALLOC=OFF")
  endif()
  target_link_libraries(${target} PRIVATE ${BERTH_JEMALLOC_LIBRARY})
endfunction()
