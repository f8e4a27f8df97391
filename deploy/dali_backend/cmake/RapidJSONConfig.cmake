# find_package(RapidJSON CONFIG) for Triton's common repository: the headers vendored in
# third_party/rapidjson (Debian's rapidjson-dev 1.1.0, header-only), so no system package is needed.
get_filename_component(RAPIDJSON_INCLUDE_DIRS
  "${CMAKE_CURRENT_LIST_DIR}/../../../third_party/rapidjson/include" ABSOLUTE)
set(RapidJSON_FOUND TRUE)
