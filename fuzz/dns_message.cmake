# DNS query parser + answerer of the registry (src/registry/dns/message.h, answerer.h).
berth_fuzz(NAME dns_message_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/dns_message_fuzz.cc
  DEPS berth_registry_dns berth_store_testing CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/dns_message)
