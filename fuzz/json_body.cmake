berth_fuzz(NAME json_body_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/json_body_fuzz.cc
  DEPS berth_api berth_core CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/json_body)
