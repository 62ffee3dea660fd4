// Build facts of the library, used by the import-time compatibility check in Python.

#include <statmech/statmech.h>

namespace statmech {

int64_t cuda_version() {
#if defined(STATMECH_CUDA_VERSION)
  return STATMECH_CUDA_VERSION;
#else
  return -1;
#endif
}

std::string version() {
  return STATMECH_VERSION;
}

} // namespace statmech
