# Compiler settings every target in the repository shares. Included by the
# top-level CMakeLists.txt and by each chapter configured on its own, so a
# chapter builds the same way in both cases. Include it once per build.
include_guard(GLOBAL)

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Debug CACHE STRING "Build type" FORCE)
endif()

# CI turns this on (./run does, when CI=true): a warning fails the build there,
# while a learner on a newer compiler with new warnings can still build.
option(CS_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)

add_compile_options(-Wall -Wextra -Wpedantic)
if(CS_WARNINGS_AS_ERRORS)
  add_compile_options(-Werror)
endif()

# Sanitizers, selected by the asan/tsan presets (CS_SANITIZE=address|thread).
set(CS_SANITIZE "" CACHE STRING "Sanitizer to build with: address (with undefined), thread, or empty")
if(CS_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(CS_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT CS_SANITIZE STREQUAL "")
  message(FATAL_ERROR "CS_SANITIZE must be 'address', 'thread' or empty, not '${CS_SANITIZE}'")
endif()

# The Python interpreter that runs the simulator and its checks from ctest.
# ./run passes the one it chose (it must have python3-matplotlib for charts).
if(NOT CS_PYTHON)
  find_program(CS_PYTHON NAMES python3 REQUIRED)
endif()
set(CS_REPO_ROOT "${CMAKE_CURRENT_LIST_DIR}/../.." CACHE INTERNAL "")
cmake_path(NORMAL_PATH CS_REPO_ROOT)
