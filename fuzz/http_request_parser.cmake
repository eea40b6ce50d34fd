# HTTP/1.1 request and response parsers (src/core/http/parser.h).
berth_fuzz(NAME http_request_parser_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/http_request_parser_fuzz.cc
  DEPS berth_core_http CORPUS ${PROJECT_SOURCE_DIR}/fuzz/corpus/http_request_parser)
berth_fuzz(NAME http_response_parser_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/http_response_parser_fuzz.cc
  DEPS berth_core_http CORPUS ${PROJECT_SOURCE_DIR}/fuzz/corpus/http_response_parser)
