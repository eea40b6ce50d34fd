# The log center's parsers: LogQL queries, Loki push bodies (JSON and snappy protobuf), stack
# traces and access records (src/logs/).
berth_fuzz(NAME logs_inputs_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/logs_inputs_fuzz.cc
  DEPS berth_logs_analysis berth_logs_store CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/logs_inputs)
