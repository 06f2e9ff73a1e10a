#!/bin/sh
# Runs one Windows program under wine for ctest (the toolchain file's
# CMAKE_CROSSCOMPILING_EMULATOR): wine-run.sh WINE PREFIX PROGRAM.exe [ARGS...]
#
# WINEPREFIX and WINEDEBUG keep their values when the caller set them (./run
# does); otherwise the build's own prefix and a log quiet except for DLL load
# failures are used. No DISPLAY: the tests are console programs, and without
# it wine never tries to open a window.
set -e
wine=$1
prefix=$2
shift 2
export WINEPREFIX="${WINEPREFIX:-$prefix}"
export WINEDEBUG="${WINEDEBUG:--all,err+module}"
unset DISPLAY
exec "$wine" "$@"
