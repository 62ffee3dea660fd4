# statmech_require_shared_cxx_runtime(): stop at configure time when the C++ compiler links its C++
# runtime statically into a shared library.
#
# torch loads the shared libstdc++.so.6. A second, static copy inside libstatmech.so has its own
# locale and exception state, so the first error message an operator formats (the std::ostream
# behind TORCH_CHECK) crashes the process. This was seen on a GPU machine whose default g++ was a
# relocated GCC shipping only libstdc++.a: every C++ test passed, and every Python test that
# expects an error from an operator died with a segmentation fault. The probe builds a one-line
# shared library with the compiler and flags of this build and reads its dynamic section.
include_guard(GLOBAL)

function(statmech_require_shared_cxx_runtime)
  if(NOT CMAKE_SYSTEM_NAME STREQUAL "Linux" OR NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    return()
  endif()
  set(key "${CMAKE_CXX_COMPILER}|${CMAKE_CXX_FLAGS}|${CMAKE_SHARED_LINKER_FLAGS}")
  if(STATMECH_CXX_RUNTIME_CHECKED STREQUAL key)
    return()
  endif()
  find_program(STATMECH_READELF readelf)
  if(NOT STATMECH_READELF)
    message(STATUS "statmech: readelf not found, the C++ runtime linkage is not checked")
    return()
  endif()
  set(dir ${CMAKE_BINARY_DIR}/CMakeFiles/statmech_cxx_runtime)
  file(WRITE ${dir}/probe.cpp
    "#include <sstream>\n#include <string>\n"
    "std::string statmech_probe(long v) { std::ostringstream s; s << v; return s.str(); }\n")
  # CMAKE_CXX_COMPILER_ARG1: the rest of a CXX such as "ccache g++".
  separate_arguments(flags UNIX_COMMAND "${CMAKE_CXX_COMPILER_ARG1} ${CMAKE_CXX_FLAGS} ${CMAKE_SHARED_LINKER_FLAGS}")
  execute_process(
    COMMAND ${CMAKE_CXX_COMPILER} ${flags} -fPIC -shared ${dir}/probe.cpp -o ${dir}/probe.so
    RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT status EQUAL 0)
    message(WARNING "statmech: could not link a shared probe library with ${CMAKE_CXX_COMPILER}, "
      "the C++ runtime linkage is not checked:\n${output}")
    return()
  endif()
  execute_process(COMMAND ${STATMECH_READELF} -d --wide ${dir}/probe.so OUTPUT_VARIABLE dynamic)
  if(NOT dynamic MATCHES "NEEDED[^\n]*\\[lib(std)?c\\+\\+\\.so")
    message(FATAL_ERROR
      "statmech: ${CMAKE_CXX_COMPILER}${CMAKE_CXX_COMPILER_ARG1} links the C++ runtime statically into shared libraries (the "
      "probe library needs no libstdc++.so). libstatmech.so would carry a second C++ runtime beside "
      "the one torch loads, and every error raised by an operator would crash the process. Configure "
      "with a compiler that links libstdc++.so, e.g. CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ "
      "(and no -static-libstdc++ in the flags).")
  endif()
  set(STATMECH_CXX_RUNTIME_CHECKED "${key}" CACHE INTERNAL "compiler and flags whose C++ runtime was checked")
endfunction()
