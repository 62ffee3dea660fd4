# ctest: the built library loads the shared C++ runtime (libstdc++.so.6), the one torch loads, and
# carries no static copy of it (csrc/cmake/statmechCxxRuntime.cmake says what a static copy breaks:
# an operator's error message then comes out garbled or crashes the process).
#   cmake -DLIBRARY=<libstatmech.so> -P cxx_runtime_check.cmake
cmake_minimum_required(VERSION 3.22)
execute_process(COMMAND readelf -d --wide "${LIBRARY}" OUTPUT_VARIABLE dynamic COMMAND_ERROR_IS_FATAL ANY)
if(NOT dynamic MATCHES "NEEDED[^\n]*\\[libstdc\\+\\+\\.so\\.6\\]")
  message(FATAL_ERROR "${LIBRARY} does not load the shared C++ runtime (no NEEDED libstdc++.so.6):\n${dynamic}")
endif()
# A static copy defines the runtime's own symbols, e.g. the ostream inserter TORCH_CHECK formats with.
execute_process(COMMAND readelf -Ws --wide "${LIBRARY}" OUTPUT_VARIABLE symbols COMMAND_ERROR_IS_FATAL ANY)
if(symbols MATCHES "[0-9]+ +FUNC +[A-Z]+ +[A-Z]+ +[0-9]+ +_ZNSo9_M_insertIlEERSoT_")
  message(FATAL_ERROR "${LIBRARY} defines std::ostream::_M_insert<long>: a static libstdc++ inside")
endif()
message(STATUS "shared C++ runtime, no static copy")
