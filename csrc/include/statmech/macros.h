#pragma once

// Symbols of the public C++ API are exported from libstatmech; everything else stays hidden
// (the library is compiled with -fvisibility=hidden).
#if defined(_WIN32)
#if defined(STATMECH_BUILDING_LIBRARY)
#define STATMECH_API __declspec(dllexport)
#else
#define STATMECH_API __declspec(dllimport)
#endif
#else
#define STATMECH_API __attribute__((visibility("default")))
#endif
