# The gateway's HTTP/2 server side (src/gateway/server/http2_*): client bytes after the
# connection preface, through nghttp2 and the gateway's stream handling, on the fake loop.
berth_fuzz(NAME gateway_http2_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/gateway_http2_fuzz.cc
  DEPS berth_gateway berth_gateway_server_testing
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/gateway_http2)
