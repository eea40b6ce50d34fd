# The strict YAML/JSON reader every component reads its input with (src/core/input.h).
berth_fuzz(NAME input_reader_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/input_reader_fuzz.cc
  DEPS berth_core CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/input_reader)
