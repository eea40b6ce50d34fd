# The gateway's routes.yaml parser (YAML and JSON) and route matching (src/gateway/router/).
berth_fuzz(NAME gateway_route_config_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/gateway_route_config_fuzz.cc
  DEPS berth_gateway_router CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/gateway_route_config)
