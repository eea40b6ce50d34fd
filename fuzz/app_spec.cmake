# App spec parsers: Berth YAML, the Compose subset, and the store's JSON (src/orchestrator/spec.h).
berth_fuzz(NAME app_spec_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/app_spec_fuzz.cc
  DEPS berth_orchestrator CORPUS ${PROJECT_SOURCE_DIR}/fuzz/corpus/app_spec)
