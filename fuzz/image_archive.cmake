# Image archives: docker-save / OCI layout import and layer unpack (src/agent/image/).
berth_fuzz(NAME image_archive_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/image_archive_fuzz.cc
  DEPS berth_agent CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/image_archive)
