# Third-party libraries for the Windows cross build (see mingw-w64-x86_64.cmake).
# Included by common/CMakeLists.txt when CMAKE_CROSSCOMPILING and WIN32.
#
# Debian's packages are built for Linux, so the cross build cannot use their
# CMake packages as they are:
# - CLI11 is header-only: its headers are copied into the build tree and
#   offered as CLI11::CLI11. (Pointing the cross compiler at /usr/include
#   instead would put the host's C library headers before mingw's.)
# - GoogleTest is compiled from Debian's sources (libgtest-dev installs them
#   in /usr/src/googletest) with the cross compiler, as GTest::gtest and
#   GTest::gtest_main, the names FindGTest gives on Linux.
# Both are also announced as found packages (a config file in the build tree
# that only says "found"), so any chapter's find_package(GTest REQUIRED) or
# find_package(CLI11 REQUIRED) works unchanged in the cross build.
include_guard(GLOBAL)

set(cs_package_shims "${CMAKE_BINARY_DIR}/third_party/cmake")
function(cs_announce_package name)
  file(WRITE "${cs_package_shims}/${name}/${name}Config.cmake"
       "# Written by common/cmake/cs_windows_deps.cmake: ${name}'s targets already exist.\n")
  set(${name}_DIR "${cs_package_shims}/${name}" CACHE PATH "" FORCE)
endfunction()

set(CS_CLI11_HEADERS "/usr/include/CLI" CACHE PATH "CLI11's header directory (CLI/CLI.hpp)")
set(CS_GOOGLETEST_SOURCES "/usr/src/googletest" CACHE PATH "GoogleTest's source tree")

if(NOT EXISTS "${CS_CLI11_HEADERS}/CLI.hpp")
  message(FATAL_ERROR "CLI11's headers were not found in ${CS_CLI11_HEADERS}. Install them with: "
                      "apt-get install libcli11-dev, or set CS_CLI11_HEADERS")
endif()
if(NOT TARGET CLI11::CLI11)
  file(COPY "${CS_CLI11_HEADERS}" DESTINATION "${CMAKE_BINARY_DIR}/third_party/include")
  add_library(CLI11::CLI11 INTERFACE IMPORTED GLOBAL)
  target_include_directories(CLI11::CLI11 SYSTEM INTERFACE "${CMAKE_BINARY_DIR}/third_party/include")
  cs_announce_package(CLI11)
endif()

if(BUILD_TESTING AND NOT TARGET GTest::gtest)
  if(NOT EXISTS "${CS_GOOGLETEST_SOURCES}/CMakeLists.txt")
    message(FATAL_ERROR "GoogleTest's sources were not found in ${CS_GOOGLETEST_SOURCES}. Install "
                        "them with: apt-get install libgtest-dev, or set CS_GOOGLETEST_SOURCES")
  endif()
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  # GoogleTest is not ours to warn about: build it without the repository's
  # -Wall -Wextra -Wpedantic (-Werror), which this directory would pass down.
  get_directory_property(cs_saved_compile_options COMPILE_OPTIONS)
  set_directory_properties(PROPERTIES COMPILE_OPTIONS "")
  add_subdirectory("${CS_GOOGLETEST_SOURCES}" "${CMAKE_BINARY_DIR}/third_party/googletest"
                   EXCLUDE_FROM_ALL)
  set_directory_properties(PROPERTIES COMPILE_OPTIONS "${cs_saved_compile_options}")
  # Its headers count as system headers in our tests, as /usr/include's do on Linux.
  foreach(cs_gtest_target gtest gtest_main)
    get_target_property(cs_gtest_includes ${cs_gtest_target} INTERFACE_INCLUDE_DIRECTORIES)
    set_target_properties(${cs_gtest_target} PROPERTIES
                          INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${cs_gtest_includes}")
  endforeach()
  if(NOT TARGET GTest::gtest_main)  # GoogleTest 1.11+ defines these names itself
    add_library(GTest::gtest ALIAS gtest)
    add_library(GTest::gtest_main ALIAS gtest_main)
  endif()
  cs_announce_package(GTest)
endif()
