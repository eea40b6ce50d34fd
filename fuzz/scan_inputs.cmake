# The image scanner's parsers: OSV, Debian tracker, package databases, CVSS, version orders
# (src/security/scan/).
berth_fuzz(NAME scan_inputs_fuzz SRCS ${CMAKE_CURRENT_LIST_DIR}/scan_inputs_fuzz.cc
  DEPS berth_security_scan CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/scan_inputs)
