# Compiles deploy/migrations/NNNN_name.sql into the ovop library as C string literals.
#
# Two modes in one file:
# - include()d from common/CMakeLists.txt: globs the migrations (CONFIGURE_DEPENDS, so a new
#   file re-runs the configure step), writes the list to generated/migrations.list (rewritten
#   only when it changes, so adding or removing a migration regenerates the C file) and adds
#   the rule producing ${OVOP_MIGRATIONS_C};
# - run with `cmake -DLIST=... -DOUTPUT=... -P` by that rule at build time: writes the C file
#   defining ovop_migrations[], ovop_migrations_count and ovop_schema_version (migrate.h).
#
# Names must be NNNN_name.sql (lowercase, digits, underscores), numbered from 0001 without
# gaps, so the version is the number and the order is the file name's.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  file(GLOB _ovop_migration_files CONFIGURE_DEPENDS
       "${PROJECT_SOURCE_DIR}/deploy/migrations/*.sql")
  list(SORT _ovop_migration_files)
  set(OVOP_MIGRATIONS_C "${CMAKE_BINARY_DIR}/generated/migrations_data.c")
  set(_ovop_migration_list "${CMAKE_BINARY_DIR}/generated/migrations.list")
  string(REPLACE ";" "\n" _ovop_migration_lines "${_ovop_migration_files}")
  file(CONFIGURE OUTPUT "${_ovop_migration_list}" CONTENT "${_ovop_migration_lines}\n" @ONLY)
  add_custom_command(
    OUTPUT "${OVOP_MIGRATIONS_C}"
    COMMAND "${CMAKE_COMMAND}" "-DLIST=${_ovop_migration_list}" "-DOUTPUT=${OVOP_MIGRATIONS_C}"
            -P "${CMAKE_CURRENT_LIST_FILE}"
    DEPENDS ${_ovop_migration_files} "${_ovop_migration_list}" "${CMAKE_CURRENT_LIST_FILE}"
    COMMENT "Embedding SQL migrations"
    VERBATIM)
  return()
endif()

if(NOT DEFINED LIST OR NOT DEFINED OUTPUT)
  message(FATAL_ERROR "usage: cmake -DLIST=migrations.list -DOUTPUT=migrations_data.c -P ${CMAKE_SCRIPT_MODE_FILE}")
endif()

# esc_XX: how byte 0xXX is written inside a C string literal. Printable ASCII stands for
# itself except the quote, the backslash and '?' (trigraphs exist in strict C17); everything
# else, UTF-8 bytes included, is a three-digit octal escape, which cannot swallow a following
# digit the way a hex escape would.
set(_hex 0 1 2 3 4 5 6 7 8 9 a b c d e f)
foreach(_hi RANGE 15)
  foreach(_lo RANGE 15)
    list(GET _hex ${_hi} _h)
    list(GET _hex ${_lo} _l)
    math(EXPR _v "${_hi} * 16 + ${_lo}")
    if(_v GREATER_EQUAL 32 AND _v LESS 127)
      string(ASCII ${_v} _c)
      set(esc_${_h}${_l} "${_c}")
    else()
      math(EXPR _o1 "${_v} / 64")
      math(EXPR _o2 "(${_v} / 8) % 8")
      math(EXPR _o3 "${_v} % 8")
      set(esc_${_h}${_l} "\\${_o1}${_o2}${_o3}")
    endif()
  endforeach()
endforeach()
set(esc_22 "\\\"")
set(esc_5c "\\\\")
set(esc_3f "\\?")
set(esc_09 "\\t")
set(esc_0a "\\n")
set(esc_0d "\\r")

# A literal piece ends after each newline and before it grows past this many characters:
# compilers limit one literal (MSVC: 2048 bytes), so long text is split into pieces that the
# compiler concatenates.
set(_max_piece 500)

file(STRINGS "${LIST}" _files)
set(_defs "")
set(_table "")
set(_count 0)
foreach(_path IN LISTS _files)
  get_filename_component(_file "${_path}" NAME)
  if(NOT _file MATCHES "^([0-9][0-9][0-9][0-9])_([a-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "migration ${_file}: the name must be NNNN_name.sql (lowercase letters, digits, underscores)")
  endif()
  set(_num "${CMAKE_MATCH_1}")
  string(REGEX REPLACE "^0+" "" _version "${_num}")
  math(EXPR _expected "${_count} + 1")
  if(NOT "${_version}" STREQUAL "${_expected}")
    message(FATAL_ERROR "migration ${_file}: expected number ${_expected}, migrations are numbered from 0001 without gaps")
  endif()
  set(_count ${_expected})
  string(REGEX REPLACE "\\.sql$" "" _name "${_file}")

  file(READ "${_path}" _content HEX)
  string(REGEX MATCHALL ".." _bytes "${_content}")
  string(APPEND _defs "\n/* ${_file} */\nstatic const char sql_${_num}[] =")
  set(_piece "")
  set(_len 0)
  foreach(_b IN LISTS _bytes)
    if(_b STREQUAL "00")
      message(FATAL_ERROR "migration ${_file}: contains a NUL byte")
    endif()
    string(APPEND _piece "${esc_${_b}}")
    math(EXPR _len "${_len} + 1")
    if(_b STREQUAL "0a" OR _len GREATER_EQUAL _max_piece)
      string(APPEND _defs "\n    \"${_piece}\"")
      set(_piece "")
      set(_len 0)
    endif()
  endforeach()
  if(_len GREATER 0 OR _bytes STREQUAL "")
    string(APPEND _defs "\n    \"${_piece}\"")
  endif()
  string(APPEND _defs ";\n")
  string(APPEND _table "    {${_version}, \"${_name}\", sql_${_num}},\n")
endforeach()

file(WRITE "${OUTPUT}"
"/* Generated from deploy/migrations by cmake/embed_migrations.cmake: do not edit. */
#include <stddef.h>

#include \"migrate.h\"
${_defs}
/* Ends with a sentinel so the array is never empty. */
const ovop_migration_t ovop_migrations[] = {
${_table}    {0, NULL, NULL},
};
const int ovop_migrations_count = ${_count};
const int ovop_schema_version = ${_count};
")
