# statmech_check_target_clones(<result-variable>): whether the compiler builds and links a function
# template with __attribute__((target_clones("arch=x86-64-v3", "default"))): GCC 11+ on x86-64
# with glibc's ifunc support. Older GCC does not know the x86-64-v3 ISA level, clang does not
# multiversion templates, and other architectures have no such clones. ops/common/vectorizable_math.h defines STATMECH_CPU_CLONES
# from the STATMECH_HAVE_TARGET_CLONES definition this result sets; without it the kernels are
# compiled once, for the baseline ISA.
include_guard(GLOBAL)
include(CheckCXXSourceCompiles)

function(statmech_check_target_clones result)
  if(DEFINED STATMECH_TARGET_CLONES AND NOT STATMECH_TARGET_CLONES)
    # -DSTATMECH_TARGET_CLONES=OFF: compile the single baseline version (what older compilers get).
    set(${result} OFF PARENT_SCOPE)
    return()
  endif()
  # A function template, as the kernels are: clang (up to 17 at least) accepts the attribute on
  # plain functions but rejects it on templates ("multiversioned functions do not yet support
  # function templates").
  check_cxx_source_compiles([=[
template <typename T>
__attribute__((target_clones("arch=x86-64-v3", "default"))) T add_one(T x) { return x + 1; }
int main() { return add_one<int>(-1) + static_cast<int>(add_one<double>(-1.0)); }
]=] STATMECH_COMPILER_HAS_TARGET_CLONES)
  if(STATMECH_COMPILER_HAS_TARGET_CLONES)
    set(${result} ON PARENT_SCOPE)
  else()
    set(${result} OFF PARENT_SCOPE)
  endif()
endfunction()
