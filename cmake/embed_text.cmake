# Compiles a small text file into a C string: run as
#   cmake -DINPUT=file -DOUTPUT=file.c -DNAME=symbol -P embed_text.cmake
# It defines `const char NAME[]`.
if(NOT DEFINED INPUT OR NOT DEFINED OUTPUT OR NOT DEFINED NAME)
  message(FATAL_ERROR "usage: cmake -DINPUT=... -DOUTPUT=... -DNAME=... -P ${CMAKE_SCRIPT_MODE_FILE}")
endif()
file(READ "${INPUT}" _text)
string(REPLACE "\\" "\\\\" _text "${_text}")
string(REPLACE "\"" "\\\"" _text "${_text}")
string(REPLACE "?" "\\?" _text "${_text}")
string(REPLACE "\n" "\\n\"\n    \"" _body "${_text}")
get_filename_component(_name "${INPUT}" NAME)
file(WRITE "${OUTPUT}" "/* Generated from ${_name} by cmake/embed_text.cmake: do not edit. */
const char ${NAME}[] =
    \"${_body}\";
")
