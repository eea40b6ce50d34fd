# The registry's hand-written instance codec (src/registry/model.h) against its Json reference.
berth_fuzz(NAME registry_instance_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/registry_instance_fuzz.cc
  DEPS berth_registry_model CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/registry_instance)
