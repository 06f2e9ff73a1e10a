# CMake toolchain file: cross-compile for 64-bit Windows with mingw-w64 on a
# Linux host, and run what it builds under wine.
#
#   cmake -S . -B build/windows -G Ninja \
#         -DCMAKE_TOOLCHAIN_FILE=common/cmake/mingw-w64-x86_64.cmake
#
# Debian's mingw-w64 ships two flavours of each compiler. The "-posix" one is
# used because its libstdc++ has std::thread, std::mutex and
# std::condition_variable (on top of winpthreads); GCC 12's "-win32" flavour
# has none of them. Everything is linked statically (-static), so an .exe
# needs no mingw DLL next to it, under wine or on a real Windows machine.
#
# Tests run through CMAKE_CROSSCOMPILING_EMULATOR: ctest (and
# gtest_discover_tests) prefix every command that runs a built .exe with it.
# The emulator runs wine with a quiet log (WINEDEBUG) and a wine prefix of
# the build's own (WINEPREFIX, created on first use), so a build never touches
# ~/.wine. Both can be overridden from the environment.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(CS_MINGW_TRIPLET x86_64-w64-mingw32)
find_program(CS_MINGW_CXX NAMES ${CS_MINGW_TRIPLET}-g++-posix)
find_program(CS_MINGW_CC NAMES ${CS_MINGW_TRIPLET}-gcc-posix)
find_program(CS_MINGW_WINDRES NAMES ${CS_MINGW_TRIPLET}-windres)
if(NOT CS_MINGW_CXX OR NOT CS_MINGW_CC)
  message(FATAL_ERROR
    "The Windows cross build needs ${CS_MINGW_TRIPLET}-g++-posix and -gcc-posix, which were not "
    "found. Install them with: apt-get install mingw-w64   (./run setup does this)")
endif()
set(CMAKE_CXX_COMPILER ${CS_MINGW_CXX})
set(CMAKE_C_COMPILER ${CS_MINGW_CC})
if(CS_MINGW_WINDRES)
  set(CMAKE_RC_COMPILER ${CS_MINGW_WINDRES})
endif()

# Libraries and headers come from the mingw sysroot only; programs (python,
# wine) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${CS_MINGW_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

find_program(CS_WINE NAMES wine)
if(NOT CS_WINE)
  message(FATAL_ERROR
    "The Windows build runs its tests under wine, which was not found. Install it with: "
    "apt-get install wine wine64   (./run setup does this)")
endif()
# Checked by CMake before the toolchain file may read CMAKE_BINARY_DIR in
# every context, so fall back to a prefix beside the build when it is unset.
if(CMAKE_BINARY_DIR)
  set(CS_WINEPREFIX_DEFAULT "${CMAKE_BINARY_DIR}/wineprefix")
else()
  set(CS_WINEPREFIX_DEFAULT "${CMAKE_CURRENT_LIST_DIR}/../../build/windows/wineprefix")
endif()
set(CS_WINEPREFIX "${CS_WINEPREFIX_DEFAULT}" CACHE PATH "The wine prefix the Windows tests run in")
set(CMAKE_CROSSCOMPILING_EMULATOR
    ${CMAKE_CURRENT_LIST_DIR}/wine-run.sh ${CS_WINE} ${CS_WINEPREFIX})
