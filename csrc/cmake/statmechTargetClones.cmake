# statmech_check_target_clones(<result-variable>): whether the compiler builds and links a function
# with __attribute__((target_clones("arch=x86-64-v3", "default"))) (GCC 11+ and clang 14+ on
# x86-64 with glibc's ifunc support; older GCC does not know the x86-64-v3 ISA level, and other
# architectures have no such clones). ops/common/vectorizable_math.h defines STATMECH_CPU_CLONES
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
  check_cxx_source_compiles([=[
__attribute__((target_clones("arch=x86-64-v3", "default"))) int add_one(int x) { return x + 1; }
int main() { return add_one(-1); }
]=] STATMECH_COMPILER_HAS_TARGET_CLONES)
  set(${result} ${STATMECH_COMPILER_HAS_TARGET_CLONES} PARENT_SCOPE)
endfunction()
