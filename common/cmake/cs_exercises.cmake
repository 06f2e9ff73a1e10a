# Checked exercises: every chapter registers its exercises with
# cs_add_exercise(), which proves in ctest that the shipped starting point
# fails its check and the reference solution passes it, so a check can
# neither rot nor pass vacuously (docs/conventions.md, "Tests").
#
# This file has two roles. Included from a CMakeLists.txt, it defines
# cs_add_exercise(). Run as a script (cmake -P, which is how the ctest tests
# below call it), it runs one check binary and judges the outcome. Keeping
# both in one file means the function always calls the judge it ships with.

# --- script mode: run one check binary and judge how it ended ---------------
#
#   cmake -DCS_CHECK=<binary> -DCS_EXPECT=pass|fail -DCS_EXERCISE=<id>
#         -DCS_START_FILES=<the starting point's files, space-separated>
#         -DCS_REPO_ROOT=<repository> -DCS_STARTS_MANIFEST=<tests/exercise_starts.txt>
#         -P cs_exercises.cmake
#
# A learner solves an exercise in place, in the starting point's files, and
# must still get a green ./run test. So the "start fails" test first asks
# whether the starting point is the shipped one: tests/exercise_starts.txt
# records each file's SHA-256. If every file matches, the check must fail
# (the shipped starting point is not a solution). If one was edited, the
# edited version is the learner's answer and the check must pass, except
# under CI=true, where an edited starting point is refused: CI proves the
# shipped one fails, so a change to it must come with its new hash.
#
# Why a script rather than ctest's PASS_REGULAR_EXPRESSION/WILL_FAIL: the
# "start fails" test must pass only when the check ran to completion and
# reported failed assertions. WILL_FAIL would also accept a crash, a missing
# binary or a sanitizer abort; a PASS_REGULAR_EXPRESSION on "[  FAILED  ]"
# ignores the exit code, so a crash after the first failed test would pass,
# and neither can print a message that tells a learner what happened. Here
# three independent facts must agree: gtest's exit status is exactly 1 (a
# signal or timeout is reported as text, not 1), gtest printed its final
# summary (only written after every test ran) listing failed tests, and no
# sanitizer report appears (ASan and UBSan can also exit with status 1).
if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  foreach(required IN ITEMS CS_CHECK CS_EXPECT CS_EXERCISE)
    if(NOT DEFINED ${required})
      message(FATAL_ERROR "cs_exercises.cmake: -D${required}=... is required in script mode")
    endif()
  endforeach()

  # Below the ctest TIMEOUT (60 s) of the tests that call this script, so a
  # hanging check is reported here, with its output, rather than killed.
  execute_process(
    COMMAND "${CS_CHECK}" --gtest_color=no
    RESULT_VARIABLE exit_status
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output  # same variable: stdout and stderr interleaved as produced
    TIMEOUT 50)
  message("${output}")

  string(REGEX MATCH "\\[==========\\] ([0-9]+) tests? from [0-9]+ test suites? ran\\."
         ran "${output}")
  set(tests_run "${CMAKE_MATCH_1}")
  string(REGEX MATCH "\\[  FAILED  \\] [0-9]+ tests?, listed below:" failed_summary "${output}")
  # ASan, LSan and TSan reports contain "<Name>Sanitizer:"; UBSan's contain
  # "<file>:<line>:<column>: runtime error: ".
  string(REGEX MATCH "Sanitizer:|: runtime error: " sanitizer "${output}")
  string(REGEX MATCH "YOU HAVE [0-9]+ DISABLED TESTS?" disabled "${output}")
  string(REGEX MATCH "\\[  SKIPPED \\] [0-9]+ tests?" skipped "${output}")

  # Plain message(): FATAL_ERROR would reflow the text and break the git
  # command across lines. Exits non-zero without further noise where CMake
  # can (3.29 and later), with a one-line FATAL_ERROR otherwise.
  function(cs_exercise_fail)
    # The message comes in several string arguments. Joined one by one, as
    # ${ARGV} would turn the ';' inside them into list separators.
    set(text "")
    math(EXPR last "${ARGC} - 1")
    foreach(i RANGE ${last})
      string(APPEND text "${ARGV${i}}")
    endforeach()
    message("\n${text}\n")
    if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.29)
      cmake_language(EXIT 1)
    endif()
    message(FATAL_ERROR "exercise ${CS_EXERCISE}: this test failed for the reason above")
  endfunction()

  set(what "the check of exercise ${CS_EXERCISE} (${CS_CHECK})")
  if(sanitizer)
    cs_exercise_fail("${what} hit a sanitizer error (see the report above). "
                     "A check must fail or pass on its assertions, never on undefined behaviour.")
  endif()

  if(CS_EXPECT STREQUAL "pass")
    if(NOT exit_status STREQUAL "0")
      cs_exercise_fail("the reference solution of exercise ${CS_EXERCISE} does not pass its "
                       "check (exit status: ${exit_status}); the output above says why.")
    endif()
    # A check that runs nothing, or skips or disables its tests, passes
    # vacuously; refuse it as the repository refuses disabled tests anywhere.
    if(NOT tests_run OR tests_run EQUAL 0)
      cs_exercise_fail("${what} ran no tests, so its pass proves nothing.")
    endif()
    if(disabled OR skipped)
      cs_exercise_fail("${what} disables or skips tests (${disabled}${skipped}); "
                       "a shipped check runs every test.")
    endif()
    return()
  endif()

  if(NOT CS_EXPECT STREQUAL "fail")
    message(FATAL_ERROR
      "cs_exercises.cmake: CS_EXPECT must be 'pass' or 'fail', not '${CS_EXPECT}'")
  endif()

  # Is the starting point the shipped one?
  foreach(required IN ITEMS CS_START_FILES CS_REPO_ROOT CS_STARTS_MANIFEST)
    if(NOT DEFINED ${required})
      message(FATAL_ERROR "cs_exercises.cmake: -D${required}=... is required for CS_EXPECT=fail")
    endif()
  endforeach()
  cmake_path(NORMAL_PATH CS_STARTS_MANIFEST)
  file(STRINGS "${CS_STARTS_MANIFEST}" manifest_lines REGEX "^[0-9a-f]+ +[^ ]+$")
  separate_arguments(start_files UNIX_COMMAND "${CS_START_FILES}")
  set(edited "")
  set(new_lines "")
  foreach(path IN LISTS start_files)
    file(SHA256 "${CS_REPO_ROOT}/${path}" actual)
    set(recorded "")
    foreach(line IN LISTS manifest_lines)
      if(line MATCHES "^([0-9a-f]+) +(.+)$" AND CMAKE_MATCH_2 STREQUAL path)
        set(recorded "${CMAKE_MATCH_1}")
      endif()
    endforeach()
    if(NOT recorded STREQUAL actual)
      string(APPEND edited " ${path}")
      string(APPEND new_lines "\n  ${actual}  ${path}")
    endif()
  endforeach()
  string(STRIP "${edited}" edited)

  if(edited)
    if("$ENV{CI}" STREQUAL "true")
      cs_exercise_fail(
        "the starting point of exercise ${CS_EXERCISE} is not the one recorded in "
        "${CS_STARTS_MANIFEST} (${edited}). CI proves that the shipped starting point fails "
        "its check, so it must be the recorded one: restore it (`git checkout -- ${edited}`) or, "
        "if the starting point is meant to change, record its new hash:${new_lines}")
    endif()
    # Edited in place: the learner's answer, judged as a solution.
    if(exit_status STREQUAL "0" AND tests_run AND NOT tests_run EQUAL 0)
      message("exercise ${CS_EXERCISE}: your edited starting point (${edited}) passes its "
              "check: solved. (CI still checks that the shipped starting point fails; restore "
              "it with `git checkout -- ${edited}` before sending a change to the repository.)")
      return()
    endif()
    cs_exercise_fail(
      "exercise ${CS_EXERCISE}: you edited its starting point (${edited}) and it does not pass "
      "its check yet (exit status: ${exit_status}); the failures above say what is missing "
      "(./run exercise ${CS_EXERCISE} runs the check alone). `git checkout -- ${edited}` "
      "restores the shipped starting point.")
  endif()
  if(exit_status STREQUAL "0")
    cs_exercise_fail(
      "the shipped starting point of exercise ${CS_EXERCISE} (the files recorded in "
      "${CS_STARTS_MANIFEST}) passes its check: the check proves nothing against it.")
  endif()
  if(NOT exit_status STREQUAL "1" OR NOT tests_run OR NOT failed_summary)
    if(failed_summary)
      set(summary "gtest's summary lists failed tests")
    else()
      set(summary "gtest printed no summary of failed tests")
    endif()
    cs_exercise_fail(
      "the starting point of exercise ${CS_EXERCISE} did not fail its check the expected way: "
      "it must run every test to completion and report failed assertions, but it ended with "
      "exit status '${exit_status}' and ${summary}. A crash, a timeout or a binary that cannot "
      "run is a broken starting point, not a failing one (see the output above).")
  endif()
  return()
endif()

# --- configure mode: cs_add_exercise() ---------------------------------------
include_guard(GLOBAL)

# cs_add_exercise(ID <id> START_DIR <dir> SOLUTION_DIR <dir>
#                 SOURCES <file>... CHECK <check.cpp>)
#
#   ID            the exercise id used in docs and markers, e.g. part1-1
#   START_DIR     folder of the learner's starting point (the files they edit)
#   SOLUTION_DIR  folder of the reference solution; holds a file of the same
#                 name for every entry of SOURCES
#   SOURCES       file names relative to both folders (headers and .cpp)
#   CHECK         the GoogleTest source compiled against both
#
# Builds the check twice, linked to cs_common and GTest::gtest_main:
#   target exercise-<id>-start     against START_DIR (the learner's version)
#   target exercise-<id>-solution  against SOLUTION_DIR
# both written to this directory's build folder under their target names, and
# adds the custom target exercise-<id>, which builds the learner's check (for
# ./run exercise <id>). Registers the ctest tests (TIMEOUT 60, LABELS exercise)
#   exercise.<id>.solution-passes  the solution passes every test of the check
#   exercise.<id>.start-fails      the starting point fails the check on its
#                                  assertions (see the script mode above)
#
# The include path of each build is its own folder, then common/tests (for
# split_testing.hpp). The check must include the exercise's headers with
# angle brackets: a quoted include would find the starting point's header
# next to the check first, even in the solution build.
function(cs_add_exercise)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "ID;START_DIR;SOLUTION_DIR;CHECK" "SOURCES")
  foreach(required IN ITEMS ID START_DIR SOLUTION_DIR CHECK SOURCES)
    if(NOT arg_${required})
      message(FATAL_ERROR "cs_add_exercise: ${required} is required")
    endif()
  endforeach()
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
      "cs_add_exercise(${arg_ID}): unexpected arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()

  if(NOT TARGET GTest::gtest_main)
    # Imported targets are visible only in the directory that found them, so
    # each chapter's exercises folder finds GTest for itself.
    find_package(GTest REQUIRED)
  endif()

  cmake_path(ABSOLUTE_PATH arg_START_DIR NORMALIZE)
  cmake_path(ABSOLUTE_PATH arg_SOLUTION_DIR NORMALIZE)
  cmake_path(ABSOLUTE_PATH arg_CHECK NORMALIZE)

  set(restore_hint "")
  foreach(variant IN ITEMS start solution)
    if(variant STREQUAL "start")
      set(dir "${arg_START_DIR}")
    else()
      set(dir "${arg_SOLUTION_DIR}")
    endif()
    set(sources "")
    foreach(name IN LISTS arg_SOURCES)
      if(NOT EXISTS "${dir}/${name}")
        message(FATAL_ERROR "cs_add_exercise(${arg_ID}): ${dir}/${name} does not exist")
      endif()
      list(APPEND sources "${dir}/${name}")
      if(variant STREQUAL "start")
        # Relative to the repository root, where a learner runs git.
        set(shown "${dir}/${name}")
        if(CS_REPO_ROOT)
          cmake_path(RELATIVE_PATH shown BASE_DIRECTORY "${CS_REPO_ROOT}")
        endif()
        string(APPEND restore_hint " ${shown}")
      endif()
    endforeach()

    set(target "exercise-${arg_ID}-${variant}")
    add_executable(${target} "${arg_CHECK}" ${sources})
    target_include_directories(${target} PRIVATE
      "${dir}" "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../tests")
    target_link_libraries(${target} PRIVATE cs_common GTest::gtest_main)
  endforeach()
  string(STRIP "${restore_hint}" restore_hint)

  # Every starting point file must be recorded (see script mode): without
  # its hash, the "start fails" test could not tell shipped from solved.
  file(STRINGS "${CS_REPO_ROOT}/tests/exercise_starts.txt" recorded_lines
       REGEX "^[0-9a-f]+ +[^ ]+$")
  separate_arguments(start_paths UNIX_COMMAND "${restore_hint}")
  foreach(path IN LISTS start_paths)
    set(found FALSE)
    foreach(line IN LISTS recorded_lines)
      if(line MATCHES "^[0-9a-f]+ +(.+)$" AND CMAKE_MATCH_1 STREQUAL path)
        set(found TRUE)
      endif()
    endforeach()
    if(NOT found)
      file(SHA256 "${CS_REPO_ROOT}/${path}" hash)
      message(FATAL_ERROR "cs_add_exercise(${arg_ID}): the starting point file ${path} is not "
                          "recorded in tests/exercise_starts.txt; add the line\n  ${hash}  ${path}")
    endif()
  endforeach()

  add_custom_target(exercise-${arg_ID})
  add_dependencies(exercise-${arg_ID} exercise-${arg_ID}-start)

  set(variants start solution)
  set(expectations fail pass)
  set(test_names start-fails solution-passes)
  foreach(variant expect test IN ZIP_LISTS variants expectations test_names)
    add_test(NAME exercise.${arg_ID}.${test}
             COMMAND "${CMAKE_COMMAND}"
                     "-DCS_CHECK=$<TARGET_FILE:exercise-${arg_ID}-${variant}>"
                     "-DCS_EXPECT=${expect}"
                     "-DCS_EXERCISE=${arg_ID}"
                     "-DCS_START_FILES=${restore_hint}"
                     "-DCS_REPO_ROOT=${CS_REPO_ROOT}"
                     "-DCS_STARTS_MANIFEST=${CS_REPO_ROOT}/tests/exercise_starts.txt"
                     -P "${CMAKE_CURRENT_FUNCTION_LIST_FILE}")
    set_tests_properties(exercise.${arg_ID}.${test} PROPERTIES TIMEOUT 60 LABELS exercise)
  endforeach()
endfunction()
