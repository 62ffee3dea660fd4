# statmech_find_torch(): the LibTorch that statmech compiles and links against, as the imported
# target statmech::torch (torch's CPU libraries torch_cpu and c10, their include directories and
# compile definitions), and STATMECH_FOUND_TORCH_VERSION (e.g. 2.11.0).
#
# Used by the build (CMakeLists.txt) and shipped with the installed package (statmechConfig.cmake),
# so both sides find torch the same way.
#
# Why not just find_package(Torch): the config of a CUDA build of torch (the default PyPI wheel)
# insists on a CUDA toolkit ("Your installed Caffe2 version uses CUDA but I cannot find the CUDA
# libraries") even when nothing of CUDA is compiled. The CPU side of statmech needs only torch_cpu
# and c10, so when nobody has loaded Torch yet we import torch's own target file
# (Caffe2Targets.cmake: the imported targets c10, torch_cpu, ... with their locations) without the
# toolkit search. A project that calls find_package(Torch) itself, before or after
# find_package(statmech), gets the same targets: Caffe2Targets.cmake is written to be included once
# and returns early when its targets exist.
include_guard(GLOBAL)

# The directory of TorchConfig.cmake: Torch_DIR, else the CMAKE_PREFIX_PATH entries (the variable,
# then the environment), as find_package would search them.
function(_statmech_torch_config_dir out)
  set(candidates)
  foreach(dir IN ITEMS "${Torch_DIR}" "$ENV{Torch_DIR}")
    if(dir)
      list(APPEND candidates "${dir}")
    endif()
  endforeach()
  set(prefixes ${CMAKE_PREFIX_PATH})
  if(DEFINED ENV{CMAKE_PREFIX_PATH})
    string(REPLACE ":" ";" env_prefixes "$ENV{CMAKE_PREFIX_PATH}")
    list(APPEND prefixes ${env_prefixes})
  endif()
  foreach(prefix IN LISTS prefixes)
    list(APPEND candidates "${prefix}/Torch" "${prefix}/share/cmake/Torch" "${prefix}")
  endforeach()
  foreach(dir IN LISTS candidates)
    if(EXISTS "${dir}/TorchConfig.cmake")
      get_filename_component(dir "${dir}" ABSOLUTE)
      set(${out} "${dir}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

# Sets _statmech_torch_dir (the directory of TorchConfig.cmake) and STATMECH_FOUND_TORCH_VERSION.
macro(statmech_locate_torch)
  _statmech_torch_config_dir(_statmech_torch_dir)
  if(NOT _statmech_torch_dir)
    message(FATAL_ERROR
      "statmech: LibTorch not found. Put torch's CMake directory on CMAKE_PREFIX_PATH: "
      "python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' for a pip-installed "
      "torch, or the unpacked LibTorch directory.")
  endif()
  # The version, from the version file that find_package(Torch) itself reads.
  set(PACKAGE_FIND_VERSION "0")
  include("${_statmech_torch_dir}/TorchConfigVersion.cmake")
  set(STATMECH_FOUND_TORCH_VERSION "${PACKAGE_VERSION}")
  unset(PACKAGE_FIND_VERSION)
endmacro()

macro(statmech_find_torch)
  if(NOT TARGET statmech::torch)
    statmech_locate_torch()
    get_filename_component(_statmech_torch_prefix "${_statmech_torch_dir}/../../.." ABSOLUTE)
    # An upgrade of torch rewrites this file: reconfigure then.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_statmech_torch_dir}/TorchConfigVersion.cmake")

    if(NOT TARGET torch_cpu)
      # What Caffe2Config.cmake defines before it includes the target file; both are empty
      # interfaces in the PyPI and LibTorch builds (protobuf and MKL are linked into torch_cpu).
      if(NOT TARGET protobuf::libprotobuf)
        add_library(protobuf::libprotobuf INTERFACE IMPORTED)
      endif()
      if(NOT TARGET caffe2::mkl)
        add_library(caffe2::mkl INTERFACE IMPORTED)
      endif()
      include("${_statmech_torch_dir}/../Caffe2/Caffe2Targets.cmake")
    endif()

    add_library(statmech::torch INTERFACE IMPORTED)
    set_target_properties(statmech::torch PROPERTIES
      INTERFACE_LINK_LIBRARIES "torch_cpu;c10"
      # torch_cpu carries <prefix>/include; the C++ frontend (<torch/torch.h>) lives below it.
      INTERFACE_INCLUDE_DIRECTORIES "${_statmech_torch_prefix}/include/torch/csrc/api/include")
    message(STATUS "statmech: torch ${STATMECH_FOUND_TORCH_VERSION} at ${_statmech_torch_prefix}")
  endif()
endmacro()
