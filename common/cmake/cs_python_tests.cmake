# Python unittest files registered with ctest by discovery, not by hand.
#
#   cs_add_python_tests(FILE tests/TEST_FILE.py PREFIX part3.server
#     [PER_CLASS] [CLASSES REGEX] [EXCLUDE REGEX REASON TEXT]
#     [ARGS ARG...] [NAMES ID=NAME...]
#     TIMEOUT SECONDS LABELS LABEL... [ENVIRONMENT VAR=VALUE...]
#     [WORKING_DIRECTORY DIR])
#
# At configure time the file is imported (not run) and unittest's own loader
# lists its cases (cs_list_python_tests.py), so generated and inherited test
# methods count too. Each case becomes one ctest test, PREFIX.Class.method,
# run as `CS_PYTHON FILE ARGS... Class.method`, so a failure or a hang names
# the case and ctest -j runs them side by side; PER_CLASS registers one test
# per class instead (PREFIX.Class). NAMES gives an id (Class or
# Class.method) another name after PREFIX, for names other pages cite.
#
# CLASSES keeps only the classes its regular expression matches (a file that
# holds cases for several servers is registered once per server with the
# classes that apply to it); EXCLUDE drops matching ids on purpose, with the
# REASON why. Whatever the calls, every case a file defines must be
# registered or excluded by at least one of them: the check at the end of
# configuring stops with the ids nobody registered, so a case added to a
# class that no call selects cannot go unrun. The files' folders are
# configure dependencies, so a new case is picked up by the next build.
include_guard(GLOBAL)

# The case ids of FILE (Class.method), listed once per configure run.
function(_cs_python_test_ids file out_var)
  # Beside this file; a variable set at include time would be seen only in
  # the first directory that includes it (the include is guarded).
  set(lister "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/cs_list_python_tests.py")
  string(MD5 key "${file}")
  get_property(listed GLOBAL PROPERTY CS_PYTHON_TESTS_LISTED_${key} SET)
  if(NOT listed)
    execute_process(
      COMMAND ${CS_PYTHON} ${lister} ${file}
      OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE status
      TIMEOUT 60)
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "listing the test cases of ${file} failed (${status}):\n${err}")
    endif()
    string(STRIP "${out}" out)
    string(REPLACE "\n" ";" ids "${out}")
    if(NOT ids)
      message(FATAL_ERROR "${file} defines no test case")
    endif()
    set_property(GLOBAL PROPERTY CS_PYTHON_TESTS_LISTED_${key} "${ids}")
    set_property(GLOBAL APPEND PROPERTY CS_PYTHON_TEST_FILES "${file}")
    # A new case may also come from a helper module beside the file (a base
    # class), so the whole folder is watched.
    get_filename_component(dir "${file}" DIRECTORY)
    file(GLOB helpers "${dir}/*.py")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                 ${helpers} ${lister})
  endif()
  get_property(ids GLOBAL PROPERTY CS_PYTHON_TESTS_LISTED_${key})
  set(${out_var} "${ids}" PARENT_SCOPE)
endfunction()

# Run once, when the top-level directory is done: every case of every file
# must have been registered or excluded.
function(_cs_check_python_tests)
  get_property(files GLOBAL PROPERTY CS_PYTHON_TEST_FILES)
  set(missing "")
  foreach(file IN LISTS files)
    string(MD5 key "${file}")
    get_property(ids GLOBAL PROPERTY CS_PYTHON_TESTS_LISTED_${key})
    get_property(covered GLOBAL PROPERTY CS_PYTHON_TESTS_COVERED_${key})
    foreach(id IN LISTS ids)
      if(NOT id IN_LIST covered)
        string(APPEND missing "\n  ${file}: ${id}")
      endif()
    endforeach()
  endforeach()
  if(missing)
    message(FATAL_ERROR "test cases that no cs_add_python_tests call registers "
      "(select their class with CLASSES, or EXCLUDE them with a REASON):${missing}")
  endif()
endfunction()

function(cs_add_python_tests)
  # ${ARGN}, not PARSE_ARGV: an ENVIRONMENT given as one quoted list
  # ("A=1;B=2") must become one variable per element, which PARSE_ARGV
  # would keep escaped as a single element.
  cmake_parse_arguments(arg "PER_CLASS"
    "FILE;PREFIX;CLASSES;EXCLUDE;REASON;TIMEOUT;WORKING_DIRECTORY"
    "ARGS;NAMES;LABELS;ENVIRONMENT" ${ARGN})
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "cs_add_python_tests: unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_FILE OR NOT arg_PREFIX OR NOT arg_TIMEOUT OR NOT arg_LABELS)
    message(FATAL_ERROR "cs_add_python_tests needs FILE, PREFIX, TIMEOUT and LABELS")
  endif()
  if(arg_EXCLUDE AND NOT arg_REASON)
    message(FATAL_ERROR "cs_add_python_tests: EXCLUDE ${arg_EXCLUDE} needs a REASON")
  endif()
  cmake_path(ABSOLUTE_PATH arg_FILE BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE)
  if(NOT arg_WORKING_DIRECTORY)
    get_filename_component(arg_WORKING_DIRECTORY "${arg_FILE}" DIRECTORY)
  endif()

  get_property(scheduled GLOBAL PROPERTY CS_PYTHON_TESTS_CHECK_SCHEDULED)
  if(NOT scheduled)
    set_property(GLOBAL PROPERTY CS_PYTHON_TESTS_CHECK_SCHEDULED TRUE)
    cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _cs_check_python_tests)
  endif()

  _cs_python_test_ids("${arg_FILE}" ids)
  string(MD5 key "${arg_FILE}")
  set(selected "")
  set(covered "")
  foreach(id IN LISTS ids)
    string(REGEX REPLACE "\\..*" "" class "${id}")
    if(arg_CLASSES AND NOT class MATCHES "^(${arg_CLASSES})$")
      continue()
    endif()
    list(APPEND covered "${id}")
    if(arg_EXCLUDE AND id MATCHES "${arg_EXCLUDE}")
      continue()
    endif()
    if(arg_PER_CLASS)
      list(APPEND selected "${class}")
    else()
      list(APPEND selected "${id}")
    endif()
  endforeach()
  if(NOT covered)
    message(FATAL_ERROR "cs_add_python_tests: no case of ${arg_FILE} is in a class matching '${arg_CLASSES}'")
  endif()
  set_property(GLOBAL APPEND PROPERTY CS_PYTHON_TESTS_COVERED_${key} ${covered})
  list(REMOVE_DUPLICATES selected)

  # NAMES: ID=NAME pairs, looked up by ID.
  foreach(pair IN LISTS arg_NAMES)
    string(FIND "${pair}" "=" eq)
    string(SUBSTRING "${pair}" 0 ${eq} from)
    math(EXPR eq "${eq} + 1")
    string(SUBSTRING "${pair}" ${eq} -1 to)
    set(rename_${from} "${to}")
  endforeach()

  foreach(id IN LISTS selected)
    if(DEFINED rename_${id})
      set(name "${arg_PREFIX}.${rename_${id}}")
    else()
      set(name "${arg_PREFIX}.${id}")
    endif()
    add_test(NAME ${name}
      COMMAND ${CS_PYTHON} ${arg_FILE} ${arg_ARGS} ${id}
      WORKING_DIRECTORY ${arg_WORKING_DIRECTORY})
    set_tests_properties(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT} LABELS "${arg_LABELS}")
    if(arg_ENVIRONMENT)
      set_tests_properties(${name} PROPERTIES ENVIRONMENT "${arg_ENVIRONMENT}")
    endif()
  endforeach()
endfunction()
